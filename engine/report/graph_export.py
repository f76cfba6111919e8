"""Render the compiled decision graph as DOT, Mermaid or a self-contained SVG, so authors can see it."""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from policy_lang.printer import expr_text, number_text
from policy_lang.safe_text import safe_text

from ..decide.graph import DecisionGraph, RequireNode, ToolNode

KIND_STYLE = {  # kind -> (fill, stroke)
    "tool": ("#e8f0fe", "#1a73e8"), "test": ("#ffffff", "#5f6368"), "level": ("#fef7e0", "#f9ab00"),
    "allow": ("#e6f4ea", "#188038"), "require_approval": ("#fff4e5", "#e37400"),
    "ask": ("#f3e8fd", "#9334e6"), "escalate": ("#fce8e6", "#d93025"), "deny": ("#f1f3f4", "#202124"),
    "combine": ("#ffffff", "#202124"),
}


@dataclass
class View:
    """A graph ready to draw: nodes (label, kind, column) by id and labelled edges, every label escaped."""
    nodes: Dict[str, Tuple[str, str, int]] = field(default_factory=dict)  # id -> (label, kind, column)
    edges: List[Tuple[str, str, str]] = field(default_factory=list)       # (src, dst, label)

    # labels carry a policy's names and messages: every control, bidi or separator character in them is
    # shown escaped here, once for DOT, Mermaid and SVG (XML cannot even hold most controls); the
    # labels' own line breaks stay and each format writes them its way
    def node(self, nid: str, label: str, kind: str, col: int) -> str:
        """Add a node once (a second call with the same id keeps the first); returns its id."""
        self.nodes.setdefault(nid, (safe_text(label, lines=True).replace("\t", " "), kind, col))
        return nid

    def edge(self, a: str, b: str, label: str = "") -> None:
        """Add a labelled edge from node `a` to node `b`."""
        self.edges.append((a, b, safe_text(label, lines=True).replace("\t", " ")))


def _outcome(view: View, prefix: str, outcome: str, text: str, col: int) -> str:
    return view.node(f"{prefix}_{len(view.nodes)}", text, outcome, col)


def build_view(graph: DecisionGraph, tool: Optional[str] = None) -> View:
    """The view of a compiled decision graph: every declared tool, its aliases and the unknown-tools default;
    or only `tool`."""
    view = View()
    names = [tool] if tool is not None else [n for n, t in graph.tools.items() if t.known]
    drawn: Dict[str, str] = {}
    for i, name in enumerate(names):
        target = graph.aliases.get(name)
        if target is None:
            _tool(view, graph.tools[name], graph, f"t{i}")
            drawn[name] = f"t{i}"
    for i, name in enumerate(names):
        target = graph.aliases.get(name)
        if target is not None:  # an alias is one node pointing at the tool that decides it
            if target not in drawn:
                drawn[target] = f"t{len(names) + i}"
                _tool(view, graph.tools[target], graph, drawn[target])
            view.edge(view.node(f"a{i}", f"tool {safe_text(name)}\nas {safe_text(target)}", "tool", 0), drawn[target])
    if tool is None and graph.default is not None:
        _tool(view, graph.default, graph, "unknown")
    return view


