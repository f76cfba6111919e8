"""The trends report as text and as one self-contained HTML page (simulate's style), both drawn from `TREND_SECTIONS`.

Each section builds `Table`s from the JSON report of `engine.report.trends.trends`; the text renderer prints
them as plain columns (every cell escaped with `safe_text`), the HTML renderer as tables under inline SVG
charts (no script, nothing loaded, every string escaped). Weeks in which the policy in force changed carry
the new version in a `change` column and a dashed marker on every weekly chart.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

from policy_lang.safe_text import safe_text

from .simulate import COLORS, CSS, ROUTE_COLORS, Part, Section, Table, _table, e, num, pct

__all__ = ["TREND_SECTIONS", "trends_text", "trends_html", "duration"]

TOP = 20                       # rows of a long table in the text report (JSON and HTML have them all)
VERDICT_COLORS = {"approved": "#2e7d32", "edited": "#1e88e5", "rejected": "#c62828", "expired": "#8e24aa",
                  "pending": "#9e9e9e"}
EXTRA_CSS = (".marker{stroke:#333;stroke-dasharray:4 3}.marker-label{font-size:10px;fill:#333}"
             ".scroll{overflow-x:auto}.caption{font-weight:600;margin:10px 0 0}")


def duration(seconds: Optional[float]) -> str:
    """A wait as people read it: `45s`, `12m`, `3.5h`, `2.0d`; `-` for none."""
    if seconds is None:
        return "-"
    if seconds < 59.5:
        return f"{seconds:.0f}s"
    if seconds < 59.5 * 60:
        return f"{seconds / 60:.0f}m"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def _rate(x: Optional[float]) -> str:
    return pct(x) if x is not None else "-"


def _changes(r: Dict[str, Any]) -> Dict[str, str]:
    """Week → `→ LABEL` for the weeks in which the policy in force changed (the first policy is no change)."""
    out: Dict[str, str] = {}
    for c in r["versions"]:
        if c["from"] is not None:
            out[c["week"]] = (out[c["week"]] + ", " if c["week"] in out else "→ ") + c["label"]
    return out


# ---------------------------------------------------------------- sections

def _weeks(r: Dict[str, Any]) -> Part:
    marks = _changes(r)
    rows, keys = [], []
    for i, w in enumerate(r["weeks"]):
        a = w["approvals"]
        rows.append([w["week"], w["start"], w["total"], _rate(w["automation_rate"]), a["requested"],
                     _rate(a["rates"]["approved"]), _rate(a["rates"]["edited"]), _rate(a["rates"]["rejected"]),
                     _rate(a["rates"]["expired"]), a["pending"], duration(w["p50_seconds"]),
                     duration(w["p90_seconds"]), w["escalations"], w["denials"], ", ".join(w["policies"]),
                     marks.get(w["week"], "")])
        keys.append([None, None, f"weeks.{i}.total", f"weeks.{i}.automation_rate", f"weeks.{i}.approvals.requested"]
                    + [None] * 4 + [f"weeks.{i}.approvals.pending", None, None, f"weeks.{i}.escalations",
                                    f"weeks.{i}.denials", None, None])
    return Part([Table(["week", "from", "proposals", "automated", "requests", "approved", "edited", "rejected",
                        "expired", "pending", "p50", "p90", "escalations", "denials", "policy", "change"], rows,
                       keys)],
                "automated: allowed without a human, of all proposals; approved … expired: shares of the week's "
                "approval requests; p50/p90: time from proposal to approval; change: the policy version put in "
                "force that week")


def _versions(r: Dict[str, Any]) -> Part:
    rows = [[c["at"], c["week"], c["from"] or "(first)", c["label"], c["policy"].get("name") or "",
             c["policy"].get("digest") or ""] for c in r["versions"]]
    return Part([Table(["in force from", "week", "from", "to", "policy", "digest"], rows)])


def _per(key: str, name: str, waits: bool) -> Any:
    def build(r: Dict[str, Any]) -> Part:
        marks = _changes(r)
        rows = []
        for item, weeks in r[key].items():
            for w in weeks:
                rates = w["rates"]
                row: List[Any] = [item, w["week"]]
                if not waits:
                    row += [w["total"], _rate(w["automation_rate"])]
                row += [w["requested"], _rate(rates["approved"]), _rate(rates["edited"]), _rate(rates["rejected"]),
                        _rate(rates["expired"]), w["pending"]]
                if waits:
                    row += [duration(w["p50_seconds"]), duration(w["p90_seconds"])]
                rows.append(row + [marks.get(w["week"], "")])
        header = [name, "week"] + ([] if waits else ["proposals", "automated"]) + \
            ["requests", "approved", "edited", "rejected", "expired", "pending"] + \
            (["p50", "p90"] if waits else []) + ["change"]
        return Part([Table(header, rows)],
                    "an action whose reasons name two routes waits in both queues: it counts in each" if waits else None)
    return build


def _shadow_summary(c: Dict[str, Any]) -> Table:
    wa = c["would_allow"]
    return Table(["decided", "agree", "disagree", "errors", "would auto-allow", "humans approved (approvals saved)",
                  "humans edited", "humans rejected", "expired", "pending", "not approval requests", "stricter",
                  "approvals added"],
                 [[c["decided"], c["agree"], c["disagree"], c["errors"], wa["total"], c["approvals_saved"],
                   wa["edited"], wa["rejected"], wa["expired"], wa["pending"], wa["not_requested"], c["stricter"],
                   c["approvals_added"]]],
                 [["decided", "agree", "disagree", "errors", "would_allow.total", "approvals_saved",
                   "would_allow.edited", "would_allow.rejected", "would_allow.expired", "would_allow.pending",
                   "would_allow.not_requested", "stricter", "approvals_added"]],
                 [[False] * 6 + [bool(wa["edited"]), bool(wa["rejected"])] + [False] * 5])


def _disagreements(c: Dict[str, Any]) -> Table:
    rows = [[d["at"], str(d["action_id"]) if d["action_id"] is not None else "(no id)", d["tool"], d["live"],
             d["candidate"] or f"error: {d['error']}", d["verdict"] or ""] for d in c["disagreements"]]
    marks = [[False] * 5 + [d["candidate"] == "allow" and d["verdict"] in ("rejected", "edited")]
             for d in c["disagreements"]]
    return Table(["at", "action", "tool", "live", "candidate", "human verdict"], rows, None, marks)


def _shadow(r: Dict[str, Any]) -> Part:
    cands = r.get("shadow") or []
    if not cands:
        return Part([], "no shadow decisions recorded: run the gate with `shadow=[…]` or `signoff serve --shadow`")
    tables: List[Table] = []
    for c in cands:
        weeks = Table(["week", "decided", "would auto-allow", "approvals saved", "humans rejected or edited", "errors"],
                      [[w["week"], w["decided"], w["would_allow"], w["approvals_saved"], w["rejected_or_edited"],
                        w["errors"]] for w in c["weeks"]], None,
                      [[False] * 4 + [bool(w["rejected_or_edited"]), False] for w in c["weeks"]])
        tables += [Table(["candidate", "name", "digest"],
                         [[c["label"], c["candidate"].get("name") or "", c["candidate"].get("digest") or ""]]),
                   _shadow_summary(c), weeks, _disagreements(c)]
    return Part(tables, "would auto-allow: the candidate allows what the live policy did not; marked (*): the "
                        "humans rejected or edited what it would have allowed; approvals saved: requests the humans "
                        "approved unchanged that it allows; stricter: live allows, the candidate does not")


TREND_SECTIONS: List[Section] = [
    Section("weeks", "By week", "Proposals, automation and the humans' verdicts per ISO week (UTC), with the policy "
            "in force.", _weeks),
    Section("versions", "Policy versions", "Each policy put in force, from its first decision.", _versions),
    Section("routes", "By route", "Approval requests per route and week: the verdicts and the time to approval.",
            _per("routes", "route", True)),
    Section("tools", "By tool", "Proposals per tool and week: automation and the verdicts on its approval requests.",
            _per("tools", "tool", False)),
]
SHADOW_SECTION = Section("shadow", "Shadow candidates",
                         "Each candidate's decisions of the live proposals against the live ones and the humans' "
                         "verdicts: never enforced.", _shadow)


def _sections(r: Dict[str, Any]) -> List[Section]:
    return TREND_SECTIONS + ([SHADOW_SECTION] if "shadow" in r else [])


def heading(r: Dict[str, Any]) -> List[str]:
    """The report's first lines: where the record came from, its period, what was counted, the policies."""
    src = r["source"]
    if "store" in src:
        where = f"store: {src['store']}"
    else:
        where = f"histories: {', '.join(src.get('histories', []))}"
        if src.get("policy"):
            p = src["policy"]
            where += f" (records without a decision decided with {p.get('name')} {p.get('version') or ''})".rstrip()
    period = r["period"]
    weeks = period["weeks"]
    lines = [f"signoff report: {where}",
             f"period: {period['first'] or '-'} … {period['last'] or '-'} ({weeks} ISO week{'s' if weeks != 1 else ''})",
             f"proposals: {num(r['total'])}" + (f", {num(r['skipped'])} malformed records skipped" if r["skipped"] else ""),
             "policies: " + (", ".join(f"{c['label']} from {c['at']}" for c in r["versions"]) or "none")]
    o = r["overall"]
    lines.append(f"automation rate: {_rate(o['automation_rate'])}; approval requests: {num(o['approvals']['requested'])}, "
                 f"approved {_rate(o['approvals']['rates']['approved'])}, edited {_rate(o['approvals']['rates']['edited'])}, "
                 f"rejected {_rate(o['approvals']['rates']['rejected'])}, expired {_rate(o['approvals']['rates']['expired'])}; "
                 f"time to approval p50 {duration(o['p50_seconds'])}, p90 {duration(o['p90_seconds'])}")
    if o["approvals"]["requested"] and o["approvals"]["pending"] == o["approvals"]["requested"]:
        lines.append("the record holds no human verdicts: every approval request counts as pending")
    return lines


