"""What a search becomes: the JSON report (`signoff recommend --format json`) and the recommended policy's
text (`--out`): the root file's AST with the levers moved, printed by the formatter, comments kept."""
from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional

from policy_lang import ast as A
from policy_lang.checker import load
from policy_lang.lint import lint_file, lint_text
from policy_lang.printer import format_module

from .levers import moved_module, replacement
from .grants import GrantRecommendation
from .quorum import QuorumRecommendation
from .search import NONE, Counts, Recommendation, RecommendError, Search, fit_span, holdout_span, needed, rate
from .stats import upper_bound


def _iso(t: Optional[float]) -> Optional[str]:
    if t is None:
        return None
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _counts(c: Optional[Counts]) -> Dict[str, int]:
    c = c or Counts(0, 0, 0, 0, 0, 0)
    return {"auto_allowed": c.auto_allowed, "approved": c.approved, "rejected": c.rejected, "edited": c.edited,
            "expired": c.expired, "no_verdict": c.no_verdict}


def _per_route(by: Dict[str, int], span: Any) -> Dict[str, Optional[float]]:
    return {route: _r(rate(n, span)) for route, n in sorted(by.items())}


def _r(x: Optional[float]) -> Optional[float]:
    return None if x is None else round(x, 1)


def recommendation_dict(r: Recommendation, s: Search) -> Dict[str, Any]:
    """One recommendation, JSON-ready."""
    conf = s.options["confidence"]
    fs, hs = fit_span(s.base, s.cut), holdout_span(s.base, s.cut)
    fit = r.fit_verified or r.fit
    hold = r.holdout or Counts(0, 0, 0, 0, 0, 0)
    out: Dict[str, Any] = {
        "tool": r.tools[0] if len(r.tools) == 1 else r.tools,
        "tools": r.tools,
        "lever": r.lever.kind, "change": r.change, "at": r.lever.at,
        "old": r.lever.current if r.lever.kind == "threshold" else r.lever.node.level,
        "new": r.value if r.lever.kind == "threshold" else r.lever.level,
        "places": [{"rule": rule, "at": at} for rule, at in r.places],
        **_counts(fit),
        "upper_bound": r.bound,
        "approvals_saved_per_30d": _r(rate(fit.auto_allowed, fs)),
        "approvals_saved_per_30d_by_route": _per_route(r.by_route_fit, fs),
    }
    out["holdout"] = {**_counts(hold),
                      "upper_bound": upper_bound(hold.changed, hold.reviewed, conf) if s.cut < s.base.n else None,
                      "approvals_saved_per_30d": _r(rate(hold.auto_allowed, hs)),
                      "approvals_saved_per_30d_by_route": _per_route(r.by_route_holdout, hs),
                      "rejected_or_edited": r.holdout_listed}
    return out


def quorum_dict(q: QuorumRecommendation, s: Search) -> Dict[str, Any]:
    """One quorum recommendation, JSON-ready, with the keys of a lever's (`auto_allowed`: the drafts that
    would have executed at the lower quorum; `approvals_saved_per_30d`: one approval each)."""
    conf = s.options["confidence"]
    fs, hs = fit_span(s.base, s.cut), holdout_span(s.base, s.cut)
    fit_rate, hold_rate = _r(rate(q.fit.auto_allowed, fs)), _r(rate(q.holdout.auto_allowed, hs))
    return {"tool": q.tools[0] if len(q.tools) == 1 else q.tools, "tools": q.tools, "lever": "quorum",
            "change": q.change, "at": q.at, "old": q.old, "new": q.new, "route": q.route.name,
            "places": [{"rule": f"route {q.route.name}", "at": q.at}], **_counts(q.fit), "upper_bound": q.bound,
            "approvals_saved_per_30d": fit_rate, "approvals_saved_per_30d_by_route": {q.route.name: fit_rate},
            "holdout": {**_counts(q.holdout),
                        "upper_bound": upper_bound(q.holdout.changed, q.holdout.reviewed, conf)
                        if s.cut < s.base.n else None,
                        "approvals_saved_per_30d": hold_rate,
                        "approvals_saved_per_30d_by_route": {q.route.name: hold_rate},
                        "rejected_or_edited": q.holdout_listed}}


