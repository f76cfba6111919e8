"""Compile a checked Program into a DecisionGraph through an ordered list of small named passes."""
from __future__ import annotations

import dataclasses
from dataclasses import fields, is_dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple, cast

from policy_lang import ast as A
from policy_lang.checker import Program
from policy_lang.loader import paused_gc
from policy_lang.printer import outcome_text, path_text

from .decision import Reason
from .exprs import ExprCompiler, Hook
from .graph import BudgetNode, CategoryEdge, CategoryNode, DecisionGraph, RequireNode, RiskEdge, Route, Run, ToolNode
from .ledger import Ledger
from .runtime import link_tool


class Context:
    """What the passes share: the program, the graph being built, and how expressions compile."""

    def __init__(self, program: Program, hook: Optional[Hook] = None, tracer: Any = None):
        self.program = program
        self.hook = hook
        self.tracer = tracer
        self.graph: DecisionGraph = None  # type: ignore[assignment]
        self.exprs: ExprCompiler = None   # type: ignore[assignment]
        self.check_nodes: Dict[str, List[Any]] = {}
        self.validators: Dict[str, Any] = {}


def at(span: A.Span) -> str:
    """A span as `FILE:LINE:COL`, the form reasons carry in `at`."""
    return span.at()


def route_dict(r: A.Route) -> dict:
    """A route as decisions report it: approvers, quorum (1 when unset), timeout and what a timeout does."""
    return Route.from_ast(r).as_dict()


def make_reason(ctx: Context, rule: str, o: A.Outcome, where: str, source: str, advisory: bool = False) -> Reason:
    """The reason an outcome line gives, built once at compile time: its route, target and message.

    An approval without `via` takes the first route; `ask` and `escalate` carry their text as the
    target; a `deny` with a reason shows it, any other outcome shows as written."""
    g = ctx.graph
    route = None
    target = None
    if o.kind == "require_approval":
        route = g.routes[o.route] if o.route else g.first_route
    elif o.kind in ("ask", "escalate"):
        target = o.text
    if o.kind == "ask":
        message = o.text or ""
    elif o.kind == "deny" and o.text is not None:
        message = o.text
    else:
        message = outcome_text(o)
    return Reason(rule, o.kind, message, where, advisory, route, target, source)




# ------------------------------------------------------------------ passes

def resolve_consts(ctx: Context) -> None:
    """Consts become plain values (lists for list literals, seconds for durations)."""
    p = ctx.program
    consts = {name: A.plain(c.value) for name, c in p.consts.items()}
    records = {name: Route.from_ast(r) for name, r in p.routes.items()}
    routes = {name: r.as_dict() for name, r in records.items()}
    first = next(iter(routes.values()), None)
    ctx.graph = DecisionGraph(
        policy={"name": p.name, "version": p.version, "digest": p.digest},
        levels=p.levels, mode=p.mode, routes=routes, first_route=first, consts=consts,
        input_error_at=at(p.policy_span), route_records=records)
    ctx.exprs = ExprCompiler(consts, ctx.hook)


def compile_schemas(ctx: Context) -> None:
    """One validator per tool, built once; a schema without `$schema` is draft 2020-12."""
    for name, s in ctx.program.schemas.items():
        ctx.validators[name] = s.validator()   # references resolve through the registry read at load


def build_dispatch(ctx: Context) -> None:
    """The hash index: one node per declared tool, so a decision only touches its own tool's rules."""
    g, p = ctx.graph, ctx.program
    for name, t in p.tools.items():
        mode = t.mode.mode if t.mode is not None else p.mode
        node = ToolNode(name, True, mode)
        if name in ctx.validators:
            node.schema = ctx.validators[name]
            node.schema_at = at(p.schemas[name].span)
        g.tools[name] = node


def classify_risk(ctx: Context) -> None:
    """Risk lines become ordered edges; the first whose condition holds picks the level."""
    for name, t in ctx.program.tools.items():
        node = ctx.graph.tools[name]
        for r in t.risks:
            cond = ctx.exprs.condition(r.when) if r.when is not None else None
            node.risk.append(RiskEdge(r.level, cond, at(r.span), r))


