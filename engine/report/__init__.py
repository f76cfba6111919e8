"""Reports for people: simulate's text and HTML reports, the diff Markdown and the decision-graph export.

Lives here: simulate (the simulation report as text and HTML, drawn from one list of sections,
`SECTIONS`: each a `Section` with its title, one line of explanation and its tables),
diff_markdown (the Markdown of an `engine.diff.diff` report), graph_export (dot, Mermaid, SVG), trends (the
weekly trends and shadow report of `signoff report`, from a store's export or decided histories) and
trends_render (its text and HTML, in simulate's style, drawn from `TREND_SECTIONS`: the report's sections in
order, each a `Section`), recommend (`signoff recommend`'s text and HTML).
May import: engine (its records and constants) and policy_lang.safe_text; nothing in engine imports this
package (only the CLI-facing code does).
"""
from .diff_markdown import markdown
from .graph_export import View, build_view, to_dot, to_mermaid, to_svg
from .recommend import html_report as recommend_html, text_report as recommend_text
from .simulate import SECTIONS, Section, html_report, plain_report, text_report
from .trends import Proposal, ShadowDecision, TrendError, percentile, proposals_from_history, proposals_from_lines, \
    trends, week_of
from .trends_render import TREND_SECTIONS, trends_html, trends_text

__all__ = ["markdown", "View", "build_view", "to_dot", "to_mermaid", "to_svg", "SECTIONS", "Section", "html_report",
           "plain_report", "text_report", "Proposal", "ShadowDecision", "TrendError", "percentile",
           "proposals_from_history", "proposals_from_lines", "trends", "week_of", "TREND_SECTIONS", "trends_html",
           "trends_text", "recommend_text", "recommend_html"]