def _tool(view: View, node: ToolNode, g: DecisionGraph, tid: str) -> None:
    # a name or message is one field of a label line: its newlines are escaped, not line breaks
    name = safe_text(node.name)
    label = f"tool {name}" if node.known else ("unknown tools" if not node.name else f"tool {name} (undeclared)")
    top = view.node(tid, f"{label}\nmode {node.mode}", "tool", 0)
    combine = view.node(tid + "_combine", "most restrictive\n+ mode " + node.mode, "combine", 5)
    prev = top
    if node.schema is not None:
        s = view.node(tid + "_schema", "schema valid?", "test", 1)
        view.edge(prev, s)
        view.edge(s, _outcome(view, tid, "deny", f"deny\nschema {name}", 2), "no")
        prev = s
    checks_from = prev  # a schema failure ends the evaluation: checks run only past it
    if not node.known:
        r = node.unknown_reason
        view.edge(prev, _outcome(view, tid, r.outcome if r else "deny", (safe_text(r.message) if r else "deny"), 4))
    else:
        ended = False       # an `otherwise` line ends the chain
        for i, e in enumerate(node.risk):
            if e.cond is None or e.line.when is None:   # `otherwise` (compiled from no condition)
                lvl = view.node(f"{tid}_lvl_{e.level}", f"level {e.level}", "level", 2)
                view.edge(prev, lvl, "otherwise")
                ended = True
                break
            test = view.node(f"{tid}_risk{i}", expr_text(e.line.when), "test", 1)
            view.edge(prev, test, "" if i == 0 else "no")
            view.edge(test, view.node(f"{tid}_lvl_{e.level}", f"level {e.level}", "level", 2), "yes")
            prev = test
        if not ended:
            high = g.levels[-1]
            view.edge(prev, view.node(f"{tid}_lvl_{high}", f"level {high}", "level", 2), "no match")
        for level in g.levels:
            lid = f"{tid}_lvl_{level}"
            if lid not in view.nodes:
                continue
            cat = node.categories.get(level)
            if cat is None:
                view.edge(lid, _outcome(view, tid, "deny", "deny\nno category block", 4))
                continue
            cprev, label = lid, ""
            ended = False
            for j, ce in enumerate(cat.edges):
                leaf = _outcome(view, tid, ce.reason.outcome, safe_text(ce.reason.message), 4)
                if ce.cond is None or ce.line.when is None:
                    view.edge(cprev, leaf, label or "")
                    ended = True
                    break
                test = view.node(f"{lid}_c{j}", expr_text(ce.line.when), "test", 3)
                view.edge(cprev, test, label)
                view.edge(test, leaf, "yes")
                view.edge(leaf, combine)
                cprev, label = test, "no"
            if not ended:
                view.edge(cprev, _outcome(view, tid, "deny", "deny\nno line matched", 4), "no")
    advisory = set()
    if node.checks:
        # one hub for "every check line runs": the check edges start next to the checks instead of
        # crossing the risk and category columns
        hub = view.node(f"{tid}_checks", "every check line", "combine", 2)
        view.edge(checks_from, hub, "yes" if checks_from != top else "")
        checks_from = hub
    for k, c in enumerate(node.checks):
        if isinstance(c, RequireNode):
            text = f"check {safe_text(c.check)}\nrequire {expr_text(c.line.cond)}"
        else:
            agg = f"sum({c.amount_text})" if c.amount_text else "count()"
            text = f"check {safe_text(c.check)}\nbudget {agg} per {', '.join(c.key_texts)} per {c.line.window.text} <= {number_text(c.limit, c.line.limit_text)}"
        if c.advisory:
            text = "advisory " + text
        cid = view.node(f"{tid}_chk{k}", text, "test", 3)
        view.edge(checks_from, cid)
        leaf = _outcome(view, tid, c.reason.outcome, safe_text(c.reason.message), 4)
        view.edge(cid, leaf, "fails (reported only)" if c.advisory else "fails")
        if c.advisory:
            advisory.add(leaf)
    for src, dst, _ in list(view.edges):
        if dst.startswith(tid) and view.nodes[dst][2] == 4 and dst not in advisory:
            if (dst, combine, "") not in view.edges:
                view.edge(dst, combine)


