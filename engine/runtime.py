"""Lower one ToolNode to the closure that decides actions for that tool."""
from __future__ import annotations

from typing import Any, Callable, List, Optional, Tuple

from .decision import RANK, OUTCOMES, Reason
from .graph import BudgetNode, DecisionGraph, RequireNode, ToolNode
from .ledger import within
from .values import EvalError, kind


def error_reason(message: str, where: str, advisory: bool = False) -> Reason:
    return Reason("error", "deny", message, where, advisory, None, None, "error")


def bucket_value(v: Any) -> Any:
    """Budget key values as dict keys: 1 and 1.0 share a bucket, `true` and 1 do not."""
    t = v.__class__
    if t is str:
        return v
    if t is bool:
        return ("b", v)
    if t is int or t is float:
        return ("n", float(v))
    import json
    return ("j", json.dumps(v, sort_keys=True, default=str))


def budget_amount(node: BudgetNode, a: dict) -> Any:
    if node.amount is None:
        return 1
    v = node.amount(a, None)
    if v is None:
        raise EvalError(f"`{node.amount_text}` is missing")
    if (v.__class__ is not int and v.__class__ is not float) or v - v:
        raise EvalError(f"`{node.amount_text}` is {kind(v)}, expected a finite number")
    return v


def budget_key(node: BudgetNode, a: dict) -> Tuple:
    vals = []
    for get, text in zip(node.keys, node.key_texts):
        v = get(a, None)
        if v is None:
            raise EvalError(f"budget key `{text}` is missing")
        vals.append(bucket_value(v))
    return (node.bucket, tuple(vals))


def _require_fn(n: RequireNode, tracer) -> Callable:
    cond, reason, where, advisory = n.cond, n.reason, n.at, n.advisory
    if tracer is not None:
        cond = tracer.wrap_rule(f"check {n.check}", where, cond)

    def require(a, t, ledger, out):
        try:
            if not cond(a, None):
                out.append(reason)
        except EvalError as x:
            out.append(error_reason(x.message, where, advisory))
    return require


def _budget_fn(n: BudgetNode, tracer) -> Callable:
    reason, where, advisory, window, limit = n.reason, n.at, n.advisory, n.window, n.limit

    def budget(a, t, ledger, out):
        try:
            amount = budget_amount(n, a)
            key = budget_key(n, a)
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


def link_tool(node: ToolNode, g: DecisionGraph, tracer=None) -> Callable:
    checks = [(_require_fn(c, tracer) if isinstance(c, RequireNode) else _budget_fn(c, tracer)) for c in node.checks]
    mode_reason = node.mode_reason
    assisted = mode_reason is not None

    def finish(reasons: List[Reason]) -> str:
        best = 0
        for r in reasons:
            if not r.advisory:
                k = RANK[r.outcome]
                if k > best:
                    best = k
        if best == 0 and assisted:
            reasons.append(mode_reason)
            return "require_approval"
        return OUTCOMES[best]

    if not node.known:
        fixed = node.unknown_reason
        at_default = g.input_error_at

        def run_unknown(a, t, ledger):
            reason = fixed if fixed is not None else Reason(
                "unknown tools", "deny", f"tool `{a['tool']}` is not declared in the policy", at_default,
                source="unknown")
            reasons = [reason]
            for c in checks:
                c(a, t, ledger, reasons)
            return finish(reasons), None, reasons
        return run_unknown

    validator, schema_at, tool = node.schema, node.schema_at, node.name
    highest = g.levels[-1]
    risk = [(e.level, _traced(tracer, f"risk {e.level}", e.at, e.cond), e.at) for e in node.risk]
    categories = {}
    for level, cat in node.categories.items():
        edges = [(_traced(tracer, f"category {level}", e.at, e.cond), e.reason, e.at) for e in cat.edges]
        categories[level] = (edges, cat.no_match)
    no_category = node.no_category

    def run(a, t, ledger):
        reasons: List[Reason] = []
        if validator is not None:
            args = a.get("args")
            problem = schema_problem(validator, {} if args is None else args)
            if problem is not None:
                return "deny", None, [Reason(f"schema {tool}", "deny", problem, schema_at, source="schema")]
        level = highest
        for lvl, cond, where in risk:
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
        for c in checks:
            c(a, t, ledger, reasons)
        return finish(reasons), level, reasons
    return run


def _always(a, env):
    return True


def _traced(tracer, label: str, where: str, cond):
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