def grant_dict(g: GrantRecommendation, s: Search) -> Dict[str, Any]:
    """One standing-grant recommendation, JSON-ready: the counts of a lever's and the `command` that gives it
    (a runtime record in the store, not a policy change: `--out` never writes it)."""
    conf = s.options["confidence"]
    fs, hs = fit_span(s.base, s.cut), holdout_span(s.base, s.cut)
    fit_rate, hold_rate = _r(rate(g.fit.auto_allowed, fs)), _r(rate(g.holdout.auto_allowed, hs))
    return {"tool": g.tool, "lever": "grant", "change": g.change, "at": g.at, "route": g.route, "arg": g.arg,
            "max": g.value, "by": g.by, "command": g.command, **_counts(g.fit), "upper_bound": g.bound,
            "approvals_saved_per_30d": fit_rate, "approvals_saved_per_30d_by_route": {g.route: fit_rate},
            "holdout": {**_counts(g.holdout),
                        "upper_bound": upper_bound(g.holdout.changed, g.holdout.reviewed, conf)
                        if s.cut < s.base.n else None,
                        "approvals_saved_per_30d": hold_rate,
                        "approvals_saved_per_30d_by_route": {g.route: hold_rate},
                        "rejected_or_edited": g.holdout_listed}}


def places(s: Search) -> List[Dict[str, Any]]:
    """Each place the policy waits for humans (its binding approval reason), with its fit-part counts."""
    rows: Dict[Any, Dict[str, Any]] = {}
    for g in s.base.gated:
        if g.idx >= s.cut:
            continue
        row = rows.get(g.place)
        if row is None:
            row = rows[g.place] = {"rule": g.place[0], "at": g.place[1], "route": g.route, "tools": set(),
                                   "waited": 0, "approved": 0, "edited": 0, "rejected": 0, "expired": 0,
                                   "no_verdict": 0}
        row["tools"].add(g.tool or NONE)
        row["waited"] += 1
        row[g.verdict or "no_verdict"] += 1
    out = []
    for row in sorted(rows.values(), key=lambda r: (-r["waited"], r["at"])):
        row["tools"] = sorted(row["tools"])
        out.append(row)
    return out


def report(s: Search, written: Optional[str] = None) -> Dict[str, Any]:
    """The whole report, JSON-ready."""
    fs, hs = fit_span(s.base, s.cut), holdout_span(s.base, s.cut)
    b = s.base
    total = Counts(*[sum(x) for x in zip(*[r.fit_verified or r.fit for r in s.recommendations])]) \
        if s.recommendations else Counts(0, 0, 0, 0, 0, 0)
    out: Dict[str, Any] = {
        "policy": dict(s.policy.graph.policy),
        "options": dict(s.options),
        "history": {"actions": b.n, "fit": s.cut, "holdout": b.n - s.cut,
                    "fit_period": [_iso(fs[0]), _iso(fs[1])], "holdout_period": [_iso(hs[0]), _iso(hs[1])],
                    "waited_for_humans": len(b.gated), "human_verdicts": b.verdicts,
                    "verdicts_on_other_outcomes": b.verdicts_elsewhere},
        "needed": needed(s.options["confidence"], s.options["max_risk"]),
        "places": places(s),
        "recommendations": [recommendation_dict(r, s) for r in s.recommendations]
        + [quorum_dict(q, s) for q in s.quorum],
        "grants": [grant_dict(g, s) for g in s.grants],
        "considered": s.considered,
        "total": {**_counts(total), "approvals_saved_per_30d": _r(rate(total.auto_allowed, fs)),
                  # over the whole history, as `signoff diff --history` counts: every action the
                  # recommended policy decides more loosely
                  "auto_allowed_whole_history": s.allowed_count, "looser": s.allowed_count + s.other_looser,
                  # a lower quorum saves one approval per draft and changes no decision: counted apart
                  "approvals_saved_by_quorum_per_30d": _r(rate(sum(q.fit.auto_allowed for q in s.quorum), fs))},
        "side_effects": _counts(s.side_effects),
        "other_transitions": s.other_transitions,
        "explanation": s.explanation,
    }
    if written is not None:
        out["written"] = written
    return out


# ---------------------------------------------------------------- the recommended policy

def _evidence(r: Recommendation, s: Search) -> str:
    fit = r.fit_verified or r.fit
    hold = r.holdout or Counts(0, 0, 0, 0, 0, 0)
    conf = s.options["confidence"]
    text = (f"# signoff recommend: {r.change}: {fit.auto_allowed} waits in the fit part, {fit.approved} approved "
            f"unchanged, {fit.rejected} rejected, {fit.edited} edited, {fit.expired} expired; upper bound "
            f"{r.bound:.2%} at {conf:.0%}")
    if s.cut < s.base.n:
        text += (f"; held out: {hold.auto_allowed} let through, {hold.rejected} rejected, {hold.edited} edited")
    return text


