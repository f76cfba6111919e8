"""Value semantics shared by the evaluators: kinds, equality, and the built-in functions (spec §4.4)."""
from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Callable, Dict
from urllib.parse import urlsplit

from .actions import parse_timestamp

MAX_MATCH_INPUT = 10_000
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class EvalError(Exception):
    """An evaluation error: the rule that met it yields `deny` with this message."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def kind(v: Any) -> str:
    t = type(v)
    if t is bool:
        return "a boolean"
    if t is int or t is float:
        return "a number"
    if t is str:
        return "a string"
    if t is list or t is tuple:
        return "a list"
    if isinstance(v, dict):
        return "an object"
    if v is None:
        return "missing"
    if isinstance(v, datetime):
        return "a timestamp"
    return "an unsupported value"


def is_number(v: Any) -> bool:
    t = type(v)
    return t is int or t is float


def finite(v: Any, what: str) -> Any:
    if type(v) is float and not math.isfinite(v):
        raise EvalError(f"{what} is not a finite number")
    return v


def equal(x: Any, y: Any) -> bool:
    """`==`: values of different kinds are never equal; booleans are not numbers."""
    tx, ty = type(x), type(y)
    if tx is bool or ty is bool:
        return tx is ty and x == y
    if (tx is int or tx is float) and (ty is int or ty is float):
        return float(x) == float(y)  # numbers compare as doubles (spec §4.7)
    if tx is str or ty is str:
        return tx is ty and x == y
    if (tx is list or tx is tuple) and (ty is list or ty is tuple):
        return len(x) == len(y) and all(equal(a, b) for a, b in zip(x, y))
    if isinstance(x, dict) and isinstance(y, dict):
        return x.keys() == y.keys() and all(equal(x[k], y[k]) for k in x)
    return False


def as_double(v: Any) -> Any:
    """An arithmetic result as the spec's doubles: huge ints round, non-finite results are errors."""
    if v.__class__ is int and not -9007199254740992 <= v <= 9007199254740992:
        try:
            v = float(v)
        except OverflowError:
            raise EvalError("a number is out of range") from None
    return v


def member(item: Any, items: Any) -> bool:
    for v in items:
        if equal(item, v):
            return True
    return False


def _string(v: Any, fn: str) -> str:
    if type(v) is not str:
        raise EvalError(f"`{fn}` takes a string, got {kind(v)}")
    return v


def fn_len(v: Any) -> int:
    if type(v) in (str, list, tuple):
        return len(v)
    raise EvalError(f"`len` takes a list or a string, got {kind(v)}")


def fn_lower(v: Any) -> str:
    return _string(v, "lower").lower()


def fn_upper(v: Any) -> str:
    return _string(v, "upper").upper()


def fn_domain(v: Any) -> str:
    s = _string(v, "domain").strip()
    if "@" in s:
        return s.rsplit("@", 1)[1].lower()
    if "://" in s:
        try:
            return (urlsplit(s).hostname or "").lower()
        except ValueError:
            raise EvalError(f"`domain` cannot read the URL `{s[:80]}`") from None
    return s.split("/", 1)[0].lower()


def _local_time(t: Any, tz: Any, fn: str) -> datetime:
    if type(t) is not str and not isinstance(t, datetime):
        raise EvalError(f"`{fn}` takes a timestamp, got {kind(t)}")
    try:
        dt = parse_timestamp(t)
    except ValueError as e:
        raise EvalError(f"`{fn}`: {e}") from None
    if tz is None:
        from datetime import timezone
        return dt.astimezone(timezone.utc)
    if type(tz) is not str:
        raise EvalError(f"`{fn}` takes a time zone name, got {kind(tz)}")
    from zoneinfo import ZoneInfo
    try:
        zone = ZoneInfo(tz)
    except Exception:
        raise EvalError(f"unknown time zone `{tz[:80]}`") from None
    return dt.astimezone(zone)


def fn_hour(t: Any, tz: Any = None) -> int:
    return _local_time(t, tz, "hour").hour


def fn_weekday(t: Any, tz: Any = None) -> str:
    return WEEKDAYS[_local_time(t, tz, "weekday").weekday()]


FUNCTIONS: Dict[str, Callable[..., Any]] = {
    "len": fn_len, "lower": fn_lower, "upper": fn_upper, "domain": fn_domain,
    "hour": fn_hour, "weekday": fn_weekday,
}