def route_categories(ctx: Context) -> None:
    """Each level's category block becomes an ordered list of outcome edges."""
    nodes: Dict[str, CategoryNode] = {}
    for level, c in ctx.program.categories.items():
        edges = []
        for line in c.lines:
            cond = ctx.exprs.condition(line.when) if line.when is not None else None
            edges.append(CategoryEdge(cond, make_reason(ctx, f"category {level}", line.outcome, at(line.span),
                                                        "category"), at(line.span), line))
        no_match = Reason(f"category {level}", "deny", f"no line of category `{level}` matched", at(c.span),
                          source="category")
        nodes[level] = CategoryNode(level, edges, no_match)
    for name, t in ctx.program.tools.items():
        node = ctx.graph.tools[name]
        node.categories = nodes
        for level in ctx.program.levels:
            if level not in nodes:
                node.no_category[level] = Reason(f"category {level}", "deny",
                                                 f"no category block for risk level `{level}`", at(t.span),
                                                 source="category")


def compile_checks(ctx: Context) -> None:
    """Check lines in load order, filed under the tools they apply to (`*` for every action)."""
    g = ctx.graph
    for cname, c in ctx.program.checks.items():
        lines: List[Any] = []
        for i, line in enumerate(c.lines):
            reason = make_reason(ctx, f"check {cname}", line.outcome, at(line.span), "check", c.advisory)
            if isinstance(line, A.Require):
                lines.append(RequireNode(cname, ctx.exprs.condition(line.cond), reason, at(line.span),
                                         c.advisory, line))
            else:
                keys = [_budget_key(k) for k in line.keys]
                lines.append(BudgetNode(
                    cname, (cname, i), [ctx.exprs.getter(k) for k in keys], [path_text(k) for k in keys],
                    ctx.exprs.getter(line.path) if line.path is not None else None,
                    path_text(line.path) if line.path is not None else None,
                    float(line.window.seconds), line.limit, reason, at(line.span), c.advisory, line))
        if c.targets is None:
            g.star_checks.extend(lines)
        else:
            for target in dict.fromkeys(c.targets):  # `on t, t` applies once
                g.checks_by_target.setdefault(target, []).extend(lines)
        ctx.check_nodes[cname] = lines
    # keep load order across `*` and named checks
    order = {id(n): k for k, n in enumerate(n for lines in ctx.check_nodes.values() for n in lines)}
    names = set(g.tools) | set(g.checks_by_target)
    for name in names:
        applicable = g.star_checks + g.checks_by_target.get(name, [])
        applicable.sort(key=lambda n: order[id(n)])
        if name in g.tools:
            g.tools[name].checks = applicable
        else:
            unknown = ToolNode(name, False, ctx.program.mode, checks=applicable)
            g.tools[name] = unknown
    g.default = ToolNode("", False, ctx.program.mode, checks=list(g.star_checks))


def fold_tool_tests(ctx: Context) -> None:
    """A `require` line that looks only at `tool` (and constants) has the same value for every action
    of a tool node, whose name is the tool: where it holds, it is dropped from that node (common in
    `check … on *` lines such as `require tool not in BLOCKED`). Left alone under a tracer, so
    --explain still lists every line consulted, and wherever evaluating it raises."""
    if ctx.tracer is not None:
        return
    consts = ctx.program.consts
    for name, node in ctx.graph.tools.items():
        kept = []
        for c in node.checks:
            if isinstance(c, RequireNode) and _only_tool(c.line.cond, consts):
                try:
                    if c.cond({"tool": name}, None) is True:
                        continue
                except Exception:  # an error is decided at run time, as ever
                    pass
            kept.append(c)
        node.checks = kept


def _only_tool(e: Any, consts: Dict[str, Any]) -> bool:
    """Does the expression read nothing of an action but its `tool`?"""
    if isinstance(e, A.Path):
        return not e.keys and (e.root == "tool" or e.root in consts)
    if isinstance(e, A.Quantifier):
        return False  # its variable is a path of its own; not worth following
    if isinstance(e, (tuple, list)):
        return all(_only_tool(x, consts) for x in e)
    if is_dataclass(e):
        return all(_only_tool(getattr(e, f.name), consts) for f in fields(e) if f.name != "span")
    return True


