"""Diff on history: replay recorded actions through both versions; the table old outcome → new outcome."""
from __future__ import annotations

from typing import Any, Dict, Iterator, List, Tuple

from ..decide.decision import RANK, Decision
from ..decide.evaluator import Policy
from ..replay.history import History, OutOfOrder
from .records import LOOSER, STRICTER, brief, direction

MAX_EXAMPLES = 5    # action ids kept per transition


class _Side:
    """One policy replaying the history with its own ledger: budgets follow what that version executed.
    Each record goes through Simulation.run, so a diff decides and counts exactly as simulate does."""

    def __init__(self, policy: Policy, assume_approved: bool):
        from ..replay.simulate import Simulation   # loaded only when a history is replayed, as before
        self.sim = Simulation(policy, assume_approved)
        self._last: List[Decision] = []

    def decide(self, record: Tuple) -> Decision:
        self.sim.run(iter((record,)), on_decision=self._keep)
        return self._last.pop()

    def _keep(self, d: Decision, _src: str, _line: int) -> None:
        self._last.append(d)


def semantic_diff(old: Policy, new: Policy, history: History, assume_approved: bool = False) -> Dict[str, Any]:
    """Replay the history through both versions; the transition table old outcome → new outcome."""
    def run(records: Iterator) -> Dict[str, Any]:
        a, b = _Side(old, assume_approved), _Side(new, assume_approved)
        table: Dict[Tuple[str, str], List[Any]] = {}
        detail = 0
        total = 0
        for rec in records:
            da, db = a.decide(rec), b.decide(rec)
            src, line = rec[3], rec[4]
            total += 1
            key = (da.outcome, db.outcome)
            g = table.get(key)
            if g is None:
                g = table[key] = [0, []]
            g[0] += 1
            if da.outcome != db.outcome and len(g[1]) < MAX_EXAMPLES:
                g[1].append(da.action_id if da.action_id is not None else f"{src}:{line}")
            elif da.outcome == db.outcome and brief(da) != brief(db):
                detail += 1
        return {"total": total, "table": table, "same_outcome_other_details": detail}

    try:
        res = run(history.records())
    except OutOfOrder:
        if history.has_stdin:
            raise
        res = run(history.records(external=True))
    rows = []
    for (o, n), (count, ids) in sorted(res["table"].items(), key=lambda kv: (RANK[kv[0][0]], RANK[kv[0][1]])):
        rows.append({"old": o, "new": n, "count": count, "direction": direction(o, n) or "same",
                     "examples": ids})
    changed = sum(r["count"] for r in rows if r["old"] != r["new"])
    return {"total": res["total"], "changed": changed,
            "looser": sum(r["count"] for r in rows if r["direction"] == LOOSER),
            "stricter": sum(r["count"] for r in rows if r["direction"] == STRICTER),
            "same_outcome_other_details": res["same_outcome_other_details"],
            "transitions": rows, "read": history.stats.to_dict()}

