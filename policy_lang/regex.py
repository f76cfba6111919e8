"""`matches` patterns: RE2 syntax and semantics (spec §4.7, v1.1), one set of options, load-time diagnosis."""
from __future__ import annotations

import re as _stdlib_re  # only to read repeat counts in the pattern text, never to match
from typing import Callable, NamedTuple, Optional

import re2

MAX_REPEAT = 1000          # RE2 refuses a counted repeat above this (nested repeats multiplied)
MAX_MEM = 8 << 20          # RE2's default budget for one compiled program, set here so it is a choice
_COUNTED = _stdlib_re.compile(r"\{([0-9]+)(?:,([0-9]*))?\}")


def options() -> "re2.Options":
    """RE2 options for every `matches` pattern, each set explicitly so a new wrapper default changes nothing.

    Perl syntax (`posix_syntax` off) gives `\\d \\w \\s \\b` — ASCII in RE2 — and `(?i)`-style flags;
    patterns and values are UTF-8, so `.` is one character. `never_capture`: `matches` is a yes/no
    question, so no submatches are tracked. `log_errors` off: RE2 would print every bad pattern on
    stderr; the checker reports it as a diagnostic instead."""
    o = re2.Options()
    o.encoding = re2.Options.Encoding.UTF8
    o.posix_syntax = False
    o.perl_classes = True      # consulted only with posix_syntax; set for the record
    o.word_boundary = True     # likewise
    o.one_line = False         # likewise
    o.longest_match = False    # leftmost-first, as Perl and Python; a yes/no search does not depend on it
    o.literal = False
    o.never_nl = False
    o.dot_nl = False
    o.never_capture = True
    o.case_sensitive = True
    o.log_errors = False
    o.max_mem = MAX_MEM
    return o


class Problem(NamedTuple):
    """Why a pattern is refused at load: a stable code (E213 malformed, E220 not in RE2), message, help."""
    code: str
    message: str
    help: Optional[str] = None


_NO_LOOKAROUND = ("match the allowed forms positively, or combine two conditions, as in "
                  "`x matches \"^[a-z]+$\" and not x matches \"^admin\"`")
_NO_BACKREF = ("list the forms the repeated part can take, as in `^('.*'|\".*\")$` for `^(['\"]).*\\1$`")
_NOT_NEEDED = "RE2 never backtracks, so it needs no such construct"

# RE2's message for a construct it lacks → (what it is, help). Matched on the start of RE2's text.
_UNSUPPORTED = (
    ("invalid perl operator: (?=", "lookahead `(?=…)`", _NO_LOOKAROUND),
    ("invalid perl operator: (?!", "negative lookahead `(?!…)`", _NO_LOOKAROUND),
    ("invalid perl operator: (?<=", "lookbehind `(?<=…)`", _NO_LOOKAROUND),
    ("invalid perl operator: (?<!", "negative lookbehind `(?<!…)`", _NO_LOOKAROUND),
    ("invalid escape sequence: \\k", "backreference `\\k<name>`", _NO_BACKREF),
    ("invalid escape sequence: \\g", "backreference `\\g`", _NO_BACKREF),
    ("invalid perl operator: (?>", "atomic group `(?>…)`", _NOT_NEEDED + ": write `(?:…)`"),
    ("invalid perl operator: (?(", "conditional group `(?(…)…)`", "write the alternatives out with `|`"),
    ("invalid perl operator: (?#", "comment group `(?#…)`", "put the comment on a `#` line of the policy"),
    ("invalid escape sequence: \\Z", "`\\Z`", "RE2 writes the end of the text `\\z` (or `$` without `(?m)`)"),
)


def _error_text(exc: Exception) -> str:
    arg = exc.args[0] if exc.args else ""
    return arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg)


