"""Which lines can decide and which levels are reached: W100, W111, W112 and W108.

`tool_blocks` and `category_blocks` also record the facts later steps read: the levels each tool
can reach, when each category line fires and when no line of a block matches.
"""
from __future__ import annotations

from typing import Any, Dict, FrozenSet, List, Optional, Sequence, Set, Tuple

from .. import ast as A
from ..analysis import DNF, FALSE, TRUE
from ..printer import expr_text, outcome_text
from .context import STRENGTH, LintContext, short

__all__ = ["tool_blocks", "category_blocks", "dead_rules", "unreachable_levels", "ordered"]


def tool_blocks(ctx: LintContext) -> None:
    """W100 on the risk lines of every tool; records `tool_rest` and `tool_levels`."""
    for tool in ctx.program.tools.values():
        tool_block(ctx, tool)


def category_blocks(ctx: LintContext) -> None:
    """W100 and W111 on every category block; records `cat_rest` and `cat_fire`."""
    for cat in ctx.program.categories.values():
        category_block(ctx, cat)


def ordered(ctx: LintContext, lines: Sequence[Any], kind: str) -> Tuple[List[DNF], DNF]:
    """W100 for a block's lines; returns each line's firing condition and the no-match remainder."""
    L = ctx.logic
    prefix: DNF = TRUE
    fires: List[DNF] = []
    closer = None
    conds: List[Tuple[Any, Any]] = []
    for line in lines:
        if closer is not None:
            word = "`otherwise`" if closer.otherwise else "a line without `when`"
            ctx.warn("W100", f"unreachable {kind} line: {ctx.where(closer.span, line.span)} already "
                     f"closes the block with {word}", line.span,
                     help="lines after `otherwise` or a bare line are never reached: move it up or remove it")
            fires.append(FALSE)
            continue
        if line.when is None:
            closer = line
            if prefix is not None and not prefix:
                ctx.warn("W100", f"unreachable {kind} line: the lines above already match every case",
                         line.span, help="remove it, or loosen the lines above")
            fires.append(prefix)
            prefix = FALSE
            continue
        pos = L.dnf(line.when, True)
        fire = L.product(prefix, pos)
        fires.append(fire)
        if fire is not None and not fire:
            text = f"`{short(expr_text(line.when))}`"
            if pos is not None and not pos:
                ctx.warn("W100", f"unreachable {kind} line: {text} can never be true", line.span)
            elif prefix is not None and not prefix:
                ctx.warn("W100", f"unreachable {kind} line: the lines above already match every case",
                         line.span, help="remove it, or loosen the lines above")
            else:
                culprit = None
                for earlier, _ in conds:
                    if L.never(pos, L.dnf(earlier.when, False)):
                        culprit = earlier
                        break
                if culprit is not None:
                    ctx.warn("W100", f"unreachable {kind} line: whenever {text} holds, "
                             f"{ctx.where(culprit.span, line.span)} "
                             f"(`{short(expr_text(culprit.when))}`) matches first", line.span,
                             help="first match wins: put the more specific line first")
                else:
                    ctx.warn("W100", f"unreachable {kind} line: every case of {text} is matched by "
                             "the lines above", line.span,
                             help="first match wins: put the more specific line first")
        conds.append((line, pos))
        prefix = L.product(prefix, L.dnf(line.when, False))
    return fires, prefix


def tool_block(ctx: LintContext, tool: A.Tool) -> None:
    """W100 on one tool's risk lines; records the levels it reaches and when no line matches."""
    fires, rest = ordered(ctx, tool.risks, "risk")
    ctx.tool_rest[tool.name] = rest
    levels: Set[str] = set()
    for line, fire in zip(tool.risks, fires):
        if fire is None or fire:
            levels.add(line.level)
    # no line matched, or an error in a risk line: the highest level
    if not tool.risks or rest is None or rest or any(r.when is not None for r in tool.risks):
        levels.add(ctx.highest)
    ctx.tool_levels[tool.name] = levels


def category_block(ctx: LintContext, cat: A.Category) -> None:
    """W100 and W111 on one category block; records when each line fires and when none matches."""
    fires, rest = ordered(ctx, cat.lines, "category")
    ctx.cat_rest[cat.level] = rest
    ctx.cat_fire[cat.level] = list(zip(cat.lines, fires))
    closed = any(l.when is None for l in cat.lines) or (rest is not None and not rest)
    if not closed:
        ctx.warn("W111", f"category `{cat.level}` has no closing line", ctx.head(cat.span),
                 help="an action no line matches is denied: end the block with an "
                      "`OUTCOME otherwise` line (for example `deny otherwise`)")


