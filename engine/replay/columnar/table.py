"""The history as columns: Parquet read into Arrow, each row's time, sequence, source and line, value codes."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Set, Tuple

from ..history import History
from ..readers import _display, _row_action
from ..records import OBJECT_COLUMNS, SEQ_SHIFT, Stats
from .base import Unsupported, kind_of, modules
from .times import column_times

class Col:
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
            self._codes, self._values = dictionary(np, self.arr, False)
        return self._codes

    def bucket_codes(self, np: Any) -> Any:
        """Codes of budget buckets: as `codes`, but -0.0 and 0.0 together, as the ledger buckets them."""
        if self.kind != "float":
            return self.codes(np)
        if self._buckets is None:
            self._buckets = dictionary(np, self.arr, True)[0]
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


def dictionary(np: Any, arr: Any, floats: bool) -> Tuple[Any, List[Any]]:
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


class Table:
    """The histories as one set of columns in reading order, with each row's time, sequence, source and line."""

    def __init__(self, history: History, external_sort: bool):
        np, pa, pc, pq = modules()
        if history.sample is not None or history.filters or history.has_stdin or history.fmt not in ("auto", "parquet"):
            raise Unsupported("sample, filter, stdin or a format other than Parquet")
        tables, schema = [], None
        times, ts_ok, counts = [], [], [0]
        stats = Stats()
        sorted_externally = external_sort
        for index, path in enumerate(history.paths):
            try:
                with open(path, "rb") as fh:
                    if fh.read(4) != b"PAR1":
                        raise Unsupported("not a Parquet file")
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
            except Unsupported:
                raise
            except Exception:
                raise Unsupported("unreadable") from None   # the row engine words the error
            meta = pf.metadata
            for g in range(meta.num_row_groups):
                rg = meta.row_group(g)
                if rg.total_byte_size > history.max_record_bytes * max(rg.num_rows, 1):
                    raise Unsupported("row group past the record cap")
            try:
                table = pf.read(use_threads=False)
            except Exception:
                raise Unsupported("unreadable") from None   # a corrupt file: the row engine words the error
            if schema is None:
                schema = table.schema
            elif [(f.name, kind_of(pa, f.type)) for f in table.schema] != [(f.name, kind_of(pa, f.type)) for f in schema]:
                raise Unsupported("histories of different columns")
            try:
                table.validate(full=True)     # UTF-8 and offsets: what as_py would read is what Arrow holds
            except Exception:
                raise Unsupported("invalid Arrow data") from None
            n = table.num_rows
            if n:
                # a row's text is at most the sum of each column's longest cell: under the cap, no row is past it
                bound = 0
                for f in table.schema:
                    if kind_of(pa, f.type) == "str":
                        col = table.column(f.name)
                        if pa.types.is_dictionary(f.type):
                            col = pa.chunked_array([c.dictionary for c in col.chunks], f.type.value_type)
                        bound += pc.max(pc.binary_length(col)).as_py() or 0
                if bound > history.max_record_bytes:
                    raise Unsupported("a row that may be past the record cap")
            tables.append(table)
            stats.sources.append(_display(path))
            stats.lines += n
            t, ok = column_times(np, pa, pc, table, n)
            ts_ok.append(ok)
            # the row engine filters by time before its reorder window: the window sees the kept rows only
            kept = t
            if history.since is not None or history.until is not None:
                kept = t[((t >= history.since) if history.since is not None else True)
                         & ((t < history.until) if history.until is not None else True)]
            if not sorted_externally and len(kept) > 1 and not bool(np.all(kept[1:] >= kept[:-1])):
                sorted_externally = beyond_window(kept, history.window)
            times.append(t)
            counts.append(n)
        assert schema is not None
        self.names: List[str] = list(schema.names)
        if len(tables) > 1:
            tables = [tables[0]] + [x.cast(tables[0].schema) if not x.schema.equals(tables[0].schema) else x
                                    for x in tables[1:]]
        table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
        t_all = np.concatenate(times) if len(times) > 1 else times[0]
        ok_all = np.concatenate(ts_ok) if len(ts_ok) > 1 else ts_ok[0]
        # each file's first row in reading order: a row's file, line and sequence are computed from it
        self.file_starts = np.cumsum(np.array(counts, dtype=np.int64))
        self.src: Optional[Any] = None      # the rows kept by --since/--until, in reading order (None: all)
        if history.since is not None or history.until is not None:
            keep = np.ones(len(t_all), dtype=bool)
            if history.since is not None:
                keep &= t_all >= history.since
            if history.until is not None:
                keep &= t_all < history.until
            idx = np.nonzero(keep)[0]
            stats.filtered = int(len(t_all) - len(idx))
            if len(idx) < len(t_all):
                table = table.take(pa.array(idx))
                t_all, ok_all, self.src = t_all[idx], ok_all[idx], idx
        stats.sorted_externally = sorted_externally
        self.table = table
        self.t = t_all
        self.ts_ok = ok_all
        self.displays = list(stats.sources)
        self.stats = stats
        self.n = len(t_all)
        self.cols: Dict[Tuple[str, ...], Col] = {}
        self.segs_of: Dict[str, Tuple[str, ...]] = {}
        self._columns(np, pa)
        # replay order: time, then reading order (which the sequence numbers follow). A history already in
        # time order (the common case) needs no sort: `in_order`, and `order` is the identity
        self.in_order = self.n < 2 or bool(np.all(t_all[1:] >= t_all[:-1]))
        self.order = (np.arange(self.n, dtype=np.int64) if self.in_order
                      else np.argsort(t_all, kind="stable"))

    def ordered(self, values: Any) -> Any:
        """A per-row array in replay order."""
        return values if self.in_order else values[self.order]

    def row_at(self, positions: Any) -> Any:
        """The rows at these replay positions."""
        return positions if self.in_order else self.order[positions]

    def where(self, rows: Any) -> Tuple[List[int], List[int], List[int]]:
        """The sequence number, file index and line (row within its file, from 1) of each of `rows`."""
        np = modules()[0]
        rows = np.asarray(rows, dtype=np.int64)
        orig = rows if self.src is None else self.src[rows]
        file = np.searchsorted(self.file_starts, orig, side="right") - 1
        line = orig - self.file_starts[file] + 1
        return ((file << SEQ_SHIFT) | line).tolist(), file.tolist(), line.tolist()

    def _columns(self, np: Any, pa: Any) -> None:
        segs_seen: Set[Tuple[str, ...]] = set()
        if len(set(self.names)) != len(self.names):
            raise Unsupported("duplicate columns")
        for name in self.names:
            kind = kind_of(pa, self.table.schema.field(name).type)
            segs = tuple(name.split("."))
            if kind is None or "" in segs or name in OBJECT_COLUMNS:
                raise Unsupported(f"column `{name}`")
            if len(segs) > 1 and segs[0] in ("tool", "timestamp", "confidence", "id"):
                raise Unsupported(f"column `{name}`")
            segs_seen.add(segs)
            self.cols[segs] = Col(name, kind, self.table.column(name))
            self.segs_of[name] = segs
        for s in segs_seen:
            for k in range(1, len(s)):
                if s[:k] in segs_seen:
                    raise Unsupported("a column inside another")
        tool = self.cols.get(("tool",))
        if tool is None or tool.kind != "str":
            raise Unsupported("no text `tool` column")

    def related(self, path: Tuple[Any, ...]) -> List[Col]:
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
        """The rows as the Parquet reader builds them (`engine.replay.readers._row_action`): the same dicts,
        keys in the same order. Its work is done once for all rows here, which it may be because `_columns`
        took only text, boolean, integer, double and null columns (each cell its own JSON value, as
        `_plain_value` gives it), none an object column, none inside another (so no path conflicts)."""
        import pyarrow as pa
        part = self.table.take(pa.array(list(rows), pa.int64()))
        # dotted columns after plain ones, as `_row_action` sorts them (a stable sort by the dots)
        cols = sorted(((self.segs_of[name], part.column(name).to_pylist()) for name in self.names),
                      key=lambda sv: len(sv[0]))
        flat = [(segs[0], values) for segs, values in cols if len(segs) == 1]
        nested = [(segs, values) for segs, values in cols if len(segs) > 1]
        out = []
        for i in range(len(part)):
            action: Dict[str, Any] = {}
            for key, values in flat:
                v = values[i]
                if v is not None:
                    action[key] = v
            for segs, values in nested:
                v = values[i]
                if v is None:
                    continue
                cur = action
                for k in segs[:-1]:
                    nxt = cur.get(k)
                    if nxt is None:
                        nxt = cur[k] = {}
                    cur = nxt
                cur[segs[-1]] = v
            out.append(action)
        return out

    def actions_by_reader(self, rows: Sequence[int]) -> List[Dict[str, Any]]:
        """`actions` through the reader's own `_row_action`, row by row (the tests compare the two)."""
        import pyarrow as pa
        part = self.table.take(pa.array(list(rows), pa.int64()))
        columns = [part.column(name).to_pylist() for name in self.names]
        return [_row_action(self.names, values, False)[0] for values in zip(*columns)]


def beyond_window(t: Any, window: int) -> bool:
    """Whether the row engine's reorder window (engine.replay.history.reorder_batches) would give up on
    this file's order: run that very function over the times."""
    from ..history import OutOfOrder, reorder_batches
    from ..records import batched
    recs = ((x, i, None, "", i, None, False) for i, x in enumerate(t.tolist()))
    try:
        for _ in reorder_batches(batched(recs), window):
            pass
    except OutOfOrder:
        return True
    return False
