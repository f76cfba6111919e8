"""Negative tests on values no schema types, guarding a looser outcome: W115."""
from __future__ import annotations

from typing import Any, Dict, List, Sequence, Tuple

from .. import ast as A
from ..analysis import DNF, NO, SchemaView
from ..printer import expr_text, outcome_text
from .context import STRENGTH, LintContext, short

__all__ = ["negative_tests"]


def negative_tests(ctx: LintContext) -> None:
    """W115: a negative test (`!=`, `not in`, a negated `==` / `in` / `matches` / `starts_with` /
    `ends_with` / `contains`) in a condition whose truth gives the looser outcome, on a value no
    schema types. Such a test holds for every value its author did not list, a value of another
    type included (`==` between types is false, spec §4.7), so an agent that controls the value
    (`context`, `tenant`, an argument without a schema) picks the looser branch.

    Whose truth is looser: a `require` line of an enforced check (passing adds no outcome); a
    category line whose outcome is looser than the strictest outcome a later line of the block can
    give (`deny` when the block has no closing line); a `risk` line whose level is lower than the
    highest level a later line can give (the highest declared level when no line closes the list).
    Typed, and so not flagged: `args` paths that the schema of every tool the line applies to
    declares with a `type`, `enum` or `const`; `confidence`, `tool` and `timestamp`; consts and
    literals; function results (their type is fixed; a wrong input is an error, so deny)."""
    p = ctx.program
    rank = {lv: i for i, lv in enumerate(ctx.levels)}
    for tool in p.tools.values():
        scope = [tool.name]
        for i, risk in enumerate(tool.risks):
            if risk.when is None:
                continue
            later_levels = [r.level for r in tool.risks[i + 1:]]
            if _unmatched(tool.risks, ctx.tool_rest.get(tool.name)):
                later_levels.append(ctx.highest)
            if later_levels and rank.get(risk.level, 0) < max(rank.get(lv, 0) for lv in later_levels):
                _negations(ctx, risk.when, True, scope, {}, f"gives risk level `{risk.level}`")
    for cat in p.categories.values():
        reach = [t for t, lv in ctx.tool_levels.items() if cat.level in lv]
        for i, line in enumerate(cat.lines):
            if line.when is None:
                continue
            rest = cat.lines[i + 1:]
            later = [STRENGTH[l.outcome.kind] for l in rest]
            if _unmatched(cat.lines, ctx.cat_rest.get(cat.level)):
                later.append(STRENGTH["deny"])
            if later and STRENGTH[line.outcome.kind] < max(later):
                _negations(ctx, line.when, True, reach, {}, f"chooses `{outcome_text(line.outcome)}`")
    for check in p.checks.values():
        if check.advisory:
            continue  # never combined into the outcome
        if check.targets is None:
            scope = []  # `on *`: unknown tools too, which no schema describes
        else:
            scope = [_alias_target(ctx, t) for t in dict.fromkeys(check.targets)]
        for check_line in check.lines:
            if isinstance(check_line, A.Require) and check_line.outcome.kind != "allow":
                _negations(ctx, check_line.cond, True, scope, {}, "lets the check pass")


def _unmatched(lines: Sequence[Any], rest: DNF) -> bool:
    """Whether an action can match none of the lines (then the highest level, or deny, is given)."""
    return not any(l.when is None for l in lines) and (rest is None or bool(rest))


def _alias_target(ctx: LintContext, name: str) -> str:
    """The tool an alias stands for (a check on an alias reads that tool's schema)."""
    alias = ctx.program.aliases.get(name)
    return alias.target if alias is not None else name


# a negative test's value for a value nobody listed, or of another type: `==` / `in` / `matches`
# are false for it (or an error, which denies), `!=` / `not in` true
_NEGATIVE = {"!=", "not in"}
_POSITIVE = {"==", "in", "matches", "starts_with", "ends_with", "contains"}


