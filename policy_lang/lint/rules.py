"""The table of lint codes: each rule's code, name, severity and help, and the retired codes.

Codes are stable and never renumbered; new ones are added at the end of their group. Every
code is documented, with a bad and a fixed example, in docs/lint-rules.md.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict

from ..errors import CODES

__all__ = ["Rule", "RULES", "ALL_CODES", "RETIRED", "severity_of"]


@dataclass(frozen=True)
class Rule:
    """One lint code: `name` is its kebab-case name (SARIF rules), `summary` one line, `help` the fix."""
    code: str
    name: str
    severity: str
    summary: str
    help: str


RULES: Dict[str, Rule] = {r.code: r for r in (
    Rule("W100", "unreachable-line", "warning", "risk or category line that is never chosen",
         "a line after `otherwise` or a bare line, or whose condition an earlier line of the block "
         "always matches first, never decides anything: remove it or move it up"),
    Rule("W101", "check-never-fails", "warning", "check condition that is always true",
         "a `require` line whose condition always holds never produces its outcome: tighten or remove it"),
    Rule("W102", "check-never-passes", "warning", "check condition that is never true",
         "a `require` line whose condition can never hold gives its outcome to every action it applies to"),
    Rule("W103", "confidence-out-of-range", "warning", "confidence threshold outside [0, 1]",
         "`confidence` is a probability between 0 and 1"),
    Rule("W104", "incompatible-types", "warning", "comparison or operation between incompatible types",
         "values of different types are never equal, and ordering or arithmetic on them is an "
         "evaluation error (deny)"),
    Rule("W105", "undeclared-path", "warning", "path not declared in the tool's JSON Schema",
         "a path the tool's schema does not declare is usually a typo, and missing at run time"),
    Rule("W106", "schema-type-mismatch", "warning", "value of a type or range the tool's JSON Schema forbids",
         "the schema rejects such arguments before any rule runs, so the comparison can never hold"),
    Rule("W107", "unused-route", "warning", "route that no rule uses",
         "remove the route, or name it in a `require approval via` outcome"),
    Rule("W108", "unreachable-level", "warning", "category level that no tool can reach",
         "no `risk` line gives this level, so the category block never applies"),
    Rule("W109", "check-on-undeclared-tool", "warning", "check on a tool that has no `tool` block",
         "the check applies to that name, but such actions are unknown tools: declare the tool or fix the name"),
    Rule("W110", "impossible-budget", "warning", "budget whose limit can never be met",
         "a non-positive limit (or a `count()` limit below 1) fails every action the budget applies to"),
    Rule("W111", "category-not-closed", "warning", "category block without a closing line",
         "an action that no line matches is denied; end the block with `OUTCOME otherwise`"),
    Rule("W112", "dead-rule", "warning", "outcome always overridden by a stronger one",
         "whenever this line gives its outcome, another binding line gives a stricter one"),
    Rule("W114", "level-without-category", "warning", "tool whose unmatched actions get a level with no category",
         "an action that no risk line matches gets the highest level; with no `category` block for that "
         "level it is denied: close the risk lines with `risk LEVEL otherwise` or add the category"),
    Rule("W115", "negative-test-on-untyped-value", "warning",
         "negative comparison on a value no schema types, guarding a looser outcome",
         "`!=`, `not in` and a negated `==`, `in` or `matches` hold for every value nobody listed, a value "
         "of another type included (`-1e308` is not `\"basic\"`): write the values that may pass as an "
         "allow-list (`x in [...]`, `x == ...`), or give the argument a `type` or `enum` in the tool's schema"),
    Rule("W116", "maybe-missing-path", "warning", "`require` line reading a path that may be missing, unguarded",
         "reading a missing path is an evaluation error, which denies with \"`PATH` is missing\" instead of the "
         "line's own outcome and message: guard it with `PATH present and …` (the line's outcome when it is "
         "missing) or `PATH missing or …` (the check passes), or mark it `required` in the tool's schema"),
    Rule("I100", "tool-without-schema", "info", "tool with no JSON Schema",
         "a `schema` makes bad arguments a denial before any rule runs, and lets lint check paths"),
    Rule("I101", "not-analysed", "info", "part of a policy with errors that lint did not analyse",
         "a block with a load error, and the blocks and rules that read it, are analysed once the errors "
         "are fixed: until then, no warning there means nothing"),
)}

ALL_CODES: Dict[str, str] = {**CODES, **{c: r.summary for c, r in RULES.items()}}

# Codes that no longer report anything. They stay reserved (never given a new meaning, so an old
# `# signoff: ignore[W113]` cannot silence a different warning) and `--select`/`--ignore` accept them.
RETIRED: Dict[str, str] = {
    "W113": "regex-backtracking: retired in v1.1, `matches` runs on RE2, whose time is linear in the text",
}


def severity_of(code: str) -> str:
    """The severity a code reports with: its rule's, or `error` for a load error."""
    return RULES[code].severity if code in RULES else "error"

