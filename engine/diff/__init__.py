"""Compare two policy versions: structural diff in policy terms, diff on histories, witness search.

Lives here: records (directions, `Change`, `Witness`, `ToolResult`), structural (the changes in policy
terms), semantic (the replay of a history through both versions), witness/ (the search per tool, behind a
swappable `ToolSearch`), run (the whole report and its summary). The Markdown of a report is
engine.report.diff_markdown.
May import: the rest of engine (decision, evaluator, history, ledger, simulate) and policy_lang; never
engine.report or cli (`markdown` below is a deprecated re-export, imported only when asked for).
"""
from typing import Any

from .records import CHANGED, LOOSER, STRICTER, Change, DirectionResult, ToolResult, Witness, direction
from .run import diff, summary
from .semantic import MAX_EXAMPLES, semantic_diff
from .structural import structural_diff
from .witness import (BASE_TIME, HANDLED_SCHEMA_KEYS, MAX_COMBINATIONS, MISSING, NOW, ROOTS, SAMPLE, UNKNOWN_TOOL,
                      ToolSearch, find_witness, search_tool, search_tools, witness_search)

__all__ = ["CHANGED", "LOOSER", "STRICTER", "Change", "DirectionResult", "ToolResult", "Witness", "direction",
           "diff", "summary", "MAX_EXAMPLES", "semantic_diff", "structural_diff", "BASE_TIME",
           "HANDLED_SCHEMA_KEYS", "MAX_COMBINATIONS", "MISSING", "NOW", "ROOTS", "SAMPLE", "UNKNOWN_TOOL",
           "ToolSearch", "find_witness", "search_tool", "search_tools", "witness_search", "markdown"]


def __getattr__(name: str) -> Any:
    # Deprecated: `engine.diff.markdown` moved to engine.report.diff_markdown. Imported on first use so
    # that engine.diff does not depend on engine.report.
    if name == "markdown":
        from ..report.diff_markdown import markdown
        return markdown
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
