"""The simulation report as text (rich tables when rich is installed) and as one self-contained HTML page."""
from __future__ import annotations

import html
import io
from typing import Any, Dict, List, Optional, Sequence, Tuple

from engine import OUTCOMES
from policy_lang.safe_text import safe_text

LABELS = {"allow": "allow", "require_approval": "approval", "ask": "ask", "escalate": "escalate", "deny": "deny"}
COLORS = {"allow": "#2e7d32", "require_approval": "#f9a825", "ask": "#1e88e5", "escalate": "#8e24aa", "deny": "#c62828"}
ROUTE_COLORS = ["#1565c0", "#ef6c00", "#6a1b9a", "#00838f", "#ad1457", "#558b2f", "#4e342e", "#37474f"]
TOP = 15


def pct(x: float) -> str:
    """A fraction as a percentage with one decimal, such as `87.5%`."""
    return f"{x * 100:.1f}%"


def num(n: Any) -> str:
    """An integer with thousands separators; any other value as `str` gives it."""
    return f"{n:,}" if isinstance(n, int) else str(n)


# ---------------------------------------------------------------- text

def _sections(r: Dict[str, Any]) -> List[Tuple[str, List[str], List[List[str]], Optional[str]]]:
    """(title, header, rows, note) for every table of the report; both text renderers draw these."""
    out = []
    total = r["total"]
    out.append(("Outcomes", ["outcome", "actions", "share"],
                [[o, num(r["outcomes"][o]), pct(r["shares"][o])] for o in OUTCOMES],
                f"automation rate (allowed without a human): {pct(r['automation_rate'])}; "
                f"executed in the replay: {num(r['executed'])} of {num(total)}"))
    head = ["total"] + [LABELS[o] for o in OUTCOMES]

    def rows(table: Dict[str, Dict[str, int]]) -> List[List[str]]:
        return [[k, num(v["total"])] + [num(v[o]) for o in OUTCOMES] for k, v in list(table.items())[:TOP]]
    more = len(r["by_tool"]) - TOP
    out.append(("By tool", ["tool"] + head, rows(r["by_tool"]), f"{more} more tools in the JSON report" if more > 0 else None))
    out.append(("By category", ["category"] + head, rows(r["by_category"]), None))
    queue = []
    for route, n in r["by_route"].items():
        days = r["approvals_per_route_per_day"].get(route, {})
        peak = max(days.items(), key=lambda kv: kv[1]) if days else ("-", 0)
        ndays = max(1, r["period"]["days"])
        queue.append([route, num(n), f"{n / ndays:.1f}", f"{num(peak[1])} on {peak[0]}"])
    out.append(("Approval queues", ["route", "approvals", "per day", "busiest day"], queue, None))
    for key, title, who in (("escalations", "Escalations", "to"), ("asks", "Asks", None), ("denials", "Denials", None)):
        items = r[key][:TOP]
        hdr = ["count", "rule", "at", "message"] + (["to"] if who else [])
        out.append((title, hdr, [[num(i["count"]), i["rule"], i["at"], i["message"]] + ([i[who] or ""] if who else [])
                                 for i in items], None))
    out.append(("Budget exhaustion", ["check", "at", "outcome", "times", "first", "top key"],
                [[b["check"] + (" (advisory)" if b["advisory"] else ""), b["at"], b["outcome"], num(b["count"]),
                  b["first"]["time"] if b["first"] else "", (b["top_keys"][0]["key"] + f" ×{b['top_keys'][0]['count']}")
                  if b["top_keys"] else ""] for b in r["budget_exhaustion"][:TOP]], None))
    e = r["errors"]
    err_rows = [[x["kind"], x["where"], x["message"]] for x in e["lines"][:TOP]]
    err_rows += [["evaluation", x["at"], f"{x['message']} (×{x['count']})"] for x in e["by_message"][:TOP]]
    out.append(("Errors", ["kind", "where", "message"], err_rows,
                f"malformed lines: {num(e['malformed'])} (skipped {num(e['skipped'])}); input errors: "
                f"{num(e['input'])}; actions with evaluation errors: {num(e['evaluation'])}"))
    if r["human_verdicts"]:
        cols = ["approved", "edited", "rejected", "expired", "(none)"]
        out.append(("Policy outcome × human verdict", ["policy \\ human"] + cols,
                    [[LABELS[o]] + [num(r["confusion"][o][c]) for c in cols] for o in OUTCOMES], None))
        out.append(("Risk: the policy would allow, a human rejected or edited", ["tool", "category", "rule", "at",
                    "rejected", "edited", "of allowed", "examples"],
                    [[x["tool"], x["category"], x["rule"], x["at"], num(x["rejected"]), num(x["edited"]),
                      num(x["allowed_with_verdict"]), ", ".join(str(e["action_id"]) for e in x["examples"][:3])]
                     for x in r["risk"][:TOP]], None))
        out.append(("Friction: approvals humans always granted unchanged", ["tool", "route", "rule", "at", "approved",
                    "examples"],
                    [[x["tool"], x["route"], x["rule"], x["at"], num(x["approved"]), ", ".join(map(str, x["examples"][:3]))]
                     for x in r["friction"][:TOP]], None))
    return out


