"""Lower one ToolNode to the closure that decides actions for that tool."""
from __future__ import annotations

import sys

from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple

from .decision import OUTCOMES, Reason
from .graph import BudgetNode, DecisionGraph, Fn, RequireNode, Run, ToolNode
from .ledger import Ledger, within
from .values import EvalError

if TYPE_CHECKING:
    from .trace import Tracer

# a budget line's closure: (action, epoch seconds, ledger, reasons so far), adding its reason when over
BudgetFn = Callable[[dict, float, Optional[Ledger], List[Reason]], None]


def error_reason(message: str, where: str, advisory: bool = False) -> Reason:
    """The `deny` reason an evaluation error gives, at the line that met it."""
    return Reason("error", "deny", message, where, advisory, None, None, "error")


def _budget_fn(n: BudgetNode, tracer: Optional[Tracer]) -> BudgetFn:
    reason, where, advisory, window, limit = n.reason, n.at, n.advisory, n.window, n.limit

    key_of, amount_of = n.key_of, n.amount_of
    if tracer is None:
        def budget_fast(a: dict, t: float, ledger: Optional[Ledger], out: List[Reason]) -> None:
            try:
                amount = amount_of(a)
                key = key_of(a)
            except EvalError as x:
                out.append(error_reason(x.message, where, advisory))
                return
            before = ledger.total(key, t - window, t) if ledger is not None else 0
            if before.__class__ is int and amount.__class__ is int:
                if before + amount > limit:
                    out.append(reason)
            elif not within(before, amount, limit):
                out.append(reason)
        return budget_fast

    def budget(a: dict, t: float, ledger: Optional[Ledger], out: List[Reason]) -> None:
        try:
            amount = amount_of(a)
            key = key_of(a)
            before = ledger.total(key, t - window, t) if ledger is not None else 0
            ok = within(before, amount, limit)
            if tracer is not None:
                try:
                    total = before + amount
                except OverflowError:
                    total = float("inf")
                tracer.budget(f"check {n.check}", where, total, limit, ok)
            if not ok:
                out.append(reason)
        except EvalError as x:
            if tracer is not None:
                tracer.error(f"check {n.check}", where, x.message)
            out.append(error_reason(x.message, where, advisory))
    return budget


