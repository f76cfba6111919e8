"""`signoff lint`: every load error of the checker, plus analysis warnings over a policy that loads.

Codes are stable and never renumbered; new ones are added at the end of their group. Every
code is documented, with a bad and a fixed example, in docs/lint-rules.md.

The analyses reason about conditions in a two-valued model where a comparison that is
evaluated without error has present operands of the compared type (an evaluation error
only ever adds a `deny`, spec §4.7). Conditions are put in disjunctive normal form over
*atoms*: interval constraints on numeric comparisons with constants, set constraints from
`==`/`!=`/`in`/`not in` with literals, `present`/`missing` (a present path has present
parents), and opaque atoms (anything else, known only to contradict their own negation).
Whatever grows past a size limit is treated as unknown, so every warning is proved, never
guessed.
"""
from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import Any, Dict, FrozenSet, Iterable, List, Optional, Sequence, Set, Tuple

from . import ast as A
from .analysis import (DNF, FALSE, FLIP, NO, ORDER, TRUE, Logic, SchemaView, const_compare, is_num, json_equal,
                       value_kind)
from .checker import Program
from .checker import check as check_program
from .errors import CODES, Diagnostic, PolicyError, did_you_mean
from .loader import STDLIB_DIR, LoadedFile, expand_paths, load_files, read_text
from .printer import expr_text, outcome_text

__all__ = ["RULES", "ALL_CODES", "RETIRED", "Rule", "lint_file", "lint_paths", "lint_text", "policy_files",
           "severity_of", "read_error"]


@dataclass(frozen=True)
class Rule:
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
    Rule("I100", "tool-without-schema", "info", "tool with no JSON Schema",
         "a `schema` makes bad arguments a denial before any rule runs, and lets lint check paths"),
)}

ALL_CODES: Dict[str, str] = {**CODES, **{c: r.summary for c, r in RULES.items()}}

# Codes that no longer report anything. They stay reserved (never given a new meaning, so an old
# `# signoff: ignore[W113]` cannot silence a different warning) and `--select`/`--ignore` accept them.
RETIRED: Dict[str, str] = {
    "W113": "regex-backtracking: retired in v1.1, `matches` runs on RE2, whose time is linear in the text",
}
STRENGTH = {"allow": 0, "require_approval": 1, "ask": 2, "escalate": 3, "deny": 4}


def severity_of(code: str) -> str:
    return RULES[code].severity if code in RULES else "error"


def short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"



_SCHEMA_TYPE_OF_KIND = {"number": {"number", "integer"}, "string": {"string"}, "boolean": {"boolean"},
                        "list": {"array"}}


def _schema_allows(types: Set[str], kind: str) -> bool:
    return bool(_SCHEMA_TYPE_OF_KIND.get(kind, set()) & types) if kind in _SCHEMA_TYPE_OF_KIND else True


def _describe_types(types: Set[str]) -> str:
    names = {"integer": "an integer", "number": "a number", "string": "a string", "boolean": "a boolean",
             "array": "a list", "object": "an object", "null": "null"}
    shown = sorted(t for t in types if not (t == "number" and "integer" in types))
    words = [names.get(t, t) for t in shown]
    return " or ".join(words) if words else "nothing"


def lit_text(v: Any) -> str:
    from .printer import literal_text
    try:
        return literal_text(v)
    except TypeError:
        return str(v)


# ======================================================================= the analyses

