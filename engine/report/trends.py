"""Trends by ISO week from the record: automation, human verdicts per tool and route, waits, policy versions, shadows.

The input is a list of `Proposal`s, read from what `signoff audit export` writes (a store's history: each line's
`signoff` block carries the decision the gate made, its policy and the shadow candidates' decisions) or from
plain spec §2 histories decided with a policy (`proposals_from_history`). `trends` turns them into the JSON
report, which `engine.report.trends_render` draws as text and HTML.

Arithmetic (docs/report.md): a proposal counts in the ISO week (UTC) it was proposed in, and so does its
human verdict, however late it came; rates are shares of that week's approval requests (pending ones
included); time to approval runs from the proposal to the verdict of an approved or edited request, and its
percentiles are nearest-rank (the smallest wait at least p% of the waits do not exceed).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

from ..decide.actions import format_timestamp, parse_timestamp
from ..decide.decision import OUTCOMES
from ..decide.evaluator import Policy
from ..decide.ledger import MemoryLedger
from ..replay.history import History
from ..replay.step import Step, stepper

__all__ = ["VERDICTS", "TrendError", "ShadowDecision", "Proposal", "proposals_from_lines", "proposals_from_history",
           "week_of", "percentile", "trends"]

VERDICTS = ("approved", "edited", "rejected", "expired")
STATUSES = VERDICTS + ("pending",)
DISAGREEMENTS_KEPT = 1000          # disagreements listed per candidate, in time order (all are counted); the
                                   # list is then ordered: rejected or edited ones it allows, errors, the rest


class TrendError(Exception):
    """A record the report cannot use (no decision and no policy to decide it, a malformed verdict), at `where`."""

    def __init__(self, where: str, message: str):
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


@dataclass(frozen=True)
class ShadowDecision:
    """What one shadow candidate decided for a proposal: its outcome, or the error that stopped it."""
    candidate: Dict[str, Any]          # name, version, digest
    outcome: Optional[str]
    error: Optional[str] = None


@dataclass(frozen=True)
class Proposal:
    """One proposal as the report counts it: when, which tool, what the policy in force decided and which routes
    it named, what the humans did (a verdict for approval requests, None while pending), how long the approval
    took, the policy, whether it escalated (decided so, or a timeout that escalates) and the shadow decisions."""
    id: Any
    t: float
    tool: str
    outcome: str
    routes: Tuple[str, ...]
    verdict: Optional[str]
    wait: Optional[float]
    policy: Dict[str, Any]
    escalated: bool
    shadows: Tuple[ShadowDecision, ...] = ()


# ---------------------------------------------------------------- reading

def _policy_meta(p: Any) -> Dict[str, Any]:
    p = p if isinstance(p, dict) else {}
    return {"name": p.get("name") if isinstance(p.get("name"), str) else None,
            "version": p.get("version") if isinstance(p.get("version"), str) else None,
            "digest": p.get("digest") if isinstance(p.get("digest"), str) else ""}


def _verdict_and_wait(action: Dict[str, Any], t: float, where: str) -> Tuple[Optional[str], Optional[float]]:
    human = action.get("human")
    if human is None:
        return None, None
    if not isinstance(human, dict):
        raise TrendError(where, "`human` must be an object")
    verdict = human.get("verdict")
    if verdict is None:
        return None, None
    if verdict not in VERDICTS:
        raise TrendError(where, f"`human.verdict` must be one of {', '.join(VERDICTS)}, not `{verdict}`")
    wait = None
    if verdict in ("approved", "edited") and human.get("at") is not None:
        try:
            at = parse_timestamp(human["at"]).timestamp()
        except (TypeError, ValueError):
            raise TrendError(where, f"`human.at` is not an RFC 3339 time: `{human['at']}`") from None
        if at < t:
            raise TrendError(where, "`human.at` is before the proposal: the verdict contradicts the record")
        wait = at - t
    return verdict, wait


def _shadows(block: Dict[str, Any], where: str) -> Tuple[ShadowDecision, ...]:
    items = block.get("shadow") or []
    if not isinstance(items, list):
        raise TrendError(where, "`signoff.shadow` must be a list")
    out = []
    for s in items:
        if not isinstance(s, dict) or not isinstance(s.get("candidate"), dict):
            raise TrendError(where, "a `signoff.shadow` entry names no candidate")
        outcome = s.get("outcome")
        if s.get("error") is not None:
            out.append(ShadowDecision(_policy_meta(s["candidate"]), None, str(s["error"])))
        elif outcome in OUTCOMES:
            out.append(ShadowDecision(_policy_meta(s["candidate"]), outcome))
        else:
            raise TrendError(where, f"a `signoff.shadow` entry has no valid outcome: `{outcome}`")
    return tuple(out)


def _recorded(action: Dict[str, Any], t: float, where: str) -> Optional[Proposal]:
    """The proposal a record with a recorded decision (`signoff.outcome`) stands for; None when it has none."""
    block = action.get("signoff")
    if not isinstance(block, dict) or block.get("outcome") is None:
        return None
    outcome = block["outcome"]
    if outcome not in OUTCOMES:
        raise TrendError(where, f"`signoff.outcome` must be one of {', '.join(OUTCOMES)}, not `{outcome}`")
    routes = block.get("routes") or []
    if not isinstance(routes, list) or not all(isinstance(r, str) for r in routes):
        raise TrendError(where, "`signoff.routes` must be a list of route names")
    verdict, wait = _verdict_and_wait(action, t, where)
    if outcome != "require_approval":
        verdict, wait = None, None
    tool = action.get("tool")
    return Proposal(action.get("id") if action.get("id") is not None else block.get("draft"), t,
                    tool if isinstance(tool, str) else "(none)", outcome, tuple(routes), verdict, wait,
                    _policy_meta(block.get("policy")), outcome == "escalate" or block.get("state") == "escalated",
                    _shadows(block, where))


def proposals_from_lines(lines: Iterable[Dict[str, Any]], source: str = "store") -> List[Proposal]:
    """The proposals of `signoff audit export` lines (a store's `event_history`), in time order; TrendError for a
    line without its recorded decision or with a malformed one."""
    out = []
    for i, line in enumerate(lines, 1):
        where = f"{source}:{i}"
        try:
            t = parse_timestamp(line.get("timestamp")).timestamp()
        except (TypeError, ValueError, AttributeError):
            raise TrendError(where, "the proposal has no valid `timestamp`") from None
        p = _recorded(line, t, where)
        if p is None:
            raise TrendError(where, "the line carries no recorded decision (`signoff.outcome`)")
        out.append(p)
    out.sort(key=lambda p: p.t)
    return out


def _escalates_on_timeout(step: Step) -> bool:
    d = step.decision
    route = d.route if d is not None else None
    on_timeout = route.get("on_timeout") if isinstance(route, dict) else None
    return isinstance(on_timeout, dict) and on_timeout.get("outcome") == "escalate"


def proposals_from_history(history: History, policy: Optional[Policy] = None,
                           on_error: str = "fail") -> Tuple[List[Proposal], int]:
    """The proposals of spec §2 histories, in time order, and how many records were skipped. A record with a
    recorded decision (an audit export's line) counts as recorded; any other is decided with `policy` against a
    ledger of the replay (as `signoff simulate` replays it). Without `policy` such a record is a TrendError;
    a malformed verdict is one too, or skipped and counted with `on_error="skip"`."""
    step = stepper(policy, decisions=True) if policy is not None else None
    ledger = MemoryLedger()
    out: List[Proposal] = []
    skipped = 0
    for record in history.records():
        t, _seq, action, src, line, problem, _checked = record
        where = f"{src}:{line}"
        try:
            p = _recorded(action, t, where) if isinstance(action, dict) and problem is None else None
            if p is None:
                if step is None and problem is not None:
                    raise TrendError(where, f"the record is not a valid action: {problem}")
                if step is None:
                    raise TrendError(where, "the record carries no decision (`signoff.outcome`): give `--policy` "
                                            "to decide it")
                verdict, wait = _verdict_and_wait(action, t, where) if isinstance(action, dict) else (None, None)
                s = Step(*step(record, ledger))
                if s.outcome != "require_approval":     # a verdict on what this policy never asked about
                    verdict, wait = None, None
                d = s.decision
                p = Proposal(s.action_id, t, s.tool or "(none)", s.outcome, tuple(d.routes if d else ()),
                             verdict, wait, dict(policy.graph.policy) if policy is not None else {},
                             s.outcome == "escalate" or (verdict == "expired" and _escalates_on_timeout(s)))
        except TrendError:
            if on_error == "fail":
                raise
            skipped += 1
            continue
        out.append(p)
    return out, skipped


# ---------------------------------------------------------------- arithmetic

def week_of(t: float) -> str:
    """The ISO week (UTC) of a time, as `2026-W47`."""
    y, w, _ = datetime.fromtimestamp(t, timezone.utc).isocalendar()
    return f"{y}-W{w:02d}"


def week_start(week: str) -> str:
    """The Monday of an ISO week, as `2026-11-16`."""
    y, w = week.split("-W")
    return date.fromisocalendar(int(y), int(w), 1).isoformat()


def percentile(values: Sequence[float], p: int) -> Optional[float]:
    """The nearest-rank `p`th percentile (`p` a whole percent, 1..100) of `values`; None for none."""
    if not values:
        return None
    xs = sorted(values)
    k = -(-p * len(xs) // 100)         # ceil(p·n/100) in integers: no rounding at the boundaries
    return xs[max(k, 1) - 1]


def _share(part: int, whole: int) -> Optional[float]:
    return part / whole if whole else None


def _verdicts(ps: Sequence[Proposal]) -> Dict[str, Any]:
    requested = [p for p in ps if p.outcome == "require_approval"]
    counts = {v: sum(1 for p in requested if p.verdict == v) for v in VERDICTS}
    counts["pending"] = len(requested) - sum(counts.values())
    out: Dict[str, Any] = {"requested": len(requested), **counts}
    out["rates"] = {v: _share(counts[v], len(requested)) for v in STATUSES}
    return out


def _waits(ps: Sequence[Proposal]) -> Dict[str, Any]:
    waits = [p.wait for p in ps if p.outcome == "require_approval" and p.wait is not None]
    return {"approvals_timed": len(waits), "p50_seconds": percentile(waits, 50), "p90_seconds": percentile(waits, 90)}


def _label(meta: Dict[str, Any], clash: bool) -> str:
    digest = meta.get("digest") or ""
    short = digest.removeprefix("sha256:")[:12] or "(no digest)"
    version = meta.get("version")
    if not version:
        return short
    return f"{version} ({short})" if clash else version


def _labels(metas: Iterable[Dict[str, Any]]) -> Dict[str, str]:
    """Digest → the label the report shows: the version, with the digest's start when two digests share one."""
    by_digest: Dict[str, Dict[str, Any]] = {}
    for m in metas:
        by_digest.setdefault(m.get("digest") or "", m)
    versions: Dict[Any, int] = {}
    for m in by_digest.values():
        versions[m.get("version")] = versions.get(m.get("version"), 0) + 1
    return {d: _label(m, versions[m.get("version")] > 1) for d, m in by_digest.items()}


def _versions(ps: Sequence[Proposal], labels: Dict[str, str]) -> List[Dict[str, Any]]:
    """Every change of the policy in force, in time order (the first policy too): when, the week, from what."""
    out: List[Dict[str, Any]] = []
    last: Optional[str] = None
    for p in ps:
        d = p.policy.get("digest") or ""
        if d != last:
            out.append({"at": format_timestamp(datetime.fromtimestamp(p.t, timezone.utc)), "week": week_of(p.t),
                        "policy": dict(p.policy), "label": labels[d],
                        "from": labels[last] if last is not None else None})
            last = d
    return out


def _grouped(ps: Sequence[Proposal], key: Any) -> Iterator[Tuple[str, List[Proposal]]]:
    groups: Dict[str, List[Proposal]] = {}
    for p in ps:
        for k in key(p):
            groups.setdefault(k, []).append(p)
    yield from sorted(groups.items())


def _week_row(week: str, ps: List[Proposal], labels: Dict[str, str], changes: List[Dict[str, Any]]) -> Dict[str, Any]:
    outcomes = {o: sum(1 for p in ps if p.outcome == o) for o in OUTCOMES}
    in_force: List[str] = []
    for p in ps:
        lab = labels[p.policy.get("digest") or ""]
        if lab not in in_force:
            in_force.append(lab)
    return {"week": week, "start": week_start(week), "total": len(ps), "outcomes": outcomes,
            "automation_rate": _share(outcomes["allow"], len(ps)), "approvals": _verdicts(ps), **_waits(ps),
            "escalations": sum(1 for p in ps if p.escalated), "denials": outcomes["deny"], "policies": in_force,
            "changes": [c["label"] for c in changes if c["week"] == week and c["from"] is not None]}


def _per(ps: Sequence[Proposal], key: Any, with_waits: bool) -> Dict[str, List[Dict[str, Any]]]:
    out: Dict[str, List[Dict[str, Any]]] = {}
    for name, items in _grouped(ps, key):
        rows = []
        for week, wps in _grouped(items, lambda p: (week_of(p.t),)):
            row: Dict[str, Any] = {"week": week}
            if with_waits:          # a route's rows are its requests: nothing of them was allowed at once
                row.update(_verdicts(wps), **_waits(wps))
            else:
                allowed = sum(1 for p in wps if p.outcome == "allow")
                row.update(total=len(wps), allowed=allowed, automation_rate=_share(allowed, len(wps)),
                           **_verdicts(wps))
            rows.append(row)
        out[name] = rows
    return out


def _shadow(ps: Sequence[Proposal], labels: Dict[str, str]) -> List[Dict[str, Any]]:
    """Per candidate: its decisions against the live ones and the humans' verdicts."""
    cands: Dict[str, Dict[str, Any]] = {}
    for p in ps:
        for s in p.shadows:
            d = s.candidate.get("digest") or ""
            c = cands.get(d)
            if c is None:
                c = cands[d] = {"candidate": dict(s.candidate), "label": labels.get(d) or _label(s.candidate, False),
                                "decided": 0, "errors": 0, "agree": 0, "disagree": 0,
                                "would_allow": {"total": 0, **{v: 0 for v in STATUSES}, "not_requested": 0},
                                "approvals_saved": 0, "stricter": 0, "approvals_added": 0,
                                "outcomes": {o: 0 for o in OUTCOMES}, "weeks": {}, "disagreements": []}
            c["decided"] += 1
            wk = c["weeks"].setdefault(week_of(p.t), {"decided": 0, "would_allow": 0, "approvals_saved": 0,
                                                      "rejected_or_edited": 0, "errors": 0})
            wk["decided"] += 1
            wk["errors"] += s.error is not None
            if s.error is not None:
                c["errors"] += 1
            else:
                c["outcomes"][s.outcome] += 1
            if s.outcome == p.outcome:
                c["agree"] += 1
                continue
            c["disagree"] += 1
            if s.outcome == "allow":
                wa = c["would_allow"]
                wa["total"] += 1
                wk["would_allow"] += 1
                if p.outcome == "require_approval":
                    wa[p.verdict or "pending"] += 1
                    if p.verdict == "approved":
                        c["approvals_saved"] += 1
                        wk["approvals_saved"] += 1
                    wk["rejected_or_edited"] += p.verdict in ("rejected", "edited")
                else:
                    wa["not_requested"] += 1
            elif p.outcome == "allow":
                c["stricter"] += 1
                if s.outcome == "require_approval":
                    c["approvals_added"] += 1
            if len(c["disagreements"]) < DISAGREEMENTS_KEPT:
                c["disagreements"].append({
                    "action_id": p.id, "at": format_timestamp(datetime.fromtimestamp(p.t, timezone.utc)),
                    "tool": p.tool, "live": p.outcome, "candidate": s.outcome, "error": s.error,
                    "verdict": p.verdict if p.outcome == "require_approval" else None})
    for c in cands.values():
        c["weeks"] = [dict(week=w, **v) for w, v in sorted(c["weeks"].items())]
        # what a reviewer must see first: allowed where humans rejected or edited, then the candidate's errors
        c["disagreements"].sort(key=lambda d: (0 if d["candidate"] == "allow" and d["verdict"] in ("rejected", "edited")
                                               else 1 if d["error"] is not None else 2))
    return list(cands.values())


def trends(proposals: Sequence[Proposal], source: Dict[str, Any], shadow: bool = False,
           skipped: int = 0) -> Dict[str, Any]:
    """The trends report (JSON-ready): by ISO week, per tool and per route, the policy changes, and with
    `shadow` each shadow candidate compared with the live decisions and the humans' verdicts."""
    ps = sorted(proposals, key=lambda p: p.t)
    labels = _labels([p.policy for p in ps] + [s.candidate for p in ps for s in p.shadows])
    changes = _versions(ps, labels)
    weeks = [_week_row(w, wps, labels, changes) for w, wps in _grouped(ps, lambda p: (week_of(p.t),))]

    def stamp(t: float) -> str:
        return format_timestamp(datetime.fromtimestamp(t, timezone.utc))

    report: Dict[str, Any] = {
        "report": "trends", "source": source, "total": len(ps), "skipped": skipped,
        "period": {"first": stamp(ps[0].t) if ps else None, "last": stamp(ps[-1].t) if ps else None,
                   "weeks": len(weeks)},
        "overall": {"outcomes": {o: sum(1 for p in ps if p.outcome == o) for o in OUTCOMES},
                    "automation_rate": _share(sum(1 for p in ps if p.outcome == "allow"), len(ps)),
                    "approvals": _verdicts(ps), **_waits(ps),
                    "escalations": sum(1 for p in ps if p.escalated)},
        "weeks": weeks, "versions": changes,
        "routes": _per(ps, lambda p: p.routes if p.outcome == "require_approval" else (), True),
        "tools": _per(ps, lambda p: (p.tool,), False),
    }
    if shadow:
        report["shadow"] = _shadow(ps, labels)
    return report
