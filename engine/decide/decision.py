"""The Decision of spec §3 and the reasons that make it up."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, cast

from policy_lang import tables

OUTCOMES = tables.OUTCOMES
# most restrictive wins: deny > escalate > ask > require_approval > allow
RANK = {o: i for i, o in enumerate(OUTCOMES)}


class Reason:
    """One rule that produced an outcome. Built once per rule at compile time where possible."""
    __slots__ = ("rule", "outcome", "message", "at", "advisory", "route", "target", "source", "rank")

    def __init__(self, rule: str, outcome: str, message: str, at: str, advisory: bool = False,
                 route: Optional[dict] = None, target: Optional[str] = None, source: str = ""):
        self.rule = rule
        self.outcome = outcome
        self.message = message
        self.at = at
        self.advisory = advisory
        self.route = route        # the route dict, for require_approval
        self.target = target      # escalate target or ask question
        self.source = source      # category | check | schema | unknown | mode | error
        self.rank = -1 if advisory else RANK[outcome]   # what it weighs in the outcome (advisory: nothing)

    def with_outcome(self, outcome: str) -> "Reason":
        """A copy with another outcome (autonomous mode turns a category's approval into allow)."""
        return Reason(self.rule, outcome, self.message, self.at, self.advisory, self.route, self.target, self.source)

    def to_dict(self) -> Dict[str, Any]:
        """The reason as spec §3 prints it; `advisory` appears only when true."""
        d: Dict[str, Any] = {"rule": self.rule, "outcome": self.outcome, "message": self.message, "at": self.at}
        if self.advisory:
            d["advisory"] = True
        return d

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Reason) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"Reason({self.to_dict()!r})"


def binding_routes(reasons: List[Reason]) -> List[str]:
    """The routes of the binding approval reasons, first mention first (Decision.routes)."""
    names: List[str] = []
    for r in reasons:
        if r.outcome == "require_approval" and not r.advisory and r.route is not None \
                and r.route["name"] not in names:
            names.append(r.route["name"])
    return names


class Decision:
    """What the engine decided for one action; route/routes/escalate_to/ask derive from the reasons."""
    __slots__ = ("action_id", "outcome", "category", "reasons", "mode", "policy")

    def __init__(self, action_id: Any, outcome: str, category: Optional[str], reasons: List[Reason],
                 mode: str, policy: Dict[str, Any]):
        self.action_id = action_id
        self.outcome = outcome
        self.category = category
        self.reasons = reasons
        self.mode = mode
        self.policy = policy

    def _binding(self, kind: str) -> List[Reason]:
        return [r for r in self.reasons if r.outcome == kind and not r.advisory]

    @property
    def routes(self) -> List[str]:
        """The names of the routes every binding approval reason asks for, first mention first."""
        return binding_routes(self.reasons) if self.outcome == "require_approval" else []

    @property
    def route(self) -> Optional[dict]:
        """The first binding approval reason's route, when the outcome is `require_approval`."""
        if self.outcome != "require_approval":
            return None
        for r in self._binding("require_approval"):
            if r.route is not None:
                return r.route
        return None

    @property
    def escalate_to(self) -> Optional[str]:
        """Who the first binding escalation goes to, when the outcome is `escalate`."""
        if self.outcome != "escalate":
            return None
        return next((r.target for r in self._binding("escalate")), None)

    @property
    def ask(self) -> List[str]:
        """The questions of the binding `ask` reasons, each once, when the outcome is `ask`."""
        if self.outcome != "ask":
            return []
        out: List[str] = []
        for r in self._binding("ask"):
            if r.target not in out:
                out.append(cast(str, r.target))   # an `ask` reason always carries its question
        return out

    def to_dict(self) -> Dict[str, Any]:
        """The decision as the JSON object of spec §3 (what `--json` and the decisions files hold)."""
        route = self.route
        return {
            "action_id": self.action_id,
            "outcome": self.outcome,
            "category": self.category,
            "route": dict(route) if route is not None else None,
            "routes": self.routes,
            "escalate_to": self.escalate_to,
            "ask": self.ask,
            "reasons": [r.to_dict() for r in self.reasons],
            "mode": self.mode,
            "policy": dict(self.policy),
        }

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Decision) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"Decision({self.outcome!r}, category={self.category!r}, reasons={self.reasons!r})"