class _Linter:
    def __init__(self, program: Program, files: List[LoadedFile], root: LoadedFile, module: bool):
        self.p = program
        self.files = files
        self.root = root
        self.module = module
        self.sources = {f.rel: f.text for f in files}
        self._lines: Dict[str, List[str]] = {}
        self.consts = {name: c.value for name, c in program.consts.items()}
        self.logic = Logic(self.consts)
        self.out: List[Diagnostic] = []
        self.levels = program.levels
        self.highest = program.levels[-1] if program.levels else "high"
        self.schemas = {name: SchemaView(s.value) for name, s in program.schemas.items()}
        self.cat_fire: Dict[str, List[Tuple[A.CategoryLine, DNF]]] = {}
        self.tool_levels: Dict[str, Set[str]] = {}
        self.tool_rest: Dict[str, DNF] = {}   # when no risk line matches (W115)
        self.cat_rest: Dict[str, DNF] = {}    # when no category line matches (W115)
        self.every = False

    # ---------------------------------------------------------------- helpers
    def warn(self, code: str, message: str, span: A.Span, help: Optional[str] = None) -> None:
        self.out.append(Diagnostic(code, message, span, RULES[code].severity, help))

    def where(self, span: A.Span, here: A.Span) -> str:
        return f"line {span.line}" if span.file == here.file else span.at()

    def head(self, span: A.Span) -> A.Span:
        """The first line of a block, up to its `{`."""
        lines = self.lines(span.file)
        if lines is None or span.line < 1 or span.line > len(lines):
            return span
        text = lines[span.line - 1]
        start = span.column - 1
        brace = text.find("{", start)
        end = brace if brace >= 0 else len(text)
        seg = text[start:end].rstrip()
        return A.Span(span.file, span.line, span.column, span.line, span.column + max(len(seg), 1))

    def lines(self, file: str) -> Optional[List[str]]:
        if file not in self._lines:
            src = self.sources.get(file)
            if src is None:
                return None
            self._lines[file] = src.splitlines()
        return self._lines[file]

    def in_root(self, span: A.Span) -> bool:
        return span.file == self.root.rel

    # ---------------------------------------------------------------- driver
    def run(self) -> List[Diagnostic]:
        p = self.p
        for name, tool in p.tools.items():
            self.tool_block(tool)
            if tool.schema is None:
                self.warn("I100", f"tool `{name}` has no schema", self.head(tool.span),
                          help="add `schema { … }` or `schema \"FILE.json\"` describing its `args`")
        for level, cat in p.categories.items():
            self.category_block(cat)
        for check in p.checks.values():
            self.check_block(check)
        self.expressions()
        self.negative_tests()
        self.dead_rules()
        if not self.module:
            self.unused_routes()
            self.unreachable_levels()
            self.undeclared_targets()
        return self.out

    # ---------------------------------------------------------------- ordered blocks
    def ordered(self, lines: Sequence[Any], kind: str) -> Tuple[List[DNF], DNF]:
        """W100 for a block's lines; returns each line's firing condition and the no-match remainder."""
        L = self.logic
        prefix: DNF = TRUE
        fires: List[DNF] = []
        closer = None
        conds: List[Tuple[Any, Any]] = []
        for line in lines:
            if closer is not None:
                word = "`otherwise`" if closer.otherwise else "a line without `when`"
                self.warn("W100", f"unreachable {kind} line: {self.where(closer.span, line.span)} already "
                          f"closes the block with {word}", line.span,
                          help="lines after `otherwise` or a bare line are never reached: move it up or remove it")
                fires.append(FALSE)
                continue
            if line.when is None:
                closer = line
                if prefix is not None and not prefix:
                    self.warn("W100", f"unreachable {kind} line: the lines above already match every case",
                              line.span, help="remove it, or loosen the lines above")
                fires.append(prefix)
                prefix = FALSE
                continue
            pos = L.dnf(line.when, True)
            fire = L.product(prefix, pos)
            fires.append(fire)
            if fire is not None and not fire:
                text = f"`{short(expr_text(line.when))}`"
                if pos is not None and not pos:
                    self.warn("W100", f"unreachable {kind} line: {text} can never be true", line.span)
                elif prefix is not None and not prefix:
                    self.warn("W100", f"unreachable {kind} line: the lines above already match every case",
                              line.span, help="remove it, or loosen the lines above")
                else:
                    culprit = None
                    for earlier, _ in conds:
                        if L.never(pos, L.dnf(earlier.when, False)):
                            culprit = earlier
                            break
                    if culprit is not None:
                        self.warn("W100", f"unreachable {kind} line: whenever {text} holds, "
                                  f"{self.where(culprit.span, line.span)} "
                                  f"(`{short(expr_text(culprit.when))}`) matches first", line.span,
                                  help="first match wins: put the more specific line first")
                    else:
                        self.warn("W100", f"unreachable {kind} line: every case of {text} is matched by "
                                  "the lines above", line.span,
                                  help="first match wins: put the more specific line first")
            conds.append((line, pos))
            prefix = L.product(prefix, L.dnf(line.when, False))
        return fires, prefix

    def tool_block(self, tool: A.Tool) -> None:
        fires, rest = self.ordered(tool.risks, "risk")
        self.tool_rest[tool.name] = rest
        levels: Set[str] = set()
        for line, fire in zip(tool.risks, fires):
            if fire is None or fire:
                levels.add(line.level)
        # no line matched, or an error in a risk line: the highest level
        if not tool.risks or rest is None or rest or any(r.when is not None for r in tool.risks):
            levels.add(self.highest)
        self.tool_levels[tool.name] = levels
        # W114: an action no risk line matches gets the highest level; without a category block for it,
        # the action is denied ("no category block for risk level …"). A module's importer may declare it.
        closed = any(r.when is None for r in tool.risks) or (rest is not None and not rest)
        if not closed and not self.module and self.highest not in self.p.categories:
            level = f"`{self.highest}`"
            fix = f"add `category {self.highest} {{ … }}`"
            if tool.risks:
                self.warn("W114", f"an action of tool `{tool.name}` that no risk line matches gets level {level}, "
                          "which has no category block: it is denied", tool.risks[-1].span,
                          help=f"end the risk lines with `risk LEVEL otherwise`, or {fix}")
            else:
                self.warn("W114", f"tool `{tool.name}` has no risk line, so its actions get level {level}, "
                          "which has no category block: they are denied", self.head(tool.span),
                          help=f"add a `risk LEVEL` line, or {fix}")

    def category_block(self, cat: A.Category) -> None:
        fires, rest = self.ordered(cat.lines, "category")
        self.cat_rest[cat.level] = rest
        self.cat_fire[cat.level] = list(zip(cat.lines, fires))
        closed = any(l.when is None for l in cat.lines) or (rest is not None and not rest)
        if not closed:
            self.warn("W111", f"category `{cat.level}` has no closing line", self.head(cat.span),
                      help="an action no line matches is denied: end the block with an "
                           "`OUTCOME otherwise` line (for example `deny otherwise`)")

    # ---------------------------------------------------------------- checks
    def check_block(self, check: A.Check) -> None:
        L = self.logic
        for line in check.lines:
            if isinstance(line, A.Require):
                text = f"`{short(expr_text(line.cond))}`"
                pos, neg = L.dnf(line.cond, True), L.dnf(line.cond, False)
                if pos is not None and not pos:
                    self.warn("W102", f"check `{check.name}` can never pass: {text} is never true", line.span,
                              help=f"every action it applies to gets `{outcome_text(line.outcome)}`")
                elif neg is not None and not neg:
                    self.warn("W101", f"check `{check.name}` can never fail: {text} is always true", line.span,
                              help=f"`{outcome_text(line.outcome)}` is never given: tighten the condition or "
                                   "remove the line")
            else:
                limit = line.limit
                if limit <= 0 or (line.agg == "count" and limit < 1):
                    what = "`count()` is at least 1 with this action" if line.agg == "count" else \
                        f"any positive `{expr_text(line.path)}` exceeds it"
                    shown = line.limit_text or str(limit)
                    self.warn("W110", f"budget limit `{shown}` can never be met: {what}", line.span,
                              help=f"every action it applies to gets `{outcome_text(line.outcome)}`; "
                                   "use a positive limit")

    # ---------------------------------------------------------------- expression-level checks
    def expressions(self) -> None:
        p = self.p
        for tool in p.tools.values():
            scope = [tool.name] if tool.name in self.schemas else []
            exprs = [r.when for r in tool.risks if r.when is not None]
            self.types_block(exprs)
            for e in exprs:
                self.walk(e, scope, {})
        for cat in p.categories.values():
            exprs = [l.when for l in cat.lines if l.when is not None]
            self.types_block(exprs)
            # a category applies to every tool that reaches its level: a path is flagged only when
            # the schemas of all of them (each tool having one) agree that it is wrong
            reach = [t for t, lv in self.tool_levels.items() if cat.level in lv]
            scope = reach if reach and all(t in self.schemas for t in reach) else []
            for e in exprs:
                self.walk(e, scope, {}, every=True)
        for check in p.checks.values():
            scope = [] if check.targets is None else [t for t in dict.fromkeys(check.targets) if t in self.schemas]
            exprs: List[Any] = []
            for line in check.lines:
                if isinstance(line, A.Require):
                    exprs.append(line.cond)
                else:
                    exprs.extend(([line.path] if line.path is not None else []) + list(line.keys))
            self.types_block([e for e in exprs if not isinstance(e, A.Path)])
            for e in exprs:
                self.walk(e, scope, {})

    def walk(self, e: Any, tools: List[str], scope: Dict[str, Dict[str, List[Any]]], every: bool = False) -> None:
        """W103, W104 (single expressions), W105, W106 over one expression tree.

        `tools` are the tools whose schemas describe `args` here; with `every`, a schema problem is
        reported only when it holds for all of them (category lines), else for any (tools, checks)."""
        self.every = every
        self._walk(e, tools, scope)

    def _walk(self, e: Any, tools: List[str], scope: Dict[str, Dict[str, List[Any]]]) -> None:
        walk = self._walk
        if isinstance(e, A.Path):
            self.schema_path(e, tools, scope)
            return
        if isinstance(e, A.Quantifier):
            walk(e.source, tools, scope)
            inner = dict(scope)
            inner[e.var] = self.item_schemas(e.source, tools, scope)
            walk(e.body, tools, inner)
            return
        if isinstance(e, A.Compare):
            self.compare(e, tools, scope)
            walk(e.left, tools, scope)
            walk(e.right, tools, scope)
            return
        if isinstance(e, A.Arith):
            lv, rv = self.logic.const(e.left), self.logic.const(e.right)
            for side, v in ((e.left, lv), (e.right, rv)):
                if v is not NO and not is_num(v) and not (e.op == "+" and isinstance(v, str)):
                    self.warn("W104", f"`{e.op}` needs numbers, got {value_kind(v)} `{short(lit_text(v), 30)}`",
                              e.span, help="arithmetic on other values is an evaluation error (deny)")
                    break
            else:
                if e.op == "+" and lv is not NO and rv is not NO and value_kind(lv) != value_kind(rv):
                    self.warn("W104", f"`+` joins two strings or adds two numbers, not a {value_kind(lv)} and a "
                              f"{value_kind(rv)}", e.span)
            walk(e.left, tools, scope)
            walk(e.right, tools, scope)
            return
        if isinstance(e, A.Call):
            want = {"len": ("string", "list"), "lower": ("string",), "upper": ("string",),
                    "domain": ("string",), "hour": ("string",), "weekday": ("string",)}.get(e.fn)
            if want and e.args:
                v = self.logic.const(e.args[0])
                if v is not NO and value_kind(v) not in want:
                    self.warn("W104", f"`{e.fn}` takes {' or '.join('a ' + w for w in want)}, "
                              f"got {value_kind(v)} `{short(lit_text(v), 30)}`", e.args[0].span)
                self.schema_call(e, tools, scope, want)
            for a in e.args:
                walk(a, tools, scope)
            return
        if isinstance(e, (A.BoolOp,)):
            walk(e.left, tools, scope)
            walk(e.right, tools, scope)
        elif isinstance(e, (A.Not, A.Neg)):
            walk(e.operand, tools, scope)
        elif isinstance(e, A.Presence):
            walk(e.path, tools, scope)
        elif isinstance(e, A.ListExpr):
            for i in e.items:
                walk(i, tools, scope)

    def compare(self, e: A.Compare, tools: List[str], scope: Dict[str, Any]) -> None:
        L = self.logic
        lv, rv = L.const(e.left), L.const(e.right)
        op = e.op
        # W103: confidence thresholds
        for term, lit in ((e.left, e.right), (e.right, e.left)):
            if isinstance(term, A.Path) and term.root == "confidence" and not term.keys and op in ORDER + ("==", "!="):
                v = L.const(lit)
                if is_num(v) and not 0 <= v <= 1:
                    help = "`confidence` is between 0 and 1"
                    if 1 < v <= 100:
                        help += f"; did you mean `{v / 100:g}`?"
                    self.warn("W103", f"confidence threshold `{short(lit_text(v), 20)}` is outside [0, 1]",
                              lit.span, help=help)
        # W104: constants on both sides, or a literal of the wrong kind for the operator
        if lv is not NO and rv is not NO:
            if const_compare(op, lv, rv) is None or (op in ("==", "!=") and value_kind(lv) != value_kind(rv)):
                self.warn("W104", f"`{op}` between {value_kind(lv)} `{short(lit_text(lv), 20)}` and "
                          f"{value_kind(rv)} `{short(lit_text(rv), 20)}`", e.span,
                          help="values of different types are never equal; ordering them is an "
                               "evaluation error (deny)")
        elif op in ORDER:
            v = rv if rv is not NO else lv
            if v is not NO and not (is_num(v) or isinstance(v, str)):
                self.warn("W104", f"`{op}` compares numbers or strings, not a {value_kind(v)}", e.span,
                          help="this is an evaluation error (deny) for every action")
        elif op in ("in", "not in") and rv is not NO and not isinstance(rv, tuple):
            self.warn("W104", f"`{op}` needs a list on its right, got {value_kind(rv)} `{short(lit_text(rv), 20)}`",
                      e.right.span, help="write `x in [\"a\", \"b\"]`, or use `contains` for a substring")
        elif op in ("starts_with", "ends_with", "matches") and rv is not NO and not isinstance(rv, str):
            self.warn("W104", f"`{op}` needs a string on its right, got {value_kind(rv)}", e.right.span)
        elif op in ("starts_with", "ends_with", "matches", "contains") and lv is not NO and \
                not isinstance(lv, (str, tuple) if op == "contains" else str):
            self.warn("W104", f"`{op}` needs a string on its left, got {value_kind(lv)}", e.left.span)
        # W106: the schema's type or enum
        for term, lit, v in ((e.left, e.right, rv), (e.right, e.left, lv)):
            if v is NO or not isinstance(term, A.Path):
                continue
            if term is e.right and op not in ("==", "!=", *ORDER):
                continue  # `"x" in args.list` and the like: the path is not the compared value
            self.schema_compare(e, term, op if term is e.left else FLIP.get(op, op), v, tools, scope)

    # ---------------------------------------------------------------- W104 across one block
    def types_block(self, exprs: List[Any]) -> None:
        seen: Dict[str, Tuple[str, A.Span]] = {}
        seeded = {"confidence": "number", "tool": "string", "timestamp": "string"}
        call_kind = {"len": "number", "hour": "number", "weekday": "string", "lower": "string",
                     "upper": "string", "domain": "string"}
        L = self.logic

        def note(term: Any, kind: str, span: A.Span) -> None:
            if isinstance(term, A.Path):
                if term.root in self.consts:
                    return
                text = expr_text(term)
                known = seeded.get(text)
            elif isinstance(term, A.Call):
                text = expr_text(term)
                known = call_kind.get(term.fn)
            else:
                return
            if known is not None and known != kind:
                self.warn("W104", f"`{short(text, 40)}` is a {known}, compared with a {kind} here", span,
                          help="values of different types are never equal; ordering them is an "
                               "evaluation error (deny)")
                return
            if known is not None:
                return
            first = seen.get(text)
            if first is None:
                seen[text] = (kind, span)
            elif first[0] != kind:
                self.warn("W104", f"`{short(text, 40)}` is compared with a {kind} here and with a {first[0]} "
                          f"at {self.where(first[1], span)}", span,
                          help="a path holds one type in a given action: one of the two literals is "
                               "probably written wrongly (`\"5\"` for `5`)")

        def visit(e: Any, vars_: FrozenSet[str]) -> None:
            if isinstance(e, A.Quantifier):
                visit(e.source, vars_)
                visit(e.body, vars_ | {e.var})
                return
            if isinstance(e, A.Compare):
                lv, rv = L.const(e.left), L.const(e.right)
                if (lv is NO) != (rv is NO):
                    term, v = (e.left, rv) if rv is not NO else (e.right, lv)
                    rooted_in_var = isinstance(term, A.Path) and term.root in vars_
                    if not rooted_in_var:
                        kind = None
                        if e.op in ("==", "!=") + ORDER:
                            kind = value_kind(v)
                        elif e.op in ("in", "not in") and term is e.left and isinstance(v, tuple) and v:
                            kinds = {value_kind(x) for x in v}
                            kind = kinds.pop() if len(kinds) == 1 else None
                        elif e.op in ("starts_with", "ends_with", "matches") and term is e.left:
                            kind = "string"
                        if kind in ("number", "string", "boolean"):
                            note(term, kind, e.span)
                for side in (e.left, e.right):
                    visit(side, vars_)
                return
            for child in children(e):
                visit(child, vars_)

        for e in exprs:
            visit(e, frozenset())

    # ---------------------------------------------------------------- schemas
    def path_schemas(self, p: A.Path, tools: List[str], scope: Dict[str, Any]) -> List[Tuple[str, SchemaView, List[Any], Tuple]]:
        """(tool, view, start nodes, keys) for each tool whose schema describes this path."""
        out = []
        if p.root == "args":
            for t in tools:
                view = self.schemas[t]
                out.append((t, view, [view.root], p.keys))
        elif p.root in scope and scope[p.root]:
            for t, nodes in scope[p.root].items():
                out.append((t, self.schemas[t], nodes, p.keys))
        return out

    def resolve(self, view: SchemaView, nodes: List[Any], keys: Sequence[Any]) -> Tuple[str, Any, int]:
        cur = nodes
        for i, k in enumerate(keys):
            status, payload = view.child(cur, k)
            if status != "declared":
                return status, payload, i
            cur = payload
        return "declared", cur, len(keys)

    def item_schemas(self, source: Any, tools: List[str], scope: Dict[str, Any]) -> Dict[str, List[Any]]:
        out: Dict[str, List[Any]] = {}
        if not isinstance(source, A.Path):
            return out
        for t, view, nodes, keys in self.path_schemas(source, tools, scope):
            status, payload, _ = self.resolve(view, nodes, keys)
            if status != "declared":
                continue
            items: List[Any] = []
            for n in view.expand(payload):
                if isinstance(n, dict) and isinstance(n.get("items"), (dict, bool)):
                    items.append(n["items"])
                elif isinstance(n, dict) and n.get("type") not in (None, "array") and not (
                        isinstance(n.get("type"), list) and "array" in n["type"]):
                    continue
                else:
                    items = []
                    break
            if items:
                out[t] = items
        return out

    def schema_path(self, p: A.Path, tools: List[str], scope: Dict[str, Any]) -> None:
        missing: Dict[Tuple[str, bool], List[str]] = {}
        suggestions: Dict[str, Optional[str]] = {}
        for t, view, nodes, keys in self.path_schemas(p, tools, scope):
            status, payload, i = self.resolve(view, nodes, keys)
            if status == "undeclared":
                forbidden, names = payload
                shown = expr_text(A.Path(p.root, p.keys[:i + 1]))
                missing.setdefault((shown, forbidden), []).append(t)
                key = p.keys[i]
                if isinstance(key, str) and shown not in suggestions:
                    suggestions[shown] = did_you_mean(key, names)
        for (shown, forbidden), ts in missing.items():
            if self.every and len(ts) < len(tools):
                continue
            which = tools_text(ts)
            help = suggestions.get(shown) or (
                "the schema allows no other properties, so this path is always missing" if forbidden
                else "add it to the schema's `properties`, or fix the path")
            self.warn("W105", f"`{shown}` is not declared in the schema of {which}", p.span, help=help)

    def schema_compare(self, e: A.Compare, term: A.Path, op: str, value: Any, tools: List[str],
                       scope: Dict[str, Any]) -> None:
        problems: Dict[str, List[str]] = {}
        kind = value_kind(value)
        for t, view, nodes, keys in self.path_schemas(term, tools, scope):
            status, payload, _ = self.resolve(view, nodes, keys)
            if status != "declared":
                continue
            types = view.types(payload)
            if types is None:
                continue
            msg = None
            if op in ("==", "!=") + ORDER:
                if kind in ("number", "string", "boolean", "list") and not _schema_allows(types, kind):
                    msg = f"is {_describe_types(types)} in the schema of {{which}}, compared with a {kind}"
                elif op in ("==", "!="):
                    allowed = view.enum(payload)
                    if allowed is not None and not any(json_equal(value, freeze(a)) for a in allowed):
                        msg = (f"is never `{short(lit_text(value), 30)}` in the schema of {{which}}: it is one of "
                               + ", ".join(f"`{short(lit_text(freeze(a)), 20)}`" for a in allowed[:6])
                               + ("…" if len(allowed) > 6 else ""))
            elif op in ("in", "not in") and isinstance(value, tuple) and value:
                if not any(_schema_allows(types, value_kind(x)) for x in value):
                    msg = f"is {_describe_types(types)} in the schema of {{which}}, never a member of this list"
                else:
                    allowed = view.enum(payload)
                    if allowed is not None and not any(json_equal(x, freeze(a)) for x in value for a in allowed):
                        msg = "is never one of these values in the schema of {which}"
            elif op in ("starts_with", "ends_with", "matches") and "string" not in types:
                msg = f"is {_describe_types(types)} in the schema of {{which}}, but `{op}` needs a string"
            elif op == "contains" and not types & {"string", "array"}:
                msg = f"is {_describe_types(types)} in the schema of {{which}}, but `contains` needs a string or a list"
            if msg:
                problems.setdefault(msg, []).append(t)
        for msg, ts in problems.items():
            if self.every and len(ts) < len(tools):
                continue
            which = tools_text(ts)
            always = "always holds" if op in ("!=", "not in") else "can never hold"
            self.warn("W106", f"`{short(expr_text(term), 40)}` " + msg.format(which=which), e.span,
                      help=f"the schema rejects other arguments before any rule runs, so this comparison {always}")

    def schema_call(self, e: A.Call, tools: List[str], scope: Dict[str, Any], want: Tuple[str, ...]) -> None:
        arg = e.args[0]
        if not isinstance(arg, A.Path):
            return
        need = {"string": "string", "list": "array"}
        problems: List[str] = []
        last_types: Set[str] = set()
        for t, view, nodes, keys in self.path_schemas(arg, tools, scope):
            status, payload, _ = self.resolve(view, nodes, keys)
            if status != "declared":
                continue
            types = view.types(payload)
            if types is not None and not types & {need[w] for w in want}:
                problems.append(t)
                last_types = types
        if problems and not (self.every and len(problems) < len(tools)):
            which = tools_text(problems)
            self.warn("W106", f"`{short(expr_text(arg), 40)}` is {_describe_types(last_types)} in the schema of "
                      f"{which}, but `{e.fn}` takes {' or '.join('a ' + w for w in want)}", e.span,
                      help="this is an evaluation error (deny) for every valid action")

    # ---------------------------------------------------------------- W112
    def dead_rules(self) -> None:
        L = self.logic
        entries: List[Tuple[A.Check, A.Require, Optional[FrozenSet[str]], int]] = []
        by_tool: Dict[str, List[int]] = {}
        star: List[int] = []
        for check in self.p.checks.values():
            if check.advisory:
                continue
            targets = None if check.targets is None else frozenset(check.targets)
            for line in check.lines:
                if not isinstance(line, A.Require):
                    continue
                idx = len(entries)
                entries.append((check, line, targets, STRENGTH[line.outcome.kind]))
                if targets is None:
                    star.append(idx)
                else:
                    for t in targets:
                        by_tool.setdefault(t, []).append(idx)

        def candidates(tools: Optional[FrozenSet[str]], strength: int, skip: Any) -> List[int]:
            if tools is None:
                pool = star
            elif not tools:
                return []
            else:
                first = next(iter(tools))
                pool = by_tool.get(first, []) + star
            out = []
            for i in pool:
                ch, line, t2, s2 = entries[i]
                if line is skip or s2 <= strength:
                    continue
                if t2 is not None and (tools is None or len(t2) < len(tools) or not tools <= t2):
                    continue
                out.append(i)
            return out

        def stronger(fire: DNF, tools: Optional[FrozenSet[str]], strength: int, skip: Any) -> Optional[int]:
            if fire is None or not fire:
                return None
            for i in candidates(tools, strength, skip):
                if L.never(fire, L.dnf(entries[i][1].cond, True)):
                    return i
            return None

        def report(span: A.Span, what: str, i: int, lead: str, fire: DNF) -> None:
            ch, line, _, _ = entries[i]
            where = f"check `{ch.name}` ({self.where(line.span, span)})"
            if L.never(fire, [L.presence(line.cond)]):
                # the other line cannot even be evaluated then: a path it reads is missing
                self.warn("W112", f"dead rule: {what} is never the outcome: {lead} {where} reads a missing "
                          "path, an evaluation error that denies", span,
                          help="guard the other line, as in `require x missing or …`, so that it does not "
                               "fail when this one does")
                return
            self.warn("W112", f"dead rule: {what} is never the outcome: {lead} {where} "
                      f"gives the stronger `{outcome_text(line.outcome)}`",
                      span, help="remove this line, or make it stricter than the line that always overrides it")

        for check in self.p.checks.values():
            if check.advisory:
                continue
            tools = None if check.targets is None else frozenset(check.targets)
            for line in check.lines:
                s1 = STRENGTH[line.outcome.kind]
                fire = L.dnf(line.cond, False) if isinstance(line, A.Require) else TRUE
                i = stronger(fire, tools, s1, line)
                if i is not None:
                    lead = "whenever this line fails," if isinstance(line, A.Require) else \
                        "whenever the budget is exceeded,"
                    report(line.span, f"`{outcome_text(line.outcome)}`", i, lead, fire)
        for level, lines in self.cat_fire.items():
            reach = frozenset(t for t, lv in self.tool_levels.items() if level in lv)
            if not reach:
                continue
            for line, fire in lines:
                s1 = STRENGTH[line.outcome.kind]
                i = stronger(fire, reach, s1, line)
                if i is not None:
                    report(line.span, f"`{outcome_text(line.outcome)}`", i, "whenever this line matches,", fire)

    # ---------------------------------------------------------------- whole-policy checks
    def unused_routes(self) -> None:
        p = self.p
        used: Set[str] = set()
        implicit = p.mode == "assisted" or any(t.mode is not None and t.mode.mode == "assisted"
                                               for t in p.tools.values())
        outcomes: List[A.Outcome] = [l.outcome for c in p.categories.values() for l in c.lines]
        outcomes += [l.outcome for c in p.checks.values() for l in c.lines]
        if p.unknown is not None:
            outcomes.append(p.unknown.outcome)
        for o in outcomes:
            if o.kind == "require_approval":
                if o.route is None:
                    implicit = True
                else:
                    used.add(o.route)
        first = p.first_route
        if implicit and first is not None:
            used.add(first.name)
        for name, route in p.routes.items():
            if name not in used and self.in_root(route.span):
                self.warn("W107", f"route `{name}` is never used", self.head(route.span),
                          help=f"name it in an outcome (`require approval via {name}`) or remove it")

    def unreachable_levels(self) -> None:
        reached: Set[str] = set()
        for levels in self.tool_levels.values():
            reached |= levels
        for level, cat in self.p.categories.items():
            if level not in reached and self.in_root(cat.span):
                by = "no `risk` line gives it" if self.p.tools else "the policy declares no tool"
                self.warn("W108", f"no tool can reach risk level `{level}`: {by}", self.head(cat.span),
                          help=f"add `risk {level}` to a tool, or remove the block")

    def undeclared_targets(self) -> None:
        for check in self.p.checks.values():
            if check.targets is None or not self.in_root(check.span):
                continue
            for t in dict.fromkeys(check.targets):
                if t in self.p.tools:
                    continue
                self.warn("W109", f"check `{check.name}` is on `{t}`, which has no `tool` block",
                          self.target_span(check, t),
                          help=did_you_mean(t, self.p.tools) or
                          f"the check applies to that name, but such actions are unknown tools: "
                          f"add `tool {t} {{ … }}` or fix the name")

    def target_span(self, check: A.Check, name: str) -> A.Span:
        """The target's own position in `check NAME on A, B {`."""
        lines = self.lines(check.span.file)
        if lines is None:
            return check.span
        row, col = check.span.line - 1, check.span.column - 1
        pattern = re.compile(r'(?<![A-Za-z0-9_"])(' + re.escape(name) + r'(?![A-Za-z0-9_])|"'
                             + re.escape(name) + r'")')
        seen_on = False
        while 0 <= row < len(lines) and row < check.span.end_line:
            text = lines[row]
            start = col
            if not seen_on:
                m = re.compile(r"\bon\b").search(text, col)
                if m is None:
                    row, col = row + 1, 0
                    continue
                seen_on, start = True, m.end()
            brace = text.find("{", start)
            segment_end = brace if brace >= 0 else len(text)
            m = pattern.search(text, start, segment_end)
            if m:
                return A.Span(check.span.file, row + 1, m.start() + 1, row + 1, m.end() + 1)
            if brace >= 0:
                break
            row, col = row + 1, 0
        return self.head(check.span)


    # ---------------------------------------------------------------- W115
    def negative_tests(self) -> None:
        """W115: a negative test (`!=`, `not in`, a negated `==` / `in` / `matches` / `starts_with` /
        `ends_with` / `contains`) in a condition whose truth gives the looser outcome, on a value no
        schema types. Such a test holds for every value its author did not list, a value of another
        type included (`==` between types is false, spec §4.7), so an agent that controls the value
        (`context`, `tenant`, an argument without a schema) picks the looser branch.

        Whose truth is looser: a `require` line of an enforced check (passing adds no outcome); a
        category line whose outcome is looser than the strictest outcome a later line of the block can
        give (`deny` when the block has no closing line); a `risk` line whose level is lower than the
        highest level a later line can give (the highest declared level when no line closes the list).
        Typed, and so not flagged: `args` paths that the schema of every tool the line applies to
        declares with a `type`, `enum` or `const`; `confidence`, `tool` and `timestamp`; consts and
        literals; function results (their type is fixed; a wrong input is an error, so deny)."""
        p = self.p
        rank = {lv: i for i, lv in enumerate(self.levels)}
        for tool in p.tools.values():
            scope = [tool.name]
            for i, line in enumerate(tool.risks):
                if line.when is None:
                    continue
                later = [r.level for r in tool.risks[i + 1:]]
                if self._unmatched(tool.risks, self.tool_rest.get(tool.name)):
                    later.append(self.highest)
                if later and rank.get(line.level, 0) < max(rank.get(lv, 0) for lv in later):
                    self._negations(line.when, True, scope, {}, f"gives risk level `{line.level}`")
        for cat in p.categories.values():
            reach = [t for t, lv in self.tool_levels.items() if cat.level in lv]
            for i, line in enumerate(cat.lines):
                if line.when is None:
                    continue
                rest = cat.lines[i + 1:]
                later = [STRENGTH[l.outcome.kind] for l in rest]
                if self._unmatched(cat.lines, self.cat_rest.get(cat.level)):
                    later.append(STRENGTH["deny"])
                if later and STRENGTH[line.outcome.kind] < max(later):
                    self._negations(line.when, True, reach, {}, f"chooses `{outcome_text(line.outcome)}`")
        for check in p.checks.values():
            if check.advisory:
                continue  # never combined into the outcome
            if check.targets is None:
                scope = []  # `on *`: unknown tools too, which no schema describes
            else:
                scope = [self._alias_target(t) for t in dict.fromkeys(check.targets)]
            for line in check.lines:
                if isinstance(line, A.Require) and line.outcome.kind != "allow":
                    self._negations(line.cond, True, scope, {}, "lets the check pass")

    @staticmethod
    def _unmatched(lines: Sequence[Any], rest: DNF) -> bool:
        """Whether an action can match none of the lines (then the highest level, or deny, is given)."""
        return not any(l.when is None for l in lines) and (rest is None or bool(rest))

    def _alias_target(self, name: str) -> str:
        alias = self.p.aliases.get(name)
        return alias.target if alias is not None else name

    # a negative test's value for a value nobody listed, or of another type: `==` / `in` / `matches`
    # are false for it (or an error, which denies), `!=` / `not in` true
    _NEGATIVE = {"!=", "not in"}
    _POSITIVE = {"==", "in", "matches", "starts_with", "ends_with", "contains"}

    def _negations(self, e: Any, pos: bool, tools: List[str], scope: Dict[str, Any], looser: str,
                   pinned: frozenset = frozenset()) -> None:
        """Flag the negative tests that make `e` true where it stands (`pos`: under an even number of `not`).
        `pinned`: paths that a positive test in the same conjunction already holds to listed values
        (`x matches "^INV-" and not x matches "^INV-TEST"`): a value of another type, or one nobody
        listed, fails that test, so the negative test beside it cannot let it through."""
        if isinstance(e, A.BoolOp):
            conjunction = (e.op == "and") == pos  # `a and b` as written, or `not (a or b)`
            if conjunction:
                members = self._conjuncts(e, e.op)
                pinned = pinned | {p for m in members for p in self._pins(m, pos)}
            self._negations(e.left, pos, tools, scope, looser, pinned)
            self._negations(e.right, pos, tools, scope, looser, pinned)
        elif isinstance(e, A.Not):
            self._negations(e.operand, not pos, tools, scope, looser, pinned)
        elif isinstance(e, A.Quantifier):
            inner = dict(scope)
            with_schema = [t for t in tools if t in self.schemas]
            inner[e.var] = "typed" if self._typed_list(e.source) else self.item_schemas(e.source, with_schema, scope)
            self._negations(e.body, pos, tools, inner, looser)
        elif isinstance(e, A.Compare):
            negative = (pos and e.op in self._NEGATIVE) or (not pos and e.op in self._POSITIVE)
            if not negative:
                return
            if any(isinstance(side, A.Path) and (side.root, side.keys) in pinned for side in (e.left, e.right)):
                return
            untyped = [side for side in (e.left, e.right) if not self._typed(side, tools, scope)
                       and not (e.op in ("in", "not in") and side is e.right)]
            if e.op in ("in", "not in") and not self._typed_list(e.right) and not untyped:
                untyped = [e.right] if not self._typed(e.right, tools, scope) else []
            if not untyped:
                return
            shown = short(expr_text(e if pos else A.Not(e)), 60)
            what = short(expr_text(untyped[0]), 40)
            if e.op in ("matches", "starts_with", "ends_with", "contains"):
                why = "for every string it does not foresee"
            else:
                why = "for every value not listed, one of another type included (a number, a list)"
            pair = self.logic.const(e.left) is NO and self.logic.const(e.right) is NO and e.op in ("!=", "==")
            two = (", or compare two values that must differ through a function of one result type "
                   "(`lower(a) != lower(b)`: a value of another type is then an error, so deny)") if pair else ""
            if isinstance(untyped[0], A.Path) and untyped[0].root == "args":
                fix = (f"write the values that may pass (`{what} in [...]`){two}, or declare `{what}` with a "
                       "`type` or `enum` in the schema of every tool this line applies to")
            else:
                root = untyped[0].root if isinstance(untyped[0], A.Path) else "this value"
                fix = f"write the values that may pass as an allow-list (`{what} in [...]`){two}; no schema " \
                      f"describes `{root}`"
            self.warn("W115", f"`{shown}` {looser} {why}: no schema types `{what}`", e.span, help=fix)

    @staticmethod
    def _conjuncts(e: Any, op: str) -> List[Any]:
        """The members of a chain of one boolean operator (`a and b and c`)."""
        out, todo = [], [e]
        while todo:
            x = todo.pop()
            if isinstance(x, A.BoolOp) and x.op == op:
                todo += [x.right, x.left]
            else:
                out.append(x)
        return out

    def _pins(self, e: Any, pos: bool) -> List[Tuple[str, Tuple[Any, ...]]]:
        """The paths a member of a conjunction holds to listed values: a positive `==`, `in` or `matches`
        (as it stands, `not` counted) between a path and a literal or const."""
        while isinstance(e, A.Not):
            e, pos = e.operand, not pos
        if not isinstance(e, A.Compare):
            return []
        if not ((pos and e.op in ("==", "in", "matches", "starts_with", "ends_with"))
                or (not pos and e.op in self._NEGATIVE)):
            return []
        if e.op in ("in", "not in"):
            sides = [(e.left, e.right)]
        else:
            sides = [(e.left, e.right), (e.right, e.left)]
        return [(a.root, a.keys) for a, b in sides
                if isinstance(a, A.Path) and self._listed(b)]

    def _listed(self, e: Any) -> bool:
        """A literal, a list of literals or a const: values the author wrote down."""
        if isinstance(e, A.ListExpr):
            return all(isinstance(x, A.Literal) for x in e.items)
        return isinstance(e, A.Literal) or self.logic.const(e) is not NO

    def _typed_list(self, e: Any) -> bool:
        """A list literal or a const: its members are known values."""
        return isinstance(e, A.ListExpr) or self.logic.const(e) is not NO

    def _typed(self, e: Any, tools: List[str], scope: Dict[str, Any]) -> bool:
        """Whether the value of `e` has a type fixed before any rule runs (see `negative_tests`)."""
        if self.logic.const(e) is not NO or isinstance(e, (A.Literal, A.ListExpr, A.Duration)):
            return True
        if isinstance(e, A.Call):
            return True
        if isinstance(e, A.Arith):
            return self._typed(e.left, tools, scope) and self._typed(e.right, tools, scope)
        if isinstance(e, A.Neg):
            return self._typed(e.operand, tools, scope)
        if not isinstance(e, A.Path):
            return False
        if e.root in scope:
            if scope[e.root] == "typed":
                return not e.keys
            nodes_by_tool = scope[e.root] or {}
            return bool(tools) and all(t in nodes_by_tool and self._schema_types(self.schemas[t], nodes_by_tool[t],
                                                                                e.keys) for t in tools)
        if e.root in ("confidence", "tool", "timestamp"):
            return not e.keys
        if e.root != "args":
            return False
        return bool(tools) and all(t in self.schemas and self._schema_types(self.schemas[t], [self.schemas[t].root],
                                                                           e.keys) for t in tools)

    def _schema_types(self, view: SchemaView, nodes: List[Any], keys: Sequence[Any], depth: int = 0) -> bool:
        """Whether every value the schema lets through at `keys` (when present) has one kind: a `type`,
        `enum` or `const` of one JSON type (integer and number are one; null is missing). Keywords of a
        node always apply, every `allOf` branch too, and of `anyOf` / `oneOf` at least one: the path is
        typed if the node or an `allOf` branch types it, or every `anyOf` / `oneOf` branch does. Nothing
        else counts (sound: "typed" is never claimed for a value that may be of two kinds)."""
        if depth > 20:
            return False
        for node in nodes:
            for d in view.deref(node):
                if not isinstance(d, dict):
                    continue
                if not keys:
                    kinds = {"number" if t == "integer" else t for t in (view.types([d]) or {"?", "??"})}
                    if ("type" in d or "enum" in d or "const" in d) and len(kinds - {"null"}) == 1:
                        return True
                else:
                    key, rest = keys[0], keys[1:]
                    if isinstance(key, int):
                        prefix = d.get("prefixItems")
                        child = prefix[key] if isinstance(prefix, list) and key < len(prefix) else d.get("items")
                    else:
                        props = d.get("properties")
                        child = props.get(key) if isinstance(props, dict) else None
                    if isinstance(child, dict) and self._schema_types(view, [child], rest, depth + 1):
                        return True
                branches = d.get("allOf")
                if isinstance(branches, list) and any(self._schema_types(view, [b], keys, depth + 1)
                                                      for b in branches):
                    return True
                for k in ("anyOf", "oneOf"):
                    branches = d.get(k)
                    if isinstance(branches, list) and branches and all(
                            self._schema_types(view, [b], keys, depth + 1) for b in branches):
                        return True
        return False


