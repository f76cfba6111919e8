"""Python `re` patterns re-spelled for the Rust regex engine of jsonschema-rs, where that is exact.

jsonschema evaluates `pattern` and `patternProperties` with `re.search(pattern, text)` on `str`: no
flags, so Unicode classes (`\\s` is `str.isspace()`'s set, `\\d` the decimal digits, `\\w` what
`str.isalnum()` accepts and `_`), `.` is anything but `\\n`, `$` matches at the end and before a final
`\\n`. jsonschema-rs reads the same text as ECMA-262 through its own translation into the Rust `regex`
crate's syntax (fancy-regex 0.20 in front of regex-automata 0.4, in jsonschema-rs 0.61): ASCII `\\d` and
`\\w`, a `\\s` of its own (none of `\\x1c`-`\\x1f` or U+0085, but U+FEFF), `.` stops at `\\r`, U+2028 and
U+2029, `$` only at the very end. So the pattern rs gets is not the schema's text: it is printed here
from Python's own parse of it (`re._parser`, the parser `re.compile` uses), in a spelling both engines
read one way only:

- every character but an ASCII letter or digit, and every character inside a class, as `\\x{HEX}`;
  surrogates (no Rust string holds one) are refused;
- every class (`[...]`, `[^...]`, `\\d`, `\\D`, `\\s`, `\\S`, `\\w`, `\\W`, `.`, `[^x]`) as the explicit
  set of code points that Python's `re` matches, computed by running `re` itself over every code point
  (so it is this interpreter's Unicode database, whatever its version), printed as ranges;
- groups as `(?:...)`, alternatives inside one, counted repeats up to 1,000 (`*?` and the like lazy,
  which cannot change whether a match exists);
- `^` and `\\A` as `^`, `\\Z` as `\\z`, and `$` as `\\n?\\z` where nothing can follow it in a match (the
  last item of the pattern, of a group or of an alternative there): a search then finds a match in
  exactly the same strings. A `$` elsewhere is printed `\\z`, which can only refuse more strings, and
  the translation says so (`exact` is False).

Anything else — flags (`(?i)`, `(?x)`, ...), `\\b`, look-arounds, back-references, possessive repeats,
atomic groups, a pattern Python does not compile — has no translation (None): such a pattern stays with
jsonschema alone.
"""
from __future__ import annotations

import array
import importlib
import re
import warnings
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, List, Optional, Tuple



def _stdlib(new: str, old: str) -> Any:
    """The stdlib's regex parser modules: `re._parser` since Python 3.11, `sre_parse` before (the same code)."""
    try:
        return importlib.import_module(new)
    except ImportError:  # pragma: no cover - Python 3.10
        return importlib.import_module(old)


_p = _stdlib("re._parser", "sre_parse")
_c = _stdlib("re._constants", "sre_constants")

MAX_COUNT = 1000          # counted repeats beyond this are left to jsonschema (engines' limits differ)
_SCALARS = ((0, 0xD7FF), (0xE000, 0x10FFFF))   # what a Rust `char` can be: no surrogates

Ranges = Tuple[Tuple[int, int], ...]


@dataclass(frozen=True)
class Translation:
    """A pattern printed for the Rust engine; `exact` False when it may refuse more strings than `re`."""
    text: str
    exact: bool


class _Refused(Exception):
    pass


@lru_cache(maxsize=None)
def category(name: str) -> Ranges:
    """The code points (no surrogates) Python's `re` matches with `\\d`, `\\s` or `\\w` (`name` one of
    "d", "s", "w"), as sorted inclusive ranges: found by `re` itself on every code point."""
    out: List[Tuple[int, int]] = []
    rx = re.compile(f"\\{name}+")
    for lo, hi in _SCALARS:
        text = array.array("I", range(lo, hi + 1)).tobytes().decode("utf-32-le")
        out.extend((lo + m.start(), lo + m.end() - 1) for m in rx.finditer(text))
    return tuple(out)


_CATEGORIES = {
    _c.CATEGORY_DIGIT: ("d", False), _c.CATEGORY_NOT_DIGIT: ("d", True),
    _c.CATEGORY_SPACE: ("s", False), _c.CATEGORY_NOT_SPACE: ("s", True),
    _c.CATEGORY_WORD: ("w", False), _c.CATEGORY_NOT_WORD: ("w", True),
}


def _normalise(ranges: List[Tuple[int, int]]) -> Ranges:
    """Sorted, merged, without surrogates."""
    cut: List[Tuple[int, int]] = []
    for lo, hi in ranges:
        for slo, shi in _SCALARS:
            a, b = max(lo, slo), min(hi, shi)
            if a <= b:
                cut.append((a, b))
    cut.sort()
    out: List[Tuple[int, int]] = []
    for lo, hi in cut:
        if out and lo <= out[-1][1] + 1:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return tuple(out)


