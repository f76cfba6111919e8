"""The policy as keys: what each tool's conditions read, and rows renumbered into classes."""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Set, Tuple

from policy_lang import ast as A

from ...decide.exprs import ACTION_ROOTS
from ...decide.graph import BudgetNode, RequireNode, ToolNode
from .base import EXACT, Unsupported

_ORDER_OPS = ("<", "<=", ">", ">=", "==", "!=")
PRESENT = "present"


class Uses:
    """What a tool's conditions read: per action path, numbers it is compared with (or `present`), and
    the paths read any other way (keyed by value)."""

    def __init__(self, consts: Dict[str, Any]):
        self.consts = consts
        self.atoms: Dict[Tuple[Any, ...], Set[Any]] = {}
        self.raw: Set[Tuple[Any, ...]] = set()

    def action_path(self, e: Any) -> Optional[Tuple[Any, ...]]:
        """The action path `e` reads (root and keys), or None when it is not one (a const, a variable)."""
        if not isinstance(e, A.Path):
            return None
        root = e.root
        if not isinstance(root, str) or root not in ACTION_ROOTS or (root in self.consts and not e.keys):
            return None     # a const or a quantifier's variable (engine.decide.exprs.getter reads the same way)
        return (root,) + tuple(e.keys)

    def number(self, e: Any) -> Optional[float]:
        """The number `e` stands for when written in the policy (a literal, a duration, a const), if exact."""
        if isinstance(e, A.Literal) and e.value.__class__ in (int, float):
            v = e.value
        elif isinstance(e, A.Duration):
            v = e.seconds
        elif isinstance(e, A.Path) and not e.keys and e.root in self.consts:
            v = self.consts[e.root]
            if v.__class__ not in (int, float):
                return None
        else:
            return None
        if v.__class__ is int and not -EXACT < v < EXACT:
            return None
        return float(v) if math.isfinite(v) else None

    def walk(self, e: Any) -> None:
        """Record what `e` reads; a node this does not know makes the tool the row engine's."""
        if e is None or isinstance(e, (A.Literal, A.Duration)):
            return
        if isinstance(e, A.Path):
            p = self.action_path(e)
            if p is not None:
                self.raw.add(p)
            return
        if isinstance(e, A.Presence):
            p = self.action_path(e.path)
            if p is not None:
                self.atoms.setdefault(p, set()).add(PRESENT)
            return
        if isinstance(e, A.Compare):
            if e.op in _ORDER_OPS:
                for side, other in ((e.left, e.right), (e.right, e.left)):
                    p, c = self.action_path(side), self.number(other)
                    if p is not None and c is not None:
                        self.atoms.setdefault(p, set()).add(c)
                        return
            self.walk(e.left)
            self.walk(e.right)
            return
        if isinstance(e, (A.Not, A.Neg)):
            self.walk(e.operand)
            return
        if isinstance(e, (A.BoolOp, A.Arith)):
            self.walk(e.left)
            self.walk(e.right)
            return
        if isinstance(e, A.ListExpr):
            for x in e.items:
                self.walk(x)
            return
        if isinstance(e, A.Call):        # every built-in is a function of its arguments alone
            for x in e.args:
                self.walk(x)
            return
        if isinstance(e, A.Quantifier):
            self.walk(e.source)
            self.walk(e.body)
            return
        raise Unsupported(f"expression {type(e).__name__}")


def budget_path(k: A.Path) -> Tuple[Any, ...]:
    """The action path a budget's `per` key or summed path reads."""
    # `per tenant` / `per agent` count by their id (engine.decide.compiler keys budgets the same way)
    if not k.keys and k.root in ("tenant", "agent"):
        return (k.root, "id")
    return (k.root,) + tuple(k.keys)


def node_uses(node: ToolNode, consts: Dict[str, Any]) -> Tuple[Uses, List[BudgetNode]]:
    """What a tool's risk, category and check lines read, and its budget lines (Unsupported: row engine)."""
    if node.schema is not None:
        raise Unsupported("a schema")      # a schema reads the whole of `args`
    u = Uses(consts)
    for e in node.risk:
        u.walk(e.line.when)
    for cat in node.categories.values():
        for ce in cat.edges:
            u.walk(ce.line.when)
    budgets = []
    for c in node.checks:
        if isinstance(c, RequireNode):
            u.walk(c.line.cond)
        elif isinstance(c, BudgetNode):
            budgets.append(c)
            if c.line.path is not None:
                u.atoms.setdefault(budget_path(c.line.path), set()).add(PRESENT)
            for k in c.line.keys:
                u.atoms.setdefault(budget_path(k), set()).add(PRESENT)
        else:
            raise Unsupported("a check line of an unknown kind")
    return u, budgets



def dense(np: Any, key: Any, size: int) -> Tuple[Any, int]:
    """Keys renumbered 0..k-1 in order of value (so in the order np.unique would give), and k."""
    if size <= 1 << 22:
        seen = np.zeros(size, dtype=bool)
        seen[key] = True
        number = np.cumsum(seen) - 1
        return number[key].astype(np.int64), int(seen.sum())
    uniq, inverse = np.unique(key, return_inverse=True)
    return inverse.astype(np.int64).reshape(-1), len(uniq)


def firsts(np: Any, key: Any, k: int) -> Any:
    """The first index of each of the keys 0..k-1."""
    first = np.empty(k, dtype=np.int64)
    idx = np.arange(len(key) - 1, -1, -1, dtype=np.int64)
    first[key[::-1]] = idx      # the last write wins: the earliest index
    return first
