"""The records a diff reports: directions, structural changes, witnesses and per-tool search results."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, NamedTuple, Optional, Set

from policy_lang import ast as A
from policy_lang.checker import Program

from ..decide.decision import RANK, Decision

LOOSER, STRICTER, CHANGED = "looser", "stricter", "changed"
# what the search says of one direction (`looser`, `stricter`) of one tool
WITNESS, PROVEN, NOT_PROVEN = "witness", "proven", "unknown"
UNKNOWN = NOT_PROVEN


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
    at: str = ""            # where the new version writes it, `FILE:LINE:COL`
    old_at: str = ""        # where the old version wrote it

    def to_dict(self) -> Dict[str, Any]:
        """The JSON form: empty fields left out."""
        d = {"section": self.section, "name": self.name, "op": self.op}
        for k in ("what", "old", "new", "note", "at", "old_at"):
            v = getattr(self, k)
            if v not in (None, ""):
                d[k] = v
        return d


class BudgetLine(NamedTuple):
    """A budget line of a check that applies to the tool searched: the check, the line's index, the line."""
    check: str
    index: int  # type: ignore[assignment]  # the line's place in its check (shadows tuple.index on purpose)
    line: A.Budget
    advisory: bool


def level_move(a: str, b: str, old: Program, new: Program) -> Set[str]:
    """`looser` when level `b` (new) is below level `a` (old) in the new version's order (else the old
    one's), `stricter` when above; empty when the same or not comparable."""
    for levels in (new.levels, old.levels):
        if a in levels and b in levels:
            i, j = levels.index(a), levels.index(b)
            return {LOOSER} if j < i else {STRICTER} if j > i else set()
    return set()


def route_move(a: A.Route, b: A.Route) -> Set[str]:
    """How approval through route `b` (new) compares with route `a` (old): `looser` for a lower quorum,
    approver roles added (none removed), a longer (or no) timeout, standing grants allowed where `grants
    never` was; `stricter` for the opposite; both when the changes go both ways."""
    return set(route_changes(a, b).values())


def route_changes(a: A.Route, b: A.Route) -> Dict[str, str]:
    """Each difference between two routes that loosens or tightens approval, described, with its direction."""
    out: Dict[str, str] = {}
    qa, qb = a.quorum or 1, b.quorum or 1
    if qb != qa:
        out[f"quorum {qa} → {qb}"] = LOOSER if qb < qa else STRICTER
    added = [r for r in b.approvers if r not in a.approvers]
    removed = [r for r in a.approvers if r not in b.approvers]
    if added and not removed:
        out["approvers added: " + ", ".join(added)] = LOOSER
    elif removed and not added:
        out["approvers removed: " + ", ".join(removed)] = STRICTER
    ta = a.timeout.seconds if a.timeout is not None else None
    tb = b.timeout.seconds if b.timeout is not None else None
    if ta != tb:
        text = f"timeout {a.timeout.text if a.timeout else 'none'} → {b.timeout.text if b.timeout else 'none'}"
        out[text] = LOOSER if ta is not None and (tb is None or tb > ta) else STRICTER
    if a.grants_never != b.grants_never:
        out["standing grants allowed" if a.grants_never else "grants never"] = (
            LOOSER if a.grants_never else STRICTER)
    return out


def classify(do: Decision, dn: Decision, old: Program, new: Program) -> Set[str]:
    """The directions (`looser`, `stricter`) in which decision `dn` (new) differs from `do` (old): the
    outcome, else with the same outcome (not `deny`) a lower or higher category, or an approval route
    that is looser or stricter (see `route_move`)."""
    d = direction(do.outcome, dn.outcome)
    if d is not None:
        return {d}
    out: Set[str] = set()
    if do.category is not None and dn.category is not None and do.category != dn.category \
            and do.outcome != "deny":    # a denied action's category decides nothing
        out |= level_move(do.category, dn.category, old, new)
    if do.outcome == "require_approval":
        ra, rb = do.route, dn.route
        if ra is not None and rb is not None and ra["name"] in old.routes and rb["name"] in new.routes:
            out |= route_move(old.routes[ra["name"]], new.routes[rb["name"]])
    return out


