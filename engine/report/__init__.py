"""Reports for people: the diff Markdown and the decision-graph export; simulate's text and HTML reports
(cli/sim_report.py today) move here later.

Lives here: diff_markdown (the Markdown of an `engine.diff.diff` report), graph_export (dot, Mermaid, SVG).
May import: engine (its records and constants) and policy_lang.safe_text; nothing in engine imports this
package (only the CLI-facing code does).
"""
from .diff_markdown import markdown
from .graph_export import View, build_view, to_dot, to_mermaid, to_svg

__all__ = ["markdown", "View", "build_view", "to_dot", "to_mermaid", "to_svg"]