def _quorum_evidence(q: QuorumRecommendation, s: Search) -> str:
    f, h = q.fit, q.holdout
    text = (f"# signoff recommend: {q.change}: {f.auto_allowed} drafts in the fit part reached {q.new} of {q.old} approvals, "
            f"then "
            f"{f.approved} approved unchanged, {f.rejected} rejected, {f.edited} edited, {f.expired} expired; "
            f"upper bound {q.bound:.2%} at {s.options['confidence']:.0%}")
    if s.cut < s.base.n:
        text += f"; held out: {h.auto_allowed} reached {q.new}, then {h.rejected} rejected, {h.edited} edited"
    return text


def new_version(old: Optional[str], s: Search) -> str:
    """The recommended policy's version: the old one, `+rec.` and the date of the history's last action."""
    last = s.base.times[s.base.n - 1] if s.base.n else 0.0
    day = datetime.fromtimestamp(last, timezone.utc).strftime("%Y%m%d")
    return f"{old or '0'}+rec.{day}"


def lints_clean(s: Search, recs: List[Recommendation]) -> bool:
    """Would the policy with `recs` applied load and lint with no error or warning the original has not?
    (A level lowered can leave a category no tool reaches: W108; such a move is not recommended.)"""
    from policy_lang.errors import PolicyError
    root = next(f for f in s.policy.program.files if f.is_root)
    text = policy_text(s, recs)
    try:
        load(root.path, text)
    except PolicyError:
        return False
    old = {(d.code, d.message) for d in lint_text(root.text, root.path)}
    return not [d for d in lint_text(text, root.path)
                if (d.code, d.message) not in old and d.severity in ("error", "warning")]


def policy_text(s: Search, recs: Optional[List[Recommendation]] = None) -> str:
    """The recommended policy: the root file's module with every recommendation's lever moved, a comment
    above each changed line citing its evidence, and a new `version`."""
    root = next(f for f in s.policy.program.files if f.is_root)
    module = root.module
    recs = s.recommendations if recs is None else recs
    swaps = [replacement(r.lever, r.value) for r in recs] + [q.swap() for q in s.quorum]
    module = moved_module(module, swaps)
    comments = list(module.comments)
    for r in recs:
        comments.append(A.Comment(_evidence(r, s), r.lever.span.line, 0, True))
    for q in s.quorum:
        comments.append(A.Comment(_quorum_evidence(q, s), q.line, 0, True))
    decls = list(module.decls)
    version = new_version(s.policy.version, s)
    vi = next((i for i, d in enumerate(decls) if isinstance(d, A.VersionDecl)), None)
    if vi is not None:
        old = decls[vi]
        assert isinstance(old, A.VersionDecl)
        decls[vi] = dataclasses.replace(old, version=version)
        comments.append(A.Comment(f"# signoff recommend: version {s.policy.version} → {version}, "
                                  f"from {s.base.n} actions", old.span.line, 0, True))
    else:
        pi = next((i for i, d in enumerate(decls) if isinstance(d, A.PolicyDecl)), -1)
        decls.insert(pi + 1, A.VersionDecl(version))
    module = dataclasses.replace(module, decls=tuple(decls), comments=tuple(comments))
    return format_module(module)


def check_written(text: str, out_path: str, original_path: str) -> None:
    """The recommended policy must load at `out_path` and lint with no error or warning the original has
    not; else it is a bug of the recommender, reported and never written."""
    from policy_lang.errors import PolicyError
    try:
        load(out_path, text)
    except PolicyError as e:
        first = e.diagnostics[0] if e.diagnostics else None
        why = f"{first.code} {first.message}" if first is not None else "it does not load"
        raise RecommendError("recommended_policy_invalid",
                             f"the recommended policy does not load at `{out_path}` ({why}): not written") from None
    old = {(d.code, d.message) for d in lint_file(original_path)}
    new = [d for d in lint_text(text, out_path)
           if (d.code, d.message) not in old and d.severity in ("error", "warning")]
    if new:
        raise RecommendError("recommended_policy_invalid",
                             f"the recommended policy does not lint clean ({new[0].code} {new[0].message}): "
                             "not written")
