"""The simulation report as text and as one self-contained HTML page, both drawn from one list of sections.

`SECTIONS` is the report, in order. Each `Section` has a title, a one-line plain explanation and a
`build` that turns the JSON report into `Table`s; the text renderer and the HTML renderer draw those
same tables (HTML adds a chart where a section has one), so the two cannot show different things.
A section without rows says "none": no section is ever left out.
"""
from __future__ import annotations

import html
import io
import json
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence

from policy_lang.safe_text import safe_text

from ..decide.decision import OUTCOMES

COLORS = {"allow": "#2e7d32", "require_approval": "#f9a825", "ask": "#1e88e5", "escalate": "#8e24aa", "deny": "#c62828"}
ROUTE_COLORS = ["#1565c0", "#ef6c00", "#6a1b9a", "#00838f", "#ad1457", "#558b2f", "#4e342e", "#37474f"]
TOP = 15                 # rows per table in the text report (the JSON report has them all)
VERDICT_COLUMNS = ("approved", "edited", "rejected", "expired", "(none)")
# policy outcome × human verdict cells where the two disagree: the policy lets it through, the human did
# not (or changed it); the policy stops it, the human let it through
DISAGREE = {("allow", "rejected"), ("allow", "edited"), ("deny", "approved"), ("deny", "edited")}
ARGS_SHOWN = 120         # characters of an example's arguments shown


def pct(x: float) -> str:
    """A share as a percentage with one decimal: `0.064` → `6.4%`."""
    return f"{x * 100:.1f}%"


def num(n: Any) -> str:
    """An integer with thousands separators; anything else as text."""
    return f"{n:,}" if isinstance(n, int) and not isinstance(n, bool) else str(n)


def rate(part: int, whole: int) -> str:
    """`309 of 4,853 = 6.4%`."""
    return f"{num(part)} of {num(whole)} = {pct(part / whole) if whole else '0.0%'}"


@dataclass(frozen=True)
class Table:
    """One table of a section: header, rows of cells (ints are counts), and per cell an optional
    `data-k` name (the JSON report's path of the number, for tests and tools reading the page) and
    whether it is highlighted (policy and humans disagree)."""

    header: List[str]
    rows: List[List[Any]]
    keys: Optional[List[List[Optional[str]]]] = None
    marks: Optional[List[List[bool]]] = None
    more: int = 0            # rows left out of the text report (in the JSON report and the HTML page)


@dataclass(frozen=True)
class Part:
    """What a section shows: its tables and a note under them (why counts differ, what a mark means)."""

    tables: List[Table] = field(default_factory=list)
    note: Optional[str] = None


@dataclass(frozen=True)
class Section:
    """One section of the report, in text and in HTML: a title, one line of plain explanation, the
    tables both renderers draw, and an HTML chart drawn above them for some."""

    key: str
    title: str
    explain: str
    build: Callable[[Dict[str, Any]], Part]
    chart: Optional[Callable[[Dict[str, Any]], str]] = None


