"""The witness search: for each tool, actions two policy versions decide differently, or a proof there are none.

The seam for another search (issue 12 may put an SMT-based one behind it): a `ToolSearch` is any function
`(old: Policy, new: Policy, tool: Optional[str], seed: int) -> ToolResult`; `search_tools` and
`find_witness` take one, and `ToolResult.direction(kind)` answers one direction (`looser`, `stricter`):
a `Witness`, `proven` (no action of the tool changes that way) or `not proven` (unknown).
`search_tool` is today's partition search, the `STEPS` of `search.py` in order.

Lives here: candidates (values per path, their combinations), analysis (what the conditions ask of
each path), schemas, budgets (stand-in ledgers and histories), search (the steps and the verdict).
May import: engine.decide.decision, engine.decide.evaluator, engine.decide.ledger, engine.diff.records and policy_lang; never
engine.report or cli.
"""
from .analysis import ROOTS, Analysis
from .candidates import BASE_TIME, MISSING, NOW
from .schemas import HANDLED_SCHEMA_KEYS
from .search import (MAX_COMBINATIONS, SAMPLE, STEPS, UNKNOWN_TOOL, Search, ToolSearch, find_witness,
                     search_tool, search_tools, verdict, witness_search)

__all__ = ["ROOTS", "Analysis", "BASE_TIME", "MISSING", "NOW", "HANDLED_SCHEMA_KEYS", "MAX_COMBINATIONS",
           "SAMPLE", "STEPS", "UNKNOWN_TOOL", "Search", "ToolSearch", "find_witness", "search_tool",
           "search_tools", "verdict", "witness_search"]
