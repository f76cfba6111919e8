"""Expression-level checks: confidence ranges, incompatible types, and paths and values the tool's schema forbids.

W103, W104 (single expressions and across one block), W105 and W106.
"""
from __future__ import annotations

from typing import Any, Dict, FrozenSet, List, Optional, Set, Tuple

from .. import ast as A
from ..analysis import FLIP, NO, ORDER, const_compare, is_num, json_equal, value_kind
from ..errors import did_you_mean
from ..printer import expr_text
from .context import LintContext, children, freeze, lit_text, short, tools_text

__all__ = ["expressions", "walk", "types_block"]

_SCHEMA_TYPE_OF_KIND = {"number": {"number", "integer"}, "string": {"string"}, "boolean": {"boolean"},
                        "list": {"array"}}


def _schema_allows(types: Set[str], kind: str) -> bool:
    """Whether a schema allowing `types` admits a constant of this kind."""
    return bool(_SCHEMA_TYPE_OF_KIND.get(kind, set()) & types) if kind in _SCHEMA_TYPE_OF_KIND else True


def _describe_types(types: Set[str]) -> str:
    """`a number or a string`: the types a schema allows, as messages name them."""
    names = {"integer": "an integer", "number": "a number", "string": "a string", "boolean": "a boolean",
             "array": "a list", "object": "an object", "null": "null"}
    shown = sorted(t for t in types if not (t == "number" and "integer" in types))
    words = [names.get(t, t) for t in shown]
    return " or ".join(words) if words else "nothing"


def expressions(ctx: LintContext) -> None:
    """W103-W106 on every condition, path and budget key; each tool, category and check a block for W104.

    Reads `tool_levels` (the `tool_blocks` step): a category is checked against the schemas of the
    tools that reach it."""
    p = ctx.program
    for tool in p.tools.values():
        scope = [tool.name] if tool.name in ctx.schemas else []
        exprs: List[A.Expr] = [r.when for r in tool.risks if r.when is not None]
        types_block(ctx, exprs)
        for e in exprs:
            walk(ctx, e, scope, {})
    for cat in p.categories.values():
        exprs = [l.when for l in cat.lines if l.when is not None]
        types_block(ctx, exprs)
        # a category applies to every tool that reaches its level: a path is flagged only when
        # the schemas of all of them (each tool having one) agree that it is wrong
        reach = [t for t, lv in ctx.tool_levels.items() if cat.level in lv]
        scope = reach if reach and all(t in ctx.schemas for t in reach) else []
        for e in exprs:
            walk(ctx, e, scope, {}, every=True)
    for check in p.checks.values():
        scope = [] if check.targets is None else [t for t in dict.fromkeys(check.targets) if t in ctx.schemas]
        exprs = []
        for line in check.lines:
            if isinstance(line, A.Require):
                exprs.append(line.cond)
            else:
                exprs.extend(([line.path] if line.path is not None else []) + list(line.keys))
        types_block(ctx, [e for e in exprs if not isinstance(e, A.Path)])
        for e in exprs:
            walk(ctx, e, scope, {})


def walk(ctx: LintContext, e: Any, tools: List[str], scope: Dict[str, Dict[str, List[Any]]],
         every: bool = False) -> None:
    """W103, W104 (single expressions), W105, W106 over one expression tree.

    `tools` are the tools whose schemas describe `args` here; with `every`, a schema problem is
    reported only when it holds for all of them (category lines), else for any (tools, checks)."""
    _walk(ctx, e, tools, scope, every)


