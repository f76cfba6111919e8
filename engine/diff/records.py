"""The records a diff reports: directions, structural changes, witnesses and per-tool search results."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, NamedTuple, Optional

from policy_lang import ast as A

from ..decide.decision import RANK, Decision

LOOSER, STRICTER, CHANGED = "looser", "stricter", "changed"
# what the search says of one direction (`looser`, `stricter`) of one tool
WITNESS, PROVEN, NOT_PROVEN = "witness", "proven", "not proven"


def direction(old: str, new: str) -> Optional[str]:
    """`looser` when the new outcome is further towards allow (deny > escalate > ask > approval > allow)."""
    if RANK[new] < RANK[old]:
        return LOOSER
    if RANK[new] > RANK[old]:
        return STRICTER
    return None


def brief(d: Decision) -> Dict[str, Any]:
    """The parts of a decision a diff compares: outcome, category, routes, escalation and question."""
    return {"outcome": d.outcome, "category": d.category, "routes": d.routes, "escalate_to": d.escalate_to,
            "ask": d.ask}


def compare(old: Decision, new: Decision) -> Optional[str]:
    """`looser` or `stricter` when the outcome moves, `changed` when only its details do, else None."""
    if old.outcome != new.outcome:
        return direction(old.outcome, new.outcome)
    if brief(old) != brief(new):
        return CHANGED
    return None


@dataclass
class Change:
    """One structural change, in policy terms."""
    section: str            # policy | const | route | tool | category | check | unknown tools
    name: str
    op: str                 # added | removed | changed
    what: str = ""          # the field or line that changed
    old: Any = None
    new: Any = None
    note: str = ""          # e.g. `threshold 100 → 200`, `limit raised: looser`

    def to_dict(self) -> Dict[str, Any]:
        """The JSON form: empty fields left out."""
        d = {"section": self.section, "name": self.name, "op": self.op}
        for k in ("what", "old", "new", "note"):
            v = getattr(self, k)
            if v not in (None, ""):
                d[k] = v
        return d


class BudgetLine(NamedTuple):
    """A budget line of a check that applies to the tool searched: the check, the line's index, the line."""
    check: str
    index: int
    line: A.Budget
    advisory: bool


@dataclass(frozen=True)
class Witness:
    """An action (after `history`, when budgets matter) that the two versions decide differently."""
    tool: str
    direction: Optional[str]        # looser | stricter | changed
    method: str                     # partition | sampling | budget history
    action: Dict[str, Any]
    history: List[Dict[str, Any]]
    old: Dict[str, Any]             # brief() of the old decision
    new: Dict[str, Any]
    test_case: Dict[str, Any]       # a test for the new version that pins the new outcome

    @classmethod
    def of(cls, tool: str, action: Dict[str, Any], do: Decision, dn: Decision, how: str,
           history: Optional[List[Dict[str, Any]]] = None) -> "Witness":
        """The witness `action` makes of decisions `do` (old) and `dn` (new), found by method `how`."""
        case: Dict[str, Any] = {"name": f"{tool}: decided {do.outcome} before, {dn.outcome} now",
                                "action": action, "expect": {"outcome": dn.outcome}}
        if dn.category is not None:
            case["expect"]["category"] = dn.category
        if history:
            case["history"] = history
        return cls(tool, compare(do, dn), how, action, history or [], brief(do), brief(dn), case)

    def to_dict(self) -> Dict[str, Any]:
        """The JSON form (the keys in this order)."""
        return {"tool": self.tool, "direction": self.direction, "method": self.method, "action": self.action,
                "history": self.history, "old": self.old, "new": self.new, "test_case": self.test_case}


class DirectionResult(NamedTuple):
    """What a search found for one direction of one tool: a witness, a proof there is none, or neither."""
    status: str                     # witness | proven | not proven
    witness: Optional[Witness]


@dataclass(frozen=True)
class ToolResult:
    """The witness search's answer for one tool: `status` over both directions, and each direction's."""
    tool: str
    status: str                     # witness | proven | not proven
    looser: str                     # witness | proven | not proven
    stricter: str
    method: str                     # partition | sampling
    checked: int                    # decisions compared
    combinations: int               # candidate actions × ledger states
    why: List[str] = field(default_factory=list)            # why not proven (or why a proof is limited)
    witnesses: List[Witness] = field(default_factory=list)  # looser then stricter; else one `changed`

    def direction(self, kind: str) -> DirectionResult:
        """The result for `kind` (`looser` or `stricter`) alone."""
        status = self.looser if kind == LOOSER else self.stricter
        return DirectionResult(status, next((w for w in self.witnesses if w.direction == kind), None))

    def to_dict(self) -> Dict[str, Any]:
        """The JSON form (the keys in this order)."""
        return {"tool": self.tool, "status": self.status, "looser": self.looser, "stricter": self.stricter,
                "method": self.method, "checked": self.checked, "combinations": self.combinations,
                "why": self.why, "witnesses": [w.to_dict() for w in self.witnesses]}