def complement(ranges: Ranges) -> Ranges:
    """Every scalar value not in `ranges` (which must be normalised)."""
    out: List[Tuple[int, int]] = []
    nxt = 0
    for lo, hi in ranges:
        if lo > nxt:
            out.append((nxt, lo - 1))
        nxt = hi + 1
    if nxt <= 0x10FFFF:
        out.append((nxt, 0x10FFFF))
    return _normalise(out)


def _set_of(items: Any) -> Ranges:
    """The code points an `IN` node of Python's parse matches."""
    negate = False
    parts: List[Tuple[int, int]] = []
    for i, (op, av) in enumerate(items):
        if op is _c.NEGATE and i == 0:
            negate = True
        elif op is _c.LITERAL:
            parts.append((av, av))
        elif op is _c.RANGE:
            parts.append((av[0], av[1]))
        elif op is _c.CATEGORY and av in _CATEGORIES:
            name, negated = _CATEGORIES[av]
            parts.extend(complement(category(name)) if negated else category(name))
        else:
            raise _Refused
    ranges = _normalise(parts)
    return complement(ranges) if negate else ranges


def _char(cp: int) -> str:
    if 0xD800 <= cp <= 0xDFFF:
        raise _Refused                     # a Rust pattern cannot name a surrogate
    ch = chr(cp)
    return ch if ch.isascii() and ch.isalnum() else f"\\x{{{cp:x}}}"


def _class(ranges: Ranges) -> str:
    if not ranges:
        raise _Refused                     # an empty class: engines differ on whether it parses
    body = "".join(f"\\x{{{lo:x}}}" if lo == hi else f"\\x{{{lo:x}}}-\\x{{{hi:x}}}" for lo, hi in ranges)
    return f"[{body}]"


class _Printer:
    def __init__(self) -> None:
        self.exact = True

    def seq(self, items: Any, tail: bool) -> str:
        items = list(items)
        return "".join(self.node(op, av, tail and i == len(items) - 1) for i, (op, av) in enumerate(items))

    def node(self, op: Any, av: Any, tail: bool) -> str:
        if op is _c.LITERAL:
            return _char(av)
        if op is _c.NOT_LITERAL:
            return _class(complement(_normalise([(av, av)])))
        if op is _c.ANY:
            return _class(complement(_normalise([(10, 10)])))      # `.` without DOTALL: all but `\n`
        if op is _c.IN:
            return _class(_set_of(av))
        if op is _c.CATEGORY:
            return _class(_set_of([(op, av)]))
        if op is _c.BRANCH:
            return "(?:" + "|".join(self.seq(alt, tail) for alt in av[1]) + ")"
        if op is _c.SUBPATTERN:
            _group, add_flags, del_flags, body = av
            if add_flags or del_flags:
                raise _Refused
            return "(?:" + self.seq(body, tail) + ")"
        if op is _c.MAX_REPEAT or op is _c.MIN_REPEAT:
            lo, hi, body = av
            unbounded = hi == _c.MAXREPEAT
            if lo > MAX_COUNT or (not unbounded and hi > MAX_COUNT):
                raise _Refused
            # the body is in tail position only when it cannot be followed by another round of itself
            inner = "(?:" + self.seq(body, tail and not unbounded and hi <= 1) + ")"
            count = f"{{{lo},}}" if unbounded else f"{{{lo}}}" if lo == hi else f"{{{lo},{hi}}}"
            return inner + count + ("?" if op is _c.MIN_REPEAT else "")
        if op is _c.AT:
            if av is _c.AT_BEGINNING or av is _c.AT_BEGINNING_STRING:
                return "^"
            if av is _c.AT_END_STRING:
                return "\\z"
            if av is _c.AT_END:
                if tail:
                    return "\\n?\\z"
                self.exact = False          # `\z` where `$` also matches before a final newline
                return "\\z"
        raise _Refused                      # \b, look-arounds, back-references, atomic, possessive


@lru_cache(maxsize=4096)
def translate(pattern: str) -> Optional[Translation]:
    """`pattern` (as jsonschema reads it, `re.search` without flags) for jsonschema-rs, or None."""
    if not isinstance(pattern, str):
        return None
    try:
        with warnings.catch_warnings():     # `re`'s FutureWarnings (`[[`, `--`) are jsonschema's to give
            warnings.simplefilter("ignore", FutureWarning)
            parsed = _p.parse(pattern)
    except (re.error, RecursionError, OverflowError, ValueError):
        return None
    if parsed.state.flags != _c.SRE_FLAG_UNICODE:
        return None                         # `(?i)`, `(?x)`, `(?s)`, `(?m)`, `(?a)`...
    printer = _Printer()
    try:
        text = printer.seq(parsed, True)
    except (_Refused, RecursionError):
        return None
    return Translation(text, printer.exact)