def _walk(ctx: LintContext, e: Any, tools: List[str], scope: Dict[str, Dict[str, List[Any]]], every: bool) -> None:
    if isinstance(e, A.Path):
        schema_path(ctx, e, tools, scope, every)
        return
    if isinstance(e, A.Quantifier):
        _walk(ctx, e.source, tools, scope, every)
        inner = dict(scope)
        inner[e.var] = ctx.item_schemas(e.source, tools, scope)
        _walk(ctx, e.body, tools, inner, every)
        return
    if isinstance(e, A.Compare):
        compare(ctx, e, tools, scope, every)
        _walk(ctx, e.left, tools, scope, every)
        _walk(ctx, e.right, tools, scope, every)
        return
    if isinstance(e, A.Arith):
        lv, rv = ctx.logic.const(e.left), ctx.logic.const(e.right)
        for side, v in ((e.left, lv), (e.right, rv)):
            if v is not NO and not is_num(v) and not (e.op == "+" and isinstance(v, str)):
                ctx.warn("W104", f"`{e.op}` needs numbers, got {value_kind(v)} `{short(lit_text(v), 30)}`",
                         e.span, help="arithmetic on other values is an evaluation error (deny)")
                break
        else:
            if e.op == "+" and lv is not NO and rv is not NO and value_kind(lv) != value_kind(rv):
                ctx.warn("W104", f"`+` joins two strings or adds two numbers, not a {value_kind(lv)} and a "
                         f"{value_kind(rv)}", e.span)
        _walk(ctx, e.left, tools, scope, every)
        _walk(ctx, e.right, tools, scope, every)
        return
    if isinstance(e, A.Call):
        want = {"len": ("string", "list"), "lower": ("string",), "upper": ("string",),
                "domain": ("string",), "hour": ("string",), "weekday": ("string",),
                "sql_read_only": ("string",)}.get(e.fn)
        if want and e.args:
            v = ctx.logic.const(e.args[0])
            if v is not NO and value_kind(v) not in want:
                ctx.warn("W104", f"`{e.fn}` takes {' or '.join('a ' + w for w in want)}, "
                         f"got {value_kind(v)} `{short(lit_text(v), 30)}`", e.args[0].span)
            schema_call(ctx, e, tools, scope, want, every)
        for a in e.args:
            _walk(ctx, a, tools, scope, every)
        return
    if isinstance(e, (A.BoolOp,)):
        _walk(ctx, e.left, tools, scope, every)
        _walk(ctx, e.right, tools, scope, every)
    elif isinstance(e, (A.Not, A.Neg)):
        _walk(ctx, e.operand, tools, scope, every)
    elif isinstance(e, A.Presence):
        _walk(ctx, e.path, tools, scope, every)
    elif isinstance(e, A.ListExpr):
        for i in e.items:
            _walk(ctx, i, tools, scope, every)


def compare(ctx: LintContext, e: A.Compare, tools: List[str], scope: Dict[str, Any], every: bool) -> None:
    """W103, W104 and W106 on one comparison."""
    L = ctx.logic
    lv, rv = L.const(e.left), L.const(e.right)
    op = e.op
    # W103: confidence thresholds
    for term, lit in ((e.left, e.right), (e.right, e.left)):
        if isinstance(term, A.Path) and term.root == "confidence" and not term.keys and op in ORDER + ("==", "!="):
            v = L.const(lit)
            if is_num(v) and not 0 <= v <= 1:
                help = "`confidence` is between 0 and 1"
                if 1 < v <= 100:
                    help += f"; did you mean `{v / 100:g}`?"
                ctx.warn("W103", f"confidence threshold `{short(lit_text(v), 20)}` is outside [0, 1]",
                         lit.span, help=help)
    # W104: constants on both sides, or a literal of the wrong kind for the operator
    if lv is not NO and rv is not NO:
        if const_compare(op, lv, rv) is None or (op in ("==", "!=") and value_kind(lv) != value_kind(rv)):
            ctx.warn("W104", f"`{op}` between {value_kind(lv)} `{short(lit_text(lv), 20)}` and "
                     f"{value_kind(rv)} `{short(lit_text(rv), 20)}`", e.span,
                     help="values of different types are never equal; ordering them is an "
                          "evaluation error (deny)")
    elif op in ORDER:
        v = rv if rv is not NO else lv
        if v is not NO and not (is_num(v) or isinstance(v, str)):
            ctx.warn("W104", f"`{op}` compares numbers or strings, not a {value_kind(v)}", e.span,
                     help="this is an evaluation error (deny) for every action")
    elif op in ("in", "not in") and rv is not NO and not isinstance(rv, tuple):
        ctx.warn("W104", f"`{op}` needs a list on its right, got {value_kind(rv)} `{short(lit_text(rv), 20)}`",
                 e.right.span, help="write `x in [\"a\", \"b\"]`, or use `contains` for a substring")
    elif op in ("starts_with", "ends_with", "matches") and rv is not NO and not isinstance(rv, str):
        ctx.warn("W104", f"`{op}` needs a string on its right, got {value_kind(rv)}", e.right.span)
    elif op in ("starts_with", "ends_with", "matches", "contains") and lv is not NO and \
            not isinstance(lv, (str, tuple) if op == "contains" else str):
        ctx.warn("W104", f"`{op}` needs a string on its left, got {value_kind(lv)}", e.left.span)
    # W106: the schema's type or enum
    for term, lit, v in ((e.left, e.right, rv), (e.right, e.left, lv)):
        if v is NO or not isinstance(term, A.Path):
            continue
        if term is e.right and op not in ("==", "!=", *ORDER):
            continue  # `"x" in args.list` and the like: the path is not the compared value
        schema_compare(ctx, e, term, op if term is e.left else FLIP.get(op, op), v, tools, scope, every)


