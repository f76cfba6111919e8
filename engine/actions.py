"""Actions as input: strict JSON reading, shape validation and RFC 3339 timestamps."""
from __future__ import annotations

import json
import math
import re
from datetime import datetime, timezone
from typing import Any, Mapping, Optional, Tuple

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})?")
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
OBJECT_FIELDS = ("args", "tenant", "agent", "context")


class ActionError(ValueError):
    """An action that is not valid input. `path` is a JSON path, `line`/`column` set for syntax errors."""

    def __init__(self, message: str, path: str = "$", line: Optional[int] = None, column: Optional[int] = None):
        super().__init__(message)
        self.message = message
        self.path = path
        self.line = line
        self.column = column


class InputSyntaxError(ActionError):
    """Text that is not JSON at all (the CLI exits 2 for these)."""


def parse_timestamp(value: Any) -> datetime:
    """RFC 3339; without an offset the time is UTC. Raises ValueError."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
    if not isinstance(value, str):
        raise ValueError("a timestamp must be an RFC 3339 string")
    m = _RFC3339.fullmatch(value.strip())
    if not m:
        raise ValueError(f"`{value[:60]}` is not an RFC 3339 timestamp")
    y, mo, d, h, mi, s, frac, off = m.groups()
    if s != "60" and (not frac or len(frac) <= 7):
        # the common case: the standard parser is fast and exact for these
        dt = datetime.fromisoformat(value.strip().replace("t", "T").replace("z", "+00:00").replace("Z", "+00:00")
                                    .replace(" ", "T", 1))
        return dt if dt.tzinfo is not None else dt.replace(tzinfo=timezone.utc)
    micro = int((frac[1:] + "000000")[:6]) if frac else 0
    tz = timezone.utc
    if off and off not in ("Z", "z"):
        sign = 1 if off[0] == "+" else -1
        from datetime import timedelta
        tz = timezone(sign * timedelta(hours=int(off[1:3]), minutes=int(off[4:6])))
    sec = int(s)
    leap = sec == 60  # RFC 3339 allows a leap second; count it as the next instant
    dt = datetime(int(y), int(mo), int(d), int(h), int(mi), 59 if leap else sec, micro, tzinfo=tz)
    if leap:
        from datetime import timedelta
        try:
            dt += timedelta(seconds=1)
        except OverflowError:
            raise ValueError(f"`{value[:60]}` is out of range") from None
    return dt


def format_timestamp(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _pairs(items):
    out = {}
    for k, v in items:
        if k in out:
            raise _Dup(k)
        out[k] = v
    return out


class _Dup(Exception):
    def __init__(self, key: str):
        self.key = key


class _BadConst(Exception):
    def __init__(self, name: str):
        self.name = name


def _bad_constant(name: str):
    raise _BadConst(name)


def loads_action(text: str) -> Any:
    """Parse JSON text strictly. Syntax errors raise InputSyntaxError (with line/column);
    duplicate keys and NaN/Infinity raise ActionError (an input error: the action is denied)."""
    try:
        return json.loads(text, object_pairs_hook=_pairs, parse_constant=_bad_constant)
    except json.JSONDecodeError as e:
        raise InputSyntaxError(f"invalid JSON: {e.msg.lower()}", "$", e.lineno, e.colno) from None
    except _Dup as e:
        raise ActionError(f"duplicate key `{e.key}` in action") from None
    except _BadConst as e:
        raise ActionError(f"`{e.name}` is not a valid number in an action") from None
    except RecursionError:
        raise ActionError("action is nested too deeply") from None


def _kind(v: Any) -> str:
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, (int, float)):
        return "a number"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, (list, tuple)):
        return "a list"
    if isinstance(v, Mapping):
        return "an object"
    return "null" if v is None else "an unsupported value"


MAX_DOUBLE_INT = 2 ** 1024  # ints at or past this cannot be a double


def _non_finite(values) -> Optional[str]:
    """The first NaN/infinite number (or int too large for a double) anywhere in `values`, as text."""
    stack = list(values)
    while stack:
        x = stack.pop()
        t = x.__class__
        if t is str or t is bool or x is None:
            continue
        if t is float:
            if x - x:  # NaN or infinity: x - x is 0.0 for every finite float
                return repr(x)
        elif t is dict:
            stack.extend(x.values())
        elif t is list or t is tuple:
            stack.extend(x)
        elif t is int:
            if not -MAX_DOUBLE_INT < x < MAX_DOUBLE_INT:
                return "an integer too large for a number"
        elif isinstance(x, Mapping):
            stack.extend(x.values())
    return None


def check_action(action: Any) -> Tuple[dict, Optional[datetime]]:
    """Validate an action's shape. Returns (action as dict, its timestamp or None). Raises ActionError."""
    if not isinstance(action, dict):
        if isinstance(action, Mapping):
            action = dict(action)
        else:
            raise ActionError(f"an action must be an object, got {_kind(action)}")
    tool = action.get("tool")
    if tool is None:
        raise ActionError("the action has no `tool`", "$.tool")
    if not isinstance(tool, str) or not tool:
        raise ActionError(f"`tool` must be a non-empty string, got {_kind(tool)}", "$.tool")
    for name in OBJECT_FIELDS:
        v = action.get(name)
        if v is not None and v.__class__ is not dict and not isinstance(v, Mapping):
            raise ActionError(f"`{name}` must be an object, got {_kind(v)}", f"$.{name}")
    c = action.get("confidence")
    if c is not None:
        if isinstance(c, bool) or not isinstance(c, (int, float)):
            raise ActionError(f"`confidence` must be a number, got {_kind(c)}", "$.confidence")
        if not math.isfinite(c):
            raise ActionError("`confidence` must be a finite number", "$.confidence")
    bad = _non_finite(action.values())
    if bad is not None:
        raise ActionError(f"the action holds `{bad}`, which is not a finite number")
    ts = action.get("timestamp")
    when = None
    if ts is not None:
        try:
            when = parse_timestamp(ts)
        except ValueError as e:
            raise ActionError(str(e), "$.timestamp") from None
    return action, when
