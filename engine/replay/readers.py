"""History readers: JSON Lines (orjson fast path, strict fallback), CSV and Parquet, gzip, stdin, record caps."""
from __future__ import annotations

import gzip
import io
import json
import os
import sys
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

from ..decide.actions import ActionError, InputSyntaxError, loads_action
from .records import BATCH, MAX_RECORD_BYTES, OBJECT_COLUMNS, TEXT_COLUMNS, HistoryError, Stats, batched

__all__ = ["make_json_parser", "read_source"]


# ------------------------------------------------------------------ JSON

def _count_keys(v: Any) -> int:
    if v.__class__ is dict:
        n = len(v)
        items = v.values()
    else:
        n = 0
        items = v
    for y in items:
        c = y.__class__
        if c is dict or c is list:
            n += _count_keys(y)
    return n


# one pass maps every digit to `9` and every JSON whitespace to ` `, keeping `"` and `:`; then
# ` :` finds a colon after whitespace and nineteen `9`s an integer orjson would read as a double
_SCAN = bytes(57 if 48 <= i <= 57 else 32 if i in (9, 10, 13, 32) else i if i in (34, 58) else 120
              for i in range(256))
_LONG_DIGITS = b"9" * 19                                          # 2**63 has 19 digits


def _bad_constant(name: str) -> Any:
    raise ValueError(name)


def make_json_parser(use_orjson: Optional[bool] = None) -> Callable[[bytes], Tuple[Any, Optional[str], bool]]:
    """A JSON-line parser with the strict semantics of `loads_action`, fast in the common case.

    Returns (value, problem, fast): problem is None, or an input-error message (duplicate keys, NaN…)
    with value the lenient reading (for time and filters only; the action is denied); fast tells that
    the value came from the fast path, so it holds no NaN, infinity or huge integer. JSON syntax errors
    raise InputSyntaxError. The fast path parses without hooks (orjson when installed) and proves the
    absence of duplicate keys by counting: when no colon in the line follows whitespace, every member
    of every object contributes one `":` to the text, so `count('":') == keys in the parsed tree` means
    no key was lost to a duplicate. Any doubt (`" :`, `"\\t:`, a colon inside a string that ends a
    string…) only sends the line to the strict parser, which decides. With orjson, a compact line
    (what most writers emit) is proved cheaper still: if serialising the parsed value gives the line
    back byte for byte, no key was dropped (the text would be shorter) and no number was rounded.
    """
    loads: Callable[[bytes], Any]
    dumps: Optional[Callable[[Any], bytes]] = None
    big_ints = False
    if use_orjson is None or use_orjson:
        try:
            import orjson
            loads = orjson.loads  # rejects NaN/Infinity and invalid UTF-8 itself
            dumps = orjson.dumps
            big_ints = True       # but reads integers past 64 bits as doubles: those lines go strict
        except ImportError:
            if use_orjson:
                raise
            loads = None  # type: ignore[assignment]
    else:
        loads = None  # type: ignore[assignment]
    if loads is None:
        def loads(raw: bytes, _l=json.loads) -> Any:
            return _l(raw, parse_constant=_bad_constant)

    def strict(raw: bytes) -> Tuple[Any, Optional[str], bool]:
        try:
            text = raw.rstrip(b"\r\n").decode("utf-8")  # so a column is on the line, not past its end
        except UnicodeDecodeError as e:
            raise InputSyntaxError("not valid UTF-8", "$", 1, e.start + 1) from None
        try:
            return loads_action(text), None, False
        except InputSyntaxError:
            raise
        except ActionError as e:
            try:
                lenient = json.loads(text)
            except (ValueError, RecursionError):
                lenient = None
            return lenient, e.message, False

    def parse(raw: bytes) -> Tuple[Any, Optional[str], bool]:
        try:
            v = loads(raw)
        except Exception:  # any doubt goes to the strict parser, which gives the exact verdict
            return strict(raw)
        c = v.__class__
        if c is not dict and c is not list:
            return strict(raw)
        if dumps is not None:
            try:
                d = dumps(v)
            except Exception:  # orjson writes less deeply than it reads: the strict parser decides
                return strict(raw)
            if d == raw[:-1] or d == raw:   # the line, without or with its newline
                return v, None, True
        scan = raw.translate(_SCAN)
        if b" :" in scan or scan.count(b'":') != _count_keys(v):
            return strict(raw)
        if big_ints and _LONG_DIGITS in scan:
            return strict(raw)
        return v, None, big_ints

    # the round-trip proof is also offered on its own, for a reader to try inline before calling parse
    parse.round_trip = (loads, dumps) if dumps is not None else None  # type: ignore[attr-defined]
    return parse