def _scan(pattern: str) -> Optional[Problem]:
    """What RE2 accepts but would not do as written: a counted repeat over 1000 of ten or more digits is
    read by RE2 as literal text (`a{4294967296}` matches the text `a{4294967296}`), and `\\C` matches one
    byte of a character. Escapes, `\\Q…\\E` and character classes are skipped as RE2 reads them."""
    i, n, in_class = 0, len(pattern), False
    while i < n:
        c = pattern[i]
        if c == "\\":
            nxt = pattern[i + 1:i + 2]
            if nxt == "Q" and not in_class:
                end = pattern.find("\\E", i + 2)
                i = n if end < 0 else end + 2
                continue
            if nxt == "C" and not in_class:
                return Problem("E220", "RE2's `\\C` matches a single byte, which can split a character",
                               "use `.` for any one character")
            i += 2
            continue
        if in_class:
            if c == "]":
                in_class = False
            elif pattern.startswith("[:", i):
                end = pattern.find(":]", i + 2)
                i = i + 1 if end < 0 else end + 2
                continue
            i += 1
            continue
        if c == "[":
            in_class = True
            i += 1
            if pattern.startswith("^", i):
                i += 1
            if pattern.startswith("]", i):  # `[]a]`: a `]` first is a member
                i += 1
            continue
        if c == "{":
            m = _COUNTED.match(pattern, i)
            if m:
                for count in m.groups():
                    if count and (len(count.lstrip("0")) > 4 or int(count) > MAX_REPEAT):
                        return Problem("E213", f"repeat count `{_short(m.group(0))}` is larger than {MAX_REPEAT}",
                                       f"RE2 repeats a part at most {MAX_REPEAT} times; for a longer value "
                                       f"check `len(…)` in the policy")
                i = m.end()
                continue
        i += 1
    return None


def _short(text: str, limit: int = 24) -> str:
    """Part of a pattern for a message: shortened, control characters escaped as the policy writes them."""
    from .parser import encode_string
    text = text if len(text) <= limit else text[:limit] + "…"
    return encode_string(text)[1:-1]


def problem(pattern: str) -> Optional[Problem]:
    """Why `pattern` cannot be a `matches` pattern, or None when RE2 compiles it as written."""
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in pattern):
        return Problem("E213", "regular expression holds a lone surrogate, which is not a character")
    found = _scan(pattern)
    if found is not None:
        return found
    try:
        re2.compile(pattern, options())
    except re2.error as exc:
        text = _error_text(exc)
        for prefix, what, help in _UNSUPPORTED:
            if text.startswith(prefix):
                return Problem("E220", f"RE2 has no {what}", help)
        if text.startswith("invalid perl operator: (?P") and "(?P=" in pattern:
            return Problem("E220", "RE2 has no backreference `(?P=name)`", _NO_BACKREF)
        if text.startswith("invalid escape sequence: \\") and text[len("invalid escape sequence: \\"):][:1].isdigit():
            return Problem("E220", f"RE2 has no backreference `{text.split(': ', 1)[1]}`", _NO_BACKREF)
        if text.startswith(("bad repetition operator: ++", "bad repetition operator: *+",
                            "bad repetition operator: ?+", "bad repetition operator: }+")):
            return Problem("E220", f"RE2 has no possessive quantifier `{text.split(': ', 1)[1]}`",
                           _NOT_NEEDED + ": drop the last `+`")
        if text.startswith("invalid repetition size"):
            count = text.split(": ", 1)[1] if ": " in text else ""
            return Problem("E213", f"repeat count `{_short(count)}` is too large once nested repeats are multiplied",
                           f"RE2 repeats a part at most {MAX_REPEAT} times in all; for a longer value check "
                           f"`len(…)` in the policy")
        if "pattern too large" in text:
            return Problem("E213", f"regular expression is too large: its RE2 program needs more than "
                                   f"{MAX_MEM >> 20} MiB",
                           "split it into smaller patterns joined with `or`")
        kind, _, fragment = text.partition(": ")
        return Problem("E213", f"invalid regular expression: {kind}" + (f" at `{_short(fragment)}`" if fragment else ""))
    return None


def searcher(pattern: str) -> Callable[[str], bool]:
    """A yes/no unanchored RE2 search for a pattern that `problem` accepted; raises re2.error otherwise.

    The search raises UnicodeEncodeError for a value holding a lone surrogate (not UTF-8): callers
    turn that into an evaluation error. It calls the compiled RE2 object directly: the wrapper's
    public `search` builds a match object and maps byte offsets back to characters, several times the
    cost of the match itself, for an answer `matches` never reads (tests pin that both agree)."""
    rx = re2.compile(pattern, options())
    raw = getattr(rx, "_regexp", None)
    if raw is None or not hasattr(raw, "Match"):  # a wrapper without the raw object: its public API
        return lambda text: rx.search(text) is not None
    match = raw.Match
    unanchored = re2._Anchor.UNANCHORED

    def search(text: str) -> bool:
        data = text.encode("utf-8")
        return match(unanchored, data, 0, len(data))[0][0] != -1
    return search


def search(pattern: str, text: str) -> bool:
    """The public-API search (`re2.search`), used where speed does not matter (reference, lint)."""
    return re2.search(pattern, text, options=options()) is not None
