"""Tool-level findings: no schema (I100), unmatched actions with no category (W114), checks on no tool (W109)."""
from __future__ import annotations

import re

from .. import ast as A
from ..errors import did_you_mean
from .context import LintContext

__all__ = ["schemaless_tools", "unmatched_levels", "undeclared_targets", "target_span"]


def schemaless_tools(ctx: LintContext) -> None:
    """I100: a tool with no JSON Schema."""
    for name, tool in ctx.program.tools.items():
        if tool.schema is None:
            ctx.warn("I100", f"tool `{name}` has no schema", ctx.head(tool.span),
                     help="add `schema { … }` or `schema \"FILE.json\"` describing its `args`")


def unmatched_levels(ctx: LintContext) -> None:
    """W114: a tool whose actions that no risk line matches get a level with no category block.

    Reads `tool_rest` (the `tool_blocks` step)."""
    for tool in ctx.program.tools.values():
        rest = ctx.tool_rest[tool.name]
        # W114: an action no risk line matches gets the highest level; without a category block for it,
        # the action is denied ("no category block for risk level …"). A module's importer may declare it.
        closed = any(r.when is None for r in tool.risks) or (rest is not None and not rest)
        if not closed and not ctx.module and ctx.highest not in ctx.program.categories:
            level = f"`{ctx.highest}`"
            fix = f"add `category {ctx.highest} {{ … }}`"
            if tool.risks:
                ctx.warn("W114", f"an action of tool `{tool.name}` that no risk line matches gets level {level}, "
                         "which has no category block: it is denied", tool.risks[-1].span,
                         help=f"end the risk lines with `risk LEVEL otherwise`, or {fix}")
            else:
                ctx.warn("W114", f"tool `{tool.name}` has no risk line, so its actions get level {level}, "
                         "which has no category block: they are denied", ctx.head(tool.span),
                         help=f"add a `risk LEVEL` line, or {fix}")


def undeclared_targets(ctx: LintContext) -> None:
    """W109: a check of the linted file on a name that has no `tool` block."""
    for check in ctx.program.checks.values():
        if check.targets is None or not ctx.in_root(check.span):
            continue
        for t in dict.fromkeys(check.targets):
            if t in ctx.program.tools:
                continue
            ctx.warn("W109", f"check `{check.name}` is on `{t}`, which has no `tool` block",
                     target_span(ctx, check, t),
                     help=did_you_mean(t, ctx.program.tools) or
                     f"the check applies to that name, but such actions are unknown tools: "
                     f"add `tool {t} {{ … }}` or fix the name")


def target_span(ctx: LintContext, check: A.Check, name: str) -> A.Span:
    """The target's own position in `check NAME on A, B {`."""
    lines = ctx.lines(check.span.file)
    if lines is None:
        return check.span
    row, col = check.span.line - 1, check.span.column - 1
    pattern = re.compile(r'(?<![A-Za-z0-9_"])(' + re.escape(name) + r'(?![A-Za-z0-9_])|"'
                         + re.escape(name) + r'")')
    seen_on = False
    while 0 <= row < len(lines) and row < check.span.end_line:
        text = lines[row]
        start = col
        if not seen_on:
            m = re.compile(r"\bon\b").search(text, col)
            if m is None:
                row, col = row + 1, 0
                continue
            seen_on, start = True, m.end()
        brace = text.find("{", start)
        segment_end = brace if brace >= 0 else len(text)
        m = pattern.search(text, start, segment_end)
        if m:
            return A.Span(check.span.file, row + 1, m.start() + 1, row + 1, m.end() + 1)
        if brace >= 0:
            break
        row, col = row + 1, 0
    return ctx.head(check.span)
