"""Replayable histories: readers (engine.replay.readers) behind filters, time order and the external sort."""
from __future__ import annotations

import bisect
import hashlib
import heapq
import json
import tempfile
from datetime import datetime, timezone
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

from ..decide.actions import _RFC3339, parse_timestamp
from .readers import _display, make_json_parser, read_source
from .records import (BATCH, FORMATS, MAX_EXAMPLES, MAX_RECORD_BYTES, ON_ERROR, REORDER_WINDOW, RUN_SIZE, SEQ_SHIFT,
                      HistoryError, OutOfOrder, Record, Stats, batched)

# the names this module has always offered (the readers and records moved out; importers need not change)
__all__ = ["BATCH", "FORMATS", "MAX_EXAMPLES", "MAX_RECORD_BYTES", "ON_ERROR", "REORDER_WINDOW", "RUN_SIZE",
           "SEQ_SHIFT", "HistoryError", "OutOfOrder", "Record", "Stats", "batched", "make_json_parser",
           "read_source", "parse_when", "parse_filters", "make_filter", "timed", "reorder_batches", "reorder",
           "flat", "external_sort", "sample_records", "History"]


# ------------------------------------------------------------------ filters and time

def parse_when(value: str) -> float:
    """Read `--since`/`--until`: an RFC 3339 time or a date (midnight UTC), as epoch seconds."""
    v = value.strip()
    if len(v) == 10:
        v += "T00:00:00Z"
    return parse_timestamp(v).timestamp()


def parse_filters(items: Iterable[str]) -> Dict[str, List[str]]:
    """`KEY=V1,V2`: KEY is `tool`, `tenant` (tenant.id), `agent` (agent.id) or a dotted path."""
    out: Dict[str, List[str]] = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"filter `{item}` is not KEY=VALUE")
        key, _, value = item.partition("=")
        key = key.strip()
        if not key:
            raise ValueError(f"filter `{item}` has no key")
        out.setdefault(key, []).extend(v for v in value.split(","))
    return out


def _getter(key: str) -> Callable[[Any], Any]:
    path = {"tenant": "tenant.id", "agent": "agent.id"}.get(key, key).split(".")

    def get(a: Any) -> Any:
        for k in path:
            if not isinstance(a, dict):
                return None
            a = a.get(k)
        return a
    return get


def _text(v: Any) -> Optional[str]:
    if v is None:
        return None
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def make_filter(filters: Optional[Dict[str, List[str]]]) -> Optional[Callable[[Any], bool]]:
    """The `--filter` test of an action (each KEY one of its values), or None when nothing is filtered."""
    if not filters:
        return None
    tests = [(_getter(k), set(vs)) for k, vs in filters.items()]

    def keep(a: Any) -> bool:
        for get, allowed in tests:
            if _text(get(a)) not in allowed:
                return False
        return True
    return keep


_fromiso = datetime.fromisoformat

# The common RFC 3339 spellings as shapes (every ASCII digit read as `9`): a set lookup instead of the
# regex for nearly every timestamp; a shape not listed still goes to the regex, which decides.
_DIGIT9 = bytes(57 if 48 <= i <= 57 else i for i in range(256))
_TS_SHAPES = frozenset(
    f"9999-99-99{sep}99:99:99{frac}{zone}".encode()
    for sep in ("T", "t", " ") for frac in [""] + ["." + "9" * k for k in range(1, 10)]
    for zone in ("", "Z", "z", "+99:99", "-99:99"))


