"""`signoff recommend`'s report for people: text and one HTML page, from the JSON report (engine.recommend)."""
from __future__ import annotations

import html
from typing import Any, Dict, List

from policy_lang.safe_text import safe_text

from .simulate import CSS


def _n(x: Any) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:,.1f}"
    return f"{x:,}" if isinstance(x, int) else safe_text(x)


def _pct(x: Any) -> str:
    return "–" if x is None else f"{x:.2%}"


def _tools(r: Dict[str, Any]) -> str:
    return ", ".join(safe_text(t) for t in r["tools"])


def _lines(r: Dict[str, Any]) -> List[str]:
    """The recommendation's evidence as lines of text."""
    h = r["holdout"]
    # a quorum lowered lets drafts execute one approval earlier; other levers let actions skip the wait
    let = (f"reached {_n(r['new'])} of {_n(r['old'])} approvals, then" if r.get("lever") == "quorum"
           else "would have been allowed without waiting:")
    held = f"reached {_n(r['new'])}, then" if r.get("lever") == "quorum" else "allowed:"
    out = [f"{r['at']}  {safe_text(r['change'])}   (tools: {_tools(r)})",
           f"    fit:      {_n(r['auto_allowed'])} {let} {_n(r['approved'])} "
           f"approved unchanged, {_n(r['rejected'])} rejected, {_n(r['edited'])} edited, {_n(r['expired'])} expired, "
           f"{_n(r['no_verdict'])} without a verdict",
           f"              upper bound on the rate humans changed: {_pct(r['upper_bound'])}; approvals saved per 30 days: "
           f"{_n(r['approvals_saved_per_30d'])} ("
           + ", ".join(f"{safe_text(k)} {_n(v)}" for k, v in r["approvals_saved_per_30d_by_route"].items()) + ")",
           f"    held out: {_n(h['auto_allowed'])} {held} {_n(h['approved'])} approved unchanged, {_n(h['rejected'])} "
           f"rejected, {_n(h['edited'])} edited, {_n(h['expired'])} expired; upper bound {_pct(h['upper_bound'])}; "
           f"approvals saved per 30 days: {_n(h['approvals_saved_per_30d'])}"]
    for x in h["rejected_or_edited"]:
        out.append(f"      held-out {safe_text(x['verdict'])}: {safe_text(x['action_id'])} ({safe_text(x['where'])}) "
                   f"by {safe_text(x['by'])}")
    return out