def tools_text(tools: List[str]) -> str:
    if len(tools) == 1:
        return f"tool `{tools[0]}`"
    shown = ", ".join(f"`{t}`" for t in tools[:3])
    return f"tools {shown}" + (f" and {len(tools) - 3} more" if len(tools) > 3 else "")


def freeze(v: Any) -> Any:
    return tuple(freeze(x) for x in v) if isinstance(v, list) else v


def children(e: Any) -> List[Any]:
    if isinstance(e, (A.BoolOp, A.Arith, A.Compare)):
        return [e.left, e.right]
    if isinstance(e, (A.Not, A.Neg)):
        return [e.operand]
    if isinstance(e, A.Presence):
        return [e.path]
    if isinstance(e, A.Call):
        return list(e.args)
    if isinstance(e, A.ListExpr):
        return list(e.items)
    if isinstance(e, A.Quantifier):
        return [e.source, e.body]
    return []


# ======================================================================= suppression

_SUPPRESS = re.compile(r"#\s*signoff:\s*ignore\[([A-Za-z0-9_,\s]*)\]")


def _suppressions(f: LoadedFile) -> Dict[int, Set[str]]:
    out: Dict[int, Set[str]] = {}
    comments: Iterable[Tuple[int, str]]
    if f.module.decls or f.module.comments:
        comments = ((c.line, c.text) for c in f.module.comments)
    else:  # a file that did not parse has no comment list: scan its lines
        comments = ((n, line[line.index("#"):]) for n, line in enumerate(f.text.splitlines(), 1) if "#" in line)
    for line, text in comments:
        for m in _SUPPRESS.finditer(text):
            codes = {c.strip().upper() for c in m.group(1).split(",") if c.strip()}
            out.setdefault(line, set()).update(codes)
    return out