# ---------------------------------------------------------------- text

def _text_table(t: Table) -> List[str]:
    if not t.rows:
        return ["none"]
    rows = [[safe_text(num(c)) + (" *" if t.marks and t.marks[i][j] else "") for j, c in enumerate(row)]
            for i, row in enumerate(t.rows[:TOP])]
    widths = [max(len(x) for x in col) for col in zip(t.header, *rows)]
    out = ["  ".join(h.ljust(w) for h, w in zip(t.header, widths)).rstrip()]
    out += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    if len(t.rows) > TOP:
        out.append(f"{num(len(t.rows) - TOP)} more rows in the JSON and HTML reports")
    return out


def trends_text(r: Dict[str, Any]) -> str:
    """The report as plain text columns: nothing cut, nothing wrapped, every cell one escaped field."""
    out = [safe_text(line) for line in heading(r)]
    for s in _sections(r):
        part = s.build(r)
        out += ["", s.title, s.explain]
        if not part.tables:
            out.append("none")
        for t in part.tables:
            out += _text_table(t)
        if part.note:
            out.append(safe_text(part.note))
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- HTML charts

W, H, LEFT, BOTTOM = 760, 240, 56, 40


def _frame(cid: str, label: str, top: float, fmt: Any) -> List[str]:
    parts = [f'<svg class="chart" id="{e(cid)}" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" '
             f'aria-label="{e(label)}">']
    for i in range(5):
        y = H - BOTTOM - (H - BOTTOM - 10) * i / 4
        parts.append(f'<line x1="{LEFT}" x2="{W - 10}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
                     f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{e(fmt(top * i / 4))}</text>')
    return parts


def _week_axis(r: Dict[str, Any], x_of: Any) -> List[str]:
    """Week labels under the chart and a dashed marker, labelled with the new version, where the policy changed."""
    weeks = [w["week"] for w in r["weeks"]]
    marks = _changes(r)
    parts = []
    for i, wk in enumerate(weeks):
        if i % max(1, len(weeks) // 12) == 0:
            parts.append(f'<text x="{x_of(i):.1f}" y="{H - BOTTOM + 14}" text-anchor="middle">{e(wk[5:])}</text>')
        if wk in marks:
            x = x_of(i)
            parts.append(f'<line class="marker" x1="{x:.1f}" x2="{x:.1f}" y1="10" y2="{H - BOTTOM}"/>'
                         f'<text class="marker-label" x="{x + 3:.1f}" y="20">{e(marks[wk])}</text>')
    return parts


def _legend(items: List[Any]) -> str:
    keys = "".join(f'<span class="key"><i style="background:{color}"></i>{e(name)}</span>' for name, color in items)
    return f'<div class="legend">{keys}</div>'


def chart_automation(r: Dict[str, Any]) -> str:
    """The automation rate per week (bars), with the policy changes marked."""
    weeks = r["weeks"]
    if not weeks:
        return "<p>no proposals</p>"
    bw = (W - LEFT - 10) / len(weeks)
    parts = _frame("chart-automation", "automation rate per week", 1.0, lambda v: f"{v * 100:.0f}%")
    for i, w in enumerate(weeks):
        v = w["automation_rate"] or 0.0
        bh = (H - BOTTOM - 10) * v
        parts.append(f'<rect x="{LEFT + i * bw + 1:.1f}" y="{H - BOTTOM - bh:.1f}" width="{max(bw - 2, 1):.1f}" '
                     f'height="{bh:.1f}" fill="{COLORS["allow"]}"><title>{e(w["week"])}: {e(_rate(w["automation_rate"]))} '
                     f'of {e(num(w["total"]))} automated</title></rect>')
    parts += _week_axis(r, lambda i: LEFT + i * bw + bw / 2)
    parts.append("</svg>")
    return "".join(parts)


def chart_verdicts(r: Dict[str, Any]) -> str:
    """The humans' verdicts per week, as shares of the week's approval requests (stacked bars)."""
    weeks = r["weeks"]
    if not any(w["approvals"]["requested"] for w in weeks):
        return "<p>no approval requests</p>"
    bw = (W - LEFT - 10) / len(weeks)
    parts = _frame("chart-verdicts", "verdicts per week", 1.0, lambda v: f"{v * 100:.0f}%")
    for i, w in enumerate(weeks):
        y: float = H - BOTTOM
        for v, color in VERDICT_COLORS.items():
            share = w["approvals"]["rates"][v] or 0.0
            if not share:
                continue
            bh = (H - BOTTOM - 10) * share
            y -= bh
            parts.append(f'<rect x="{LEFT + i * bw + 1:.1f}" y="{y:.1f}" width="{max(bw - 2, 1):.1f}" height="{bh:.1f}" '
                         f'fill="{color}"><title>{e(w["week"])} {e(v)}: {e(pct(share))} of '
                         f'{e(num(w["approvals"]["requested"]))} requests</title></rect>')
    parts += _week_axis(r, lambda i: LEFT + i * bw + bw / 2)
    parts.append("</svg>")
    return "".join(parts) + _legend(list(VERDICT_COLORS.items()))


def chart_waits(r: Dict[str, Any]) -> str:
    """Time to approval per route and week: p50 solid, p90 dashed."""
    weeks = [w["week"] for w in r["weeks"]]
    series = {route: {w["week"]: w for w in rows} for route, rows in r["routes"].items()}
    top = max((w[k] or 0 for rows in r["routes"].values() for w in rows for k in ("p50_seconds", "p90_seconds")),
              default=0)
    if not top:
        return "<p>no timed approvals</p>"
    step = (W - LEFT - 20) / max(1, len(weeks) - 1)
    parts = _frame("chart-waits", "time to approval per route", top, duration)
    legend = []
    for k, (route, by_week) in enumerate(series.items()):
        color = ROUTE_COLORS[k % len(ROUTE_COLORS)]
        for key, dash in (("p50_seconds", ""), ("p90_seconds", ' stroke-dasharray="5 3"')):
            pts = [f"{LEFT + i * step:.1f},{H - BOTTOM - (H - BOTTOM - 10) * by_week[wk][key] / top:.1f}"
                   for i, wk in enumerate(weeks) if wk in by_week and by_week[wk][key] is not None]
            if pts:
                parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2"{dash} points="{" ".join(pts)}">'
                             f'<title>{e(route)} {e(key[:3])}</title></polyline>')
        legend.append((f"{route} (p50 solid, p90 dashed)", color))
    parts += _week_axis(r, lambda i: LEFT + i * step)
    parts.append("</svg>")
    return "".join(parts) + _legend(legend)


CHARTS = {"weeks": [("Automation rate per week", chart_automation),
                    ("The humans' verdicts, as shares of each week's approval requests", chart_verdicts)],
          "routes": [("Time to approval per route and week", chart_waits)]}


def trends_html(r: Dict[str, Any]) -> str:
    """The report as one self-contained HTML page: no script, nothing loaded, every text escaped."""
    title = "signoff report: trends by week"
    o = r["overall"]
    body: List[str] = [f"<h1>{e(title)}</h1>", '<p class="meta">' + "<br>".join(e(x) for x in heading(r)) + "</p>"]
    cards = [("total", "proposals", num(r["total"])), ("overall.automation_rate", "automation rate",
                                                        _rate(o["automation_rate"])),
             ("overall.approvals.requested", "approval requests", num(o["approvals"]["requested"])),
             ("overall.p50_seconds", "time to approval p50", duration(o["p50_seconds"])),
             ("overall.escalations", "escalations", num(o["escalations"])),
             ("overall.outcomes.deny", "denials", num(o["outcomes"]["deny"]))]
    body.append('<div class="cards">' + "".join(f'<div class="card"><b data-k="{e(k)}">{e(v)}</b><span>{e(label)}'
                                                f'</span></div>' for k, label, v in cards) + "</div>")
    for s in _sections(r):
        part = s.build(r)
        body.append(f'<section id="{e(s.key)}"><h2>{e(s.title)}</h2><p class="explain">{e(s.explain)}</p>')
        for caption, chart in CHARTS.get(s.key, []):
            body.append(f'<p class="caption">{e(caption)}</p>' + chart(r))
        if not part.tables:
            body.append("<p>none</p>")
        body.extend(f'<div class="scroll">{_table(t)}</div>' for t in part.tables)
        if part.note:
            body.append(f'<p class="note">{e(part.note)}</p>')
        body.append("</section>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">"
            f"<title>{e(title)}</title><style>{CSS}{EXTRA_CSS}</style></head><body>" + "\n".join(body) + "</body></html>\n")
