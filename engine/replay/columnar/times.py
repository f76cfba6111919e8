"""Timestamps of a columnar history: Arrow's cast where the text has the strict RFC 3339 shape, the row
engine's own reading for anything else."""
from __future__ import annotations

import math
from typing import Any, Callable, Tuple

from ...decide.actions import parse_timestamp
from .base import Unsupported, kind_of

# RFC 3339 with a zone, at most microseconds, fields in range: Arrow's cast reads these to the microsecond
# that datetime.fromisoformat reads (anything else gets the row engine's own reading, row by row)
STRICT_TS = (r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,6})?"
             r"(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$")
T_MIN, T_MAX = -62135596800.0, 253402300800.0     # UTC year 1 to year 9999, as engine.replay.history.timed


def row_time(ts: Any) -> float:
    """The time `engine.replay.history.timed` gives a timestamp string, NaN for "the previous action's"."""
    from datetime import datetime, timezone
    try:
        dt = datetime.fromisoformat(ts)
        t = (dt if dt.tzinfo is not None else dt.replace(tzinfo=timezone.utc)).timestamp()
        if not T_MIN <= t < T_MAX:
            raise ValueError(ts)
        return t
    except (ValueError, TypeError, OverflowError):
        try:
            return parse_timestamp(ts).timestamp()
        except (ValueError, OverflowError):
            return math.nan


_LENGTHS = (20, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32)    # the lengths the strict shape can have
_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
# rows read at a time: the temporaries stay small enough for malloc to reuse (fresh pages cost more than
# the arithmetic: on a 1M-row column, one pass of int64 temporaries faults in tens of megabytes)
_BLOCK = 1 << 14


def _strict_micros(np: Any, byte: Callable[[int], Any], m: int, size: int) -> Tuple[Any, Any]:
    """Of `m` texts of `size` bytes (`byte(k)`: every text's k-th byte), which have the strict shape
    (STRICT_TS) with a year from 2 to 9998, and their microseconds since the epoch (0 for the others).

    The text is read digit by digit and every field checked against its range (days against their month,
    leap years included): these are exactly the texts the regex and the cast to `timestamp[us]` took, and
    a microsecond count below 2**53 divided by 10**6 as a double is datetime.timestamp()'s own division
    (both round the same quotient once). Years 1 and 9999, where an offset can leave datetime's range, and
    counts past 2**53 are left to the row engine's reading."""
    ok = np.ones(m, dtype=bool)

    def digits(first: int, count: int) -> Any:
        nonlocal ok
        v = np.zeros(m, dtype=np.int64)
        for k in range(first, first + count):
            c = byte(k).astype(np.int64) - 48
            ok &= (c >= 0) & (c <= 9)
            v = v * 10 + c
        return v

    def sep(k: int, ch: str) -> None:
        nonlocal ok
        ok &= byte(k) == ord(ch)

    year, month, day = digits(0, 4), digits(5, 2), digits(8, 2)
    hour, minute, second = digits(11, 2), digits(14, 2), digits(17, 2)
    for k, ch in ((4, "-"), (7, "-"), (10, "T"), (13, ":"), (16, ":")):
        sep(k, ch)
    base_ok = ok
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    dim = np.array(_MONTH_DAYS, dtype=np.int64)[np.clip(month, 1, 12) - 1] + ((month == 2) & leap)
    base_ok &= (year >= 2) & (year <= 9998) & (month >= 1) & (month <= 12) & (day >= 1) & (day <= dim)
    base_ok &= (hour <= 23) & (minute <= 59) & (second <= 59)
    # days from the civil date (H. Hinnant's algorithm; years here are positive)
    y = year - (month <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (month + np.where(month > 2, -3, 9)) + 2) // 5 + day - 1
    days = era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
    local = days * 86400 + hour * 3600 + minute * 60 + second
    found = np.zeros(m, dtype=bool)
    micros = np.zeros(m, dtype=np.int64)
    # the zone is `Z` (the last byte) or `+HH:MM` / `-HH:MM` (the last six); a fraction of 1 to 6 digits
    # after a `.` fills what is between the seconds and the zone
    for zone_len in (1, 6):
        frac = size - 19 - zone_len
        if not (frac == 0 or 2 <= frac <= 7):
            continue
        ok = base_ok.copy()
        us = np.zeros(m, dtype=np.int64)
        if frac:
            sep(19, ".")
            us = digits(20, frac - 1) * 10 ** (7 - frac)
        if zone_len == 1:
            sep(size - 1, "Z")
            offset = 0
        else:
            sign = byte(size - 6)
            ok &= (sign == ord("+")) | (sign == ord("-"))
            oh, om = digits(size - 5, 2), digits(size - 2, 2)
            sep(size - 3, ":")
            ok &= (oh <= 23) & (om <= 59)
            offset = np.where(sign == ord("-"), -1, 1) * (oh * 3600 + om * 60)
        total = (local - offset) * 1_000_000 + us
        ok &= np.abs(total) < 2 ** 53
        micros = np.where(ok, total, micros)
        found |= ok
    return found, micros