# ------------------------------------------------------------------ opening

def _display(path: str) -> str:
    return "<stdin>" if path == "-" else path


def _open_binary(path: str, stats: Stats) -> Tuple[Any, str]:
    """A buffered binary stream (gunzipped if gzip) and the detected kind: jsonl|csv|parquet|unknown."""
    raw: Any    # stdin's buffer, or a file: both binary streams; one without peek is wrapped below
    if path == "-":
        raw = sys.stdin.buffer
        size = 0
    else:
        try:
            raw = open(path, "rb")
            size = os.fstat(raw.fileno()).st_size
        except OSError as e:
            raise HistoryError(path, (e.strerror or "cannot read").lower()) from None
        stats._handles.append(raw)
        stats._sizes.append(size)
    buf = raw if hasattr(raw, "peek") else io.BufferedReader(raw)
    head = buf.peek(4)[:4]
    name = path.lower()
    if head[:2] == b"\x1f\x8b":
        buf = io.BufferedReader(gzip.GzipFile(fileobj=buf, mode="rb"), 1 << 16)
        head = buf.peek(4)[:4]
        if name.endswith(".gz"):
            name = name[:-3]
    if head == b"PAR1":
        return buf, "parquet"
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return buf, "jsonl"
    if name.endswith(".csv"):
        return buf, "csv"
    if name.endswith((".parquet", ".pq")):
        return buf, "parquet"
    return buf, "unknown"