def _suppressed(d: Diagnostic, table: Dict[str, Dict[int, Set[str]]]) -> bool:
    if d.code not in RULES:  # load errors cannot be silenced in the file: the policy would not load
        return False
    lines = table.get(d.span.file)
    if not lines:
        return False
    return d.code in lines.get(d.span.line, ()) or d.code in lines.get(d.span.line - 1, ())


# ======================================================================= entry points

def read_error(path: str) -> Optional[str]:
    """Why `path` cannot be read as a policy file (None when it can)."""
    try:
        read_text(path)
    except UnicodeDecodeError:
        return "not valid UTF-8"
    except IsADirectoryError:
        return "is a directory"
    except OSError as e:
        return (e.strerror or "cannot read").lower()
    return None


def _display(path: str, absolute: bool) -> str:
    if absolute:
        return FsPath(path).as_posix()
    try:
        return FsPath(os.path.relpath(path)).as_posix()
    except ValueError:  # another drive on Windows
        return FsPath(path).as_posix()


def lint_text(text: str, path: str = "<memory>.policy") -> List[Diagnostic]:
    """Lint policy text as if it were the file `path` (imports resolve relative to it)."""
    return _lint(path, text).diagnostics


def lint_file(path: str) -> List[Diagnostic]:
    """Every diagnostic for one policy file (and the files it uses), sorted; suppressions applied."""
    return _lint(path, None).diagnostics


