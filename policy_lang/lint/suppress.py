"""`# signoff: ignore[CODE, …]` comments: which codes each line of a file silences."""
from __future__ import annotations

import re
from typing import Dict, Iterable, Set, Tuple

from ..errors import Diagnostic
from ..loader import LoadedFile
from .rules import RULES

__all__ = ["SUPPRESS", "suppressions", "suppressed"]

SUPPRESS = re.compile(r"#\s*signoff:\s*ignore\[([A-Za-z0-9_,\s]*)\]")


def suppressions(f: LoadedFile) -> Dict[int, Set[str]]:
    """The codes silenced on each line of a file, by line number."""
    out: Dict[int, Set[str]] = {}
    comments: Iterable[Tuple[int, str]]
    if f.module.decls or f.module.comments:
        comments = ((c.line, c.text) for c in f.module.comments)
    else:  # a file that did not parse has no comment list: scan its lines
        comments = ((n, line[line.index("#"):]) for n, line in enumerate(f.text.splitlines(), 1) if "#" in line)
    for line, text in comments:
        for m in SUPPRESS.finditer(text):
            codes = {c.strip().upper() for c in m.group(1).split(",") if c.strip()}
            out.setdefault(line, set()).update(codes)
    return out


def suppressed(d: Diagnostic, table: Dict[str, Dict[int, Set[str]]]) -> bool:
    """Whether a comment on its line or the line above silences `d` (`table`: `suppressions` per file)."""
    if d.code not in RULES:  # load errors cannot be silenced in the file: the policy would not load
        return False
    lines = table.get(d.span.file)
    if not lines:
        return False
    return d.code in lines.get(d.span.line, ()) or d.code in lines.get(d.span.line - 1, ())
