"""Actions as input: strict JSON reading, shape validation and RFC 3339 timestamps."""
from __future__ import annotations

import json
import math
import re
import sys
from datetime import datetime, timezone
from typing import Any, Callable, Dict, Iterable, List, Mapping, NoReturn, Optional, Tuple

from policy_lang import tables

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})?")
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
OBJECT_FIELDS = tables.OBJECT_ROOTS


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
        dt = dt if dt.tzinfo is not None else dt.replace(tzinfo=timezone.utc)
        return _in_range(dt, value) if dt.year == 1 or dt.year == 9999 else dt
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
    return _in_range(dt, value) if dt.year == 1 or dt.year == 9999 else dt


def _in_range(dt: datetime, value: str) -> datetime:
    """A time whose UTC instant is before year 1 or after 9999 (`0001-01-01T00:00:00+01:00`) cannot be
    placed on a day or compared by Python: an input error, not an OverflowError later."""
    try:
        dt.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError(f"`{value[:60]}` is out of range") from None
    return dt


def format_timestamp(dt: datetime) -> str:
    """An aware datetime as ISO 8601 in UTC with a `Z` suffix (the form decisions and records use)."""
    return dt.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _pairs(items: List[Tuple[str, Any]]) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
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


def _bad_constant(name: str) -> NoReturn:
    raise _BadConst(name)


def loads_action(text: str) -> Any:
    """Parse JSON text strictly. Syntax errors raise InputSyntaxError (with line/column), as does an
    integer literal too long for Python to read (over `sys.get_int_max_str_digits()` digits);
    duplicate keys, NaN/Infinity and nesting deeper than the parser goes raise ActionError (an input
    error: the action is denied)."""
    try:
        return json.loads(text, object_pairs_hook=_pairs, parse_constant=_bad_constant)
    except json.JSONDecodeError as e:
        raise InputSyntaxError(f"invalid JSON: {e.msg.lower()}", "$", e.lineno, e.colno) from None
    except _Dup as e:
        raise ActionError(f"duplicate key {_quoted(e.key)} in action") from None
    except _BadConst as e:
        raise ActionError(f"`{e.name}` is not a valid number in an action") from None
    except RecursionError:
        raise ActionError("action is nested too deeply") from None
    except UnicodeDecodeError as e:  # bytes given, not UTF-8
        raise InputSyntaxError("not valid UTF-8", "$", 1, e.start + 1) from None
    except ValueError:
        # the one other ValueError json raises: int() refusing a literal past the digit limit. The
        # parser does not say where, so the literal is found again (only on this error path)
        raise _long_integer(text) from None


# a JSON string, or a number literal: enough of the grammar to find a number outside strings
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?')


def _long_integer(text: str) -> InputSyntaxError:
    """The error for an integer literal json could not read, located by line and column."""
    limit = getattr(sys, "get_int_max_str_digits", lambda: 4300)() or 4300   # Python 3.10.7+
    if not isinstance(text, str):
        text = bytes(text).decode("utf-8", "replace")
    for m in _TOKEN.finditer(text):
        tok = m.group()
        digits = len(tok) - tok.startswith("-")
        if tok[0] != '"' and digits > limit and tok.lstrip("-").isdigit():
            pos = m.start()
            line = text.count("\n", 0, pos) + 1
            col = pos - (text.rfind("\n", 0, pos) + 1) + 1
            return InputSyntaxError(f"an integer of {digits} digits is too large to read", "$", line, col)
    return InputSyntaxError("an integer is too large to read", "$", 1, 1)


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
_SURROGATE = re.compile("[\ud800-\udfff]").search


def _quoted(s: Any, limit: int = 60) -> str:
    """User text for a message, in backticks: shortened, and lone surrogates written as `\\udfff`
    escapes so the message itself stays valid Unicode (it goes into JSON and onto terminals)."""
    if not isinstance(s, str):
        return f"`{type(s).__name__}`"
    if len(s) > limit:
        s = s[:limit] + "…"
    if not s.isascii():
        s = s.encode("utf-8", "backslashreplace").decode("utf-8")
    return f"`{s}`"


