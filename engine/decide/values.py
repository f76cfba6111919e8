"""Value semantics shared by the evaluators: kinds, equality, and the built-in functions (spec §4.4)."""
from __future__ import annotations

import functools
import ipaddress
import re
from datetime import datetime
from typing import Any, Callable, Dict, Optional, Tuple
from urllib.parse import urlsplit

import idna

from .actions import parse_timestamp

MAX_MATCH_INPUT = 10_000
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class EvalError(Exception):
    """An evaluation error: the rule that met it yields `deny` with this message."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def kind(v: Any) -> str:
    """A value's kind as messages name it: `a number`, `a string`, `missing`, …."""
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
    """Whether `items` holds a value equal to `item` under the language's equality (spec §4.7)."""
    for v in items:
        if equal(item, v):
            return True
    return False


def _string(v: Any, fn: str) -> str:
    if type(v) is not str:
        raise EvalError(f"`{fn}` takes a string, got {kind(v)}")
    return v


def fn_len(v: Any) -> int:
    """`len(x)`: the length of a list or a string; anything else is an evaluation error."""
    if type(v) in (str, list, tuple):
        return len(v)
    raise EvalError(f"`len` takes a list or a string, got {kind(v)}")


def fn_lower(v: Any) -> str:
    """`lower(s)`: a string in lower case; a non-string is an evaluation error."""
    return _string(v, "lower").lower()


def fn_upper(v: Any) -> str:
    """`upper(s)`: a string in upper case; a non-string is an evaluation error."""
    return _string(v, "upper").upper()


def domain_error(s: str) -> EvalError:
    """The one evaluation error of `domain` for a string it cannot read (both evaluators raise it)."""
    shown = s if len(s) <= 80 else s[:77] + "..."
    return EvalError(f"`domain` cannot read `{shown}`: it is neither a URL with a valid host nor one "
                     f"address `local@host`")


# RFC 3986 userinfo characters (unreserved, pct-encoded, sub-delims, `:`), plus `@`: a userinfo holding
# `@` is cut at the last one, as every URL parser does. Anything else (`\`, whitespace, `[`) is refused:
# WHATWG parsers end the authority at `\`, so `https://evil.example\@acme.com` goes to evil.example.
_USERINFO = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~%!$&'()*+,;=:@")


# C0, DEL and C1 controls: URL parsers drop or stop at some of them (urllib removes tab and newline)
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_SPACE = re.compile(r"\s")


@functools.lru_cache(maxsize=4096)
def _idna_host(host: str) -> Optional[str]:
    """A host name in its ASCII (IDNA 2008, UTS #46) form without a trailing dot; None when idna refuses it.
    UTS #46 maps case and compatibility forms (`ＡＣＭＥ.com` is `acme.com`); STD3 rules refuse `_`,
    `%`, `*`, spaces and the like, so a percent-encoded or wildcard host is an error, never a name."""
    try:
        a = idna.encode(host, uts46=True, std3_rules=True).decode("ascii")
    except (idna.IDNAError, UnicodeError, ValueError):
        return None
    return a[:-1] if a.endswith(".") else a or None


MAX_HOST = 255   # characters; a longer host is an error (a DNS name has at most 253)


def _host_name(host: str, s: str) -> str:
    # idna costs ~10 us a call; hosts repeat, so a bounded cache keeps `domain` near 1 us
    a = _idna_host(host) if len(host) <= MAX_HOST else None
    if a is None:
        raise domain_error(s)
    return a


def _address_host(addr: str, s: str) -> str:
    """`local@host`: exactly one `@`, a non-empty local part, no whitespace (spec §4.4)."""
    if addr.count("@") != 1 or _SPACE.search(addr):
        raise domain_error(s)
    local, host = addr.split("@")
    if not local:
        raise domain_error(s)
    return _host_name(host, s)