def timed(source: Iterator[List[Tuple[Any, int, Optional[str], bool]]], name: str, index: int, stats: Stats,
          since: Optional[float], until: Optional[float],
          keep: Optional[Callable[[Any], bool]]) -> Iterator[List[Record]]:
    """Give each action its time (spec §5: one without a timestamp, or with a bad one, takes the time
    of the action before it) and apply --since/--until/--filter; batches in, batches of records out."""
    last = 0.0
    base = index << SEQ_SHIFT
    rfc3339 = _RFC3339.fullmatch
    filtering = since is not None or until is not None or keep is not None
    for batch in source:
        out: List[Record] = []
        for action, line, problem, fast in batch:
            ts = action.get("timestamp") if action.__class__ is dict else None
            t = last
            if ts is not None:
                # `checked` needs the engine's own reading of the timestamp: RFC 3339 by its regex, and
                # the value fromisoformat gives, which is what parse_timestamp returns for such a string
                if fast and (ts.__class__ is not str or (ts.encode("utf-8", "surrogatepass").translate(_DIGIT9)
                                                           not in _TS_SHAPES and rfc3339(ts) is None)):
                    fast = False
                try:
                    # fromisoformat is the fast path; what it refuses (leap seconds, nanoseconds, lower-case
                    # `t`/`z`) goes through the RFC 3339 reader the engine uses. A string it accepts but RFC
                    # 3339 does not (a bare date) only places an action the engine will deny anyway.
                    dt = _fromiso(ts)
                    t = (dt if dt.tzinfo is not None else dt.replace(tzinfo=timezone.utc)).timestamp()
                    if not -62135596800.0 <= t < 253402300800.0:  # UTC before year 1 or after 9999
                        raise ValueError(ts)
                except (ValueError, TypeError, OverflowError):
                    fast = False
                    try:
                        t = parse_timestamp(ts).timestamp()
                    except (ValueError, OverflowError):
                        t = last  # the action is denied for its bad timestamp; it keeps its place in the file
            last = t
            if filtering and ((since is not None and t < since) or (until is not None and t >= until) or
                              (keep is not None and not keep(action))):
                stats.filtered += 1
                continue
            out.append((t, base | line, action, name, line, problem, fast))
        if out:
            yield out


def reorder_batches(batches: Iterator[List[Record]], window: int = REORDER_WINDOW) -> Iterator[List[Record]]:
    """Time order with bounded memory: the latest `window` records are held back so local disorder is
    fixed; a record older than one already released raises OutOfOrder (nothing is replayed wrongly).
    A batch already in order that starts at or after what is held (the usual case) is appended whole."""
    held: List[Record] = []      # in replay order: by time, then reading order
    last_t = float("-inf")       # the time of the last record released
    for batch in batches:
        ts = [r[0] for r in batch]
        if ts[0] >= (held[-1][0] if held else last_t) and ts == sorted(ts):
            held += batch           # the same as record by record: nothing new sorts before what is held
            excess = len(held) - window
            if excess > 0:
                out = held[:excess]
                del held[:excess]
                last_t = out[-1][0]
                yield out
            continue
        out = []
        for rec in batch:
            t = rec[0]
            if t < last_t:
                raise OutOfOrder(f"{rec[3]}:{rec[4]}", t, last_t)
            if not held or t >= held[-1][0]:
                held.append(rec)
            else:
                # after every held record of a greater time: equal times keep reading order
                held.insert(bisect.bisect_right(held, t, key=_time_of), rec)
            if len(held) > window:
                first = held.pop(0)
                last_t = first[0]
                out.append(first)
        if out:
            yield out
    if held:
        yield held


def _time_of(rec: Record) -> float:
    return rec[0]


def reorder(records: Iterator[Record], window: int = REORDER_WINDOW) -> Iterator[Record]:
    """`reorder_batches` for single records."""
    for batch in reorder_batches(([r] for r in records), window):
        yield from batch


def flat(batches: Iterable[List[Any]]) -> Iterator[Any]:
    """The items of batches, one by one."""
    for b in batches:
        yield from b


def external_sort(records: Iterator[Record], run_size: int = RUN_SIZE) -> Iterator[Record]:
    """Sort any history in bounded memory: sorted runs of `run_size` records spill to temporary
    files as JSON lines, then a k-way merge reads them back."""
    files: List[Any] = []
    buf: List[Record] = []
    try:
        for rec in records:
            buf.append(rec)
            if len(buf) >= run_size:
                files.append(_spill(buf))
                buf = []
        buf.sort(key=lambda r: (r[0], r[1]))
        if not files:
            yield from buf
            return
        files.append(_spill(buf))
        buf = []
        yield from heapq.merge(*(_unspill(f) for f in files), key=lambda r: (r[0], r[1]))
    finally:
        for f in files:
            f.close()


def _spill(buf: List[Record]) -> Any:
    buf.sort(key=lambda r: (r[0], r[1]))
    f = tempfile.TemporaryFile("w+", encoding="utf-8")
    dumps = json.dumps
    for t, seq, action, src, line, problem, checked in buf:
        f.write(dumps([t, seq, src, line, problem, checked, action]))  # ASCII escapes keep lone surrogates intact
        f.write("\n")
    f.seek(0)
    return f