def _bad(x: Any) -> bool:
    """True if x (a JSON-ish value, not descended into) is not valid action data: NaN or infinity, an
    integer too large for a double, or a string holding a lone surrogate (not Unicode text: it cannot
    be written as UTF-8, so not to JSON output, a terminal or the store)."""
    t = x.__class__
    if t is str:
        return not x.isascii() and _SURROGATE(x) is not None
    if t is float:
        return bool(x - x)  # NaN or infinity: x - x is 0.0 for every finite float
    if t is int:
        return not -MAX_DOUBLE_INT < x < MAX_DOUBLE_INT
    if t is bool or x is None:
        return False
    # subclasses (IntEnum, numpy floats, str subclasses) by the same rules
    if isinstance(x, str):
        return _SURROGATE(x) is not None
    if isinstance(x, bool):
        return False
    if isinstance(x, int):
        return not -MAX_DOUBLE_INT < x < MAX_DOUBLE_INT
    if isinstance(x, float):
        return not math.isfinite(x)
    return False


def _bad_keys(d: Any) -> bool:
    """True if a mapping has a key that is not a string, or one holding a lone surrogate."""
    try:
        joined = "".join(d)   # one C call for every key; a key that is not a str raises TypeError
    except TypeError:
        return True
    return not joined.isascii() and _SURROGATE(joined) is not None


_orjson_dumps: Optional[Callable[[Any], bytes]]
try:  # a C walk that proves most actions clean; the Python walk below stays the authority
    from orjson import dumps as _orjson_dumps
except ImportError:  # pragma: no cover - orjson is a core dependency; the Python walk is exact alone
    _orjson_dumps = None


def _any_bad(action: dict) -> bool:
    """Whether anything in `action` is not valid action data (see _bad and _bad_keys).

    orjson answers first, as a proof of cleanness only: it raises on a key that is not a string, on
    a lone surrogate in any string or key, and on an integer past 64 bits (all within what the
    walk below refuses or re-checks), descends into every dict (subclasses too), list and tuple the
    walk descends into and raises on any other Mapping; it writes NaN and infinity as `null`. So an
    encoding that succeeds without the bytes `null` anywhere proves there is nothing to find; every
    other case (an error, a `null` value or a string holding "null") is walked in Python, which
    decides. The property test in tests/test_action_walk.py holds the two equal."""
    if _orjson_dumps is not None:
        try:
            # find, not `in`: bytes.__contains__ first tries the needle as an int, and the TypeError it
            # raises and clears costs more than the search
            if _orjson_dumps(action).find(b"null") < 0:
                return False
        except Exception:  # orjson refuses it: the walk finds out why (or that it is fine after all)
            pass
    return _walk_bad(action)


def _walk_bad(action: dict) -> bool:
    """Whether anything in `action` is not valid action data, walked in Python. Iterative, so
    nesting of any depth is walked. The hot path of every decision: containers are iterated in place
    (no push and pop per value), the common cases come first, and the keys of every object are
    gathered and checked in one join at the end."""
    search = _SURROGATE
    keys = list(action)
    stack: List[Iterable[Any]] = []
    values: Iterable[Any] = action.values()   # the top level first, without a push and a pop
    while True:
        for x in values:
            t = x.__class__
            if t is str:
                if not x.isascii() and search(x) is not None:
                    return True
            elif t is dict:
                keys += x
                stack.append(x.values())
            elif t is float:
                if x - x:  # NaN or infinity: x - x is 0.0 for every finite float
                    return True
            elif t is int:
                if not -MAX_DOUBLE_INT < x < MAX_DOUBLE_INT:
                    return True
            elif t is list or t is tuple:
                stack.append(x)
            elif t is bool or x is None:
                continue
            elif isinstance(x, Mapping):
                if _bad_keys(x):
                    return True
                stack.append(x.values())
            elif isinstance(x, (list, tuple)):   # subclasses (a NamedTuple, a list type of the caller's)
                stack.append(x)
            elif _bad(x):
                return True
        if not stack:
            break
        values = stack.pop()
    try:
        joined = "".join(keys)
    except TypeError:  # a key that is not a string
        return True
    return not joined.isascii() and search(joined) is not None