@dataclass
class _Result:
    diagnostics: List[Diagnostic]
    module: bool = False                        # the file has no `policy` line
    uses: FrozenSet[str] = frozenset()          # absolute paths of the files it loaded, itself excluded


def _lint(path: str, text: Optional[str], given: FrozenSet[str] = frozenset()) -> _Result:
    """`given`: the files the user named (normcased, resolved). A standard module's warnings are
    hidden from the policies that use it, unless the module itself is one of them."""
    given_abs = os.path.isabs(path)
    shown_root = _display(os.path.normpath(path), given_abs) if path != "<memory>.policy" else path
    if text is None:
        try:
            text = read_text(path)
        except (OSError, UnicodeDecodeError) as e:
            reason = "not valid UTF-8" if isinstance(e, UnicodeDecodeError) else (e.strerror or "cannot read").lower()
            return _Result([Diagnostic("E302", f"cannot read `{shown_root}`: {reason}",
                                       A.Span(shown_root, 1, 1, 1, 1))])
    loaded = load_files(path, text)
    root = next((f for f in loaded.files if f.is_root), None)
    # a file with no `policy` line is a module: lint it as if it had one
    module = root is not None and root.parsed and not any(isinstance(d, A.PolicyDecl) for d in root.module.decls)
    if module:
        root.module = dataclasses.replace(root.module, decls=root.module.decls + (
            A.PolicyDecl("<module>", A.Span(root.rel, 1, 1, 1, 1)),))

    names: Dict[str, str] = {}
    stdlib: Set[str] = set()
    for f in loaded.files:
        names[f.rel] = shown_root if f.is_root else _display(f.path, given_abs)
        resolved = FsPath(f.path).resolve()
        try:
            resolved.relative_to(STDLIB_DIR)
            if not f.is_root and os.path.normcase(str(resolved)) not in given:
                stdlib.add(f.rel)
        except ValueError:
            pass

    diags: List[Diagnostic]
    try:
        program = check_program(loaded)
    except PolicyError as e:
        diags = [d for d in e.diagnostics if not (module and d.code == "E210")]
    else:
        diags = []
        if root is not None:
            diags = _Linter(program, loaded.files, root, module).run()
            diags = [d for d in diags if d.span.file not in stdlib]
    table = {f.rel: _suppressions(f) for f in loaded.files}
    diags = [d for d in diags if not _suppressed(d, table)]

    out: List[Diagnostic] = []
    for d in diags:
        s = d.span
        file = names.get(s.file, shown_root)
        if s.line < 1:
            span = A.Span(file, 1, 1, 1, 1)
        else:
            end_line = max(s.end_line, s.line)
            end_col = s.end_column if (end_line > s.line or s.end_column >= s.column) else s.column
            span = A.Span(file, s.line, max(s.column, 1), end_line, max(end_col, 1))
        sev = d.severity if d.code in RULES else "error"
        out.append(dataclasses.replace(d, span=span, severity=sev))
    uses = frozenset(os.path.normcase(f.path) for f in loaded.files if not f.is_root)
    return _Result(sorted(set(out), key=_order), module, uses)


