"""`require` lines that read a path which may be missing, unguarded: W116.

Reading a missing path is an evaluation error (spec §4.7): the line then adds `deny` with the
message "`PATH` is missing" instead of its own outcome and message, so `require args.invoice
present and …`-style guards are what the author meant. A path is guarded when an earlier
operand that must have been evaluated already read it (an error there is the one reported), or
when `and` / `or` only reach the read after `PATH present` / `PATH missing` decided it. A path
is surely there when it is an `args` path that the schema of every tool the check is on lists as
`required` at every step (the schema is validated before any check runs); `confidence` (0 when
absent), `tool`, `timestamp` (the gate stamps every live action), consts and literals are not
looked at. Paths inside a quantifier's body that
start from its variable are not looked at.
"""
from __future__ import annotations

from typing import Any, List, Optional, Sequence, Set, Tuple

from .. import ast as A
from ..analysis import SchemaView
from ..printer import expr_text, outcome_text
from .context import LintContext

__all__ = ["maybe_missing", "unguarded_read"]


def maybe_missing(ctx: LintContext) -> None:
    """W116 on the `require` lines of the enforced checks whose outcome is not `deny`.

    An error gives `deny` too, so a `deny` line keeps its decision (only its reason reads "`PATH`
    is missing"); any other outcome — a question, an escalation, an approval — is replaced by a
    denial, which is what surprises a test or a user."""
    for check in ctx.program.checks.values():
        if check.advisory:
            continue
        views = _views(ctx, check)
        for line in check.lines:
            if not isinstance(line, A.Require):
                continue
            if line.outcome.kind == "deny":
                continue
            path = unguarded_read(line.cond, lambda p: _surely_there(p, views))
            if path is None:
                continue
            text = expr_text(path)
            shown = outcome_text(line.outcome)
            cond = expr_text(line.cond)
            ctx.warn("W116", f"`{text}` may be missing: the line then denies with an evaluation error, "
                     f"not `{shown}`", path.span,
                     help=f"write `{text} present and {_wrap(cond)}` to give `{shown}` when it is missing, or "
                          f"`{text} missing or {_wrap(cond)}` to let the check pass")


def _wrap(cond: str) -> str:
    """A condition as the right operand of `and` / `or`: in parentheses unless it is one comparison."""
    short = cond if len(cond) <= 40 else "…"
    return short if (" and " not in short and " or " not in short) else f"({short})"


def _views(ctx: LintContext, check: A.Check) -> Optional[List[SchemaView]]:
    """The schemas of every tool the check is on, None when one of them has none (or `on *`)."""
    if check.targets is None:
        return None
    views: List[SchemaView] = []
    for t in dict.fromkeys(check.targets):
        view = ctx.schemas.get(t)
        if view is None:
            return None
        views.append(view)
    return views


def _surely_there(p: A.Path, views: Optional[List[SchemaView]]) -> bool:
    """Whether every tool's schema requires the `args` path `p` at every step."""
    if p.root != "args" or views is None or not p.keys:
        return False
    return all(_required(v, [v.root], p.keys) for v in views)


def _required(view: SchemaView, nodes: List[Any], keys: Sequence[Any]) -> bool:
    """Whether `keys` are required, step by step, from `nodes` (a schema's `required`, through `allOf` too)."""
    for k in keys:
        if not isinstance(k, str) or not any(_requires(view, n, k, 0) for n in nodes):
            return False
        status, payload = view.child(nodes, k)
        if status != "declared":
            return False
        nodes = payload
    return True


def _requires(view: SchemaView, node: Any, key: str, depth: int) -> bool:
    """Whether this schema node (a `$ref` followed, `allOf` branches included) lists `key` as required."""
    if depth > 20:
        return False
    for d in view.deref(node):
        if not isinstance(d, dict):
            continue
        req = d.get("required")
        if isinstance(req, list) and key in req:
            return True
        branches = d.get("allOf")
        if isinstance(branches, list) and any(_requires(view, b, key, depth + 1) for b in branches):
            return True
    return False


def _text(p: A.Path) -> str:
    return expr_text(p)


def _prefixes(p: A.Path) -> List[str]:
    """The path and every parent of it, as texts: a present path has present parents."""
    return [_text(A.Path(p.root, p.keys[:i])) for i in range(len(p.keys), -1, -1)]


def unguarded_read(e: Any, surely: Any) -> Optional[A.Path]:
    """The first path an evaluation of `e` may read while it is missing, or None.

    `surely(path)`: whether the path is always there (a schema requires it)."""
    found: List[A.Path] = []
    _walk(e, set(), set(), surely, found)
    return found[0] if found else None


def _walk(e: Any, known: Set[str], bound: Set[str], surely: Any, found: List[A.Path]) -> Set[str]:
    """Walk `e` in evaluation order; `known` grows with every path read (it is present afterwards)."""
    if found:
        return known
    if isinstance(e, A.Path):
        if e.root in bound or e.root in ("confidence", "tool") or not _is_action(e):
            return known
        if _text(e) not in known and not surely(e):
            found.append(e)
        known.update(_prefixes(e))
        return known
    if isinstance(e, A.Presence):
        return known
    if isinstance(e, A.BoolOp):
        known = _walk(e.left, known, bound, surely, found)
        guard = _decided(e.left, e.op == "and")
        right = _walk(e.right, set(known) | guard, bound, surely, found)
        del right   # what the right side reads may not have been read: it is not evaluated every time
        return known
    if isinstance(e, A.Not):
        return _walk(e.operand, known, bound, surely, found)
    if isinstance(e, A.Quantifier):
        known = _walk(e.source, known, bound, surely, found)
        _walk(e.body, set(known), bound | {e.var}, surely, found)
        return known
    for c in _children(e):
        known = _walk(c, known, bound, surely, found)
    return known


# `timestamp` is left out: the gate stamps every live action with its own clock (engine.live), so
# only a hand-written action lacks one (`signoff check`, a test case without `timestamp:`)
_ROOTS: Tuple[str, ...] = ("args", "tenant", "agent", "context")


def _is_action(p: A.Path) -> bool:
    """A path into the action that may be missing (not a const, a variable, `tool`, `confidence`, `timestamp`)."""
    return p.root in _ROOTS


def _decided(e: Any, true: bool) -> Set[str]:
    """The paths known present when `e` has evaluated to `true` (the right side of `and`) or false (`or`)."""
    if isinstance(e, A.Presence) and isinstance(e.path, A.Path):
        return set(_prefixes(e.path)) if e.present == true else set()
    if isinstance(e, A.Not):
        return _decided(e.operand, not true)
    if isinstance(e, A.BoolOp):
        left, right = _decided(e.left, true), _decided(e.right, true)
        both = (e.op == "and") == true     # `a and b` true: both held; `a or b` false: both failed
        return left | right if both else left & right
    return set()


def _children(e: Any) -> List[Any]:
    if isinstance(e, (A.Compare, A.Arith)):
        return [e.left, e.right]
    if isinstance(e, A.Neg):
        return [e.operand]
    if isinstance(e, A.Call):
        return list(e.args)
    if isinstance(e, A.ListExpr):
        return list(e.items)
    return []