def _negations(ctx: LintContext, e: Any, pos: bool, tools: List[str], scope: Dict[str, Any], looser: str,
               pinned: frozenset = frozenset()) -> None:
    """Flag the negative tests that make `e` true where it stands (`pos`: under an even number of `not`).
    `pinned`: paths that a positive test in the same conjunction already holds to listed values
    (`x matches "^INV-" and not x matches "^INV-TEST"`): a value of another type, or one nobody
    listed, fails that test, so the negative test beside it cannot let it through."""
    if isinstance(e, A.BoolOp):
        conjunction = (e.op == "and") == pos  # `a and b` as written, or `not (a or b)`
        if conjunction:
            members = _conjuncts(e, e.op)
            pinned = pinned | {p for m in members for p in _pins(ctx, m, pos)}
        _negations(ctx, e.left, pos, tools, scope, looser, pinned)
        _negations(ctx, e.right, pos, tools, scope, looser, pinned)
    elif isinstance(e, A.Not):
        _negations(ctx, e.operand, not pos, tools, scope, looser, pinned)
    elif isinstance(e, A.Quantifier):
        inner = dict(scope)
        with_schema = [t for t in tools if t in ctx.schemas]
        inner[e.var] = "typed" if _typed_list(ctx, e.source) else ctx.item_schemas(e.source, with_schema, scope)
        _negations(ctx, e.body, pos, tools, inner, looser)
    elif isinstance(e, A.Compare):
        negative = (pos and e.op in _NEGATIVE) or (not pos and e.op in _POSITIVE)
        if not negative:
            return
        if any(isinstance(side, A.Path) and (side.root, side.keys) in pinned for side in (e.left, e.right)):
            return
        untyped = [side for side in (e.left, e.right) if not _typed(ctx, side, tools, scope)
                   and not (e.op in ("in", "not in") and side is e.right)]
        if e.op in ("in", "not in") and not _typed_list(ctx, e.right) and not untyped:
            untyped = [e.right] if not _typed(ctx, e.right, tools, scope) else []
        if not untyped:
            return
        shown = short(expr_text(e if pos else A.Not(e)), 60)
        what = short(expr_text(untyped[0]), 40)
        if e.op in ("matches", "starts_with", "ends_with", "contains"):
            why = "for every string it does not foresee"
        else:
            why = "for every value not listed, one of another type included (a number, a list)"
        pair = ctx.logic.const(e.left) is NO and ctx.logic.const(e.right) is NO and e.op in ("!=", "==")
        two = (", or compare two values that must differ through a function of one result type "
               "(`lower(a) != lower(b)`: a value of another type is then an error, so deny)") if pair else ""
        if isinstance(untyped[0], A.Path) and untyped[0].root == "args":
            fix = (f"write the values that may pass (`{what} in [...]`){two}, or declare `{what}` with a "
                   "`type` or `enum` in the schema of every tool this line applies to")
        else:
            root = untyped[0].root if isinstance(untyped[0], A.Path) else "this value"
            fix = f"write the values that may pass as an allow-list (`{what} in [...]`){two}; no schema " \
                  f"describes `{root}`"
        ctx.warn("W115", f"`{shown}` {looser} {why}: no schema types `{what}`", e.span, help=fix)


def _conjuncts(e: Any, op: str) -> List[Any]:
    """The members of a chain of one boolean operator (`a and b and c`)."""
    out, todo = [], [e]
    while todo:
        x = todo.pop()
        if isinstance(x, A.BoolOp) and x.op == op:
            todo += [x.right, x.left]
        else:
            out.append(x)
    return out


def _pins(ctx: LintContext, e: Any, pos: bool) -> List[Tuple[str, Tuple[Any, ...]]]:
    """The paths a member of a conjunction holds to listed values: a positive `==`, `in` or `matches`
    (as it stands, `not` counted) between a path and a literal or const."""
    while isinstance(e, A.Not):
        e, pos = e.operand, not pos
    if not isinstance(e, A.Compare):
        return []
    if not ((pos and e.op in ("==", "in", "matches", "starts_with", "ends_with"))
            or (not pos and e.op in _NEGATIVE)):
        return []
    if e.op in ("in", "not in"):
        sides = [(e.left, e.right)]
    else:
        sides = [(e.left, e.right), (e.right, e.left)]
    return [(a.root, a.keys) for a, b in sides
            if isinstance(a, A.Path) and _listed(ctx, b)]


