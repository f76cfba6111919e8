"""The part of a policy with load errors that lint can still analyse, and what it leaves out (I101).

A checker error taints the block it lies in (a tool, category, check, route or const), and the taint
spreads to every block whose analysis reads a tainted one: a block naming a tainted const, an alias
or a check on a tainted tool (every check `on *`), a category a tainted tool may reach. The analyses
then run over the program without the tainted blocks, minus the steps that read the whole policy
while part of it is missing. Everything left out is named by one I101 info, so lint never reports
"no warnings" for a block it did not analyse. An error outside every block (a parse error, an import
that fails, `levels` or `mode` given twice) leaves nothing sound: the whole policy is left out.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Dict, FrozenSet, Iterable, List, Optional, Set, Tuple

from .. import ast as A
from ..checker import Program
from ..errors import Diagnostic

__all__ = ["Sound", "sound_part", "not_analysed", "inside"]

# steps that read every block of a kind: skipped when a block of that kind is left out
_NEEDS_ALL = {
    "unused-routes": ("tool", "category", "check"),   # W107: every outcome naming a route
    "unreachable-levels": ("tool",),                  # W108: the levels every tool reaches
    "undeclared-targets": ("tool",),                  # W109: the names of every tool
    "dead-rules": ("check",),                         # W112: a stronger line in any check
}
_HARMLESS = ("E210",)   # no `policy` name: nothing the analyses read


@dataclass(frozen=True)
class Sound:
    """What can be analysed: `program` without the tainted blocks, the steps to skip, and what is left out.

    `left_out` names the blocks, as `tool `a``, in load order; `spans` are theirs (a diagnostic inside
    one is dropped); `skipped` holds the names of the steps that do not run."""
    program: Program
    left_out: Tuple[str, ...]
    spans: Tuple[A.Span, ...]
    skipped: FrozenSet[str]


def inside(s: A.Span, block: A.Span) -> bool:
    """Whether the start of `s` lies within `block`."""
    if s.file != block.file:
        return False
    return (block.line, block.column) <= (s.line, s.column) <= (block.end_line, block.end_column)


def _key(d: Any) -> Optional[Tuple[str, str]]:
    """A block's kind and name, as tainting counts them (a tool and an alias share one namespace)."""
    if isinstance(d, (A.Tool, A.ToolAlias)):
        return ("tool", d.name)
    if isinstance(d, A.Category):
        return ("category", d.level)
    if isinstance(d, A.Check):
        return ("check", d.name)
    if isinstance(d, A.Route):
        return ("route", d.name)
    if isinstance(d, A.Const):
        return ("const", d.name)
    return None


def _roots(node: Any, out: Set[str]) -> Set[str]:
    """The first names of every path in a block (consts among them)."""
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, A.Path):
            out.add(n.root)
        if isinstance(n, (list, tuple)):
            stack.extend(n)
        elif dataclasses.is_dataclass(n) and not isinstance(n, type):
            stack.extend(getattr(n, f.name) for f in dataclasses.fields(n) if f.name != "span")
    return out


def sound_part(program: Program, errors: Iterable[Diagnostic], loaded_ok: bool) -> Optional[Sound]:
    """The analysable part of `program` given its load errors; None when nothing of it is sound.

    `loaded_ok`: every file parsed and every import was found (else blocks are missing)."""
    if not loaded_ok:
        return None
    decls = [d for f in program.files for d in f.module.decls]
    tainted: Set[Tuple[str, str]] = set()
    for e in errors:
        if e.code in _HARMLESS:
            continue
        home = next((d for d in decls if inside(e.span, d.span)), None)
        key = _key(home) if home is not None else None
        if key is None:
            if isinstance(home, (A.PolicyDecl, A.VersionDecl)):
                continue   # a header line given twice: nothing the analyses read
            return None
        tainted.add(key)
    if not tainted:
        return Sound(program, (), (), frozenset())

    consts = {n for k, n in tainted if k == "const"}
    if consts:
        for d in decls:
            key = _key(d)
            if key is not None and key[0] != "const" and _roots(d, set()) & consts:
                tainted.add(key)
    bad_tools = {n for k, n in tainted if k == "tool"}
    for al in program.aliases.values():
        if al.target in bad_tools:
            tainted.add(("tool", al.name))
    bad_tools = {n for k, n in tainted if k == "tool"}
    for ch in program.checks.values():
        if (ch.targets is None and bad_tools) or (ch.targets and bad_tools & set(ch.targets)):
            tainted.add(("check", ch.name))
    for name in bad_tools:
        tool = program.tools.get(name)
        levels = {r.level for r in tool.risks} if tool is not None else set()
        levels.add(program.levels[-1] if program.levels else "high")
        tainted.update(("category", lv) for lv in levels if lv in program.categories)

    def keep(kind: str, table: Dict[str, Any]) -> Dict[str, Any]:
        return {n: d for n, d in table.items() if (kind, n) not in tainted}

    kinds = {k for k, _ in tainted}
    reduced = dataclasses.replace(
        program, tools=keep("tool", program.tools), aliases=keep("tool", program.aliases),
        categories=keep("category", program.categories), checks=keep("check", program.checks),
        schemas={n: s for n, s in program.schemas.items() if ("tool", n) not in tainted})
    skipped = {step for step, reads in _NEEDS_ALL.items() if kinds & set(reads)}
    highest = program.levels[-1] if program.levels else "high"
    if ("category", highest) in tainted:
        skipped.add("unmatched-levels")    # W114: whether the highest level has a category block
    shown: List[str] = []
    spans: List[A.Span] = []
    for d in decls:
        key = _key(d)
        if key is None or key not in tainted:
            continue
        spans.append(d.span)
        text = f"{key[0]} `{key[1]}`"
        if key[0] != "const" and text not in shown:
            shown.append(text)
    return Sound(reduced, tuple(shown), tuple(spans), frozenset(skipped))


def not_analysed(sound: Optional[Sound], errors: List[Diagnostic], codes: Dict[str, Tuple[str, ...]]) -> Diagnostic:
    """The I101 info naming what lint left out, at the first error (`codes`: each step's codes)."""
    first = min(errors, key=lambda d: (d.span.file, d.span.line, d.span.column, d.code))
    if sound is None:
        message = "not analysed until the errors are fixed: the whole policy"
        help = "warnings and infos are found in the parts of a policy that parse and load"
    else:
        blocks = list(sound.left_out)
        shown = ", ".join(blocks[:5]) + (f" and {len(blocks) - 5} more" if len(blocks) > 5 else "")
        rules = sorted({c for step in sound.skipped for c in codes.get(step, ())})
        message = "not analysed until the errors are fixed: " + (shown or "no block")
        if rules:
            message += f"; rules {', '.join(rules)} not run"
        help = "the warnings shown are for the rest of the policy: lint again once the errors are fixed"
    return Diagnostic("I101", message, first.span, "info", help)