def _order(d: Diagnostic) -> Tuple:
    s = d.span
    return (s.file, s.line, s.column, d.code, d.message)


def policy_files(paths: Iterable[str]) -> List[str]:
    """Files as given; folders recursively for `*.policy`, sorted."""
    return expand_paths(paths, "*.policy")


def matches_code(code: str, selectors: Iterable[str]) -> bool:
    return any(code == s or (s and code.startswith(s)) for s in selectors)


def lint_paths(paths: Iterable[str], select: Optional[Iterable[str]] = None,
               ignore: Optional[Iterable[str]] = None) -> List[Diagnostic]:
    """Lint files and folders (recursively, `*.policy`).

    A module (a file with no `policy` line) that another linted file uses is reported through that
    file, where its names resolve; one that nothing here uses is linted on its own. A diagnostic
    reached twice (a file used by two policies) is reported once."""
    sel = [s.strip().upper() for s in (select or []) if s.strip()]
    ign = [s.strip().upper() for s in (ignore or []) if s.strip()]
    files = policy_files(paths)
    given = frozenset(os.path.normcase(str(FsPath(f).resolve())) for f in files)
    results = [(f, _lint(f, None, given)) for f in files]
    used: Set[str] = set()
    for _, r in results:
        if not r.module:
            used |= r.uses
    seen: Set[Tuple] = set()
    out: List[Diagnostic] = []
    for f, r in results:
        if r.module and os.path.normcase(str(FsPath(f).resolve())) in used:
            continue
        for d in r.diagnostics:
            key = _order(d)
            if key in seen:
                continue
            seen.add(key)
            if sel and not matches_code(d.code, sel):
                continue
            if ign and matches_code(d.code, ign):
                continue
            out.append(d)
    return sorted(out, key=_order)