def what_changed(do: Decision, dn: Decision, old: Optional[Program] = None, new: Optional[Program] = None
                 ) -> List[str]:
    """What differs between two decisions, in words: outcome, category, route, quorum and the other route
    fields, escalation target, questions. Never "deny before, deny now": only what changed."""
    out: List[str] = []
    if do.outcome != dn.outcome:
        out.append(f"outcome {do.outcome} → {dn.outcome}")
    if do.category != dn.category:
        out.append(f"category {do.category or 'none'} → {dn.category or 'none'}")
    ra, rb = do.route, dn.route
    if ra is not None and rb is not None and ra["name"] != rb["name"]:
        out.append(f"route {(ra or {}).get('name') or 'none'} → {(rb or {}).get('name') or 'none'}")
    if ra is not None and rb is not None and old is not None and new is not None \
            and ra["name"] in old.routes and rb["name"] in new.routes:
        out += list(route_changes(old.routes[ra["name"]], new.routes[rb["name"]]))
    if do.escalate_to != dn.escalate_to:
        out.append(f"escalation {do.escalate_to or 'none'} → {dn.escalate_to or 'none'}")
    if do.ask != dn.ask:
        out.append("questions changed")
    return out


@dataclass(frozen=True)
class Witness:
    """An action (after `history`, or in the ledger state `ledger`, when budgets matter) that the two
    versions decide differently; `changes` says what changed, in words."""
    tool: str
    direction: Optional[str]        # looser | stricter | changed
    method: str                     # smt | partition | sampling | budget history
    action: Dict[str, Any]
    history: Optional[List[Dict[str, Any]]]
    old: Dict[str, Any]             # brief() of the old decision, with its reasons
    new: Dict[str, Any]
    test_case: Dict[str, Any]       # a test for the new version that pins the new outcome
    changes: List[str] = field(default_factory=list)
    ledger: List[Dict[str, Any]] = field(default_factory=list)   # totals already spent, per budget line

    @classmethod
    def of(cls, tool: str, action: Dict[str, Any], do: Decision, dn: Decision, how: str,
           history: Optional[List[Dict[str, Any]]] = None, kind: Optional[str] = None,
           ledger: Optional[List[Dict[str, Any]]] = None, old_program: Optional[Program] = None,
           new_program: Optional[Program] = None) -> "Witness":
        """The witness `action` makes of decisions `do` (old) and `dn` (new), found by method `how`;
        `kind` the direction it was verified in (else the outcome's, or `changed`)."""
        changes = what_changed(do, dn, old_program, new_program)
        case: Dict[str, Any] = {"name": f"{tool}: " + "; ".join(changes or ["decided alike"]),
                                "action": action, "expect": {"outcome": dn.outcome}}
        if dn.category is not None:
            case["expect"]["category"] = dn.category
        if history:
            case["history"] = history
        hist = history if history is not None else ([] if not ledger else None)
        return cls(tool, kind or compare(do, dn), how, action, hist, shown(do), shown(dn), case, changes,
                   list(ledger or []))

    def to_dict(self) -> Dict[str, Any]:
        """The JSON form (the keys in this order)."""
        return {"tool": self.tool, "direction": self.direction, "method": self.method, "changes": self.changes,
                "action": self.action, "history": self.history, "ledger": self.ledger, "old": self.old,
                "new": self.new, "test_case": self.test_case}


def shown(d: Decision) -> Dict[str, Any]:
    """The `brief()` of a decision with its binding reasons (rule and place): what a witness reports of it."""
    out = brief(d)
    out["reasons"] = [{"rule": r.rule, "outcome": r.outcome, "at": r.at} for r in d.reasons if not r.advisory]
    return out


class DirectionResult(NamedTuple):
    """What a search found for one direction of one tool: a witness, a proof there is none, or neither."""
    status: str                     # witness | proven | unknown
    witness: Optional[Witness]


@dataclass(frozen=True)
class ToolResult:
    """The witness search's answer for one tool: `status` over both directions, and each direction's."""
    tool: str
    status: str                     # witness | proven | unknown
    looser: str                     # witness | proven | unknown
    stricter: str
    method: str                     # smt | partition | sampling
    checked: int                    # decisions compared
    combinations: int               # candidate actions × ledger states
    why: List[str] = field(default_factory=list)            # why not proven (or why a proof is limited)
    witnesses: List[Witness] = field(default_factory=list)  # looser then stricter; else one `changed`
    covered: Dict[str, str] = field(default_factory=dict)   # per proven direction: what the proof covers

    def direction(self, kind: str) -> DirectionResult:
        """The result for `kind` (`looser` or `stricter`) alone."""
        status = self.looser if kind == LOOSER else self.stricter
        return DirectionResult(status, next((w for w in self.witnesses if w.direction == kind), None))

    def to_dict(self) -> Dict[str, Any]:
        """The JSON form (the keys in this order)."""
        return {"tool": self.tool, "status": self.status, "looser": self.looser, "stricter": self.stricter,
                "method": self.method, "checked": self.checked, "combinations": self.combinations,
                "why": self.why, "covered": self.covered, "witnesses": [w.to_dict() for w in self.witnesses]}