def _args_text(args: Any) -> str:
    if args is None:
        return ""
    text = json.dumps(args, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
    return text if len(text) <= ARGS_SHOWN else text[:ARGS_SHOWN - 1] + "…"


def _example(e: Any) -> str:
    """An example action: its id, and its arguments when the report kept them."""
    if isinstance(e, dict):
        aid = e.get("action_id")
        args = _args_text(e.get("args"))
        return f"{aid if aid is not None else '(no id)'} {args}".strip()
    return str(e)


# ---------------------------------------------------------------- sections

def _risk(r: Dict[str, Any]) -> Part:
    rows = [[x["tool"], x["category"], x["rule"], x["at"], x["rejected"], x["edited"],
             rate(x["rejected"] + x["edited"], x["allowed_with_verdict"]),
             "; ".join(_example(e) for e in x["examples"][:3])] for x in r["risk"]]
    note = None if r["human_verdicts"] else "the history records no human verdicts"
    return Part([Table(["tool", "category", "rule", "at", "rejected", "edited", "rejected or edited of allowed",
                        "examples (id, arguments)"], rows)], note)


def _outcomes(r: Dict[str, Any]) -> Part:
    return Part([Table(["outcome", "actions", "share"],
                       [[o, r["outcomes"][o], pct(r["shares"][o])] for o in OUTCOMES],
                       [[None, f"outcomes.{o}", None] for o in OUTCOMES])],
                f"automation rate (allowed without a human): {pct(r['automation_rate'])}; "
                f"executed in the replay: {num(r['executed'])} of {num(r['total'])}")


def _confusion(r: Dict[str, Any]) -> Part:
    if not r["human_verdicts"]:
        return Part([Table(["policy \\ human", *VERDICT_COLUMNS], [])], "the history records no human verdicts")
    rows = [[o] + [r["confusion"][o][c] for c in VERDICT_COLUMNS] for o in OUTCOMES]
    keys: List[List[Optional[str]]] = [[None] + [f"confusion.{o}.{c}" for c in VERDICT_COLUMNS] for o in OUTCOMES]
    marks = [[False] + [(o, c) in DISAGREE and bool(r["confusion"][o][c]) for c in VERDICT_COLUMNS] for o in OUTCOMES]
    return Part([Table(["policy \\ human", *VERDICT_COLUMNS], rows, keys, marks)],
                "marked cells (*): the policy and the humans disagree (it allows what they rejected or edited, "
                "or denies what they approved)")


def _by(key: str, name: str) -> Callable[[Dict[str, Any]], Part]:
    def build(r: Dict[str, Any]) -> Part:
        items = list(r[key].items())
        return Part([Table([name, "total", *OUTCOMES], [[k, v["total"]] + [v[o] for o in OUTCOMES] for k, v in items],
                           [[None, f"{key}.{k}.total"] + [f"{key}.{k}.{o}" for o in OUTCOMES] for k, _ in items])])
    return build


def _timeline(r: Dict[str, Any]) -> Part:
    return Part([Table(["day", "total", *OUTCOMES],
                       [[d, v["total"]] + [v[o] for o in OUTCOMES] for d, v in r["timeline"].items()])])


def _queues(r: Dict[str, Any]) -> Part:
    ndays = max(1, r["period"]["days"])
    rows, keys = [], []
    for route, n in r["by_route"].items():
        days = r["approvals_per_route_per_day"].get(route, {})
        peak = max(days.items(), key=lambda kv: (kv[1], kv[0])) if days else ("-", 0)
        rows.append([route, n, f"{n / ndays:.1f}", f"{num(peak[1])} on {peak[0]}"])
        keys.append([None, f"by_route.{route}", None, None])
    return Part([Table(["route", "approvals", "per day", "busiest day"], rows, keys)],
                "an action whose reasons name two routes waits in both queues: it counts in each")


def _reasons(key: str, outcome: str, who: Optional[str]) -> Callable[[Dict[str, Any]], Part]:
    def build(r: Dict[str, Any]) -> Part:
        items = r[key]
        rows = [[i["count"], i["rule"], i["at"], i["message"]] + ([i.get(who) or ""] if who else [])
                + [", ".join(str(x) for x in i["examples"][:3])] for i in items]
        total = sum(i["count"] for i in items)
        actions = r["outcomes"][outcome]
        note = (f"counted per reason: {num(total)} reasons over {num(actions)} actions decided {outcome}"
                + ("" if total == actions else
                   " (an action that two lines decide counts under each)" if total > actions else
                   " (the rest had no reason of their own to show)"))
        return Part([Table(["count", "rule", "at", "message"] + ([who] if who else []) + ["examples"], rows)], note)
    return build


def _budgets(r: Dict[str, Any]) -> Part:
    items = r["budget_exhaustion"]
    rows = [[b["check"] + (" (advisory)" if b["advisory"] else ""), b["at"], b["outcome"], b["count"],
             b.get("decided", ""), b["first"]["time"] if b["first"] else "", b["last"]["time"] if b["last"] else "",
             ", ".join(f"{k['key']} ×{k['count']}" for k in b["top_keys"][:3])] for b in items]
    keys: List[List[Optional[str]]] = [[None, None, None, f"budget_exhaustion.{i}.count", None, None, None, None]
                                       for i in range(len(items))]
    return Part([Table(["check", "at", "outcome", "times", "decided by it", "first", "last", "top keys"], rows, keys)],
                "times: every action the line bound, counted per line; decided by it: those whose final outcome is "
                "the line's own (the rest a stricter line decided, or the line is advisory); those are the ones in "
                "the Escalations, Asks and Denials tables")


def _errors(r: Dict[str, Any]) -> Part:
    e = r["errors"]
    summary = Table(["malformed lines", "skipped", "input errors", "evaluation errors"],
                    [[e["malformed"], e["skipped"], e["input"], e["evaluation"]]],
                    [["errors.malformed", "errors.skipped", "errors.input", "errors.evaluation"]])
    rows = [[x["kind"], x["where"], x["message"], ""] for x in e["lines"]]
    rows += [["evaluation", x["at"], x["message"], x["count"]] for x in e["by_message"]]
    return Part([summary, Table(["kind", "where", "message", "count"], rows)])


def _friction(r: Dict[str, Any]) -> Part:
    rows = []
    for x in r["friction"]:
        args = x.get("example_args") or []
        ex = [_example({"action_id": a, "args": args[i] if i < len(args) else None}) for i, a in enumerate(x["examples"][:3])]
        rows.append([x["tool"], x["route"], x["rule"], x["at"], x["approved"], "; ".join(ex)])
    note = None if r["human_verdicts"] else "the history records no human verdicts"
    return Part([Table(["tool", "route", "rule", "at", "approved", "examples (id, arguments)"], rows)], note)


# ---------------------------------------------------------------- charts (HTML only)

def e(v: Any) -> str:
    """Escape a value for HTML text or a quoted attribute."""
    return html.escape(str(v), quote=True)


def _grid(w: int, h: int, left: int, bottom: int, top: float) -> str:
    out = []
    for i in range(5):
        y = h - bottom - (h - bottom - 10) * i / 4
        out.append(f'<line x1="{left}" x2="{w - 10}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
                   f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{e(num(round(top * i / 4)))}</text>')
    return "".join(out)


def _legend() -> str:
    keys = "".join(f'<span class="key"><i style="background:{COLORS[o]}"></i>{e(o)}</span>' for o in OUTCOMES)
    return f'<div class="legend">{keys}</div>'


def chart_timeline(r: Dict[str, Any]) -> str:
    """Outcomes per day, stacked bars."""
    days = list(r["timeline"].items())
    w, h, left, bottom = 760, 260, 56, 40
    if not days:
        return "<p>no actions</p>"
    top = max(v["total"] for _, v in days) or 1
    bw = (w - left - 10) / len(days)
    parts = [f'<svg class="chart" id="chart-timeline" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" '
             f'aria-label="outcomes per day">', _grid(w, h, left, bottom, top)]
    for i, (day, v) in enumerate(days):
        x = left + i * bw
        y: float = h - bottom
        for o in OUTCOMES:
            n = v[o]
            if not n:
                continue
            bh = (h - bottom - 10) * n / top
            y -= bh
            parts.append(f'<rect x="{x + 1:.1f}" y="{y:.1f}" width="{max(bw - 2, 1):.1f}" height="{bh:.1f}" '
                         f'fill="{COLORS[o]}"><title>{e(day)} {e(o)}: {e(num(n))}</title></rect>')
        if len(days) <= 31 and (i % max(1, len(days) // 10) == 0):
            parts.append(f'<text x="{x + bw / 2:.1f}" y="{h - bottom + 14}" text-anchor="middle">{e(day[5:])}</text>')
    parts.append("</svg>")
    return "".join(parts) + _legend()


def chart_queues(r: Dict[str, Any]) -> str:
    """Approvals per route per day, one line per route."""
    per_route_day: Dict[str, Dict[str, int]] = r["approvals_per_route_per_day"]
    days: Sequence[str] = list(r["timeline"].keys())
    if not per_route_day:
        return "<p>no approvals requested</p>"
    w, h, left, bottom = 760, 240, 56, 40
    top = max((n for d in per_route_day.values() for n in d.values()), default=1) or 1
    step = (w - left - 20) / max(1, len(days) - 1)
    parts = [f'<svg class="chart" id="chart-queues" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" '
             f'aria-label="approvals per route per day">', _grid(w, h, left, bottom, top)]
    legend = []
    for k, (route, counts) in enumerate(per_route_day.items()):
        color = ROUTE_COLORS[k % len(ROUTE_COLORS)]
        pts = []
        for i, d in enumerate(days):
            pts.append(f"{left + i * step:.1f},{h - bottom - (h - bottom - 10) * counts.get(d, 0) / top:.1f}")
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{" ".join(pts)}">'
                     f'<title>{e(route)}</title></polyline>')
        legend.append(f'<span class="key"><i style="background:{color}"></i>{e(route)}</span>')
    for i, d in enumerate(days):
        if i % max(1, len(days) // 10) == 0:
            parts.append(f'<text x="{left + i * step:.1f}" y="{h - bottom + 14}" text-anchor="middle">{e(d[5:])}</text>')
    parts.append("</svg>")
    return "".join(parts) + f'<div class="legend">{"".join(legend)}</div>'


def chart_tools(r: Dict[str, Any]) -> str:
    """The busiest tools, a stacked bar each."""
    items = list(r["by_tool"].items())[:12]
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
                         f'<title>{e(tool)} {e(o)}: {e(num(n))}</title></rect>')
            x += bw
        parts.append(f'<text x="{x + 6:.1f}" y="{y + 16}">{e(num(v["total"]))}</text>')
    parts.append("</svg>")
    return "".join(parts)


# ---------------------------------------------------------------- the list

SECTIONS: List[Section] = [
    Section("risk", "Risk: the policy would allow, a human rejected or edited",
            "Actions this policy lets through without a human that a human in the history stopped or changed.", _risk),
    Section("outcomes", "Outcomes", "What the policy decides for the replayed actions.", _outcomes),
    Section("confusion", "Policy outcome × human verdict",
            "The policy's outcome against what the human in the history did with the same action.", _confusion),
    Section("timeline", "Outcomes over time", "The policy's outcomes per day of the history.", _timeline,
            chart_timeline),
    Section("by_tool", "By tool", "The outcomes per tool, busiest first.", _by("by_tool", "tool"), chart_tools),
    Section("by_category", "By category",
            "The outcomes per risk level (`(none)`: unknown tools, schema failures, input errors).",
            _by("by_category", "category")),
    Section("queues", "Approval queues",
            "How many approvals each route would have to give, per day and on its busiest day.", _queues, chart_queues),
    Section("escalations", "Escalations", "The lines that escalate, and to whom.",
            _reasons("escalations", "escalate", "to")),
    Section("asks", "Asks", "The lines that ask the agent a question first.", _reasons("asks", "ask", "question")),
    Section("denials", "Denials", "The lines that deny.", _reasons("denials", "deny", None)),
    Section("budgets", "Budget exhaustion", "The budget lines that ran out, how often and for which keys.", _budgets),
    Section("errors", "Errors", "History lines that could not be read, and actions the policy could not evaluate.",
            _errors),
    Section("friction", "Friction: approvals humans always granted unchanged",
            "Approvals the policy asks for that humans never refused nor changed: candidates to allow.", _friction),
]


# ---------------------------------------------------------------- text

def _days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"


def heading(r: Dict[str, Any]) -> List[str]:
    """The report's first lines: policy, histories, period, what was read and replayed."""
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


def _cell_text(c: Any, mark: bool) -> str:
    # every cell one escaped field: tool names, messages, keys, ids and paths come from histories and
    # policies, and a cell's newline must not start a row
    return safe_text(num(c)) + (" *" if mark else "")


def _text_rows(t: Table) -> List[List[str]]:
    rows = t.rows[:TOP]
    return [[_cell_text(c, bool(t.marks and t.marks[i][j])) for j, c in enumerate(row)] for i, row in enumerate(rows)]


def _numeric(rows: List[List[str]], i: int) -> bool:
    return bool(rows) and all(row[i].removesuffix(" *").replace(",", "").replace(".", "").replace("%", "").isdigit()
                              for row in rows)


def text_report(r: Dict[str, Any], width: Optional[int] = None) -> str:
    """The report as text: rich tables when rich is installed, else plain columns. `width` is the
    terminal's; without one (a file, a pipe) no line is wrapped or cut."""
    try:
        import rich  # noqa: F401
    except ImportError:
        return plain_report(r)
    from rich.console import Console
    from rich.table import Table as RichTable
    from rich.text import Text
    buf = io.StringIO()
    console = Console(file=buf, width=width or 100_000, force_terminal=False, color_system=None, highlight=False,
                      emoji=False, soft_wrap=width is None)
    for line in heading(r):
        console.print(safe_text(line), markup=False)
    for s in SECTIONS:
        part = s.build(r)
        console.print()
        console.print(s.title, markup=False)
        console.print(s.explain, markup=False)
        for t in part.tables:
            rows = _text_rows(t)
            if not rows:
                console.print("none", markup=False)
                continue
            rt = RichTable(show_edge=False, pad_edge=False)
            for i, h in enumerate(t.header):
                rt.add_column(h, justify="right" if i and _numeric(rows, i) else "left",
                              overflow="fold", no_wrap=width is None)
            for row in rows:
                rt.add_row(*(Text(c) for c in row))   # Text, not str: a `[...]` in a tool name is not rich markup
            console.print(rt)
            if len(t.rows) > TOP:
                console.print(f"{num(len(t.rows) - TOP)} more rows in the JSON and HTML reports", markup=False)
        if part.note:
            console.print(safe_text(part.note), markup=False)
    return "\n".join(line.rstrip() for line in buf.getvalue().rstrip().splitlines()) + "\n"


def plain_report(r: Dict[str, Any]) -> str:
    """The report as plain text columns (no rich): nothing cut, nothing wrapped."""
    out = [safe_text(line) for line in heading(r)]
    for s in SECTIONS:
        part = s.build(r)
        out += ["", s.title, s.explain]
        for t in part.tables:
            rows = _text_rows(t)
            if not rows:
                out.append("none")
                continue
            widths = [max(len(x) for x in col) for col in zip(t.header, *rows)]
            out.append("  ".join(h.ljust(w) for h, w in zip(t.header, widths)).rstrip())
            for row in rows:
                out.append("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
            if len(t.rows) > TOP:
                out.append(f"{num(len(t.rows) - TOP)} more rows in the JSON and HTML reports")
        if part.note:
            out.append(safe_text(part.note))
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- HTML

def _table(t: Table) -> str:
    if not t.rows:
        return "<p>none</p>"
    out = ['<table><thead><tr>' + "".join(f"<th>{e(h)}</th>" for h in t.header) + "</tr></thead><tbody>"]
    for i, row in enumerate(t.rows):
        cells = []
        for j, c in enumerate(row):
            k = t.keys[i][j] if t.keys is not None else None
            attr = f' data-k="{e(k)}"' if k else ""
            classes = (["n"] if isinstance(c, (int, float)) and not isinstance(c, bool) else []) + \
                (["disagree"] if t.marks and t.marks[i][j] else [])
            cls = f' class="{" ".join(classes)}"' if classes else ""
            cells.append(f"<td{attr}{cls}>{e(num(c))}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1100px;color:#1d1d1f;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 2px;border-bottom:1px solid #ddd;padding-bottom:4px}
.meta{color:#555}.digest{font-family:ui-monospace,monospace;font-size:12px;color:#555}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:16px 0}
.card{border:1px solid #ddd;border-radius:8px;padding:10px 14px;min-width:120px}
.card b{display:block;font-size:22px}.card span{color:#555;font-size:12px}
table{border-collapse:collapse;margin:6px 0;font-size:13px}th,td{border-bottom:1px solid #eee;padding:4px 10px;text-align:left;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#f6f6f6}
td.disagree{background:#fde0dc;font-weight:600}
svg.chart{max-width:100%;height:auto;font-size:11px;fill:#444}svg .grid{stroke:#e4e4e4}
.legend{margin:4px 0 0 56px}.key{margin-right:14px;font-size:12px}.key i{display:inline-block;width:10px;height:10px;margin-right:4px;border-radius:2px}
.explain{color:#444;margin:2px 0 8px}.note{color:#555;font-size:12px}
"""


def html_report(r: Dict[str, Any]) -> str:
    """The report as one self-contained HTML page: no script, nothing loaded, every text escaped."""
    p = r["policy"]
    title = f"signoff simulate: {p['name']}" + (f" {p['version']}" if p.get("version") else "")
    body: List[str] = [f"<h1>{e(title)}</h1>",
                       f'<p class="digest">policy {e(p["name"])}, version {e(p.get("version") or "(none)")}, '
                       f'digest <span data-k="policy.digest">{e(p["digest"])}</span></p>',
                       '<p class="meta">' + "<br>".join(e(x) for x in heading(r)[1:]) + "</p>"]
    cards = [("total", "actions", r["total"])] + [(f"outcomes.{o}", o, r["outcomes"][o]) for o in OUTCOMES]
    body.append('<div class="cards">' + "".join(
        f'<div class="card"><b data-k="{e(k)}">{e(num(v))}</b><span>{e(label)}</span></div>' for k, label, v in cards)
        + f'<div class="card"><b data-k="automation_rate" data-v="{e(r["automation_rate"])}">{e(pct(r["automation_rate"]))}'
          f'</b><span>automation rate</span></div></div>')
    for s in SECTIONS:
        part = s.build(r)
        body.append(f'<section id="{e(s.key)}"><h2>{e(s.title)}</h2><p class="explain">{e(s.explain)}</p>')
        if s.chart is not None:
            body.append(s.chart(r))
        body.extend(_table(t) for t in part.tables)
        if part.note:
            body.append(f'<p class="note">{e(part.note)}</p>')
        body.append("</section>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">"
            f"<title>{e(title)}</title><style>{CSS}</style></head><body>" + "\n".join(body) + "</body></html>\n")
