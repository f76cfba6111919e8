"""The columnar backend (`simulate --engine columnar`): a Parquet history read as Arrow columns, each tool's
actions grouped into classes that the policy cannot tell apart, one action per class decided by the row
engine's own step, budgets proven never to bind by window sums, and everything else handed to the row engine.

Exactness is by construction, not by a second implementation of the language: the decision of an action
is a function of the values its tool's conditions read; the class key holds exactly that (a value itself,
or where a path is only compared with numbers written in the policy, its place among those numbers), so
every action of a class gets the decision the compiled closure gave its first one. What cannot be keyed
that way (a schema, a budget line the proof does not cover, a row the input checks would refuse, a human
verdict) goes through the row engine's `step` with one ledger in replay order, and a history the columnar
reader does not take whole (JSON Lines, CSV, stdin, nested columns, `--sample`, `--filter`…) is replayed
by the row engine (`simulate`) itself. docs/design.md argues the choices.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple

from policy_lang import ast as A

from ..decide.actions import parse_timestamp
from ..decide.evaluator import Policy
from ..decide.exprs import ACTION_ROOTS
from ..decide.graph import BudgetNode, RequireNode, ToolNode
from ..decide.ledger import MemoryLedger
from .aggregates import Tally
from .history import History
from .readers import _display, _row_action
from .records import OBJECT_COLUMNS, SEQ_SHIFT, Stats
from .simulate import DecisionSink, replay_options, simulate
from .step import StepRow, stepper

__all__ = ["EngineUnavailable", "simulate_columnar", "plan_columnar"]

class EngineUnavailable(Exception):
    """The columnar engine's packages are not installed (the message names the extra to install)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message
        self.code = "engine_unavailable"


class _Unsupported(Exception):
    """The columnar reader or key does not take this exactly: the row engine does it."""


def _modules() -> Tuple[Any, Any, Any, Any]:
    try:
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq
    except ImportError:
        raise EngineUnavailable("the columnar engine needs numpy and pyarrow: install `signoff[sim]`") from None
    return np, pa, pc, pq


# RFC 3339 with a zone, at most microseconds, fields in range: Arrow's cast reads these to the microsecond
# that datetime.fromisoformat reads (anything else gets the row engine's own reading, row by row)
_STRICT_TS = (r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,6})?"
              r"(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$")
_T_MIN, _T_MAX = -62135596800.0, 253402300800.0     # UTC year 1 to year 9999, as engine.replay.history.timed
_EXACT = 2 ** 53                                    # integers numpy compares with doubles exactly below this


def _row_time(ts: Any) -> float:
    """The time `engine.replay.history.timed` gives a timestamp string, NaN for "the previous action's"."""
    from datetime import datetime, timezone
    try:
        dt = datetime.fromisoformat(ts)
        t = (dt if dt.tzinfo is not None else dt.replace(tzinfo=timezone.utc)).timestamp()
        if not _T_MIN <= t < _T_MAX:
            raise ValueError(ts)
        return t
    except (ValueError, TypeError, OverflowError):
        try:
            return parse_timestamp(ts).timestamp()
        except (ValueError, OverflowError):
            return math.nan


# ------------------------------------------------------------------ the history as columns

class _Col:
    """One Parquet column: its dotted name as path segments, its kind, its values (a combined Arrow array)."""

    def __init__(self, name: str, kind: str, arr: Any):
        self.name, self.segs, self.kind, self.arr = name, tuple(name.split(".")), kind, arr
        self._codes: Any = None
        self._nulls: Any = None
        self._numbers: Any = None
        self._values: List[Any] = []
        self._buckets: Any = None

    def codes(self, np: Any) -> Any:
        """Exact value codes (0 for null): equal codes for equal values, bit for bit."""
        if self._codes is None and self.kind == "null":
            self._codes = np.zeros(len(self.arr), dtype=np.int64)
        if self._codes is None:
            self._codes, self._values = _dictionary(np, self.arr, False)
        return self._codes

    def bucket_codes(self, np: Any) -> Any:
        """Codes of budget buckets: as `codes`, but -0.0 and 0.0 together, as the ledger buckets them."""
        if self.kind != "float":
            return self.codes(np)
        if self._buckets is None:
            self._buckets = _dictionary(np, self.arr, True)[0]
        return self._buckets

    def values(self, np: Any) -> List[Any]:
        """The distinct values, in the order of their codes (code k is values[k - 1])."""
        self.codes(np)
        return self._values

    def nulls(self, np: Any) -> Any:
        """Whether each cell is null (the path missing)."""
        if self._nulls is None:
            self._nulls = self.arr.is_null().to_numpy(zero_copy_only=False)
        return self._nulls

    def numbers(self, np: Any) -> Any:
        """A numeric column's values, 0 where null."""
        if self._numbers is None:
            self._numbers = self.arr.fill_null(0).to_numpy(zero_copy_only=False)
        return self._numbers


