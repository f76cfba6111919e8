"""Reports for people: the diff Markdown today; the simulate text and HTML reports and the graph export
move here later.

Lives here: diff_markdown (the Markdown of a `engine.diff.diff` report).
May import: engine (its records and constants) and policy_lang.safe_text; nothing in engine imports this
package (only the CLI-facing code does).
"""
from .diff_markdown import markdown
from .graph_export import View, build_view, to_dot, to_mermaid, to_svg

__all__ = ["markdown", "View", "build_view", "to_dot", "to_mermaid", "to_svg"]
