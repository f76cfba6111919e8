"""The standing-grant lever: `signoff approvals grant ROUTE TOOL --max FIELD=X`, judged on the humans' verdicts.

A grant changes no policy line: it is a record in the approval store that approves, for one route, the
actions of one tool whose argument FIELD is at most X (engine.live.grants). Its evidence is the fit part's
actions of that tool that waited on that route alone: X is chosen as the amount lever chooses a threshold
(`search.choose` with `<=`: the loosest value before the first action a human rejected or edited, with the bound
on the rate humans changed at most `max_risk`). Routes with `grants never`, and routes whose quorum is above
1 (one grant is one approver), are not searched. The recommendation is the command that gives the grant.
"""
from __future__ import annotations

import shlex
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Set, Tuple

from policy_lang.checker import Program

from .search import MAX_LISTED, Baseline, Counts, Gated, choose, count, needed

__all__ = ["GrantRecommendation", "search_grants"]

GRANT_DURATION = "30d"


@dataclass
class GrantRecommendation:
    """One standing grant: route, tool, `args.FIELD <= value`, who would give it, the evidence."""
    route: str
    tool: str
    arg: str
    value: float
    by: str
    policy_file: str
    at: str
    fit: Counts
    bound: float
    holdout: Counts
    holdout_listed: List[Dict[str, Any]] = field(default_factory=list)

    @property
    def change(self) -> str:
        """`grant ROUTE TOOL args.FIELD <= X`."""
        return f"grant {self.route} {self.tool} args.{self.arg} <= {_num(self.value)}"

    @property
    def command(self) -> str:
        """The exact `signoff approvals grant` command (the store is the reader's: `STORE`)."""
        words = ["signoff", "approvals", "grant", self.route, self.tool, "--by", self.by, "--for", GRANT_DURATION,
                 "--max", f"{self.arg}={_num(self.value)}", "--policy", self.policy_file, "--store", "STORE"]
        return " ".join(w if w == "STORE" else shlex.quote(w) for w in words)


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def _approver(fit: List[Tuple[Gated, float]]) -> Optional[str]:
    """The person who approved most of the let-through actions unchanged (ties: the first in name order)."""
    who: Counter = Counter()
    for g, _ in fit:
        if g.verdict != "approved":
            continue
        by = g.by
        for b in (by if isinstance(by, list) else [by]):
            if isinstance(b, str) and b:
                who[b] += 1
    if not who:
        return None
    return sorted(who.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]


def search_grants(program: Program, base: Baseline, cut: int, confidence: float, max_risk: float,
                  allowed: Optional[Set[int]] = None) -> Tuple[List[GrantRecommendation], List[Dict[str, Any]]]:
    """The grant recommendations (one per route and tool: the argument letting most through) and the refused
    candidates (`considered` entries, `kind` grant). `allowed`: replay indices the policy levers already
    auto-allow, which no longer wait and are not a grant's evidence (no approval counted twice)."""
    allowed = allowed or set()
    root = next((f.rel for f in program.files if f.is_root), "")
    routes = program.routes
    groups: Dict[Tuple[str, str], List[Gated]] = {}
    for g in base.gated:
        if g.idx in allowed or len(g.routes) != 1 or g.tool is None:
            continue
        groups.setdefault((g.routes[0], g.tool), []).append(g)
    recs: List[GrantRecommendation] = []
    considered: List[Dict[str, Any]] = []
    for (route_name, tool), mine in sorted(groups.items()):
        route = routes.get(route_name)
        if route is None or route.grants_never or (route.quorum or 1) > 1:
            continue   # no route to grant for, grants forbidden, or one grant is not a quorum
        at = f"{route.span.file}:{route.span.line}"
        best: Optional[Tuple[Any, str, List[Tuple[Gated, float]]]] = None
        failed = None
        fields = sorted({k for g in mine if g.idx < cut for k, _ in g.nums})
        for arg in fields:
            pts = [(g, v) for g in mine if g.idx < cut for k, v in g.nums if k == arg]
            # a grant approves unchanged: an action a human edited stops the loosening as a rejection does
            got, fail = choose([(v, "rejected" if g.verdict == "edited" else g.verdict) for g, v in pts], "<=",
                               confidence, max_risk)
            if got is not None and (best is None or got.taken > best[0].taken):
                best = (got, arg, pts)
            elif got is None and fail is not None and (failed is None or fail.taken > failed[0].taken):
                failed = (fail, arg)
        if best is None:
            if failed is not None:
                fail, arg = failed
                c = fail.counts
                considered.append({"lever": f"grant {route_name} {tool} args.{arg}", "at": at, "kind": "grant",
                                   "level": None, "reason": f"{c.reviewed} reviewed actions, {c.changed} changed: "
                                   f"upper bound {fail.bound:.2%} > {max_risk:.2%} (at least "
                                   f"{needed(confidence, max_risk)} approved unchanged needed)",
                                   "auto_allowed": c.auto_allowed, "rejected": c.rejected, "edited": c.edited,
                                   "expired": c.expired})
            continue
        got, arg, pts = best
        through = [(g, v) for g, v in pts if v <= got.value]
        by = _approver(through)
        if by is None:
            continue
        held = [g for g in mine if g.idx >= cut for k, v in g.nums if k == arg and v <= got.value]
        listed = [{"action_id": g.action_id, "where": f"{g.src}:{g.line}", "tool": g.tool, "verdict": g.verdict,
                   "by": g.by} for g in held if g.verdict in ("rejected", "edited")][:MAX_LISTED]
        recs.append(GrantRecommendation(route_name, tool, arg, got.value, by, root, at, got.counts, got.bound,
                                        count([g.verdict for g in held]), listed))
    return recs, considered