# the kinds of the values no block can retype: the three built-in paths, and each function's result
_SEEDED = {"confidence": "number", "tool": "string", "timestamp": "string"}
_CALL_KIND = {"len": "number", "hour": "number", "weekday": "string", "lower": "string",
              "upper": "string", "domain": "string", "sql_read_only": "boolean"}


def types_block(ctx: LintContext, exprs: List[Any]) -> None:
    """W104 across one block: a path or function result compared with values of two types."""
    # module-level helpers, not closures: a recursive closure is a reference cycle that would keep
    # the context, and with it the whole program, alive until the cyclic GC runs (lint pauses it)
    seen: Dict[str, Tuple[str, A.Span]] = {}
    for e in exprs:
        _types_visit(ctx, seen, e, frozenset())


def _types_note(ctx: LintContext, seen: Dict[str, Tuple[str, A.Span]], term: Any, kind: str,
                span: A.Span) -> None:
    """Record that `term` is compared with a value of `kind` at `span`; W104 when its kind differs."""
    if isinstance(term, A.Path):
        if term.root in ctx.consts:
            return
        text = expr_text(term)
        known = _SEEDED.get(text)
    elif isinstance(term, A.Call):
        text = expr_text(term)
        known = _CALL_KIND.get(term.fn)
    else:
        return
    if known is not None and known != kind:
        ctx.warn("W104", f"`{short(text, 40)}` is a {known}, compared with a {kind} here", span,
                 help="values of different types are never equal; ordering them is an "
                      "evaluation error (deny)")
        return
    if known is not None:
        return
    first = seen.get(text)
    if first is None:
        seen[text] = (kind, span)
    elif first[0] != kind:
        ctx.warn("W104", f"`{short(text, 40)}` is compared with a {kind} here and with a {first[0]} "
                 f"at {ctx.where(first[1], span)}", span,
                 help="a path holds one type in a given action: one of the two literals is "
                      "probably written wrongly (`\"5\"` for `5`)")


def _types_visit(ctx: LintContext, seen: Dict[str, Tuple[str, A.Span]], e: Any, vars_: FrozenSet[str]) -> None:
    """`types_block` over one expression; `vars_`: the quantifier variables in scope (never noted)."""
    if isinstance(e, A.Quantifier):
        _types_visit(ctx, seen, e.source, vars_)
        _types_visit(ctx, seen, e.body, vars_ | {e.var})
        return
    if isinstance(e, A.Compare):
        L = ctx.logic
        lv, rv = L.const(e.left), L.const(e.right)
        if (lv is NO) != (rv is NO):
            term, v = (e.left, rv) if rv is not NO else (e.right, lv)
            rooted_in_var = isinstance(term, A.Path) and term.root in vars_
            if not rooted_in_var:
                kind = None
                if e.op in ("==", "!=") + ORDER:
                    kind = value_kind(v)
                elif e.op in ("in", "not in") and term is e.left and isinstance(v, tuple) and v:
                    kinds = {value_kind(x) for x in v}
                    kind = kinds.pop() if len(kinds) == 1 else None
                elif e.op in ("starts_with", "ends_with", "matches") and term is e.left:
                    kind = "string"
                if kind in ("number", "string", "boolean"):
                    _types_note(ctx, seen, term, kind, e.span)
        for side in (e.left, e.right):
            _types_visit(ctx, seen, side, vars_)
        return
    for child in children(e):
        _types_visit(ctx, seen, child, vars_)