def _sniff(buf: Any) -> str:
    start = buf.peek(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    if start[:1] in (b"{", b"["):
        return "jsonl"
    first = start.split(b"\n", 1)[0]
    if b"," in first and b"tool" in first:
        return "csv"
    return "jsonl"


def read_source(path: str, stats: Stats, on_error: str = "fail", fmt: str = "auto",
                parse: Optional[Callable] = None, max_record: int = MAX_RECORD_BYTES,
                ) -> Iterator[List[Tuple[Any, int, Optional[str], bool]]]:
    """One history file in file order, in batches of (action, line number, problem, checked). Malformed
    lines are counted and reported, then skipped or raised according to `on_error`. A record larger
    than `max_record` bytes is malformed; it is never held in memory whole."""
    buf, kind = _open_binary(path, stats)
    if fmt != "auto":
        kind = fmt
    elif kind == "unknown":
        kind = _sniff(buf)
    name = _display(path)
    stats.sources.append(name)
    try:
        if kind == "jsonl":
            yield from _read_jsonl(buf, name, stats, on_error, parse or make_json_parser(), max_record)
        elif kind == "csv":
            yield from batched(_read_csv(buf, name, stats, on_error, max_record))
        elif kind == "parquet":
            yield from batched(_read_parquet(buf, path, name, stats, on_error, max_record))
        else:
            raise HistoryError(name, f"unknown history format `{kind}`")
    except OSError as e:  # a truncated gzip stream and the like
        raise HistoryError(name, f"cannot read: {str(e).lower() or type(e).__name__}") from None
    finally:
        if path != "-":
            buf.close()


def _malformed(stats: Stats, on_error: str, where: str, message: str) -> None:
    stats.malformed += 1
    stats.note("malformed", where, message)
    if on_error == "fail":
        raise HistoryError(where, message)
    stats.skipped += 1


_BLANK = frozenset(b" \t\r\n")


def _too_large(max_record: int) -> str:
    size = f"{max_record // (1024 * 1024)} MiB" if max_record % (1024 * 1024) == 0 else f"{max_record:,} bytes"
    return f"record larger than {size} (raise the limit with --max-record-bytes)"


def _skip_line(readline: Callable[[int], bytes]) -> None:
    """Discard the rest of an oversized line, a chunk at a time."""
    while True:
        chunk = readline(1 << 16)
        if not chunk or chunk.endswith(b"\n"):
            return


def _read_jsonl(buf: Any, name: str, stats: Stats, on_error: str, parse: Callable,
                max_record: int = MAX_RECORD_BYTES) -> Iterator[List]:
    n = 0
    out: List[Tuple[Any, int, Optional[str], bool]] = []
    fast = getattr(parse, "round_trip", None)
    loads: Optional[Callable[[bytes], Any]] = None
    dumps: Callable[[Any], bytes] = bytes     # called only when loads is set, and then it is fast's
    if fast is not None:
        loads, dumps = fast
    quick = 0       # lines read by the inline step, added to stats.lines batch by batch
    readline = buf.readline
    cap = max_record + 1        # the line's bytes and its newline
    while True:
        # a bounded read: a line is never built past the cap, however long (or gzip-inflated) it is
        raw = readline(cap)
        if not raw:
            break
        n += 1
        if len(raw) == cap and not raw.endswith(b"\n"):
            stats.lines += 1
            _malformed(stats, on_error, f"{name}:{n}", _too_large(max_record))   # raises with `fail`
            _skip_line(readline)
            continue
        if raw[0] in _BLANK or n == 1:
            if n == 1 and raw[:3] == b"\xef\xbb\xbf":
                raw = raw[3:]
            if not raw.strip():
                continue
        if loads is not None:
            # parse's own first step, inline: a compact line that serialises back to itself
            try:
                v = loads(raw)
                d = dumps(v) if v.__class__ is dict else b""   # orjson reads deeper than it writes
            except Exception:
                v, d = None, b""
            if d and len(raw) - len(d) == 1 and raw.startswith(d):  # + its newline
                out.append((v, n, None, True))
                quick += 1
                if len(out) >= BATCH:
                    stats.lines += quick
                    quick = 0
                    yield out
                    out = []
                continue
        stats.lines += 1
        try:
            action, problem, checked = parse(raw)
        except InputSyntaxError as e:
            _malformed(stats, on_error, f"{name}:{n}:{e.column}", e.message)
            continue
        except RecursionError:
            _malformed(stats, on_error, f"{name}:{n}", "nested too deeply")
            continue
        if problem is not None:
            stats.input_errors += 1
            stats.note("input", f"{name}:{n}", problem)
        out.append((action, n, problem, checked))
        if len(out) >= BATCH:
            stats.lines += quick
            quick = 0
            yield out
            out = []
    stats.lines += quick
    if out:
        yield out


def _cell_value(col: str, cell: str) -> Tuple[Any, Optional[str]]:
    """A CSV cell as a JSON value: object columns hold JSON; text columns stay text; other cells are
    read as JSON when they are (numbers, true/false, "quoted"), else kept as text."""
    if col in TEXT_COLUMNS:
        return cell, None
    if col in OBJECT_COLUMNS:
        try:
            return loads_action(cell), None
        except InputSyntaxError as e:
            return None, f"column `{col}` does not hold JSON: {e.message}"
        except ActionError as e:
            return None, f"column `{col}`: {e.message}"
    c = cell[:1]
    if c.isdigit() or c in ('-', '"', "[", "{") or cell in ("true", "false", "null"):
        try:
            return loads_action(cell), None
        except InputSyntaxError:
            return cell, None
        except ActionError as e:
            return None, f"column `{col}`: {e.message}"
    return cell, None


def _set_path(out: Dict[str, Any], col: str, value: Any) -> Optional[str]:
    keys = col.split(".")
    cur = out
    for k in keys[:-1]:
        nxt = cur.get(k)
        if nxt is None:
            nxt = cur[k] = {}
        elif nxt.__class__ is not dict:
            return f"column `{col}` conflicts with another column"
        cur = nxt
    if keys[-1] in cur and cur[keys[-1]].__class__ is dict and value.__class__ is dict:
        for k, v in value.items():
            if k in cur[keys[-1]]:
                return f"column `{col}` repeats `{col}.{k}`"
            cur[keys[-1]][k] = v
        return None
    if keys[-1] in cur:
        return f"column `{col}` repeats a value set by another column"
    cur[keys[-1]] = value
    return None


def _row_action(header: Sequence[str], row: Sequence[Any], text_cells: bool) -> Tuple[Dict[str, Any], Optional[str]]:
    action: Dict[str, Any] = {}
    problem = None
    # dotted columns after plain ones, so `args` (JSON) and `args.x` merge in one order
    for col, cell in sorted(zip(header, row), key=lambda cv: cv[0].count(".")):
        if cell is None or (text_cells and cell == ""):
            continue
        if text_cells:
            value, p = _cell_value(col, cell)
        else:
            value, p = _plain_value(col, cell)
        if p is None and value is not None:
            p = _set_path(action, col, value)
        if p is not None and problem is None:
            problem = p
    return action, problem


class _RecordTooLarge(Exception):
    """A CSV record (its lines so far) past the record cap."""


class _BoundedLines:
    """The lines of a text stream for csv.reader, each read with a bounded readline, and the size
    of the record being read (a quoted field may span lines) checked as it grows."""

    def __init__(self, text: Any, max_record: int):
        self.readline, self.max_record, self.size = text.readline, max_record, 0
        self.count = 0              # lines read, as csv's line_num, across the readers resumed on it
        self.partial = False        # the last line returned was cut at the cap

    def __iter__(self) -> "_BoundedLines":
        return self

    def __next__(self) -> str:
        line = self.readline(self.max_record + 1 - self.size)
        if not line:
            raise StopIteration
        self.count += 1
        self.partial = not line.endswith(("\n", "\r"))
        # counted in characters (1 to 4 bytes each in UTF-8): what is held stays within 4 × the cap
        self.size += len(line)
        if self.size > self.max_record:
            raise _RecordTooLarge()
        return line

    def skip(self) -> None:
        """Discard the rest of the current line after an oversized record."""
        while self.partial:
            chunk = self.readline(1 << 16)
            self.partial = bool(chunk) and not chunk.endswith(("\n", "\r"))
        self.size = 0


def _read_csv(buf: Any, name: str, stats: Stats, on_error: str, max_record: int = MAX_RECORD_BYTES) -> Iterator:
    import csv
    text = io.TextIOWrapper(buf, encoding="utf-8-sig", newline="")
    lines = _BoundedLines(text, max_record)
    if csv.field_size_limit() < max_record:
        csv.field_size_limit(max_record)   # a field may be as large as a record, no larger
    reader = csv.reader(lines, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        return
    except _RecordTooLarge:
        raise HistoryError(f"{name}:1", f"cannot read the CSV header: {_too_large(max_record)}") from None
    except (csv.Error, UnicodeDecodeError) as e:
        raise HistoryError(f"{name}:1", f"cannot read the CSV header: {e}") from None
    header = [h.strip() for h in header]
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise HistoryError(f"{name}:1", f"column `{dupes[0]}` appears more than once")
    if "tool" not in header:
        raise HistoryError(f"{name}:1", "a CSV history needs a `tool` column")
    line = 1
    while True:
        lines.size = 0
        try:
            row = next(reader)
        except StopIteration:
            return
        except _RecordTooLarge:
            stats.lines += 1
            _malformed(stats, on_error, f"{name}:{line + 1}", _too_large(max_record))   # raises with `fail`
            lines.skip()
            # the reader is mid-record: a fresh one resumes at the next line
            line = lines.count
            reader = csv.reader(lines, strict=True)
            continue
        except UnicodeDecodeError:
            _malformed(stats, on_error, f"{name}:{lines.count + 1}", "not valid UTF-8")
            return  # the decoder cannot resynchronise after a bad byte
        except csv.Error as e:
            _malformed(stats, on_error, f"{name}:{lines.count}", f"invalid CSV: {str(e).lower()}")
            line = lines.count
            continue
        first, line = line + 1, lines.count
        if not row or all(c == "" for c in row):
            continue
        stats.lines += 1
        if len(row) != len(header):
            _malformed(stats, on_error, f"{name}:{first}",
                       f"row has {len(row)} fields, the header has {len(header)}")
            continue
        action, problem = _row_action(header, row, True)
        if problem is not None:
            stats.input_errors += 1
            stats.note("input", f"{name}:{first}", problem)
        yield action, first, problem, False


def _plain_value(col: str, v: Any, top: bool = True) -> Tuple[Any, Optional[str]]:
    """A Parquet cell as a JSON value: timestamps as RFC 3339, decimals as numbers, JSON text in
    object columns parsed, maps as objects."""
    if isinstance(v, str):
        if top and col in OBJECT_COLUMNS:
            return _cell_value(col, v)
        return v, None
    if isinstance(v, bool) or v is None or isinstance(v, (int, float)):
        return v, None
    if isinstance(v, datetime):
        v = v if v.tzinfo is not None else v.replace(tzinfo=timezone.utc)
        return v.astimezone(timezone.utc).isoformat().replace("+00:00", "Z"), None
    if isinstance(v, date):
        return v.isoformat() + "T00:00:00Z", None
    if isinstance(v, Decimal):
        return float(v), None
    if isinstance(v, bytes):
        try:
            return v.decode("utf-8"), None
        except UnicodeDecodeError:
            return None, f"column `{col}` holds bytes that are not UTF-8"
    if isinstance(v, dict):
        out = {}
        for k, x in v.items():
            if x is None:
                continue
            val, p = _plain_value(col, x, False)
            if p is not None:
                return None, p
            out[str(k)] = val
        return out, None
    if isinstance(v, list):
        if v and all(isinstance(x, tuple) and len(x) == 2 for x in v):  # a Parquet map
            keys = [str(k) for k, _ in v]
            if len(set(keys)) != len(keys):
                return None, f"column `{col}` has a duplicate key"
            return _plain_value(col, dict(v), top)
        out_l = []
        for x in v:
            val, p = _plain_value(col, x, False)
            if p is not None:
                return None, p
            out_l.append(val)
        return out_l, None
    return None, f"column `{col}` holds an unsupported value ({type(v).__name__})"


def _cell_sizes(batch: Any) -> Any:
    """Per row, the bytes of the batch's string and binary cells (top-level and nested), summed;
    None when the batch has none. Computed by Arrow before any row becomes Python values."""
    import pyarrow as pa
    import pyarrow.compute as pc
    total = None

    def add(arr: Any, owner_rows: Any) -> None:
        nonlocal total
        t = arr.type
        if pa.types.is_string(t) or pa.types.is_binary(t) or pa.types.is_large_string(t) or pa.types.is_large_binary(t):
            sizes = pc.fill_null(pc.binary_length(arr), 0).cast(pa.int64())
            if owner_rows is not None:          # nested values: summed back to the row that holds them
                sizes = pa.table({"row": owner_rows, "n": sizes}).group_by("row").aggregate([("n", "sum")])
                full = [0] * len(batch)
                for r, n in zip(sizes.column("row").to_pylist(), sizes.column("n_sum").to_pylist()):
                    full[r] = n
                sizes = pa.array(full, pa.int64())
            total = sizes if total is None else pc.add(total, sizes)
        elif pa.types.is_struct(t):
            for i in range(t.num_fields):
                add(arr.field(i), owner_rows)
        elif pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_map(t):
            rows = pc.list_parent_indices(arr)
            if owner_rows is not None:
                rows = pc.take(owner_rows, rows)
            flat = arr.flatten()
            if pa.types.is_map(t):
                add(flat.field(0), rows)
                add(flat.field(1), rows)
            else:
                add(flat, rows)

    for col in batch.columns:
        add(col, None)
    return total


def _read_parquet(buf: Any, path: str, name: str, stats: Stats, on_error: str,
                  max_record: int = MAX_RECORD_BYTES) -> Iterator:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise HistoryError(name, "reading Parquet needs pyarrow: install `signoff[sim]`") from None
    import pyarrow as pa
    from pyarrow.compute import max as pc_max
    try:
        if path == "-":
            source: Any = pa.BufferReader(buf.read())  # Parquet needs random access: stdin is read whole
        else:
            source = buf
        pf = pq.ParquetFile(source)
    except Exception as e:  # pyarrow raises its own error types for corrupt files
        raise HistoryError(name, f"not a readable Parquet file: {str(e).splitlines()[0].lower()}") from None
    header = pf.schema_arrow.names
    if "tool" not in [h.split(".")[0] for h in header]:
        raise HistoryError(name, "a Parquet history needs a `tool` column")
    # a row group whose uncompressed size (from the file's metadata) exceeds the cap times its rows
    # holds a row past the cap: refused before a page is decompressed
    first = 1
    meta = pf.metadata
    for g in range(meta.num_row_groups):
        rg = meta.row_group(g)
        if rg.total_byte_size > max_record * max(rg.num_rows, 1):
            raise HistoryError(f"{name}:rows {first}-{first + max(rg.num_rows, 1) - 1}",
                               f"row group of {rg.total_byte_size:,} bytes for {rg.num_rows:,} rows: "
                               + _too_large(max_record))
        first += rg.num_rows
    row = 0
    for batch in pf.iter_batches(batch_size=8192):
        cols = batch.schema.names
        sizes = _cell_sizes(batch)
        big = set()
        if sizes is not None and (pc_max(sizes).as_py() or 0) > max_record:
            big = {i for i, n in enumerate(sizes.to_pylist()) if n > max_record}
        if big:     # rare: only the rows within the cap become Python values
            rows: Iterable[Any] = ((None if i in big else tuple(c[i].as_py() for c in batch.columns))
                                   for i in range(batch.num_rows))
        else:
            rows = zip(*(c.to_pylist() for c in batch.columns))
        for values in rows:
            row += 1
            stats.lines += 1
            if values is None:
                _malformed(stats, on_error, f"{name}:row {row}", _too_large(max_record))
                continue
            action, problem = _row_action(cols, values, False)
            if problem is not None:
                stats.input_errors += 1
                stats.note("input", f"{name}:row {row}", problem)
            yield action, row, problem, False