def _unspill(f: Any) -> Iterator[Record]:
    loads = json.loads
    for raw in f:
        t, seq, src, line, problem, checked, action = loads(raw)
        yield (t, seq, action, src, line, problem, checked)


def sample_records(records: Iterator[Record], n: int, seed: int, stats: Stats) -> Iterator[Record]:
    """The n records whose keyed hash (seed, then the action's `id`, or FILE:LINE without one) is
    smallest: deterministic, independent of file order, and stable as a history grows. Memory is O(n);
    the sample is replayed in time order."""
    heap: List[Tuple[int, int, Record]] = []   # (-hash, seq, record)
    salt = str(seed).encode()
    seen = 0
    for rec in records:
        seen += 1
        action = rec[2]
        aid = action.get("id") if action.__class__ is dict else None
        key = f"id:{aid}" if isinstance(aid, (str, int)) and not isinstance(aid, bool) else f"at:{rec[3]}:{rec[4]}"
        h = int.from_bytes(hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8,
                                           key=salt[:64]).digest(), "big")
        if len(heap) < n:
            heapq.heappush(heap, (-h, rec[1], rec))
        elif -heap[0][0] > h:
            heapq.heapreplace(heap, (-h, rec[1], rec))
    stats.sampled_out += seen - len(heap)
    chosen = [r for _, _, r in heap]
    chosen.sort(key=lambda r: (r[0], r[1]))
    return iter(chosen)


class History:
    """Histories as one stream of records in replay (time) order.

    Each file streams through a reorder window; several files merge by time. `records()` raises
    OutOfOrder when a file's disorder exceeds the window; `records(external=True)` sorts any input
    in bounded memory through temporary files (stdin is read once, so it can only be sorted that way).
    """

    def __init__(self, paths: Sequence[str], on_error: str = "fail", since: Optional[float] = None,
                 until: Optional[float] = None, filters: Optional[Dict[str, List[str]]] = None,
                 sample: Optional[int] = None, seed: int = 0, fmt: str = "auto",
                 window: int = REORDER_WINDOW, run_size: int = RUN_SIZE, use_orjson: Optional[bool] = None,
                 max_record_bytes: int = MAX_RECORD_BYTES):
        if on_error not in ON_ERROR:
            raise ValueError(f"on_error must be skip or fail, not `{on_error}`")
        if fmt not in FORMATS:
            raise ValueError(f"unknown history format `{fmt}`")
        if not paths:
            raise ValueError("no history given")
        self.paths = list(paths)
        self.on_error, self.since, self.until = on_error, since, until
        self.filters, self.sample, self.seed, self.fmt = filters, sample, seed, fmt
        self.window, self.run_size = window, run_size
        if max_record_bytes < 1:
            raise ValueError("max_record_bytes must be at least 1")
        self.max_record_bytes = max_record_bytes
        self.parse = make_json_parser(use_orjson)
        self.stats = Stats()

    @property
    def has_stdin(self) -> bool:
        """Whether one of the histories is stdin (which can be read only once)."""
        return "-" in self.paths

    def _streams(self) -> List[Iterator[List[Record]]]:
        keep = make_filter(self.filters)
        return [timed(read_source(p, self.stats, self.on_error, self.fmt, self.parse, self.max_record_bytes), _display(p), i,
                      self.stats, self.since, self.until, keep) for i, p in enumerate(self.paths)]

    def _chain(self) -> Iterator[Record]:
        for s in self._streams():
            yield from flat(s)

    def batches(self, external: bool = False) -> Iterator[List[Record]]:
        """The records in replay order, in batches (what the replay loop consumes)."""
        self.stats = Stats()
        if self.sample is not None:
            return batched(sample_records(self._chain(), self.sample, self.seed, self.stats))
        if external:
            self.stats.sorted_externally = True
            return batched(external_sort(self._chain(), self.run_size))
        streams = [reorder_batches(s, self.window) for s in self._streams()]
        if len(streams) == 1:
            return streams[0]
        return batched(heapq.merge(*map(flat, streams), key=lambda r: (r[0], r[1])))

    def records(self, external: bool = False) -> Iterator[Record]:
        """The records in replay order, one by one."""
        return flat(self.batches(external))
