"""Timestamps of a columnar history: Arrow's cast where the text has the strict RFC 3339 shape, the row
engine's own reading for anything else."""
from __future__ import annotations

import math
from typing import Any

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


def column_times(np: Any, pa: Any, pc: Any, table: Any, n: int) -> Any:
    """Each row's time as the row engine reads it, and whether check_action accepts its timestamp for certain."""
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
    strict = pc.fill_null(pc.match_substring_regex(ts, STRICT_TS), False).to_numpy(zero_copy_only=False)
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
                t[i] = row_time(v)
    strict &= (t >= T_MIN) & (t < T_MAX)
    nonnull = ~ts.is_null().to_numpy(zero_copy_only=False)
    slow = np.nonzero(nonnull & ~strict)[0]
    if len(slow):
        values = ts.take(pa.array(slow)).to_pylist()
        for i, v in zip(slow.tolist(), values):
            t[i] = row_time(v)
    # a missing or unreadable timestamp takes the time of the action before it (0 for the first)
    if np.isnan(t).any():
        last = 0.0
        for i in np.nonzero(np.isnan(t))[0].tolist():
            t[i] = t[i - 1] if i else last
    # rows whose timestamp check_action accepts for certain: null, or read by the strict cast
    return t, ts.is_null().to_numpy(zero_copy_only=False) | strict
