"""The quorum lever: a route's `quorum q` lowered to `q - 1`, judged on the order of the human acts.

A lower quorum changes no decision (the action still waits for humans), so the replay cannot judge it:
the evidence is what the humans did after the draft had its first q-1 approvals. Under the lower quorum
such a draft would have been approved and executed there; it was safe to do so only if no later act
changed it (a rejection or an edit after those approvals, or the draft left to expire). The order comes
from the history's `human.acts` (`signoff audit export` writes it); without it the lever has no evidence.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Set, Tuple

from policy_lang import ast as A
from policy_lang.checker import Program

from .search import MAX_LISTED, Baseline, Counts, Gated, count, needed
from .stats import upper_bound

NOT_AFFECTED = "not affected"


@dataclass
class QuorumRecommendation:
    """One route's quorum lowered by one: where, and the evidence (fit part, held-out part)."""
    route: A.Route
    old: int
    new: int
    tools: List[str]
    fit: Counts
    bound: float
    holdout: Counts
    holdout_listed: List[Dict[str, Any]] = field(default_factory=list)

    @property
    def change(self) -> str:
        """`route NAME quorum OLD → NEW`."""
        return f"route {self.route.name} quorum {self.old} → {self.new}"

    @property
    def at(self) -> str:
        """`FILE:LINE` of the route's quorum line."""
        sp = self.route.quorum_span if self.route.quorum_span.line > 0 else self.route.span
        return f"{sp.file}:{sp.line}"

    @property
    def line(self) -> int:
        """The line the evidence comment goes above."""
        sp = self.route.quorum_span if self.route.quorum_span.line > 0 else self.route.span
        return sp.line

    def swap(self) -> Tuple[A.Route, A.Route]:
        """(old node, new node) of the change, for `moved_module`."""
        return self.route, dataclasses.replace(self.route, quorum=self.new)


def routes_with_quorum(program: Program) -> List[A.Route]:
    """The root file's routes whose quorum is above 1, in the order the program lists them."""
    root = next((f.rel for f in program.files if f.is_root), None)
    return [r for r in program.routes.values() if r.span.file == root and (r.quorum or 1) > 1]


def under_lower_quorum(acts: Any, verdict: Optional[str], q: int) -> Optional[str]:
    """What humans did with a draft that, under quorum `q`, would have executed after its q-th approval:
    `not affected` when a human edited or rejected it first (or it never got `q` approvals), else
    `approved` (the remaining approvals came, unchanged), `rejected` / `edited` (a later act changed it),
    `expired` (left to time out), or None (it still waits). `acts` must be a list of `human.acts` entries."""
    approvers: List[str] = []
    reached = False
    later = None
    for a in acts:
        kind = a.get("act") if isinstance(a, dict) else None
        if not reached:
            if kind == "approved":
                by = str(a.get("by"))
                if by not in approvers:
                    approvers.append(by)
                reached = len(approvers) >= q
            elif kind in ("edited", "rejected"):
                return NOT_AFFECTED   # a human changed it before the lower quorum was met
        elif kind == "rejected":
            return "rejected"
        elif kind == "edited" and later is None:
            later = "edited"
    if not reached:
        return NOT_AFFECTED
    if later is not None:
        return later
    return verdict if verdict in ("approved", "expired", "rejected", "edited") else None


def search_quorum(program: Program, base: Baseline, cut: int, confidence: float, max_risk: float,
                  allowed: Optional[Set[int]] = None) -> Tuple[List[QuorumRecommendation], List[Dict[str, Any]]]:
    """The quorum recommendations and the refused candidates (`considered` entries, `kind` quorum).
    `allowed`: the replay indices the recommended levers already auto-allow; those no longer wait, so
    a lower quorum saves nothing on them and they are not its evidence (no approval counted twice)."""
    allowed = allowed or set()
    recs: List[QuorumRecommendation] = []
    considered: List[Dict[str, Any]] = []
    for route in routes_with_quorum(program):
        q = route.quorum or 1
        mine = [g for g in base.gated if route.name in g.routes and g.idx not in allowed]
        probe = QuorumRecommendation(route, q, q - 1, [], count([]), 0.0, count([]))

        def refuse(reason: str, c: Optional[Counts] = None) -> None:
            c = c or count([])
            considered.append({"lever": f"route {route.name} quorum {q}", "at": probe.at, "kind": "quorum",
                               "level": None, "reason": reason, "auto_allowed": c.auto_allowed,
                               "rejected": c.rejected, "edited": c.edited, "expired": c.expired})
        if not mine:
            continue
        shared = [g for g in mine if len(g.routes) > 1]
        if shared:
            refuse(f"{len(shared)} actions waited on route `{route.name}` together with another route: what a "
                   "lower quorum would have let through depends on the other route's approvals, not evaluated")
            continue
        reviewed = [g for g in mine if g.verdict is not None]
        bare = [g for g in reviewed if not isinstance(g.acts, list)]
        if not reviewed:
            continue
        if bare:
            refuse(f"{len(bare)} of the {len(reviewed)} reviewed actions on route `{route.name}` have no "
                   "`human.acts` (the order of the human acts, which `signoff audit export` writes): without it "
                   "nothing shows what a lower quorum would have let through, so no evidence")
            continue
        got: List[Tuple[Gated, Optional[str]]] = []
        for g in mine:
            what = under_lower_quorum(g.acts if isinstance(g.acts, list) else [], g.verdict, q - 1)
            if what != NOT_AFFECTED:
                got.append((g, what))
        fit = count([w for g, w in got if g.idx < cut])
        held = [(g, w) for g, w in got if g.idx >= cut]
        bound = upper_bound(fit.changed, fit.reviewed, confidence)
        if not fit.auto_allowed:
            refuse(f"no action in the fit part had {q - 1} approvals before a human changed or rejected it")
            continue
        if fit.rejected:
            refuse(f"{fit.rejected} actions were rejected after their first {q - 1} approvals: a quorum of {q - 1} "
                   "would have executed them", fit)
            continue
        if bound > max_risk:
            refuse(f"{fit.reviewed} reviewed actions, {fit.changed} changed after {q - 1} approvals: upper bound "
                   f"{bound:.2%} > {max_risk:.2%} (at least {needed(confidence, max_risk)} approved unchanged "
                   "needed)", fit)
            continue
        tools = sorted({g.tool or "(none)" for g, _ in got if g.idx < cut})
        listed = [{"action_id": g.action_id, "where": f"{g.src}:{g.line}", "tool": g.tool, "verdict": w,
                   "by": g.by} for g, w in held if w in ("rejected", "edited")][:MAX_LISTED]
        recs.append(QuorumRecommendation(route, q, q - 1, tools, fit, bound, count([w for _, w in held]), listed))
    return recs, considered
