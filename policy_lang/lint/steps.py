"""The ordered list of lint steps that `run` walks, as the compiler walks its `PASSES`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, List, Tuple

from ..errors import Diagnostic
from . import checks, expressions, missing, negative, reachability, routes, tools
from .context import LintContext

__all__ = ["Step", "STEPS", "run"]


@dataclass(frozen=True)
class Step:
    """One step of the analyses: `check` reads the context, reports through `ctx.warn` and may record
    facts for the steps after it (`needs`: the steps whose facts it reads). A `whole_policy` step is
    skipped for a module (a file with no `policy` line), whose importer may supply what it lacks."""
    name: str
    codes: Tuple[str, ...]
    check: Callable[[LintContext], None]
    needs: Tuple[str, ...] = ()
    whole_policy: bool = False


# The order is fixed and meets every step's `needs`. It does not decide the order of the output:
# the diagnostics of a file are sorted by position, code and message (`lint_text`, `lint_file`).
STEPS: Tuple[Step, ...] = (
    Step("tool-blocks", ("W100",), reachability.tool_blocks),
    Step("unmatched-levels", ("W114",), tools.unmatched_levels, needs=("tool-blocks",)),
    Step("schemaless-tools", ("I100",), tools.schemaless_tools),
    Step("category-blocks", ("W100", "W111"), reachability.category_blocks),
    Step("check-blocks", ("W101", "W102", "W110"), checks.check_blocks),
    Step("expressions", ("W103", "W104", "W105", "W106"), expressions.expressions, needs=("tool-blocks",)),
    Step("negative-tests", ("W115",), negative.negative_tests, needs=("tool-blocks", "category-blocks")),
    Step("maybe-missing", ("W116",), missing.maybe_missing),
    Step("dead-rules", ("W112",), reachability.dead_rules, needs=("tool-blocks", "category-blocks")),
    Step("unused-routes", ("W107",), routes.unused_routes, whole_policy=True),
    Step("unreachable-levels", ("W108",), reachability.unreachable_levels, needs=("tool-blocks",),
         whole_policy=True),
    Step("undeclared-targets", ("W109",), tools.undeclared_targets, whole_policy=True),
)


def run(ctx: LintContext, steps: Iterable[Step] = STEPS) -> List[Diagnostic]:
    """Walk the steps over one context; the diagnostics in the order they were reported."""
    for step in steps:
        if step.whole_policy and ctx.module:
            continue
        step.check(ctx)
    return ctx.out