def schema_path(ctx: LintContext, p: A.Path, tools: List[str], scope: Dict[str, Any], every: bool) -> None:
    """W105: a path the schemas do not declare."""
    missing: Dict[Tuple[str, bool], List[str]] = {}
    suggestions: Dict[str, Optional[str]] = {}
    for t, view, nodes, keys in ctx.path_schemas(p, tools, scope):
        status, payload, i = ctx.resolve(view, nodes, keys)
        if status == "undeclared":
            forbidden, names = payload
            shown = expr_text(A.Path(p.root, p.keys[:i + 1]))
            missing.setdefault((shown, forbidden), []).append(t)
            key = p.keys[i]
            if isinstance(key, str) and shown not in suggestions:
                suggestions[shown] = did_you_mean(key, names)
    for (shown, forbidden), ts in missing.items():
        if every and len(ts) < len(tools):
            continue
        which = tools_text(ts)
        help = suggestions.get(shown) or (
            "the schema allows no other properties, so this path is always missing" if forbidden
            else "add it to the schema's `properties`, or fix the path")
        ctx.warn("W105", f"`{shown}` is not declared in the schema of {which}", p.span, help=help)


def schema_compare(ctx: LintContext, e: A.Compare, term: A.Path, op: str, value: Any, tools: List[str],
                   scope: Dict[str, Any], every: bool) -> None:
    """W106: `term` compared with a constant of a type or value its schema forbids."""
    problems: Dict[str, List[str]] = {}
    kind = value_kind(value)
    for t, view, nodes, keys in ctx.path_schemas(term, tools, scope):
        status, payload, _ = ctx.resolve(view, nodes, keys)
        if status != "declared":
            continue
        types = view.types(payload)
        if types is None:
            continue
        msg = None
        if op in ("==", "!=") + ORDER:
            if kind in ("number", "string", "boolean", "list") and not _schema_allows(types, kind):
                msg = f"is {_describe_types(types)} in the schema of {{which}}, compared with a {kind}"
            elif op in ("==", "!="):
                allowed = view.enum(payload)
                if allowed is not None and not any(json_equal(value, freeze(a)) for a in allowed):
                    msg = (f"is never `{short(lit_text(value), 30)}` in the schema of {{which}}: it is one of "
                           + ", ".join(f"`{short(lit_text(freeze(a)), 20)}`" for a in allowed[:6])
                           + ("…" if len(allowed) > 6 else ""))
        elif op in ("in", "not in") and isinstance(value, tuple) and value:
            if not any(_schema_allows(types, value_kind(x)) for x in value):
                msg = f"is {_describe_types(types)} in the schema of {{which}}, never a member of this list"
            else:
                allowed = view.enum(payload)
                if allowed is not None and not any(json_equal(x, freeze(a)) for x in value for a in allowed):
                    msg = "is never one of these values in the schema of {which}"
        elif op in ("starts_with", "ends_with", "matches") and "string" not in types:
            msg = f"is {_describe_types(types)} in the schema of {{which}}, but `{op}` needs a string"
        elif op == "contains" and not types & {"string", "array"}:
            msg = f"is {_describe_types(types)} in the schema of {{which}}, but `contains` needs a string or a list"
        if msg:
            problems.setdefault(msg, []).append(t)
    for msg, ts in problems.items():
        if every and len(ts) < len(tools):
            continue
        which = tools_text(ts)
        always = "always holds" if op in ("!=", "not in") else "can never hold"
        ctx.warn("W106", f"`{short(expr_text(term), 40)}` " + msg.format(which=which), e.span,
                 help=f"the schema rejects other arguments before any rule runs, so this comparison {always}")


def schema_call(ctx: LintContext, e: A.Call, tools: List[str], scope: Dict[str, Any], want: Tuple[str, ...],
                every: bool) -> None:
    """W106: a function given a path whose schema type it does not take."""
    arg = e.args[0]
    if not isinstance(arg, A.Path):
        return
    need = {"string": "string", "list": "array"}
    problems: List[str] = []
    last_types: Set[str] = set()
    for t, view, nodes, keys in ctx.path_schemas(arg, tools, scope):
        status, payload, _ = ctx.resolve(view, nodes, keys)
        if status != "declared":
            continue
        types = view.types(payload)
        if types is not None and not types & {need[w] for w in want}:
            problems.append(t)
            last_types = types
    if problems and not (every and len(problems) < len(tools)):
        which = tools_text(problems)
        ctx.warn("W106", f"`{short(expr_text(arg), 40)}` is {_describe_types(last_types)} in the schema of "
                 f"{which}, but `{e.fn}` takes {' or '.join('a ' + w for w in want)}", e.span,
                 help="this is an evaluation error (deny) for every valid action")