def _step(path: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    if isinstance(key, str) and key.isidentifier() and key.isascii():
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key) if isinstance(key, str) else _quoted(key)}]"


def _describe(x: Any) -> str:
    """What is wrong with a value _bad flagged, without printing it whole."""
    if isinstance(x, str):
        return "holds a lone surrogate, which is not Unicode text"
    if isinstance(x, float):
        return f"is `{x!r}`, not a finite number"
    return "is an integer too large for a number"


def _find_bad(action: dict) -> Tuple[str, str]:
    """(path, message) of the first bad value or key, in document order: the slow path, run only when
    _any_bad has found something."""
    stack: list = [("", action)]
    while stack:
        path, x = stack.pop()
        if isinstance(x, Mapping):
            items = list(x.items())
            for k, _ in items:
                if not isinstance(k, str) or _bad(k):
                    where = path or "the action"
                    what = "a key that is not a string" if not isinstance(k, str) else \
                        "a key holding a lone surrogate, which is not Unicode text"
                    return path, f"`{where}` has {what}"
            stack.extend((_step(path, k), v) for k, v in reversed(items))
        elif isinstance(x, (list, tuple)):
            stack.extend((_step(path, i), v) for i, v in reversed(list(enumerate(x))))
        elif _bad(x):
            return path, f"`{path}` {_describe(x)}"
    return "", "the action holds a value that is not valid JSON"


def _confidence_problem(c: Any) -> Optional[str]:
    """None if `confidence` is a number from 0 to 1 inclusive (spec §2, v1.1), else what it is."""
    t = c.__class__
    if t is float:
        if 0.0 <= c <= 1.0:   # false for NaN as well
            return None
    elif t is int:
        if 0 <= c <= 1:
            return None
    elif isinstance(c, (int, float)) and not isinstance(c, bool):
        try:
            if 0.0 <= float(c) <= 1.0:
                return None
        except OverflowError:
            pass
    else:
        return f"`confidence` must be a number from 0 to 1, got {_kind(c)}"
    if isinstance(c, int) and not -MAX_DOUBLE_INT < c < MAX_DOUBLE_INT:
        return "`confidence` must be a number from 0 to 1, got an integer too large for a number"
    if isinstance(c, float) and not math.isfinite(c):
        return f"`confidence` must be a number from 0 to 1, got `{c!r}` (not a finite number)"
    return f"`confidence` must be a number from 0 to 1, got `{c!r}`"


def safe_id(action: Any) -> Any:
    """The action's `id` if it can be reported (in a decision, JSON or text): a string of Unicode text
    or a finite number within double range; else None. For input errors, where `id` is unchecked."""
    try:
        aid = action.get("id") if isinstance(action, Mapping) else None
    except Exception:  # a Mapping of the caller's making may raise anything: the id is just not known
        return None
    t = aid.__class__
    if t is str or t is int or t is float:
        return None if _bad(aid) else aid
    return None


def check_action(action: Any) -> Tuple[dict, Optional[datetime]]:
    """Validate an action's shape. Returns (action as dict, its timestamp or None). Raises ActionError.

    Every check a caller relies on is here (spec §2): `tool` a non-empty string, the object fields
    objects, `confidence` a number from 0 to 1, no NaN, infinity, integer too large for a double,
    lone surrogate or non-string key anywhere, `timestamp` RFC 3339. It walks the action without
    recursion, so any nesting depth gets an answer."""
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
    if c is not None and not (c.__class__ is float and 0.0 <= c <= 1.0 or c.__class__ is int and 0 <= c <= 1):
        problem = _confidence_problem(c)   # spec §2 (v1.1): a number from 0 to 1 inclusive
        if problem is not None:
            raise ActionError(problem, "$.confidence")
    if _any_bad(action):
        path, message = _find_bad(action)
        raise ActionError(message, "$." + path if path else "$")
    ts = action.get("timestamp")
    when = None
    if ts is not None:
        try:
            when = parse_timestamp(ts)
        except (ValueError, OverflowError) as e:
            raise ActionError(str(e), "$.timestamp") from None
    return action, when
