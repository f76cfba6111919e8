"""Reports for people: the diff Markdown today; the simulate text and HTML reports and the graph export
move here later.

Lives here: diff_markdown (the Markdown of a `engine.diff.diff` report).
May import: engine (its records and constants) and policy_lang.safe_text; nothing in engine imports this
package (only the CLI-facing code does).
"""