def text_report(rep: Dict[str, Any]) -> str:
    """The report as plain text."""
    p, h, o = rep["policy"], rep["history"], rep["options"]
    out = [f"signoff recommend: {safe_text(p['name'])} {safe_text(p.get('version') or '')}".rstrip(),
           f"history: {_n(h['actions'])} actions; fit on the earliest {_n(h['fit'])} "
           f"({h['fit_period'][0]} .. {h['fit_period'][1]}), {_n(h['holdout'])} held out"
           + (f" ({h['holdout_period'][0]} .. {h['holdout_period'][1]})" if h["holdout"] else ""),
           f"{_n(h['waited_for_humans'])} waited for humans; {_n(h['human_verdicts'])} human verdicts "
           f"({_n(h['verdicts_on_other_outcomes'])} on actions this policy does not send to humans)",
           f"a lever moves when no action a human rejected would be let through and the {o['confidence']:.0%} upper "
           f"bound on the rate humans changed is at most {o['max_risk']:.2%} "
           f"(at least {rep['needed']} approved unchanged, none changed)", ""]
    out.append("Where the policy waits for humans (fit part):")
    for pl in rep["places"]:
        out.append(f"  {pl['at']}  {safe_text(pl['rule'])} via {safe_text(pl['route'])}: {_n(pl['waited'])} waited "
                   f"({_n(pl['approved'])} approved, {_n(pl['edited'])} edited, {_n(pl['rejected'])} rejected, "
                   f"{_n(pl['expired'])} expired)  tools: {', '.join(safe_text(t) for t in pl['tools'])}")
    out.append("")
    if rep["recommendations"]:
        out.append(f"Recommendations ({len(rep['recommendations'])}):")
        for r in rep["recommendations"]:
            out.extend("  " + line for line in _lines(r))
        t = rep["total"]
        quorum = [r for r in rep["recommendations"] if r.get("lever") == "quorum"]
        if len(quorum) < len(rep["recommendations"]):
            out.append(f"Together: {_n(t['auto_allowed'])} fewer approvals in the fit part, "
                       f"{_n(t['approvals_saved_per_30d'])} per 30 days; {_n(t['looser'])} actions decided more "
                       f"loosely over the whole history (what `signoff diff --history` counts)")
        if quorum:
            # a lower quorum changes no decision: diff replays no change, it shows the route's quorum
            out.append(f"Lower quorums: {_n(sum(r['auto_allowed'] for r in quorum))} fewer approvals in the fit part, "
                       f"{_n(t.get('approvals_saved_by_quorum_per_30d'))} per 30 days; no decision changes "
                       "(`signoff diff` shows the quorum under the route)")
        if rep["other_transitions"]:
            out.append("Other changes in the replay (budgets see a different ledger): "
                       + ", ".join(f"{k} {_n(v)}" for k, v in sorted(rep["other_transitions"].items())))
    elif rep.get("grants"):
        out.append(f"No policy change recommended: {safe_text(rep['explanation'])}")
    else:
        out.append(f"No recommendation: {safe_text(rep['explanation'])}")
    if rep.get("grants"):
        # a grant is a record in the approval store, not a policy change: given with the command, never by --out
        out.append("")
        out.append(f"Standing grants ({len(rep['grants'])}; records in the store, not policy changes):")
        for g in rep["grants"]:
            hold = g["holdout"]
            out.append(f"  {g['at']}  {safe_text(g['change'])}: {_n(g['auto_allowed'])} approved by grant "
                       f"({_n(g['rejected'])} rejected, {_n(g['edited'])} edited, {_n(g['expired'])} expired), "
                       f"upper bound {g['upper_bound']:.2%}, {_n(g['approvals_saved_per_30d'])} approvals saved "
                       f"per 30 days; held out: {_n(hold['auto_allowed'])} ({_n(hold['rejected'])} rejected, "
                       f"{_n(hold['edited'])} edited)")
            out.append(f"    $ {safe_text(g['command'])}")
    if rep["considered"]:
        out.append("")
        out.append("Not recommended:")
        for c in rep["considered"]:
            what = safe_text(c["lever"]) + (f" → level {safe_text(c['level'])}" if c.get("level") else "")
            out.append(f"  {c['at']}  {what}: {safe_text(c['reason'])}")
    if rep.get("written"):
        out.append("")
        out.append(f"wrote {safe_text(rep['written'])}")
    return "\n".join(out) + "\n"


def html_report(rep: Dict[str, Any]) -> str:
    """The report as one HTML page (the simulate report's style)."""
    e = html.escape
    p = rep["policy"]
    title = f"signoff recommend: {p['name']}"
    body = [f"<h1>{e(title)}</h1>", f'<p class="meta">{e(str(p.get("version") or ""))} '
            f'<span class="digest">{e(str(p.get("digest") or ""))}</span></p>']
    body.append("<pre>" + e(text_report(rep)) + "</pre>")
    rows = "".join(
        f"<tr><td>{e(r['at'])}</td><td>{e(r['change'])}</td><td>{e(_tools(r))}</td><td>{r['auto_allowed']}</td>"
        f"<td>{r['rejected']}</td><td>{r['edited']}</td><td>{e(_pct(r['upper_bound']))}</td>"
        f"<td>{e(_n(r['approvals_saved_per_30d']))}</td><td>{r['holdout']['auto_allowed']}</td>"
        f"<td>{r['holdout']['rejected']}</td><td>{r['holdout']['edited']}</td></tr>" for r in rep["recommendations"])
    body.append("<section><h2>Recommendations</h2><table><tr><th>at</th><th>change</th><th>tools</th>"
                "<th>allowed</th><th>rejected</th><th>edited</th><th>upper bound</th><th>saved / 30 d</th>"
                "<th>held out</th><th>held-out rejected</th><th>held-out edited</th></tr>" + rows + "</table></section>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
            f"<title>{e(title)}</title><style>{CSS}</style></head><body>" + "\n".join(body) + "</body></html>\n")
