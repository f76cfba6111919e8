"""Check lines that can never fail or never pass, and budgets that can never be met: W101, W102, W110."""
from __future__ import annotations

from .. import ast as A
from ..printer import expr_text, outcome_text
from .context import LintContext, short

__all__ = ["check_blocks"]


def check_blocks(ctx: LintContext) -> None:
    """W101, W102 and W110 on the lines of every check."""
    for check in ctx.program.checks.values():
        check_block(ctx, check)


def check_block(ctx: LintContext, check: A.Check) -> None:
    """W101 and W102 on the `require` lines of one check, W110 on its budgets."""
    L = ctx.logic
    for line in check.lines:
        if isinstance(line, A.Require):
            pos, neg = L.dnf(line.cond, True), L.dnf(line.cond, False)
            if pos is not None and not pos:
                text = f"`{short(expr_text(line.cond))}`"   # printed only for a warning: most lines give none
                ctx.warn("W102", f"check `{check.name}` can never pass: {text} is never true", line.span,
                         help=f"every action it applies to gets `{outcome_text(line.outcome)}`")
            elif neg is not None and not neg:
                text = f"`{short(expr_text(line.cond))}`"
                ctx.warn("W101", f"check `{check.name}` can never fail: {text} is always true", line.span,
                         help=f"`{outcome_text(line.outcome)}` is never given: tighten the condition or "
                              "remove the line")
        else:
            limit = line.limit
            if limit <= 0 or (line.agg == "count" and limit < 1):
                what = "`count()` is at least 1 with this action" if line.path is None else \
                    f"any positive `{expr_text(line.path)}` exceeds it"
                shown = line.limit_text or str(limit)
                ctx.warn("W110", f"budget limit `{shown}` can never be met: {what}", line.span,
                         help=f"every action it applies to gets `{outcome_text(line.outcome)}`; "
                              "use a positive limit")