def link_tool(node: ToolNode, g: DecisionGraph, tracer: Optional[Tracer] = None,
              shared: Optional[Dict[Any, Any]] = None) -> Run:
    """One closure for a tool node (undeclared tools included): schema, risk edges and category for
    a declared tool (its `unknown tools` reason otherwise), then every check line, then the most
    restrictive outcome and the mode. `shared` (one dict for every tool of a graph) lets tools whose
    category blocks or check lines are the same objects share one table of them: at 10,000 tools
    the cost of a decision is the cold memory it touches, not the work."""
    if shared is None:
        shared = {}
    mode_reason = node.mode_reason
    assisted = mode_reason is not None
    fixed, at_default = node.unknown_reason, g.input_error_at
    validator, schema_at, tool = node.schema, node.schema_at, node.name
    # jsonschema-rs's "valid" in one call where it stands in front (policy_lang.schemas.Guarded.quick);
    # anything else, and every message, through schema_problem
    quick = getattr(validator, "quick", None) if validator is not None else None
    highest = g.levels[-1]
    # levels interned: the tools share one string per level (hot) instead of each its own (cold)
    risk = tuple((sys.intern(e.level), _traced(tracer, f"risk {e.level}", e.at, e.cond), e.at) for e in node.risk)
    key: Any = ("categories", id(node.categories))
    pinned = shared.get(key)
    if pinned is None:
        table = {}
        for level, cat in node.categories.items():
            edges = tuple((_traced(tracer, f"category {level}", e.at, e.cond), e.reason, e.at) for e in cat.edges)
            table[level] = (edges, cat.no_match)
        pinned = shared[key] = (node.categories, table)   # the source kept alive: its id stays its own
    categories = pinned[1]
    no_category = node.no_category
    key = ("checks", tuple(map(id, node.checks)))
    pinned = shared.get(key)
    if pinned is None:
        pinned = shared[key] = (list(node.checks), tuple(
            (_traced(tracer, f"check {c.check}", c.at, c.cond), c.reason, c.at, c.advisory, None)
            if isinstance(c, RequireNode) else (None, None, None, None, _budget_fn(c, tracer))
            for c in node.checks))
    lines = pinned[1]

    if not node.known:
        def run_unknown(a: dict, t: float, ledger: Optional[Ledger]) -> Tuple[str, Optional[str], List[Reason]]:
            reasons: List[Reason] = [fixed if fixed is not None else Reason(
                "unknown tools", "deny", f"tool `{a['tool']}` is not declared in the policy", at_default,
                source="unknown")]
            return _finish(a, t, ledger, None, reasons, lines, assisted, mode_reason)
        return run_unknown

    # The first risk line read inline when it is the hot shape `args.amount <= 500` (exprs.FastCompare):
    # for an int or a finite float the comparison is done here, without the closure's call or its
    # memory; anything else (missing, another type) goes through the closures, which decide. The
    # unconditional lines after it are shared between tools (their `where` is never read).
    fast = getattr(risk[0][1], "fast_compare", None) if risk else None
    root0, key0, c0, neg0, lower0 = fast if fast is not None else (None, "", 0.0, False, False)
    level0 = risk[0][0] if risk else highest
    rest = tuple(e if e[1] is not None else (e[0], None, None) for e in risk[1:])
    rest = shared.setdefault(("rest", rest), rest) if all(e[1] is None for e in rest) else rest

    # the closure's state as default arguments, not cells: one tuple per tool instead of a cell object
    # per name (fewer cold cache lines per decision at thousands of tools), read as fast locals
    def run(a: dict, t: float, ledger: Optional[Ledger], validator: Any = validator, quick: Any = quick,
            tool: str = tool,
            root0: Optional[str] = root0, key0: str = key0, c0: float = c0, neg0: bool = neg0,
            lower0: bool = lower0, level0: str = level0, rest: Tuple[Any, ...] = rest,
            schema_at: str = schema_at, highest: str = highest, risk: Tuple[Any, ...] = risk,
            categories: Dict[str, Any] = categories, no_category: Dict[str, Reason] = no_category,
            lines: Tuple[Any, ...] = lines, assisted: bool = assisted, mode_reason: Optional[Reason] = mode_reason,
            ) -> Tuple[str, Optional[str], List[Reason]]:
        reasons: List[Reason] = []
        if validator is not None:
            args = a.get("args")
            if args is None:
                args = {}
            if quick is None or not quick(args):
                problem = schema_problem(validator, args)
                if problem is not None:
                    return "deny", None, [Reason(f"schema {tool}", "deny", problem, schema_at, source="schema")]
        level = highest
        edges = risk
        if root0 is not None:
            v = a.get(root0)
            x = v.get(key0) if v.__class__ is dict else None
            if x.__class__ is int:
                x = float(x)     # as the closure reads it (the same OverflowError, a deny, for one too near 2**1024)
            if x.__class__ is float and not x - x:
                if ((x <= c0) if lower0 else (x >= c0)) is not neg0:
                    level, edges = level0, ()
                else:
                    edges = rest
        for lvl, cond, where in edges:
            if cond is None:
                level = lvl
                break
            try:
                if cond(a, None):
                    level = lvl
                    break
            except EvalError as x:
                reasons.append(error_reason(x.message, where))
                break
        cat = categories.get(level)
        if cat is None:
            reasons.append(no_category[level])
        else:
            for cond, reason, where in cat[0]:
                if cond is None:
                    reasons.append(reason)
                    break
                try:
                    if cond(a, None):
                        reasons.append(reason)
                        break
                except EvalError as x:
                    reasons.append(error_reason(x.message, where))
                    break
            else:
                reasons.append(cat[1])
        if lines:
            return _finish(a, t, ledger, level, reasons, lines, assisted, mode_reason)
        # no check line: one reason, nearly always (a risk error adds a second)
        best = 0    # the most restrictive binding outcome (advisory reasons rank -1)
        for r in reasons:
            if r.rank > best:
                best = r.rank
        if best == 0 and mode_reason is not None:
            reasons.append(mode_reason)
            return "require_approval", level, reasons
        return OUTCOMES[best], level, reasons
    return run


def _finish(a: dict, t: float, ledger: Optional[Ledger], level: Optional[str], reasons: List[Reason],
            lines: Tuple[Any, ...], assisted: bool, mode_reason: Optional[Reason]
            ) -> Tuple[str, Optional[str], List[Reason]]:
    """Checks in load order, then the most restrictive outcome and the mode. A `require` line is
    evaluated here rather than through a closure of its own (one call fewer per line, every action)."""
    for cond, reason, where, advisory, budget in lines:
        if budget is not None:
            budget(a, t, ledger, reasons)
            continue
        try:
            if not cond(a, None):
                reasons.append(reason)
        except EvalError as x:
            reasons.append(error_reason(x.message, where, advisory))
    best = 0    # the most restrictive binding outcome (advisory reasons rank -1)
    for r in reasons:
        if r.rank > best:
            best = r.rank
    if best == 0 and assisted and mode_reason is not None:
        reasons.append(mode_reason)
        return "require_approval", level, reasons
    return OUTCOMES[best], level, reasons


def _always(a: dict, env: Optional[dict]) -> bool:
    return True


def _traced(tracer: Optional[Tracer], label: str, where: str, cond: Optional[Fn]) -> Optional[Fn]:
    """With a tracer, every line (unconditional ones too) reports when it is consulted."""
    if tracer is None:
        return cond
    return tracer.wrap_rule(label, where, _always if cond is None else cond)


def schema_problem(validator: Any, instance: Any) -> Optional[str]:
    """None when valid, else the most relevant error with its JSON path under `args`."""
    first = next(validator.iter_errors(instance), None)
    if first is None:
        return None
    import jsonschema
    err = jsonschema.exceptions.best_match(validator.iter_errors(instance)) or first
    path = "args" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.absolute_path)
    return f"`{path}`: {err.message}"