def alias_tools(ctx: Context) -> None:
    """`tool NAME as TARGET`: NAME gets TARGET's node (schema, risk, categories, checks, budgets and
    mode) behind a closure that shows the action to it as a TARGET action, since the policy's
    expressions speak the policy's names."""
    g = ctx.graph
    for name, al in ctx.program.aliases.items():
        target = g.tools[al.target]
        node = dataclasses.replace(target, name=name)
        node.run = _as_target(cast(Run, target.run), al.target)   # linked: this pass runs after `link`
        g.tools[name] = node
        g.aliases[name] = al.target


def _as_target(run: Run, target: str) -> Run:
    def run_alias(a: dict, t: float, ledger: Optional[Ledger]) -> Tuple[str, Optional[str], List[Reason]]:
        return run({**a, "tool": target}, t, ledger)
    return run_alias


def _budget_key(k: A.Path) -> A.Path:
    if not k.keys and k.root in ("tenant", "agent"):
        return A.Path(k.root, ("id",), k.span)
    return k


def _all_nodes(g: DecisionGraph) -> List[ToolNode]:
    """Every tool node and, last, the default one (which the compile_checks pass has set)."""
    return list(g.tools.values()) + [cast(ToolNode, g.default)]


def unknown_tools(ctx: Context) -> None:
    """Tools with no `tool` block get the `unknown tools` outcome (deny by default)."""
    p, g = ctx.program, ctx.graph
    if p.unknown is not None:
        reason = make_reason(ctx, "unknown tools", p.unknown.outcome, at(p.unknown.span), "unknown")
    else:
        reason = None  # default deny; the message names the tool, so it is built per action
    for node in _all_nodes(g):
        if not node.known:
            node.unknown_reason = reason


def apply_modes(ctx: Context) -> None:
    """Mode transform, done at compile time where it can be: autonomous category approvals become allow;
    assisted tools carry the reason that turns a final allow into an approval via the first route."""
    p, g = ctx.program, ctx.graph
    auto_cache: Dict[str, CategoryNode] = {}
    for node in _all_nodes(g):
        if node.mode == "autonomous" and node.known:
            cats = {}
            for level, cat in node.categories.items():
                if level not in auto_cache:
                    edges = [CategoryEdge(e.cond, e.reason.with_outcome("allow")
                                          if e.reason.outcome == "require_approval" else e.reason, e.at, e.line)
                             for e in cat.edges]
                    auto_cache[level] = CategoryNode(level, edges, cat.no_match)
                cats[level] = auto_cache[level]
            node.categories = cats
        elif node.mode == "assisted":
            declared = p.tools[node.name].mode if node.known else None
            if declared is not None:
                where = at(declared.span)
            else:
                where = at(p.mode_span) if p.mode_span is not None else g.input_error_at
            route = g.first_route
            node.mode_reason = Reason("mode assisted", "require_approval",
                                      "require approval via " + route["name"] if route else "require approval",
                                      where, False, route, None, "mode")


def link(ctx: Context) -> None:
    """Lower every node to one closure; the dispatch index maps tool name → closure."""
    g = ctx.graph
    shared: Dict[Any, Any] = {}   # category tables and check lines the tools have in common, built once
    for node in _all_nodes(g):
        node.run = link_tool(node, g, ctx.tracer, shared)


PASSES: List[Callable[[Context], None]] = [
    resolve_consts, compile_schemas, build_dispatch, classify_risk, route_categories, compile_checks,
    fold_tool_tests, unknown_tools, apply_modes, link, alias_tools,
]


def compile_program(program: Program, hook: Optional[Hook] = None, tracer: Any = None,
                    passes: Optional[List[Callable[[Context], None]]] = None) -> DecisionGraph:
    """Run the passes (PASSES unless given) over a checked program and return its decision graph.

    `hook` sees every sub-condition's value and `tracer` every rule consulted (for --explain and
    coverage); without them the closures carry no tracing at all."""
    ctx = Context(program, hook, tracer)
    with paused_gc():  # compiling allocates many long-lived closures: GC passes over them cost 3/4 of the time
        for p in passes or PASSES:
            p(ctx)
    return ctx.graph
