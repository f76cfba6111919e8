"""Diagnostics: stable codes, spans, and the `file:line:col: severity[code]: message` rendering."""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Iterable, List, Optional, Tuple

from .ast import Span
from .safe_text import safe_text

# Stable error codes. Never renumber; add new ones at the end of their group.
CODES = {
    # syntax
    "E100": "syntax error",
    "E101": "invalid character or unterminated string",
    "E102": "invalid literal",
    "E103": "invalid inline JSON",
    "E104": "policy too deeply nested",
    "E105": "reserved word used as a name",
    # declarations and names
    "E200": "duplicate definition",
    "E201": "override of an undefined name",
    "E202": "unknown route",
    "E203": "unknown risk level",
    "E204": "risk level without a category block",
    "E205": "unknown name",
    "E206": "unknown function",
    "E207": "wrong number of arguments",
    "E208": "approval needs a route but the policy declares none",
    "E209": "declaration given more than once",
    "E210": "missing policy name",
    "E211": "operator needs a path",
    "E212": "invalid quorum",
    "E213": "invalid regular expression",
    "E214": "unknown time zone",
    "E215": "name shadows another",
    "E216": "invalid budget",
    "E217": "invalid levels",
    "E218": "invalid const",
    "E219": "invalid tool alias",
    "E220": "regular expression feature that RE2 does not have",
    "E221": "unknown SQL dialect",
    # modules
    "E300": "module not found",
    "E301": "import cycle",
    "E302": "unreadable file",
    "E303": "not a policy file",
    # schemas
    "E400": "unreadable schema file",
    "E401": "schema is not valid JSON",
    "E402": "invalid JSON Schema",
    "E403": "schema reference outside the policy's folder",
    "E404": "unresolvable schema reference",
}


@dataclass(frozen=True)
class Diagnostic:
    """One problem found in a policy: a stable code, the message, where (a span), its severity and a fix hint."""
    code: str
    message: str
    span: Span
    severity: str = "error"
    help: Optional[str] = None

    def to_dict(self) -> dict:
        """The diagnostic as a JSON object (machine-readable output): place, severity, code, message, help."""
        return {
            "file": self.span.file, "line": self.span.line, "column": self.span.column,
            "end_line": self.span.end_line, "end_column": self.span.end_column,
            "severity": self.severity, "code": self.code, "message": self.message,
            "help": self.help,
        }


class PolicyError(Exception):
    """Raised when a policy cannot be loaded; carries every diagnostic found."""

    def __init__(self, diagnostics: Iterable[Diagnostic], sources: Optional[dict] = None):
        self.diagnostics: List[Diagnostic] = sorted(
            diagnostics, key=lambda d: (d.span.file, d.span.line, d.span.column, d.code))
        self.sources = sources or {}
        super().__init__(render(self.diagnostics, self.sources))

    @property
    def codes(self) -> List[str]:
        """The codes of the diagnostics, in the order they are reported (file, line, column)."""
        return [d.code for d in self.diagnostics]


@functools.lru_cache(maxsize=8)
def _lines(source: str) -> Tuple[str, ...]:
    """A file's lines, split once however many diagnostics it has. Only at `\n`, as the parser counts
    lines (str.splitlines also splits at \x0b, \x0c, \x1c-\x1e, \x85, U+2028 and U+2029)."""
    return tuple(line[:-1] if line.endswith("\r") else line for line in source.split("\n"))


def render_one(d: Diagnostic, source: Optional[str] = None) -> str:
    """`FILE:LINE:COL: severity[CODE]: message`, the source line with a caret under the span, and the help.
    Every part a policy or a file name controls is shown through `safe_text`: a control or bidi character
    in a quoted name, a message or the quoted line (a comment can hold anything) is printed escaped, and
    a newline never starts a line of its own."""
    s = d.span
    out = f"{safe_text(s.file)}:{s.line}:{s.column}: {d.severity}[{d.code}]: {safe_text(d.message)}"
    pad = " "
    if source is not None and s.line >= 1:
        lines = _lines(source)
        if s.line <= len(lines):
            text = lines[s.line - 1].expandtabs(1)
            width = 1
            if s.end_line == s.line and s.end_column > s.column:
                width = s.end_column - s.column
            col = s.column
            if len(text) > 100:  # keep snippets readable: a window around the column
                start = max(0, col - 40)
                text = ("…" if start else "") + text[start:start + 100] + ("…" if start + 100 < len(text) else "")
                col = col - start + (1 if start else 0)
                width = min(width, 100)
            # the caret goes under the escaped text: each escape is as wide as it is printed
            before, marked = text[:max(col - 1, 0)], text[max(col - 1, 0):max(col - 1, 0) + width]
            shown_before, shown_marked = safe_text(before), safe_text(marked)
            carets = len(shown_marked) + max(width - len(marked), 0)
            gutter = str(s.line)
            pad = " " * len(gutter)
            out += (f"\n{pad} |\n{gutter} | {safe_text(text)}\n{pad} | {' ' * len(shown_before)}"
                    f"{'^' * max(carets, 1)}")
    if d.help:
        # like rustc: the `=` sits under the gutter's `|`, whatever the width of the line number
        out += f"\n{pad} = help: {safe_text(d.help)}"
    return out


def render(diags: Iterable[Diagnostic], sources: Optional[dict] = None) -> str:
    """Every diagnostic as `render_one` writes it, one after the other; `sources` maps a file to its text."""
    sources = sources or {}
    return "\n".join(render_one(d, sources.get(d.span.file)) for d in diags)


def did_you_mean(name: str, candidates: Iterable[str]) -> Optional[str]:
    """The hint "did you mean `X`?" naming the candidate closest to a misspelt `name` (difflib, cutoff 0.6), or None."""
    import difflib
    match = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.6)
    return f"did you mean `{match[0]}`?" if match else None
