"""Budgets in the witness search: stand-in ledgers (nothing or everything spent), the concrete histories
that confirm them, and histories just inside changed limits and windows."""
from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from typing import Any, Dict, List, Optional, Set, Tuple

from policy_lang import ast as A

from ...decide.decision import Decision
from ...decide.evaluator import Policy
from ...decide.ledger import MemoryLedger
from ..records import CHANGED, BudgetLine, Witness, compare
from .candidates import BASE_TIME, NOW, Var, assignments, get_path, merge_base, put_path, tidy


class FakeLedger:
    """A ledger in one of two states per budget line: nothing spent, or everything spent. For budget
    lines that are the same in both versions, which state holds is a free choice the search enumerates."""

    def __init__(self, exhausted: Set[Tuple[str, int]]):
        self.exhausted = exhausted

    def total(self, key: Any, start: float, end: float) -> float:
        """Everything spent (1e300) for an exhausted line, else nothing."""
        return 1e300 if key[0] in self.exhausted else 0

    def add(self, key: Any, t: float, amount: float) -> None:
        """Nothing: the state is fixed."""


def budget_sig(b: A.Budget, advisory: bool) -> Any:
    """What makes two budget lines the same line (the same line in both versions is a free choice)."""
    return (b.agg, b.path, b.keys, b.window.seconds, b.limit, b.outcome, advisory)


def decide_with(p: Policy, action: Dict[str, Any], history: List[Dict[str, Any]]) -> Decision:
    """`p`'s decision for `action` after `history` was executed (a fresh ledger)."""
    led = MemoryLedger()
    for h in history:
        p.record(h, led, NOW)
    return p.decide(action, led, NOW)


def history_for(old_p: Policy, new_p: Policy, action: Dict[str, Any], exhausted: Set[Tuple[str, int]]
                ) -> Optional[List[Dict[str, Any]]]:
    """A concrete history that exhausts the given budget lines for `action`: one earlier copy of the
    action, a second before it, whose amount alone fills the limit (sum), or `limit` copies (count)."""
    hist: List[Dict[str, Any]] = []
    t0 = datetime.fromisoformat(action.get("timestamp", BASE_TIME).replace("Z", "+00:00"))
    for prog in (old_p.program, new_p.program):
        for c in prog.checks.values():
            for i, ln in enumerate(c.lines):
                if (c.name, i) not in exhausted or not isinstance(ln, A.Budget):
                    continue
                when = (t0 - timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
                if ln.path is None:
                    n = int(math.floor(ln.limit))
                    if n > 200:
                        return None
                    hist += [dict(action, timestamp=when)] * max(0, n)
                else:
                    amount = ln.limit + 1
                    copy = json.loads(json.dumps(action))
                    put_path(copy, (ln.path.root,) + tuple(str(k) for k in ln.path.keys), amount)
                    copy["timestamp"] = when
                    hist.append(copy)
    return [dict(h) for h in hist]


# assignments looked at in all, denied ones included (the search only finds witnesses; it never proves)
MAX_ASSIGNMENTS = 5000


def budget_witness(old_p: Policy, new_p: Policy, name: str, fixed: Dict[str, Any],
                   vars_: Dict[Tuple[str, ...], Var], budgets: Dict[str, List[BudgetLine]],
                   differing: List[Tuple[str, int]], base: Dict[str, Any], want: Set[str]) -> Dict[str, Witness]:
    """The first witness of each kind in `want` (looser, stricter, changed) that a history of copies of a
    candidate action, just inside the old and new limits and windows, shows."""
    found: Dict[str, Witness] = {}
    lines = {(c, i): b for side in ("old", "new") for c, i, b, _ in budgets[side]}
    tries = seen = 0
    for action in (assignments(vars_, fixed) if vars_ else iter([dict(fixed)])):
        seen += 1
        if seen > MAX_ASSIGNMENTS:   # most combinations denied by both: the product must not run unbounded
            return found
        action = merge_base(action, base, ("args",) in vars_)
        d0, d1 = old_p.decide(action, MemoryLedger(), NOW), new_p.decide(action, MemoryLedger(), NOW)
        if d0.outcome == "deny" and d1.outcome == "deny":
            continue
        tries += 1
        if tries > 200:
            return found
        t0 = datetime.fromisoformat(action.get("timestamp", BASE_TIME).replace("Z", "+00:00"))
        for key in differing:
            b = lines[key]
            bo = next((x for c, i, x, _ in budgets["old"] if (c, i) == key), None)
            bn = next((x for c, i, x, _ in budgets["new"] if (c, i) == key), None)
            limits = sorted({x.limit for x in (bo, bn) if x is not None})
            windows = sorted({x.window.seconds for x in (bo, bn) if x is not None})
            plans = []
            for lim in limits:
                for w in windows:
                    for back in {1, int(w) - 1, int(w) + 1}:
                        if back > 0:
                            plans.append((lim, back))
            for lim, back in plans:
                when = (t0 - timedelta(seconds=back)).isoformat().replace("+00:00", "Z")
                if b.path is None:
                    n = int(math.floor(lim))
                    if n < 0 or n > 200:
                        continue
                    hist = [dict(action, timestamp=when) for _ in range(n)]
                else:
                    cur = get_path(action, (b.path.root,) + tuple(str(k) for k in b.path.keys))
                    if not isinstance(cur, (int, float)) or isinstance(cur, bool):
                        continue
                    copy = json.loads(json.dumps(action))
                    put_path(copy, (b.path.root,) + tuple(str(k) for k in b.path.keys), tidy(float(lim - cur)))
                    copy["timestamp"] = when
                    hist = [copy]
                do, dn = decide_with(old_p, action, hist), decide_with(new_p, action, hist)
                kind = compare(do, dn)
                if kind in want and kind not in found:
                    found[kind] = Witness.of(name, action, do, dn, "budget history", hist)
                    if not (want - {CHANGED}) - set(found):
                        return found   # every outcome direction asked for is found
    return found
