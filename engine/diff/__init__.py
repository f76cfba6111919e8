"""Compare two policy versions: structural diff in policy terms, diff on histories, witness search.

Lives here: records (directions, `Change`, `Witness`, `ToolResult`), structural (the changes in policy
terms), semantic (the replay of a history through both versions), witness/ (the search per tool, behind a
swappable `ToolSearch`), run (the whole report and its summary). The Markdown of a report is
engine.report.diff_markdown.
May import: the rest of engine (decision, evaluator, history, ledger, simulate) and policy_lang; never
engine.report or cli.
"""

from .records import CHANGED, LOOSER, STRICTER, Change, DirectionResult, ToolResult, Witness, direction
from .run import diff, summary
from .semantic import MAX_EXAMPLES, semantic_diff
from .structural import structural_diff
from .witness import (BASE_TIME, HANDLED_SCHEMA_KEYS, MAX_COMBINATIONS, MISSING, NOW, ROOTS, SAMPLE, UNKNOWN_TOOL,
                      ToolSearch, find_witness, search_tool, search_tools, witness_search)

__all__ = ["CHANGED", "LOOSER", "STRICTER", "Change", "DirectionResult", "ToolResult", "Witness", "direction",
           "diff", "summary", "MAX_EXAMPLES", "semantic_diff", "structural_diff", "BASE_TIME",
           "HANDLED_SCHEMA_KEYS", "MAX_COMBINATIONS", "MISSING", "NOW", "ROOTS", "SAMPLE", "UNKNOWN_TOOL",
           "ToolSearch", "find_witness", "search_tool", "search_tools", "witness_search"]

