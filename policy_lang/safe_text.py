"""The one rendering of untrusted text for terminals and logs: invisible and control characters shown escaped.

Tool names, ids, tenants, arguments, messages, file paths and every name or message a policy
quotes reach the terminal of whoever runs `signoff`, and CI logs. A raw control character there
is an instruction to the terminal (ESC starts a sequence that clears the screen, paints text or
sets the window title; CR overwrites a line), a raw newline forges a line of its own (a GitHub
workflow command such as `::error file=…::`), and a bidirectional override makes text read in an
order other than the order of its characters. `safe_text` shows each such character as an escape
instead, so what is printed is what is there:

- every character of Unicode category Cc: C0 controls (U+0000–U+001F), DEL (U+007F) and C1
  controls (U+0080–U+009F);
- every format character (category Cf): the bidi embeddings, overrides and isolates
  (U+202A–U+202E, U+2066–U+2069), the marks U+200E, U+200F and U+061C, zero-width characters
  (U+200B–U+200D, U+2060, U+FEFF), soft hyphens and the invisible tag characters (U+E0000–U+E007F);
- the line and paragraph separators U+2028 and U+2029 (Zl, Zp), which some tools break lines at;
- lone surrogates (Cs), which cannot be encoded for output at all.

Escapes are `\\n`, `\\r`, `\\t`, `\\xHH`, `\\uHHHH` and `\\UHHHHHHHH`, as in a Python string. A
backslash is not itself escaped: text that already spells `\\x1b` reads the same as an escaped
ESC, and either way nothing reaches the terminal but printable characters.
"""
from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

__all__ = ["safe_text", "safe_json", "escape_json_text", "UNSAFE_CATEGORIES", "is_unsafe"]

UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def is_unsafe(ch: str) -> bool:
    """Whether `safe_text` shows this character escaped (newline and tab included)."""
    return unicodedata.category(ch) in UNSAFE_CATEGORIES


def _escape(ch: str) -> str:
    named = _NAMED.get(ch)
    if named is not None:
        return named
    o = ord(ch)
    if o <= 0xFF:
        return f"\\x{o:02x}"
    if o <= 0xFFFF:
        return f"\\u{o:04x}"
    return f"\\U{o:08x}"


# characters that may need an escape: everything but printable ASCII (and, in laid-out text, the
# layout's newlines and tabs); each one found is looked up in the Unicode database
_CANDIDATE = re.compile(r"[^\x20-\x7e]")
_CANDIDATE_IN_LINES = re.compile(r"[^\x20-\x7e\n\t]")


def _sub(m: "re.Match[str]") -> str:
    ch = m.group()
    return _escape(ch) if is_unsafe(ch) else ch


def safe_text(value: Any, lines: bool = False) -> str:
    """`value` (any value: `str()` of it) with every control, format, separator and surrogate character
    escaped. By default the text is one field of one line, so newlines and tabs are escaped too; with
    `lines=True` it is text already laid out in lines by the caller, and `\\n` and `\\t` stay as they are."""
    text = value if isinstance(value, str) else str(value)
    if text.isprintable():  # the common case: no character of any category escaped here
        return text
    return (_CANDIDATE_IN_LINES if lines else _CANDIDATE).sub(_sub, text)


def _json_escape(ch: str) -> str:
    o = ord(ch)
    if o > 0xFFFF:  # JSON spells a character outside the BMP as a surrogate pair
        o -= 0x10000
        return f"\\u{0xD800 + (o >> 10):04x}\\u{0xDC00 + (o & 0x3FF):04x}"
    return f"\\u{o:04x}"


def safe_json(value: Any, **kwargs: Any) -> str:
    """`json.dumps(value, ensure_ascii=False, **kwargs)` with every character `safe_text` escapes written
    as a JSON `\\uXXXX` escape: the same JSON value, and nothing a terminal acts on. json.dumps escapes
    C0 controls itself, not DEL, C1, bidi or separator characters, nor lone surrogates (which could not
    even be encoded for output). Such characters only ever stand inside JSON strings, where the escape
    means exactly them; the newlines of `indent` stand between tokens and stay."""
    kwargs.setdefault("ensure_ascii", False)
    return escape_json_text(json.dumps(value, **kwargs))


def escape_json_text(text: str) -> str:
    """JSON text with every character `safe_text` escapes inside its strings written as `\\uXXXX`."""
    if text.isprintable():
        return text
    return _CANDIDATE_IN_LINES.sub(_json_sub, text)


def _json_sub(m: "re.Match[str]") -> str:
    ch = m.group()
    return _json_escape(ch) if is_unsafe(ch) else ch