def _dictionary(np: Any, arr: Any, floats: bool) -> Tuple[Any, List[Any]]:
    """Codes (0 for null, k for the k-th distinct value) of a chunked column, and its distinct values."""
    import pyarrow as pa
    import pyarrow.compute as pc
    if floats:
        arr = pc.add(arr, 0.0)     # -0.0 + 0.0 is 0.0: the two share a budget bucket, as in the ledger
    if not pa.types.is_dictionary(arr.type):
        arr = pc.dictionary_encode(arr)
    arr = arr.unify_dictionaries()
    if not arr.num_chunks:
        return np.zeros(0, dtype=np.int64), []
    parts = [c.indices.to_numpy(zero_copy_only=False) if not c.null_count
             else np.where(c.is_null().to_numpy(zero_copy_only=False), -1,
                           c.indices.fill_null(0).to_numpy(zero_copy_only=False)) for c in arr.chunks]
    codes = np.concatenate(parts).astype(np.int64) + 1
    return codes, arr.chunk(0).dictionary.to_pylist()


def _kind(pa: Any, t: Any) -> Optional[str]:
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "str"
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_float64(t):
        return "float"
    if pa.types.is_int8(t) or pa.types.is_int16(t) or pa.types.is_int32(t) or pa.types.is_int64(t) \
            or pa.types.is_uint8(t) or pa.types.is_uint16(t) or pa.types.is_uint32(t):
        return "int"
    if pa.types.is_null(t):
        return "null"
    return None