def to_dot(view: View) -> str:
    """The view as Graphviz DOT text."""
    def q(s: str) -> str:
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    lines = ["digraph signoff {", "  rankdir=LR;", '  node [shape=box, style="rounded,filled", fontname="Helvetica"];']
    for nid, (label, kind, _) in view.nodes.items():
        fill, stroke = KIND_STYLE.get(kind, ("#ffffff", "#000000"))
        shape = "diamond" if kind == "test" else "box"
        lines.append(f"  {nid} [label={q(label)}, fillcolor={q(fill)}, color={q(stroke)}, shape={shape}];")
    for a, b, label in view.edges:
        lines.append(f"  {a} -> {b}" + (f" [label={q(label)}]" if label else "") + ";")
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_mermaid(view: View) -> str:
    """The view as a Mermaid flowchart."""
    def q(s: str) -> str:
        return '"' + html.escape(s, quote=True).replace("\n", "<br/>") + '"'
    lines = ["flowchart LR"]
    for nid, (label, kind, _) in view.nodes.items():
        lines.append(f"  {nid}{{{{{q(label)}}}}}" if kind == "test" else f"  {nid}[{q(label)}]")
    for a, b, label in view.edges:
        lines.append(f"  {a} -->|{q(label)}| {b}" if label else f"  {a} --> {b}")
    for kind, (fill, stroke) in KIND_STYLE.items():
        members = [n for n, (_, k, _) in view.nodes.items() if k == kind]
        if members:
            lines.append(f"  classDef {kind} fill:{fill},stroke:{stroke}")
            lines.append(f"  class {','.join(members)} {kind}")
    return "\n".join(lines) + "\n"


def to_svg(view: View) -> str:
    """A layered layout by column; every label is escaped, nothing is fetched."""
    col_w, row_h, box_w, box_h = 250, 64, 220, 48
    rows: Dict[int, int] = {}
    pos: Dict[str, Tuple[int, int]] = {}
    for nid, (_, _, col) in view.nodes.items():
        r = rows.get(col, 0)
        rows[col] = r + 1
        pos[nid] = (20 + col * col_w, 20 + r * row_h)
    width = 40 + (max(rows) + 1 if rows else 1) * col_w
    height = 40 + (max(rows.values()) if rows else 1) * row_h
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif" font-size="11">',
           '<defs><marker id="arrow" markerWidth="8" markerHeight="8" refX="8" refY="4" orient="auto">'
           '<path d="M0,0 L8,4 L0,8 z" fill="#5f6368"/></marker></defs>']
    labels: List[str] = []
    for a, b, label in view.edges:
        (x1, y1), (x2, y2) = pos[a], pos[b]
        sx: float   # ints where the box's corners are, halves where its middles are
        ex: float
        sy: float
        ey: float
        sx, sy, ex, ey = x1 + box_w, y1 + box_h / 2, x2, y2 + box_h / 2
        if x2 <= x1:
            sx, ex = x1 + box_w / 2, x2 + box_w / 2
            sy, ey = y1 + box_h, y2
        out.append(f'<path d="M{sx},{sy} C{(sx + ex) / 2},{sy} {(sx + ex) / 2},{ey} {ex},{ey}" fill="none" '
                   f'stroke="#9aa0a6" marker-end="url(#arrow)"/>')
        if label:  # just before the arrowhead, so labels of edges fanning out from one node stay apart
            labels.append(f'<text x="{ex - 10}" y="{ey - 4}" fill="#5f6368" text-anchor="end" stroke="#ffffff" '
                          f'stroke-width="3" paint-order="stroke">{html.escape(label)}</text>')
    for nid, (label, kind, _) in view.nodes.items():
        x, y = pos[nid]
        fill, stroke = KIND_STYLE.get(kind, ("#ffffff", "#000000"))
        rx = 4 if kind == "test" else 10
        out.append(f'<g><title>{html.escape(label)}</title><rect x="{x}" y="{y}" width="{box_w}" height="{box_h}" '
                   f'rx="{rx}" fill="{fill}" stroke="{stroke}"/>')
        for i, text in enumerate(label.split("\n")[:3]):
            shown = text if len(text) <= 38 else text[:37] + "…"
            out.append(f'<text x="{x + 8}" y="{y + 16 + i * 13}">{html.escape(shown)}</text>')
        out.append("</g>")
    out.extend(labels)  # over the boxes and lines, on a white halo
    out.append("</svg>")
    return "\n".join(out) + "\n"
