"""Reports for people: simulate's text and HTML reports, the diff Markdown and the decision-graph export.

Lives here: simulate (the simulation report as text and HTML, drawn from one list of sections,
`SECTIONS`: each a `Section` with its title, one line of explanation and its tables),
diff_markdown (the Markdown of an `engine.diff.diff` report), graph_export (dot, Mermaid, SVG),
recommend (`signoff recommend`'s text and HTML).
May import: engine (its records and constants) and policy_lang.safe_text; nothing in engine imports this
package (only the CLI-facing code does).
"""
from .diff_markdown import markdown
from .graph_export import View, build_view, to_dot, to_mermaid, to_svg
from .recommend import html_report as recommend_html, text_report as recommend_text
from .simulate import SECTIONS, Section, html_report, plain_report, text_report

__all__ = ["markdown", "View", "build_view", "to_dot", "to_mermaid", "to_svg", "SECTIONS", "Section", "html_report",
           "plain_report", "text_report", "recommend_text", "recommend_html"]