def _columns_of(grid: Any) -> Callable[[int], Any]:
    """The `byte(k)` of texts laid out as the rows of a matrix: its k-th column."""
    return lambda k: grid[:, k]


def _gathered(data: Any, starts: Any) -> Callable[[int], Any]:
    """The `byte(k)` of texts starting at `starts` in `data`."""
    return lambda k: data[starts + k]


def _chunk_times(np: Any, pa: Any, piece: Any, t: Any, strict: Any, at: int) -> None:
    """The strict timestamps of one Arrow string chunk, read from its buffers into t[at:] and strict[at:]."""
    n = len(piece)
    bufs = piece.buffers()
    if bufs[2] is None or not n:
        return
    wide = pa.types.is_large_string(piece.type)
    offsets = np.frombuffer(bufs[1], dtype=np.int64 if wide else np.int32)[piece.offset:piece.offset + n + 1]
    data = np.frombuffer(bufs[2], dtype=np.uint8)
    lengths = np.diff(offsets)
    counts = np.bincount(np.clip(lengths, 0, 33), minlength=34)
    for size in _LENGTHS:
        m = int(counts[size])
        if not m:
            continue
        if m == n:      # every text of this length (the common case): the bytes as an m × size matrix
            grid = data[int(offsets[0]):int(offsets[0]) + m * size].reshape(m, size)
            for lo in range(0, m, _BLOCK):
                g = grid[lo:lo + _BLOCK]
                found, micros = _strict_micros(np, _columns_of(g), len(g), size)
                strict[at + lo:at + lo + len(g)] = found
                t[at + lo:at + lo + len(g)] = np.where(found, micros / 1e6, np.nan)
        else:
            rows = np.nonzero(lengths == size)[0]
            for lo in range(0, m, _BLOCK):
                part = rows[lo:lo + _BLOCK]
                starts = offsets[:-1][part].astype(np.int64)
                found, micros = _strict_micros(np, _gathered(data, starts), len(part), size)
                strict[at + part] = found
                t[at + part] = np.where(found, micros / 1e6, np.nan)


def column_times(np: Any, pa: Any, pc: Any, table: Any, n: int) -> Any:
    """Each row's time as the row engine reads it, and whether check_action accepts its timestamp for
    certain (null, or of the strict shape: read from the text's bytes by `_strict_micros`)."""
    if "timestamp" not in table.schema.names:
        return np.zeros(n), np.ones(n, dtype=bool)
    ts = table.column("timestamp")
    if pa.types.is_dictionary(ts.type):
        ts = ts.cast(ts.type.value_type)
    if kind_of(pa, ts.type) == "null":
        return np.zeros(n), np.ones(n, dtype=bool)
    if kind_of(pa, ts.type) != "str":
        raise Unsupported("a timestamp column that is not text")
    t = np.full(n, math.nan)
    strict = np.zeros(n, dtype=bool)
    at = 0
    for piece in ts.chunks:
        _chunk_times(np, pa, piece, t, strict, at)
        at += len(piece)
    nulls = ts.is_null().to_numpy(zero_copy_only=False)
    strict &= ~nulls
    strict &= (t >= T_MIN) & (t < T_MAX)
    slow = np.nonzero(~nulls & ~strict)[0]
    if len(slow):
        values = ts.take(pa.array(slow)).to_pylist()
        for i, v in zip(slow.tolist(), values):
            t[i] = row_time(v)
    # a missing or unreadable timestamp takes the time of the action before it (0 for the first)
    if np.isnan(t).any():
        last = 0.0
        for i in np.nonzero(np.isnan(t))[0].tolist():
            t[i] = t[i - 1] if i else last
    return t, nulls | strict