def _listed(ctx: LintContext, e: Any) -> bool:
    """A literal, a list of literals or a const: values the author wrote down."""
    if isinstance(e, A.ListExpr):
        return all(isinstance(x, A.Literal) for x in e.items)
    return isinstance(e, A.Literal) or ctx.logic.const(e) is not NO


def _typed_list(ctx: LintContext, e: Any) -> bool:
    """A list literal or a const: its members are known values."""
    return isinstance(e, A.ListExpr) or ctx.logic.const(e) is not NO


def _typed(ctx: LintContext, e: Any, tools: List[str], scope: Dict[str, Any]) -> bool:
    """Whether the value of `e` has a type fixed before any rule runs (see `negative_tests`)."""
    if ctx.logic.const(e) is not NO or isinstance(e, (A.Literal, A.ListExpr, A.Duration)):
        return True
    if isinstance(e, A.Call):
        return True
    if isinstance(e, A.Arith):
        return _typed(ctx, e.left, tools, scope) and _typed(ctx, e.right, tools, scope)
    if isinstance(e, A.Neg):
        return _typed(ctx, e.operand, tools, scope)
    if not isinstance(e, A.Path):
        return False
    if e.root in scope:
        if scope[e.root] == "typed":
            return not e.keys
        nodes_by_tool = scope[e.root] or {}
        return bool(tools) and all(t in nodes_by_tool and _schema_types(ctx.schemas[t], nodes_by_tool[t],
                                                                        e.keys) for t in tools)
    if e.root in ("confidence", "tool", "timestamp"):
        return not e.keys
    if e.root != "args":
        return False
    return bool(tools) and all(t in ctx.schemas and _schema_types(ctx.schemas[t], [ctx.schemas[t].root],
                                                                  e.keys) for t in tools)


def _schema_types(view: SchemaView, nodes: List[Any], keys: Sequence[Any], depth: int = 0) -> bool:
    """Whether every value the schema lets through at `keys` (when present) has one kind: a `type`,
    `enum` or `const` of one JSON type (integer and number are one; null is missing). Keywords of a
    node always apply, every `allOf` branch too, and of `anyOf` / `oneOf` at least one: the path is
    typed if the node or an `allOf` branch types it, or every `anyOf` / `oneOf` branch does. Nothing
    else counts (sound: "typed" is never claimed for a value that may be of two kinds)."""
    if depth > 20:
        return False
    for node in nodes:
        for d in view.deref(node):
            if not isinstance(d, dict):
                continue
            if not keys:
                kinds = {"number" if t == "integer" else t for t in (view.types([d]) or {"?", "??"})}
                if ("type" in d or "enum" in d or "const" in d) and len(kinds - {"null"}) == 1:
                    return True
            else:
                key, rest = keys[0], keys[1:]
                if isinstance(key, int):
                    prefix = d.get("prefixItems")
                    child = prefix[key] if isinstance(prefix, list) and key < len(prefix) else d.get("items")
                else:
                    props = d.get("properties")
                    child = props.get(key) if isinstance(props, dict) else None
                if isinstance(child, dict) and _schema_types(view, [child], rest, depth + 1):
                    return True
            branches = d.get("allOf")
            if isinstance(branches, list) and any(_schema_types(view, [b], keys, depth + 1)
                                                  for b in branches):
                return True
            for k in ("anyOf", "oneOf"):
                branches = d.get(k)
                if isinstance(branches, list) and branches and all(
                        _schema_types(view, [b], keys, depth + 1) for b in branches):
                    return True
    return False
