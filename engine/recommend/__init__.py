"""Recommendations from the record: a smaller policy from a history with human verdicts (`signoff recommend`).

The package may import policy_lang, engine.decide and engine.replay (it replays histories as simulate
and diff do); nothing imports it but the engine's public API. `levers` finds what a recommendation
may move, `search` replays and chooses, `stats` holds the arithmetic (the Clopper–Pearson bound, the
holdout split), `output` the JSON report and the recommended policy's text.
"""
from .output import check_written, policy_text, report
from .search import RecommendError, Search, search
from .stats import betainc, upper_bound

__all__ = ["search", "Search", "RecommendError", "report", "policy_text", "check_written", "upper_bound",
           "betainc"]