def _days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"


def _heading(r: Dict[str, Any]) -> List[str]:
    p = r["policy"]
    lines = [f"signoff simulate: {p['name']}" + (f" {p['version']}" if p.get("version") else "") + f"  ({p['digest'][:19]}…)",
             f"histories: {', '.join(r['options'].get('histories', []))}",
             f"period: {r['period']['first'] or '-'} … {r['period']['last'] or '-'} ({_days(r['period']['days'])})",
             f"actions: {num(r['total'])} replayed, {num(r['read']['lines'])} read, {num(r['read']['filtered'])} "
             f"filtered out, {num(r['read']['sampled_out'])} not sampled, {num(r['errors']['skipped'])} malformed "
             f"skipped" + (" (sorted externally)" if r["read"]["sorted_externally"] else "")]
    if r["options"].get("assume_approved"):
        lines.append("every approval counted as granted (--assume-approved)")
    return lines


def _escaped(r: Dict[str, Any]) -> Tuple[List[str], List[Tuple[str, List[str], List[List[str]], Optional[str]]]]:
    """The heading lines and the tables with every cell one escaped field: tool names, messages, keys,
    ids and paths come from histories and policies, and a cell's newline must not start a row."""
    heading = [safe_text(line) for line in _heading(r)]
    return heading, [(title, header, [[safe_text(c) for c in row] for row in rows], note)
                     for title, header, rows, note in _sections(r)]


def text_report(r: Dict[str, Any], width: int = 120) -> str:
    """The report as text: rich tables when rich is installed, else the plain layout; untrusted text escaped."""
    try:
        import rich  # noqa: F401
    except ImportError:
        return plain_report(r)
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text
    buf = io.StringIO()
    console = Console(file=buf, width=width, force_terminal=False, color_system=None, highlight=False, emoji=False)
    heading, sections = _escaped(r)
    for line in heading:
        console.print(line, markup=False)
    for title, header, rows, note in sections:
        if not rows and note is None:
            continue
        t = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
        for i, h in enumerate(header):
            t.add_column(h, justify="right" if i and _numeric(rows, i) else "left", overflow="fold")
        for row in rows:
            t.add_row(*(Text(c) for c in row))   # Text, not str: a `[...]` in a tool name is not rich markup
        console.print()
        if rows:
            console.print(t)
        else:
            console.print(title, markup=False)
        if note:
            console.print(note, markup=False)
    return buf.getvalue().rstrip() + "\n"


def _numeric(rows: List[List[str]], i: int) -> bool:
    return bool(rows) and all(row[i].replace(",", "").replace(".", "").replace("%", "").isdigit() for row in rows)