class _Table:
    """The histories as one set of columns in reading order, with each row's time, sequence, source and line."""

    def __init__(self, history: History, external_sort: bool):
        np, pa, pc, pq = _modules()
        if history.sample is not None or history.filters or history.has_stdin or history.fmt not in ("auto", "parquet"):
            raise _Unsupported("sample, filter, stdin or a format other than Parquet")
        tables, schema = [], None
        times, seqs, lines, files, ts_ok = [], [], [], [], []
        stats = Stats()
        sorted_externally = external_sort
        for index, path in enumerate(history.paths):
            try:
                with open(path, "rb") as fh:
                    if fh.read(4) != b"PAR1":
                        raise _Unsupported("not a Parquet file")
                pf = pq.ParquetFile(path)
                # text columns of few distinct values (a byte or so a cell) are read as dictionaries: their
                # codes come with them, and the values are the same
                meta = pf.metadata
                dict_cols = []
                for ci in range(meta.num_columns):
                    name = meta.schema.column(ci).path
                    size = sum(meta.row_group(g).column(ci).total_uncompressed_size for g in range(meta.num_row_groups))
                    if meta.schema.column(ci).physical_type == "BYTE_ARRAY" and size < 4 * max(meta.num_rows, 1) \
                            and name not in ("id", "timestamp"):
                        dict_cols.append(name)
                pf = pq.ParquetFile(path, read_dictionary=dict_cols)
            except _Unsupported:
                raise
            except Exception:
                raise _Unsupported("unreadable") from None   # the row engine words the error
            meta = pf.metadata
            for g in range(meta.num_row_groups):
                rg = meta.row_group(g)
                if rg.total_byte_size > history.max_record_bytes * max(rg.num_rows, 1):
                    raise _Unsupported("row group past the record cap")
            try:
                table = pf.read(use_threads=False)
            except Exception:
                raise _Unsupported("unreadable") from None   # a corrupt file: the row engine words the error
            if schema is None:
                schema = table.schema
            elif [(f.name, _kind(pa, f.type)) for f in table.schema] != [(f.name, _kind(pa, f.type)) for f in schema]:
                raise _Unsupported("histories of different columns")
            try:
                table.validate(full=True)     # UTF-8 and offsets: what as_py would read is what Arrow holds
            except Exception:
                raise _Unsupported("invalid Arrow data") from None
            n = table.num_rows
            if n:
                # a row's text is at most the sum of each column's longest cell: under the cap, no row is past it
                bound = 0
                for f in table.schema:
                    if _kind(pa, f.type) == "str":
                        col = table.column(f.name)
                        if pa.types.is_dictionary(f.type):
                            col = pa.chunked_array([c.dictionary for c in col.chunks], f.type.value_type)
                        bound += pc.max(pc.binary_length(col)).as_py() or 0
                if bound > history.max_record_bytes:
                    raise _Unsupported("a row that may be past the record cap")
            tables.append(table)
            stats.sources.append(_display(path))
            stats.lines += n
            t, ok = self._times(np, pa, pc, table, n)
            ts_ok.append(ok)
            # the row engine filters by time before its reorder window: the window sees the kept rows only
            kept = t
            if history.since is not None or history.until is not None:
                kept = t[((t >= history.since) if history.since is not None else True)
                         & ((t < history.until) if history.until is not None else True)]
            if not sorted_externally and len(kept) > 1 and not bool(np.all(kept[1:] >= kept[:-1])):
                sorted_externally = _beyond_window(kept, history.window)
            times.append(t)
            seqs.append((index << SEQ_SHIFT) | np.arange(1, n + 1, dtype=np.int64))
            lines.append(np.arange(1, n + 1, dtype=np.int64))
            files.append(np.full(n, index, dtype=np.int64))
        assert schema is not None
        self.names: List[str] = list(schema.names)
        if len(tables) > 1:
            tables = [tables[0]] + [x.cast(tables[0].schema) if not x.schema.equals(tables[0].schema) else x
                                    for x in tables[1:]]
        table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
        t_all = np.concatenate(times)
        keep = np.ones(len(t_all), dtype=bool)
        if history.since is not None:
            keep &= t_all >= history.since
        if history.until is not None:
            keep &= t_all < history.until
        stats.filtered = int(len(t_all) - keep.sum())
        stats.sorted_externally = sorted_externally
        idx = np.nonzero(keep)[0]
        if len(idx) < len(t_all):
            table = table.take(pa.array(idx))
        self.table = table
        self.t = t_all[idx]
        self.ts_ok = np.concatenate(ts_ok)[idx]
        self.seq = np.concatenate(seqs)[idx]
        self.line = np.concatenate(lines)[idx]
        self.file = np.concatenate(files)[idx]
        self.displays = list(stats.sources)
        self.stats = stats
        self.n = len(idx)
        self.cols: Dict[Tuple[str, ...], _Col] = {}
        self._columns(np, pa)
        self.order = np.lexsort((self.seq, self.t))      # replay order: time, then reading order

    @staticmethod
    def _times(np: Any, pa: Any, pc: Any, table: Any, n: int) -> Any:
        if "timestamp" not in table.schema.names:
            return np.zeros(n), np.ones(n, dtype=bool)
        ts = table.column("timestamp")
        if pa.types.is_dictionary(ts.type):
            ts = ts.cast(ts.type.value_type)
        if _kind(pa, ts.type) == "null":
            return np.zeros(n), np.ones(n, dtype=bool)
        if _kind(pa, ts.type) != "str":
            raise _Unsupported("a timestamp column that is not text")
        t = np.full(n, math.nan)
        strict = pc.fill_null(pc.match_substring_regex(ts, _STRICT_TS), False).to_numpy(zero_copy_only=False)
        s = 0
        for piece in ts.chunks:
            size = len(piece)
            part = strict[s:s + size]
            rows = np.nonzero(part)[0] + s
            s += size
            if not len(rows):
                continue
            picked = piece if len(rows) == size else piece.take(pa.array(rows - (s - size)))
            try:
                us = pc.cast(picked, pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_numpy(zero_copy_only=False)
                t[rows] = us / 1e6      # datetime.timestamp(): microseconds over 10**6, rounded once
            except Exception:   # a day past its month's end, say: this chunk is read row by row
                for i, v in zip(rows.tolist(), picked.to_pylist()):
                    try:
                        parse_timestamp(v)
                    except (ValueError, OverflowError):
                        strict[i] = False       # check_action refuses it: the row engine's
                        continue
                    t[i] = _row_time(v)
        strict &= (t >= _T_MIN) & (t < _T_MAX)
        nonnull = ~ts.is_null().to_numpy(zero_copy_only=False)
        slow = np.nonzero(nonnull & ~strict)[0]
        if len(slow):
            values = ts.take(pa.array(slow)).to_pylist()
            for i, v in zip(slow.tolist(), values):
                t[i] = _row_time(v)
        # a missing or unreadable timestamp takes the time of the action before it (0 for the first)
        if np.isnan(t).any():
            last = 0.0
            for i in np.nonzero(np.isnan(t))[0].tolist():
                t[i] = t[i - 1] if i else last
        # rows whose timestamp check_action accepts for certain: null, or read by the strict cast
        return t, ts.is_null().to_numpy(zero_copy_only=False) | strict

    def _columns(self, np: Any, pa: Any) -> None:
        segs_seen: Set[Tuple[str, ...]] = set()
        if len(set(self.names)) != len(self.names):
            raise _Unsupported("duplicate columns")
        for name in self.names:
            kind = _kind(pa, self.table.schema.field(name).type)
            segs = tuple(name.split("."))
            if kind is None or "" in segs or name in OBJECT_COLUMNS:
                raise _Unsupported(f"column `{name}`")
            if len(segs) > 1 and segs[0] in ("tool", "timestamp", "confidence", "id"):
                raise _Unsupported(f"column `{name}`")
            segs_seen.add(segs)
            self.cols[segs] = _Col(name, kind, self.table.column(name))
        for s in segs_seen:
            for k in range(1, len(s)):
                if s[:k] in segs_seen:
                    raise _Unsupported("a column inside another")
        tool = self.cols.get(("tool",))
        if tool is None or tool.kind != "str":
            raise _Unsupported("no text `tool` column")

    def related(self, path: Tuple[Any, ...]) -> List[_Col]:
        """The columns a path's value is made of (the path's own, those inside it, one it goes inside)."""
        out = []
        for segs, c in self.cols.items():
            k = min(len(segs), len(path))
            if segs[:k] == tuple(path[:k]):
                out.append(c)
        return out

    def valid(self, np: Any) -> Any:
        """Rows check_action passes for certain, with no human verdict: the rest is the row engine's."""
        tool = self.cols[("tool",)]
        codes = tool.codes(np)
        empty = [k for k, v in enumerate(tool.values(np), 1) if v == ""]
        ok = (codes > 0) & ~np.isin(codes, empty)
        for segs, c in self.cols.items():
            if segs[0] == "human":
                ok &= c.nulls(np)
            elif c.kind == "float":
                ok &= c.nulls(np) | np.isfinite(c.numbers(np))
        conf = self.cols.get(("confidence",))
        if conf is not None:
            if conf.kind in ("float", "int"):
                v = conf.numbers(np)
                ok &= conf.nulls(np) | ((v >= 0) & (v <= 1))
            elif conf.kind != "null":
                ok &= conf.nulls(np)
        ok &= self.ts_ok     # what the strict cast did not read is the row engine's
        return ok

    def actions(self, rows: Sequence[int]) -> List[Dict[str, Any]]:
        """The rows as the Parquet reader builds them (its own `_row_action`)."""
        import pyarrow as pa
        part = self.table.take(pa.array(list(rows), pa.int64()))
        columns = [part.column(name).to_pylist() for name in self.names]
        out = []
        for values in zip(*columns):
            action, _ = _row_action(self.names, values, False)
            out.append(action)
        return out


def _dense(np: Any, key: Any, size: int) -> Tuple[Any, int]:
    """Keys renumbered 0..k-1 in order of value (so in the order np.unique would give), and k."""
    if size <= 1 << 22:
        seen = np.zeros(size, dtype=bool)
        seen[key] = True
        number = np.cumsum(seen) - 1
        return number[key].astype(np.int64), int(seen.sum())
    uniq, inverse = np.unique(key, return_inverse=True)
    return inverse.astype(np.int64).reshape(-1), len(uniq)


def _firsts(np: Any, key: Any, k: int) -> Any:
    """The first index of each of the keys 0..k-1."""
    first = np.empty(k, dtype=np.int64)
    idx = np.arange(len(key) - 1, -1, -1, dtype=np.int64)
    first[key[::-1]] = idx      # the last write wins: the earliest index
    return first


def _beyond_window(t: Any, window: int) -> bool:
    """Whether the row engine's reorder window (engine.replay.history.reorder_batches) would give up on
    this file's order: run that very function over the times."""
    from .history import OutOfOrder, reorder_batches
    from .records import batched
    recs = ((x, i, None, "", i, None, False) for i, x in enumerate(t.tolist()))
    try:
        for _ in reorder_batches(batched(recs), window):
            pass
    except OutOfOrder:
        return True
    return False


# ------------------------------------------------------------------ the policy as keys

_ORDER_OPS = ("<", "<=", ">", ">=", "==", "!=")
PRESENT = "present"


class _Uses:
    """What a tool's conditions read: per action path, numbers it is compared with (or `present`), and
    the paths read any other way (keyed by value)."""

    def __init__(self, consts: Dict[str, Any]):
        self.consts = consts
        self.atoms: Dict[Tuple[Any, ...], Set[Any]] = {}
        self.raw: Set[Tuple[Any, ...]] = set()

    def action_path(self, e: Any) -> Optional[Tuple[Any, ...]]:
        if not isinstance(e, A.Path):
            return None
        root = e.root
        if not isinstance(root, str) or root not in ACTION_ROOTS or (root in self.consts and not e.keys):
            return None     # a const or a quantifier's variable (engine.decide.exprs.getter reads the same way)
        return (root,) + tuple(e.keys)

    def number(self, e: Any) -> Optional[float]:
        if isinstance(e, A.Literal) and e.value.__class__ in (int, float):
            v = e.value
        elif isinstance(e, A.Duration):
            v = e.seconds
        elif isinstance(e, A.Path) and not e.keys and e.root in self.consts:
            v = self.consts[e.root]
            if v.__class__ not in (int, float):
                return None
        else:
            return None
        if v.__class__ is int and not -_EXACT < v < _EXACT:
            return None
        return float(v) if math.isfinite(v) else None

    def walk(self, e: Any) -> None:
        """Record what `e` reads; a node this does not know makes the tool the row engine's."""
        if e is None or isinstance(e, (A.Literal, A.Duration)):
            return
        if isinstance(e, A.Path):
            p = self.action_path(e)
            if p is not None:
                self.raw.add(p)
            return
        if isinstance(e, A.Presence):
            p = self.action_path(e.path)
            if p is not None:
                self.atoms.setdefault(p, set()).add(PRESENT)
            return
        if isinstance(e, A.Compare):
            if e.op in _ORDER_OPS:
                for side, other in ((e.left, e.right), (e.right, e.left)):
                    p, c = self.action_path(side), self.number(other)
                    if p is not None and c is not None:
                        self.atoms.setdefault(p, set()).add(c)
                        return
            self.walk(e.left)
            self.walk(e.right)
            return
        if isinstance(e, (A.Not, A.Neg)):
            self.walk(e.operand)
            return
        if isinstance(e, (A.BoolOp, A.Arith)):
            self.walk(e.left)
            self.walk(e.right)
            return
        if isinstance(e, A.ListExpr):
            for x in e.items:
                self.walk(x)
            return
        if isinstance(e, A.Call):        # every built-in is a function of its arguments alone
            for x in e.args:
                self.walk(x)
            return
        if isinstance(e, A.Quantifier):
            self.walk(e.source)
            self.walk(e.body)
            return
        raise _Unsupported(f"expression {type(e).__name__}")


def _budget_path(k: A.Path) -> Tuple[Any, ...]:
    # `per tenant` / `per agent` count by their id (engine.decide.compiler keys budgets the same way)
    if not k.keys and k.root in ("tenant", "agent"):
        return (k.root, "id")
    return (k.root,) + tuple(k.keys)


def _node_uses(node: ToolNode, consts: Dict[str, Any]) -> Tuple[_Uses, List[BudgetNode]]:
    if node.schema is not None:
        raise _Unsupported("a schema")      # a schema reads the whole of `args`
    u = _Uses(consts)
    for e in node.risk:
        u.walk(e.line.when)
    for cat in node.categories.values():
        for ce in cat.edges:
            u.walk(ce.line.when)
    budgets = []
    for c in node.checks:
        if isinstance(c, RequireNode):
            u.walk(c.line.cond)
        elif isinstance(c, BudgetNode):
            budgets.append(c)
            if c.line.path is not None:
                u.atoms.setdefault(_budget_path(c.line.path), set()).add(PRESENT)
            for k in c.line.keys:
                u.atoms.setdefault(_budget_path(k), set()).add(PRESENT)
        else:
            raise _Unsupported("a check line of an unknown kind")
    return u, budgets


# ------------------------------------------------------------------ budgets that never bind

def _budget_proven(np: Any, tb: _Table, b: BudgetNode, rows: Any, has_edits: bool) -> bool:
    """Whether no action of the history can find budget line `b` over its limit, whatever the replay
    executes: for every row, the sum of every earlier amount under its key within the window (each counted
    as if executed, negative ones as 0), plus its own, stays under the limit by more than any rounding."""
    if has_edits:
        return False        # an edited action counts its edited amount, which the columns do not show
    if not len(rows):
        return True
    keep = np.ones(len(rows), dtype=bool)
    key = np.zeros(len(rows), dtype=np.int64)
    for k in b.line.keys:
        if _budget_path(k) == ("confidence",):
            return False    # a missing confidence keys as 0, with the zeros: not what the codes say
        cols = tb.related(_budget_path(k))
        if not cols:
            return True     # always missing: never counted, never over
        if len(cols) != 1 or cols[0].segs != _budget_path(k):
            return False
        kc = cols[0]
        if kc.kind not in ("str", "int", "float", "bool"):
            return True
        if kc.kind == "int" and len(kc.arr) and int(np.abs(kc.numbers(np)).max()) >= _EXACT:
            return False    # 1 and 1.0 share a bucket: past 2**53 distinct ints may too
        codes = kc.bucket_codes(np)[rows]
        keep &= codes > 0
        m = int(codes.max()) + 1
        key = _dense(np, key * m + codes, (int(key.max()) + 1) * m)[0]
    if b.line.path is None:
        amount = np.ones(len(rows), dtype=np.int64)
        exact = True
    else:
        cols = tb.related(_budget_path(b.line.path))
        p = _budget_path(b.line.path)
        c: Optional[_Col]
        if p == ("confidence",) and (not cols or cols[0].kind == "null"):
            vals = np.zeros(len(rows), dtype=np.int64)    # a missing confidence sums as 0
            c = None
        elif not cols:
            return True
        elif len(cols) != 1 or cols[0].segs != p:
            return False
        else:
            c = cols[0]
            if c.kind not in ("int", "float"):
                return p != ("confidence",)   # never a number: an error, never counted
            vals = c.numbers(np)[rows]
        if c is None:
            pass
        elif p != ("confidence",):    # a null confidence sums as 0 (counted, adds nothing)
            keep &= ~c.nulls(np)[rows]
        exact = c is None or c.kind == "int"
        if exact:
            amount = vals.astype(np.int64)
            if len(amount) and int(np.abs(amount).max()) * len(amount) >= 2 ** 62:
                return False
        else:
            amount = vals.astype(np.float64)
            keep &= np.isfinite(amount)
    sel = np.nonzero(keep)[0]
    if not len(sel):
        return True
    pos = sel                       # rows are in replay order already
    kk = key[pos]
    a = np.maximum(amount[pos], 0)
    t = tb.t[rows][pos]
    by = np.argsort(kk, kind="stable")     # by key, then replay order (so by time within a key)
    kk, a, t = kk[by], a[by], t[by]
    cs = np.cumsum(a)
    ft = np.floor(t).astype(np.int64)
    base = int(ft.min()) - int(math.ceil(b.window)) - 2
    span = int(ft.max()) - base + 1
    if span >= 2 ** 35 or int(kk.max()) >= 2 ** 27:
        return False
    comp = kk * (2 ** 35) + (ft - base)
    start = np.searchsorted(comp, kk * (2 ** 35) + (ft - int(math.ceil(b.window)) - 1 - base), side="left")
    prior = np.where(start > 0, cs[np.maximum(start - 1, 0)], 0)
    ub = cs - prior
    limit = b.limit
    if exact:
        return bool(np.all(ub <= limit)) and int(cs.max() if len(cs) else 0) < _EXACT
    total_abs = float(np.abs(a).sum())
    slack = 8 * len(a) * 2.0 ** -53 * total_abs + 1e-9 * max(1.0, abs(float(limit)))
    return bool(np.all(ub + slack <= limit))


# ------------------------------------------------------------------ classes of actions

class _Class:
    """What every action of one class becomes: the representative's step, and how the report counts it."""
    __slots__ = ("outcome", "rank", "category", "reasons", "tool", "simple", "template", "routes", "executed")

    def __init__(self, row: StepRow, assume_approved: bool, budget_at: Dict[str, Any]):
        self.outcome, self.rank, self.category, self.reasons = row[1], row[2], row[3], row[4]
        self.tool = row[7]
        reasons = self.reasons
        k = self.rank
        # the steps Tally.add_all only counts: an allow, or an approval with one reason not at a budget line
        self.simple = k == 0 or (k == 1 and len(reasons) == 1 and reasons[0].at not in budget_at)
        if k == 0 and len(reasons) > 1:
            self.simple = False
        d = row[11]
        self.template = d.to_dict() if d is not None else None
        self.routes: Tuple[str, ...] = ()
        if k == 1:
            from ..decide.decision import binding_routes
            r = reasons[0]
            self.routes = ((r.route["name"],) if len(reasons) == 1 and r.route is not None
                           else tuple(binding_routes(reasons)))
        self.executed = self.outcome == "allow" or (self.outcome == "require_approval" and assume_approved)


class Plan:
    """How the columnar engine replays one history: which rows are keyed into classes, which go to the
    row engine, and why (`reasons`, for the docs and the tests)."""

    def __init__(self, policy: Policy, tb: _Table, assume_approved: bool):
        np = _modules()[0]
        self.policy, self.tb, self.assume_approved = policy, tb, assume_approved
        g = policy.graph
        self.notes: Dict[str, str] = {}
        n = tb.n
        order = tb.order
        valid = tb.valid(np)
        tool_col = tb.cols[("tool",)]
        tool_codes = tool_col.codes(np)
        tool_names = tool_col.values(np)
        self.cls = np.full(n, -1, dtype=np.int64)
        self.classes: List[_Class] = []
        has_edits = any(s[:2] == ("human", "edited_args") for s in tb.cols)
        nodes: Dict[str, ToolNode] = {}
        default = g.default
        assert default is not None
        for code, name in enumerate(tool_names, 1):
            nodes[name] = g.tools.get(name, default)
        # budget lines: proven never to bind over every row whose tool has them, or their tools go to the row engine
        lines: Dict[Tuple[str, int], BudgetNode] = {}
        line_tools: Dict[Tuple[str, int], Set[str]] = {}
        for name, node in nodes.items():
            for c in node.checks:
                if isinstance(c, BudgetNode):
                    lines[c.bucket] = c
                    line_tools.setdefault(c.bucket, set()).add(name)
        ordered_codes = tool_codes[order]
        unproven: Set[Tuple[str, int]] = set()
        name_of = {code: name for code, name in enumerate(tool_names, 1)}
        # each tool's rows by replay position: one stable sort, then slices
        by_tool = np.argsort(ordered_codes, kind="stable")
        bounds = np.searchsorted(ordered_codes[by_tool], np.arange(len(tool_names) + 2))
        code_of = {name: code for code, name in name_of.items()}
        for bucket, b in lines.items():
            picked = [by_tool[bounds[code_of[name]]:bounds[code_of[name] + 1]] for name in line_tools[bucket]]
            positions = picked[0] if len(picked) == 1 else np.sort(np.concatenate(picked))
            rows = order[positions]
            if not _budget_proven(np, tb, b, rows, has_edits):
                unproven.add(bucket)
                self.notes[f"check {b.check}"] = "budget not proven to stay under its limit: row engine"
        self.budget_at = Tally(policy).budget_at    # what Tally.add_all looks reasons up in
        step = stepper(policy, assume_approved, True)
        consts = g.consts
        row_tools: Set[str] = set()
        reps: List[Any] = []
        n_classes = 0
        for code, name in name_of.items():
            node = nodes[name]
            if any(isinstance(c, BudgetNode) and c.bucket in unproven for c in node.checks):
                row_tools.add(name)
                continue
            try:
                uses, _ = _node_uses(node, consts)
            except _Unsupported as e:
                self.notes[f"tool {name}"] = f"{e}: row engine"
                row_tools.add(name)
                continue
            rows = order[by_tool[bounds[code]:bounds[code + 1]]]
            rows = rows[valid[rows]]
            if not len(rows):
                continue
            inverse = self._key(np, uses, rows)
            reps.append(rows[_firsts(np, inverse, int(inverse.max()) + 1)])
            self.cls[rows] = n_classes + inverse
            n_classes += len(reps[-1])
        # one representative per class, decided by the row engine's step (one read of their rows)
        if reps:
            all_reps = np.concatenate(reps).tolist()
            for r, a in zip(all_reps, tb.actions(all_reps)):
                rec = (float(tb.t[r]), int(tb.seq[r]), a, tb.displays[int(tb.file[r])], int(tb.line[r]), None, False)
                self.classes.append(_Class(step(rec, MemoryLedger()), assume_approved, self.budget_at))
        self.row_tools = row_tools

    def _key(self, np: Any, uses: _Uses, rows: Any) -> Any:
        """One integer per row: equal for rows the tool's conditions cannot tell apart."""
        tb = self.tb
        key = np.zeros(len(rows), dtype=np.int64)
        parts: List[Any] = []
        for path in sorted(set(uses.atoms) | uses.raw, key=repr):
            cols = tb.related(path)
            if not cols:
                continue          # missing in every row
            thresholds = uses.atoms.get(path)
            if path not in uses.raw and thresholds is not None and len(cols) == 1 and cols[0].segs == path:
                c = cols[0]
                nulls = c.nulls(np)[rows]
                nums = sorted(x for x in thresholds if x != PRESENT)
                if not nums or c.kind in ("null",):
                    parts.append(nulls.astype(np.int64))
                    continue
                if c.kind in ("int", "float"):
                    v = c.numbers(np)[rows]
                    if c.kind == "int" and len(v) and int(np.abs(v).max()) >= _EXACT:
                        parts.append(c.codes(np)[rows])
                        continue
                    th = np.array(nums, dtype=np.float64)
                    v = v.astype(np.float64)
                    lo = np.searchsorted(th, v, side="left")
                    hi = np.searchsorted(th, v, side="right")
                    # the place among the numbers, and whether it equals one: all an order comparison sees
                    parts.append(np.where(nulls, 0, 1 + 2 * lo + (hi > lo)))
                    continue
            for c in cols:
                parts.append(c.codes(np)[rows])
        size = 1
        for p in parts:
            p = np.asarray(p, dtype=np.int64)
            m = int(p.max()) + 1 if len(p) else 1
            if size * m >= 1 << 22:       # renumber densely before the product outgrows a lookup table
                key, size = _dense(np, key, size)
            key = key * m + p
            size *= m
        return _dense(np, key, size)[0]

    def run(self, sink: Optional[DecisionSink]) -> Tally:
        """Replay: the row engine's rows through its step in order, the classes counted, into one Tally."""
        np = _modules()[0]
        tb, policy = self.tb, self.policy
        tally = Tally(policy)
        order = tb.order
        cls_o = self.cls[order]
        t_o = tb.t[order]
        n = len(order)
        if not n:
            return tally
        fallback = cls_o < 0
        simple = np.array([c.simple for c in self.classes] + [False], dtype=bool)
        individual = fallback | ~simple[cls_o]
        # the tools in order of first appearance, as Tally.add_all meets them, so its caps fall alike
        tool_o = tb.cols[("tool",)].codes(np)[order]
        names = tb.cols[("tool",)].values(np)
        _, first = np.unique(tool_o, return_index=True)
        for i in sorted(first.tolist()):
            code = int(tool_o[i])
            if code:
                tally._tool_key(names[code - 1])
        # the row engine's rows: one ledger, replay order, the shared step
        fb = np.nonzero(fallback)[0]
        steps: Dict[int, StepRow] = {}
        if len(fb):
            step = stepper(policy, self.assume_approved, sink is not None)
            rows = order[fb]
            ledger = MemoryLedger()
            window = policy.max_window()
            pruned = -math.inf
            CH = 4096
            for s in range(0, len(rows), CH):
                part = rows[s:s + CH].tolist()
                acts = tb.actions(part)
                for j, (r, a) in zip(fb[s:s + CH].tolist(), zip(part, acts)):
                    rec = (float(tb.t[r]), int(tb.seq[r]), a, tb.displays[int(tb.file[r])], int(tb.line[r]), None,
                           False)
                    steps[j] = step(rec, ledger)
                if window:
                    t_now = float(tb.t[part[-1]])
                    if t_now - window > pruned:
                        pruned = t_now - window
                        ledger.prune(pruned)
        # the steps that touch more than counters, in replay order, through Tally.add_all
        ids = tb.cols.get(("id",))
        ind_np = np.nonzero(individual)[0]
        ind = ind_np.tolist()
        if ids is None:
            id_values: Any = {}
        elif sink is not None:
            id_values = ids.arr.take(order).to_pylist()
        else:
            id_values = dict(zip(ind, ids.arr.take(order[ind_np]).to_pylist()))
        classes = self.classes
        empty: Dict[str, Any] = {}
        batch: List[StepRow] = []
        by_id = ids is None or sink is None     # id_values a dict of the rows fed one by one, or a list of all
        for j in ind:
            got = steps.get(j)
            if got is None:
                k = classes[int(cls_o[j])]
                got = (float(t_o[j]), k.outcome, k.rank, k.category, k.reasons, id_values.get(j) if by_id
                       else id_values[j], empty, k.tool, None, None, k.executed, None)
            batch.append(got)
            if len(batch) >= 4096:
                tally.add_all(batch)
                batch = []
        if batch:
            tally.add_all(batch)
        # the rest only counts: grouped by class and day
        sj = np.nonzero(~individual)[0]
        if len(sj):
            days = np.floor_divide(t_o[sj], 86400).astype(np.int64)
            d0 = int(days.min())
            span = int(days.max()) - d0 + 1
            g = cls_o[sj] * span + (days - d0)
            uniq, counts = np.unique(g, return_counts=True)
            outcomes, no_verdict, route_days = tally.outcomes, tally.humans.no_verdict, tally.route_days
            executed = 0
            for gk, cnt in zip(uniq.tolist(), counts.tolist()):
                c = classes[gk // span]
                day = d0 + gk % span
                k = c.rank
                cell = tally.cells.get((c.tool, c.category, day))
                if cell is None:
                    cell = tally._cell(c.tool, c.category, day)
                cell[k] += cnt
                outcomes[k] += cnt
                no_verdict[k] += cnt
                for name in c.routes:
                    route_days[(name, day)] = route_days.get((name, day), 0) + cnt
                if c.executed:
                    executed += cnt
            tally.n += len(sj)
            tally.executed += executed
            tally.first = min(tally.first, float(t_o[sj].min()))
            tally.last = max(tally.last, float(t_o[sj].max()))
        if sink is not None:
            self._decisions(sink, order, cls_o, steps, id_values if ids is not None else [None] * n)
        return tally

    def _decisions(self, sink: DecisionSink, order: Any, cls_o: Any, steps: Dict[int, StepRow],
                   id_values: List[Any]) -> None:
        tb = self.tb
        classes = self.classes
        lines = tb.line[order].tolist()
        files = tb.file[order].tolist()
        displays = tb.displays
        write = sink.write
        for j, c in enumerate(cls_o.tolist()):
            src = f"{displays[files[j]]}:{lines[j]}"
            if c < 0:
                d = steps[j][11]
                assert d is not None
                out = d.to_dict()
                out["id"] = d.action_id
            else:
                out = dict(classes[c].template or {})
                out["action_id"] = id_values[j]
                out["id"] = id_values[j]
            out["source"] = src
            write(out)


def plan_columnar(policy: Policy, history: History, assume_approved: bool = False,
                  external_sort: bool = False) -> Optional[Plan]:
    """The columnar plan of a replay, or None when the row engine replays this history whole."""
    _modules()
    try:
        tb = _Table(history, external_sort)
        return Plan(policy, tb, assume_approved)
    except _Unsupported:
        return None


def simulate_columnar(policy: Policy, history: History, assume_approved: bool = False,
                      decisions: Optional[str] = None, progress: Optional[Callable[[int], None]] = None,
                      external_sort: bool = False) -> Dict[str, Any]:
    """`simulate` with the columnar engine: the same report, and the same decisions file, as the row engine's.
    Raises EngineUnavailable without numpy and pyarrow."""
    plan = plan_columnar(policy, history, assume_approved, external_sort)
    if plan is None:
        return simulate(policy, history, assume_approved, decisions, progress, external_sort)
    sink = DecisionSink(decisions)
    try:
        tally = plan.run(sink if decisions is not None else None)
    finally:
        sink.close()
    history.stats = plan.tb.stats
    if progress is not None:
        progress(plan.tb.n)
    return tally.report(plan.tb.stats, replay_options(history, assume_approved))