def dead_rules(ctx: LintContext) -> None:
    """W112: a check or category line whose outcome a stronger binding check line always overrides."""
    L = ctx.logic
    entries: List[Tuple[A.Check, A.Require, Optional[FrozenSet[str]], int]] = []
    by_tool: Dict[str, List[int]] = {}
    star: List[int] = []
    for check in ctx.program.checks.values():
        if check.advisory:
            continue
        targets = None if check.targets is None else frozenset(check.targets)
        for line in check.lines:
            if not isinstance(line, A.Require):
                continue
            idx = len(entries)
            entries.append((check, line, targets, STRENGTH[line.outcome.kind]))
            if targets is None:
                star.append(idx)
            else:
                for t in targets:
                    by_tool.setdefault(t, []).append(idx)

    def candidates(tools: Optional[FrozenSet[str]], strength: int, skip: Any) -> List[int]:
        if tools is None:
            pool = star
        elif not tools:
            return []
        else:
            first = next(iter(tools))
            pool = by_tool.get(first, []) + star
        out = []
        for i in pool:
            ch, line, t2, s2 = entries[i]
            if line is skip or s2 <= strength:
                continue
            if t2 is not None and (tools is None or len(t2) < len(tools) or not tools <= t2):
                continue
            out.append(i)
        return out

    def stronger(fire: DNF, tools: Optional[FrozenSet[str]], strength: int, skip: Any) -> Optional[int]:
        if fire is None or not fire:
            return None
        for i in candidates(tools, strength, skip):
            if L.never(fire, L.dnf(entries[i][1].cond, True)):
                return i
        return None

    def report(span: A.Span, what: str, i: int, lead: str, fire: DNF) -> None:
        ch, line, _, _ = entries[i]
        where = f"check `{ch.name}` ({ctx.where(line.span, span)})"
        if L.never(fire, [L.presence(line.cond)]):
            # the other line cannot even be evaluated then: a path it reads is missing
            ctx.warn("W112", f"dead rule: {what} is never the outcome: {lead} {where} reads a missing "
                     "path, an evaluation error that denies", span,
                     help="guard the other line, as in `require x missing or …`, so that it does not "
                          "fail when this one does")
            return
        ctx.warn("W112", f"dead rule: {what} is never the outcome: {lead} {where} "
                 f"gives the stronger `{outcome_text(line.outcome)}`",
                 span, help="remove this line, or make it stricter than the line that always overrides it")

    for check in ctx.program.checks.values():
        if check.advisory:
            continue
        tools = None if check.targets is None else frozenset(check.targets)
        for line in check.lines:
            s1 = STRENGTH[line.outcome.kind]
            fire = L.dnf(line.cond, False) if isinstance(line, A.Require) else TRUE
            i = stronger(fire, tools, s1, line)
            if i is not None:
                lead = "whenever this line fails," if isinstance(line, A.Require) else \
                    "whenever the budget is exceeded,"
                report(line.span, f"`{outcome_text(line.outcome)}`", i, lead, fire)
    for level, lines in ctx.cat_fire.items():
        reach = frozenset(t for t, lv in ctx.tool_levels.items() if level in lv)
        if not reach:
            continue
        for cat_line, fire in lines:
            s1 = STRENGTH[cat_line.outcome.kind]
            i = stronger(fire, reach, s1, cat_line)
            if i is not None:
                report(cat_line.span, f"`{outcome_text(cat_line.outcome)}`", i, "whenever this line matches,", fire)


def unreachable_levels(ctx: LintContext) -> None:
    """W108: a category block of the linted file for a level that no tool reaches."""
    reached: Set[str] = set()
    for levels in ctx.tool_levels.values():
        reached |= levels
    for level, cat in ctx.program.categories.items():
        if level not in reached and ctx.in_root(cat.span):
            by = "no `risk` line gives it" if ctx.program.tools else "the policy declares no tool"
            ctx.warn("W108", f"no tool can reach risk level `{level}`: {by}", ctx.head(cat.span),
                     help=f"add `risk {level}` to a tool, or remove the block")