def plain_report(r: Dict[str, Any]) -> str:
    """The report as plain aligned columns (no rich), cells cut at 60 characters; untrusted text escaped."""
    heading, sections = _escaped(r)
    out = list(heading)
    for title, header, rows, note in sections:
        if not rows and note is None:
            continue
        out.append("")
        out.append(title)
        if rows:
            widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
            widths = [min(w, 60) for w in widths]
            out.append("  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip())
            for row in rows:
                out.append("  ".join(str(c)[:60].ljust(w) for c, w in zip(row, widths)).rstrip())
        if note:
            out.append(note)
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- HTML

def e(v: Any) -> str:
    """HTML-escaped text (quotes included), for every value put in the page."""
    return html.escape(str(v), quote=True)


def _svg_outcomes_over_time(timeline: Dict[str, Dict[str, int]]) -> str:
    days = list(timeline.items())
    w, h, left, bottom = 760, 260, 56, 40
    if not days:
        return "<p>no actions</p>"
    top = max(v["total"] for _, v in days) or 1
    bw = (w - left - 10) / len(days)
    parts = [f'<svg class="chart" id="chart-timeline" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" '
             f'aria-label="outcomes per day">']
    parts.append(_grid(w, h, left, bottom, top))
    for i, (day, v) in enumerate(days):
        x = left + i * bw
        y = h - bottom
        for o in OUTCOMES:
            n = v[o]
            if not n:
                continue
            bh = (h - bottom - 10) * n / top
            y -= bh
            parts.append(f'<rect x="{x + 1:.1f}" y="{y:.1f}" width="{max(bw - 2, 1):.1f}" height="{bh:.1f}" '
                         f'fill="{COLORS[o]}"><title>{e(day)} {e(LABELS[o])}: {e(num(n))}</title></rect>')
        if len(days) <= 31 and (i % max(1, len(days) // 10) == 0):
            parts.append(f'<text x="{x + bw / 2:.1f}" y="{h - bottom + 14}" text-anchor="middle">{e(day[5:])}</text>')
    parts.append("</svg>")
    legend = "".join(f'<span class="key"><i style="background:{COLORS[o]}"></i>{e(LABELS[o])}</span>' for o in OUTCOMES)
    return "".join(parts) + f'<div class="legend">{legend}</div>'


def _grid(w: int, h: int, left: int, bottom: int, top: float) -> str:
    """Five horizontal grid lines with their values, from 0 to `top`."""
    out = []
    for i in range(5):
        y = h - bottom - (h - bottom - 10) * i / 4
        out.append(f'<line x1="{left}" x2="{w - 10}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
                   f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{e(num(round(top * i / 4)))}</text>')
    return "".join(out)


def _svg_queue_load(per_route_day: Dict[str, Dict[str, int]], days: Sequence[str]) -> str:
    if not per_route_day:
        return "<p>no approvals requested</p>"
    w, h, left, bottom = 760, 240, 56, 40
    top = max((n for r in per_route_day.values() for n in r.values()), default=1) or 1
    step = (w - left - 20) / max(1, len(days) - 1)
    parts = [f'<svg class="chart" id="chart-queues" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" '
             f'aria-label="approvals per route per day">']
    parts.append(_grid(w, h, left, bottom, top))
    legend = []
    for k, (route, counts) in enumerate(per_route_day.items()):
        color = ROUTE_COLORS[k % len(ROUTE_COLORS)]
        pts = []
        for i, d in enumerate(days):
            x = left + i * step
            y = h - bottom - (h - bottom - 10) * counts.get(d, 0) / top
            pts.append(f"{x:.1f},{y:.1f}")
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{" ".join(pts)}">'
                     f'<title>{e(route)}</title></polyline>')
        legend.append(f'<span class="key"><i style="background:{color}"></i>{e(route)}</span>')
    for i, d in enumerate(days):
        if i % max(1, len(days) // 10) == 0:
            parts.append(f'<text x="{left + i * step:.1f}" y="{h - bottom + 14}" text-anchor="middle">{e(d[5:])}</text>')
    parts.append("</svg>")
    return "".join(parts) + f'<div class="legend">{"".join(legend)}</div>'


def _svg_top_tools(by_tool: Dict[str, Dict[str, int]]) -> str:
    items = list(by_tool.items())[:12]
    if not items:
        return "<p>no actions</p>"
    w, row, left = 760, 26, 190
    h = row * len(items) + 10
    top = max(v["total"] for _, v in items) or 1
    parts = [f'<svg class="chart" id="chart-tools" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" '
             f'aria-label="top tools">']
    for i, (tool, v) in enumerate(items):
        y = 5 + i * row
        parts.append(f'<text x="{left - 8}" y="{y + 16}" text-anchor="end">{e(tool[:28])}</text>')
        x = float(left)
        for o in OUTCOMES:
            n = v[o]
            if not n:
                continue
            bw = (w - left - 80) * n / top
            parts.append(f'<rect x="{x:.1f}" y="{y + 3}" width="{bw:.1f}" height="{row - 8}" fill="{COLORS[o]}">'
                         f'<title>{e(tool)} {e(LABELS[o])}: {e(num(n))}</title></rect>')
            x += bw
        parts.append(f'<text x="{x + 6:.1f}" y="{y + 16}">{e(num(v["total"]))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _table(header: List[str], rows: List[List[Any]], keys: Optional[List[List[Optional[str]]]] = None,
           cls: str = "") -> str:
    out = [f'<table class="{e(cls)}"><thead><tr>' + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr></thead><tbody>"]
    for i, row in enumerate(rows):
        cells = []
        for j, c in enumerate(row):
            k = keys[i][j] if keys is not None and keys[i][j] is not None else None
            attr = f' data-k="{e(k)}"' if k else ""
            num_cls = ' class="n"' if isinstance(c, (int, float)) and not isinstance(c, bool) else ""
            cells.append(f"<td{attr}{num_cls}>{e(num(c) if isinstance(c, int) else c)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1100px;color:#1d1d1f;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.meta{color:#555}.cards{display:flex;gap:12px;flex-wrap:wrap;margin:16px 0}
.card{border:1px solid #ddd;border-radius:8px;padding:10px 14px;min-width:120px}
.card b{display:block;font-size:22px}.card span{color:#555;font-size:12px}
table{border-collapse:collapse;margin:6px 0;font-size:13px}th,td{border-bottom:1px solid #eee;padding:4px 10px;text-align:left;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#f6f6f6}
svg.chart{max-width:100%;height:auto;font-size:11px;fill:#444}svg .grid{stroke:#e4e4e4}
.legend{margin:4px 0 0 56px}.key{margin-right:14px;font-size:12px}.key i{display:inline-block;width:10px;height:10px;margin-right:4px;border-radius:2px}
.note{color:#555;font-size:12px}
"""


def html_report(r: Dict[str, Any]) -> str:
    """The report as one self-contained HTML page: figures, inline SVG charts and tables, every value escaped."""
    p = r["policy"]
    total = r["total"]
    title = f"signoff simulate: {p['name']}" + (f" {p['version']}" if p.get("version") else "")
    body: List[str] = [f"<h1>{e(title)}</h1>"]
    body.append('<p class="meta">' + "<br>".join(e(x) for x in _heading(r)[1:]) + "</p>")
    cards = [("total", "actions", total), ("outcomes.allow", "allowed", r["outcomes"]["allow"]),
             ("outcomes.require_approval", "need approval", r["outcomes"]["require_approval"]),
             ("outcomes.escalate", "escalated", r["outcomes"]["escalate"]),
             ("outcomes.deny", "denied", r["outcomes"]["deny"])]
    body.append('<div class="cards">' + "".join(
        f'<div class="card"><b data-k="{e(k)}">{e(num(v))}</b><span>{e(label)}</span></div>' for k, label, v in cards)
        + f'<div class="card"><b data-k="automation_rate" data-v="{e(r["automation_rate"])}">{e(pct(r["automation_rate"]))}'
          f'</b><span>automation rate</span></div></div>')
    body.append("<h2>Outcomes over time</h2>" + _svg_outcomes_over_time(r["timeline"]))
    body.append("<h2>Outcomes</h2>" + _table(
        ["outcome", "actions", "share"],
        [[o, r["outcomes"][o], pct(r["shares"][o])] for o in OUTCOMES],
        [[None, f"outcomes.{o}", None] for o in OUTCOMES]))
    body.append("<h2>Top tools</h2>" + _svg_top_tools(r["by_tool"]))
    hdr = ["total"] + [LABELS[o] for o in OUTCOMES]
    for key, title2 in (("by_tool", "By tool"), ("by_category", "By category")):
        items = list(r[key].items())
        body.append(f"<h2>{e(title2)}</h2>" + _table(
            [key[3:]] + hdr, [[k, v["total"]] + [v[o] for o in OUTCOMES] for k, v in items],
            [[None, f"{key}.{k}.total"] + [f"{key}.{k}.{o}" for o in OUTCOMES] for k, _ in items]))
    days = list(r["timeline"].keys())
    body.append("<h2>Queue load per route</h2>" + _svg_queue_load(r["approvals_per_route_per_day"], days))
    body.append(_table(["route", "approvals"], [[k, v] for k, v in r["by_route"].items()],
                       [[None, f"by_route.{k}"] for k in r["by_route"]]))
    for key, title2, who in (("escalations", "Escalations", "to"), ("asks", "Asks", None), ("denials", "Denials", None)):
        items = r[key]
        body.append(f"<h2>{e(title2)}</h2>")
        if not items:
            body.append("<p>none</p>")
            continue
        body.append(_table(["count", "rule", "at", "message"] + (["to"] if who else []),
                           [[i["count"], i["rule"], i["at"], i["message"]] + ([i[who] or ""] if who else []) for i in items]))
    body.append("<h2>Budget exhaustion</h2>")
    if r["budget_exhaustion"]:
        body.append(_table(["check", "at", "outcome", "times", "first", "last", "top keys"],
                           [[b["check"] + (" (advisory)" if b["advisory"] else ""), b["at"], b["outcome"], b["count"],
                             b["first"]["time"] if b["first"] else "", b["last"]["time"] if b["last"] else "",
                             ", ".join(f"{k['key']} ×{k['count']}" for k in b["top_keys"][:5])]
                            for b in r["budget_exhaustion"]],
                           [[None, None, None, f"budget_exhaustion.{i}.count", None, None, None]
                            for i in range(len(r["budget_exhaustion"]))]))
    else:
        body.append("<p>no budget was exhausted</p>")
    er = r["errors"]
    body.append("<h2>Errors</h2>" + _table(
        ["malformed lines", "skipped", "input errors", "evaluation errors"],
        [[er["malformed"], er["skipped"], er["input"], er["evaluation"]]],
        [["errors.malformed", "errors.skipped", "errors.input", "errors.evaluation"]]))
    if er["lines"]:
        body.append(_table(["kind", "where", "message"], [[x["kind"], x["where"], x["message"]] for x in er["lines"]]))
    if er["by_message"]:
        body.append(_table(["count", "at", "message"], [[x["count"], x["at"], x["message"]] for x in er["by_message"]]))
    if r["human_verdicts"]:
        cols = ["approved", "edited", "rejected", "expired", "(none)"]
        body.append("<h2>Policy outcome × human verdict</h2>" + _table(
            ["policy \\ human"] + cols, [[LABELS[o]] + [r["confusion"][o][c] for c in cols] for o in OUTCOMES],
            [[None] + [f"confusion.{o}.{c}" for c in cols] for o in OUTCOMES]))
        body.append("<h2>Risk: the policy would allow, a human rejected or edited</h2>")
        body.append(_table(["tool", "category", "rule", "at", "rejected", "edited", "of allowed", "examples"],
                           [[x["tool"], x["category"], x["rule"], x["at"], x["rejected"], x["edited"],
                             x["allowed_with_verdict"], ", ".join(str(y["action_id"]) for y in x["examples"])]
                            for x in r["risk"]]) if r["risk"] else "<p>none</p>")
        body.append("<h2>Friction: approvals humans always granted unchanged</h2>")
        body.append(_table(["tool", "route", "rule", "at", "approved", "examples"],
                           [[x["tool"], x["route"], x["rule"], x["at"], x["approved"], ", ".join(map(str, x["examples"]))]
                            for x in r["friction"]]) if r["friction"] else "<p>none</p>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">"
            f"<title>{e(title)}</title><style>{CSS}</style></head><body>" + "\n".join(body) + "</body></html>\n")
