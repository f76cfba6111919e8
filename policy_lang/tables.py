"""The language's shared tables: roots, outcomes and their order, built-in arities, reserved words, units.

Spec v1.1 fixes each of these; every module that needs one reads it from here, so the parser, the
checker, lint, the compiled engine and the reference interpreter cannot drift apart.
"""
from __future__ import annotations

from typing import Dict, FrozenSet, Mapping, Tuple

__all__ = ["ROOTS", "OBJECT_ROOTS", "OUTCOMES", "OUTCOME_RANK", "FUNCTION_ARITIES", "RESERVED", "DURATION_UNITS"]

ROOTS: Tuple[str, ...] = ("args", "tenant", "agent", "context", "confidence", "tool", "timestamp")
"""The roots of an action a path may start from (spec §2, §4.4)."""

OBJECT_ROOTS: Tuple[str, ...] = ("args", "tenant", "agent", "context")
"""The roots that, when present, must be JSON objects."""

OUTCOMES: Tuple[str, ...] = ("allow", "require_approval", "ask", "escalate", "deny")
"""Every outcome, loosest first: the most restrictive binding outcome wins (spec §3)."""

OUTCOME_RANK: Mapping[str, int] = {o: i for i, o in enumerate(OUTCOMES)}
"""An outcome's place in `OUTCOMES`: higher is stricter."""

FUNCTION_ARITIES: Dict[str, Tuple[int, int]] = {
    "len": (1, 1), "lower": (1, 1), "upper": (1, 1), "domain": (1, 1),
    "hour": (1, 2), "weekday": (1, 2), "sql_read_only": (1, 2),
}
"""Built-in function name -> (least, most) arguments. `sql_read_only` is an extension (language.md §7.9a)."""

RESERVED: FrozenSet[str] = frozenset("""policy version mode use override const route approvers quorum timeout then grants
never tool schema risk when otherwise category levels check advisory on require else budget per unknown
tools allow approval via ask escalate to deny and or not in present missing any all true false""".split())
"""Words that cannot name a route, check, level, const or variable (spec §4.1, E105)."""

DURATION_UNITS: Mapping[str, int] = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
"""Seconds per duration unit."""