def _url_host(s: str) -> str:
    """The host of `scheme://authority…`, decomposed by urllib and checked against what it parsed."""
    try:
        parts = urlsplit(s)
        host = parts.hostname
        parts.port                                      # raises for a port that is not 0-65535
        user, password = parts.username, parts.password
    except ValueError:                                  # brackets that do not pair, NFKC tricks
        raise domain_error(s) from None
    if not host:
        raise domain_error(s)
    userinfo = "" if user is None else user + ("" if password is None else ":" + password) + "@"
    if not _USERINFO.issuperset(userinfo):
        raise domain_error(s)
    hostport = parts.netloc[len(userinfo):]
    if hostport.startswith("["):
        # an IP literal: exactly `[IPv6]` or `[IPv6]:port` (urllib also lets `[::1]x` and `a[::1]` through)
        n = len(host)
        port = hostport[n + 3:] if hostport[n + 2:n + 3] == ":" else hostport[n + 2:]
        if hostport[1:n + 1].lower() != host or hostport[n + 1:n + 2] != "]" or "%" in host \
                or port and not (port.isascii() and port.isdigit()):
            raise domain_error(s)
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise domain_error(s) from None
        return host
    if "[" in hostport:
        raise domain_error(s)
    return _host_name(host, s)


def fn_domain(v: Any) -> str:
    """`domain(s)`, spec §4.4 v1.1: the host of a URL `scheme://…` (never its userinfo, path, query or
    fragment; no port, no trailing dot) or of one address `local@host` (`mailto:` first is dropped),
    lower-cased, an international name in its IDNA form. Any other string is an evaluation error.
    A string that starts with `scheme:` but not `scheme://` (and is not `mailto:`) is a URL without a
    host: an error, never read as an address (`http:evil.example/x@acme.com` is evil.example to a
    browser)."""
    s = _string(v, "domain")
    if len(s) > MAX_CACHED_DOMAIN:
        return _domain(s)
    host, error = _domain_cached(s)
    if error is not None:
        raise EvalError(error)
    return host  # type: ignore[return-value]  # a str whenever error is None (see _domain_cached)


MAX_CACHED_DOMAIN = 2048   # characters; with 4,096 entries the cache stays under ~10 MB


@functools.lru_cache(maxsize=4096)
def _domain_cached(s: str) -> Tuple[Optional[str], Optional[str]]:
    # urlsplit and its properties cost a few µs; recipients and URLs repeat across actions and replays
    try:
        return _domain(s), None
    except EvalError as e:
        return None, e.message


def _domain(s: str) -> str:
    if _CONTROL.search(s):
        raise domain_error(s)
    if ":" not in s:  # no scheme: spare the address the URL parser
        return _address_host(s, s)
    try:
        scheme = urlsplit(s).scheme
    except ValueError:
        raise domain_error(s) from None
    n = len(scheme)
    # urllib skips leading spaces before the scheme; the spec wants `s` itself to start with it
    if scheme and s[:n].lower() == scheme and s[n:n + 1] == ":":
        if s[n + 1:n + 3] == "//":
            return _url_host(s)
        if scheme == "mailto":
            return _address_host(s[n + 1:], s)
        raise domain_error(s)
    return _address_host(s, s)


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
    """`hour(t[, tz])`: the hour (0-23) of a timestamp, in UTC or the time zone named."""
    return _local_time(t, tz, "hour").hour


def fn_weekday(t: Any, tz: Any = None) -> str:
    """`weekday(t[, tz])`: the day of a timestamp as `mon` … `sun`, in UTC or the time zone named."""
    return WEEKDAYS[_local_time(t, tz, "weekday").weekday()]


@functools.lru_cache(maxsize=None)
def _sql() -> Any:
    # sqlglot takes ~0.2 s to import: only a policy that calls sql_read_only pays for it
    from . import sql
    return sql


def fn_sql_read_only(s: Any, dialect: Any = None) -> bool:
    """`sql_read_only(s[, "DIALECT"])` (an extension, docs/language.md): engine/decide/sql.py decides."""
    text = _string(s, "sql_read_only")
    sql = _sql()
    if dialect is None:
        dialect = sql.DEFAULT_DIALECT
    elif type(dialect) is not str or sql.dialect_problem(dialect):
        raise EvalError(f"`sql_read_only`: unknown SQL dialect `{str(dialect)[:80]}`")  # the checker refuses it first
    return sql.sql_read_only(text, dialect)


FUNCTIONS: Dict[str, Callable[..., Any]] = {
    "len": fn_len, "lower": fn_lower, "upper": fn_upper, "domain": fn_domain,
    "hour": fn_hour, "weekday": fn_weekday, "sql_read_only": fn_sql_read_only,
}
