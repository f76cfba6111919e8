"""Routes that no rule uses: W107."""
from __future__ import annotations

from typing import List, Set

from .. import ast as A
from .context import LintContext

__all__ = ["unused_routes"]


def unused_routes(ctx: LintContext) -> None:
    """W107: a route of the linted file that no outcome names (the first route counts when one is implicit)."""
    p = ctx.program
    used: Set[str] = set()
    implicit = p.mode == "assisted" or any(t.mode is not None and t.mode.mode == "assisted"
                                           for t in p.tools.values())
    outcomes: List[A.Outcome] = [l.outcome for c in p.categories.values() for l in c.lines]
    outcomes += [l.outcome for c in p.checks.values() for l in c.lines]
    if p.unknown is not None:
        outcomes.append(p.unknown.outcome)
    for o in outcomes:
        if o.kind == "require_approval":
            if o.route is None:
                implicit = True
            else:
                used.add(o.route)
    first = p.first_route
    if implicit and first is not None:
        used.add(first.name)
    for name, route in p.routes.items():
        if name not in used and ctx.in_root(route.span):
            ctx.warn("W107", f"route `{name}` is never used", ctx.head(route.span),
                     help=f"name it in an outcome (`require approval via {name}`) or remove it")
