"""Constant values as the analyses see them: kinds, typed equality and comparisons of constants."""
from __future__ import annotations

from typing import Any, Optional, Tuple

import re2

from ..regex import search as regex_search

__all__ = ["NO", "FLIP", "NEGATE", "ORDER", "is_num", "type_tag", "value_kind", "json_equal", "const_compare"]


class _NoValue:
    """The type of `NO`."""

    def __repr__(self) -> str:
        return "NO"


NO = _NoValue()
"""What `Logic.const` returns for an expression that is not a constant (`None` is a value)."""

FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}    # the operator with its sides swapped
NEGATE = {"<": ">=", "<=": ">", ">": "<=", ">=": "<"}  # the operator that holds when this one does not
ORDER = ("<", "<=", ">", ">=")


def is_num(v: Any) -> bool:
    """A number of the language: an int or a float, never a bool."""
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def type_tag(v: Any) -> Optional[Tuple[str, Any]]:
    """A hashable value with its type, so that `true` never equals `1`."""
    if isinstance(v, bool):
        return ("b", v)
    if is_num(v):
        try:
            return ("n", float(v))
        except OverflowError:
            return None
    if isinstance(v, str):
        return ("s", v)
    return None


def value_kind(v: Any) -> str:
    """The kind of a constant as messages name it: boolean, number, string, list or value."""
    if isinstance(v, bool):
        return "boolean"
    if is_num(v):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, tuple):
        return "list"
    return "value"


def json_equal(a: Any, b: Any) -> bool:
    """`==` of the language between two constants (lists as tuples): equal values of one type."""
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b))
    ta, tb = type_tag(a), type_tag(b)
    return ta is not None and ta == tb


def const_compare(op: str, a: Any, b: Any) -> Optional[bool]:
    """Value of a comparison of two constants, or None when it is an evaluation error."""
    if op == "==":
        return json_equal(a, b)
    if op == "!=":
        return not json_equal(a, b)
    if op in ORDER:
        if (is_num(a) and is_num(b)) or (isinstance(a, str) and isinstance(b, str)):
            return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
        return None
    if op in ("in", "not in"):
        if not isinstance(b, tuple):
            return None
        found = any(json_equal(a, x) for x in b)
        return found if op == "in" else not found
    if op in ("starts_with", "ends_with"):
        if isinstance(a, str) and isinstance(b, str):
            return a.startswith(b) if op == "starts_with" else a.endswith(b)
        return None
    if op == "contains":
        if isinstance(a, str) and isinstance(b, str):
            return b in a
        if isinstance(a, tuple):
            return any(json_equal(x, b) for x in a)
        return None
    if op == "matches":
        if isinstance(a, str) and isinstance(b, str):
            try:
                return regex_search(b, a)
            except (re2.error, UnicodeEncodeError):
                return None
        return None
    return None
