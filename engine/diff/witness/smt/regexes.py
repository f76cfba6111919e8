"""RE2 patterns as z3 regular expressions (`regex_to_z3`)."""
from __future__ import annotations

import re
from typing import Any, Sequence

from .values import Unsupported, z3


# ------------------------------------------------------------------ regexes (RE2 patterns)

def regex_to_z3(pattern: str) -> Any:
    """The RE2 pattern as a z3 regular expression for an unanchored search; Unsupported when it uses a
    construct this translation does not cover (flags, word boundaries, anchors inside)."""
    from re import _parser as sre  # type: ignore[attr-defined]  # the stdlib's own parser of the shared syntax
    try:
        tree = sre.parse(pattern)
    except re.error as e:
        raise Unsupported(f"pattern `{pattern}` ({e})") from None
    if tree.state.flags & ~(re.UNICODE | 0):   # any inline flag: (?i) and the like
        raise Unsupported(f"flags in pattern `{pattern}`")
    items = list(tree)
    allc = z3.Full(z3.ReSort(z3.StringSort()))
    start_anchor = bool(items) and items[0][0] == sre.AT and items[0][1] in (sre.AT_BEGINNING, sre.AT_BEGINNING_STRING)
    end_anchor = bool(items) and items[-1][0] == sre.AT and items[-1][1] in (sre.AT_END, sre.AT_END_STRING)
    if start_anchor:
        items = items[1:]
    if end_anchor and items:
        items = items[:-1]
    body = _seq(items, pattern)
    parts = ([] if start_anchor else [allc]) + [body] + ([] if end_anchor else [allc])
    return z3.Concat(*parts) if len(parts) > 1 else parts[0]


def _anychar() -> Any:
    return z3.AllChar(z3.ReSort(z3.StringSort()))


def _seq(items: Sequence[Any], pattern: str) -> Any:
    parts = [_node(op, av, pattern) for op, av in items]
    if not parts:
        return z3.Re(z3.StringVal(""))
    return z3.Concat(*parts) if len(parts) > 1 else parts[0]


def _cls(items: Sequence[Any], pattern: str) -> Any:
    from re import _parser as sre  # type: ignore[attr-defined]  # see regex_to_z3
    neg = False
    alts = []
    for op, av in items:
        if op == sre.NEGATE:
            neg = True
        elif op == sre.LITERAL:
            alts.append(z3.Re(z3.StringVal(chr(av))))
        elif op == sre.RANGE:
            alts.append(z3.Range(chr(av[0]), chr(av[1])))
        elif op == sre.CATEGORY:
            alts.append(_category(av, pattern))
        else:
            raise Unsupported(f"a class in pattern `{pattern}`")
    u = z3.Union(*alts) if len(alts) > 1 else alts[0]
    if neg:
        return z3.Intersect(_anychar(), z3.Complement(u))
    return u


def _category(av: Any, pattern: str) -> Any:
    from re import _parser as sre  # type: ignore[attr-defined]  # see regex_to_z3
    digit = z3.Range("0", "9")
    word = z3.Union(z3.Range("a", "z"), z3.Range("A", "Z"), digit, z3.Re(z3.StringVal("_")))
    space = z3.Union(*[z3.Re(z3.StringVal(c)) for c in "\t\n\f\r "])
    table = {sre.CATEGORY_DIGIT: digit, sre.CATEGORY_WORD: word, sre.CATEGORY_SPACE: space}
    neg = {sre.CATEGORY_NOT_DIGIT: digit, sre.CATEGORY_NOT_WORD: word, sre.CATEGORY_NOT_SPACE: space}
    if av in table:
        return table[av]
    if av in neg:
        return z3.Intersect(_anychar(), z3.Complement(neg[av]))
    raise Unsupported(f"a class in pattern `{pattern}`")


def _node(op: Any, av: Any, pattern: str) -> Any:
    from re import _parser as sre  # type: ignore[attr-defined]  # see regex_to_z3
    if op == sre.LITERAL:
        return z3.Re(z3.StringVal(chr(av)))
    if op == sre.NOT_LITERAL:
        return z3.Intersect(_anychar(), z3.Complement(z3.Re(z3.StringVal(chr(av)))))
    if op == sre.ANY:     # RE2: any character but a newline
        return z3.Intersect(_anychar(), z3.Complement(z3.Re(z3.StringVal("\n"))))
    if op == sre.IN:
        return _cls(av, pattern)
    if op == sre.BRANCH:
        alts = [_seq(list(b), pattern) for b in av[1]]
        return z3.Union(*alts) if len(alts) > 1 else alts[0]
    if op == sre.SUBPATTERN:
        _group, add_flags, del_flags, sub = av
        if add_flags or del_flags:
            raise Unsupported(f"flags in pattern `{pattern}`")
        return _seq(list(sub), pattern)
    if op in (sre.MAX_REPEAT, sre.MIN_REPEAT, getattr(sre, "POSSESSIVE_REPEAT", object())):
        lo, hi, sub = av
        inner = _seq(list(sub), pattern)
        if hi == sre.MAXREPEAT:
            if lo == 0:
                return z3.Star(inner)
            if lo == 1:
                return z3.Plus(inner)
            return z3.Concat(z3.Loop(inner, lo, lo), z3.Star(inner))
        if lo == 0 and hi == 1:
            return z3.Option(inner)
        return z3.Loop(inner, lo, hi)
    if op == sre.CATEGORY:
        return _category(av, pattern)
    raise Unsupported(f"`{pattern}` ({str(op).lower()} is not translated)")


