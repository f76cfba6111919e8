r"""Hypothesis strategies: random but *valid* policy ASTs, and random (well-formed or malformed) actions.

Everything here builds the in-memory AST of `policy_lang.ast` directly; tests print it with
`print_module` and load the text with `policy_lang.checker.load(path, text)`. A generated policy
that fails to load is a bug in these strategies or in the printer, never something to filter.

Validity rules the generator keeps (spec §4.2–4.4 and the checker):
- one `policy` line; at most one `version`, `mode`, `levels`, `unknown tools`;
- 1–3 routes, every quorum ≤ the number of distinct approvers; `require approval [via R]`
  only names declared routes;
- every level named by a `risk` line has a `category` block (the highest level may lack
  one when no risk line names it: that is valid and exercises the "no category block" deny);
- consts never shadow an action root, quantifier variables never shadow a root, a const or
  an enclosing variable; `present`/`missing` only follow a path that is not a const;
- `matches` takes a string literal or a const holding a string, always a regex that compiles;
  `hour`/`weekday`'s time zone, when it is a literal or a const, is a real IANA zone;
- unary minus is never put directly on a number literal (the parser folds `-5` into the
  literal `-5`, so `Neg(Literal(5))` cannot round-trip: negative literals are generated instead);
- budget windows are > 0 and limits are non-negative numbers (the grammar has no `<= -1`);
- no route, check, level, const or variable name is a reserved word (spec §4.1, load error E105);
  tool names may be (`deny`, `any`, `unknown`): the printer quotes them.

Type mismatches, missing fields, division by zero, overflow to infinity, unknown time zones
given at run time, etc. are generated on purpose: they exercise evaluation errors.
"""
from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, List, Optional, Sequence, Tuple

from hypothesis import strategies as st

from policy_lang import ast as A
from policy_lang.parser import RESERVED


NOW = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
ROOTS = ("args", "tenant", "agent", "context", "confidence", "tool", "timestamp")

# --------------------------------------------------------------------------- name pools
# Some names are words the spec does *not* reserve but the grammar treats specially somewhere
# (`contains`, `matches`, `sum`, `count`, `starts_with`): they must work as ordinary names.
DECLARED_TOOLS = ["send_email", "issue_refund", "lookup_order", "delete_record", "crm.update-contact",
                  "deny", "any", "weird name", "ünïcode", "t1", "sum", "contains"]
UNDECLARED_TOOLS = ["launch_rocket", "db.drop", "unknown", "x", "tools"]
ROUTE_NAMES = ["team_review", "finance_review", "ops", "sum", "matches"]
CHECK_NAMES = ["refund_range", "c1", "rate_limit", "plan_allows", "sum", "count", "contains", "matches",
               "starts_with", "business_hours"]
LEVEL_POOL = ["minor", "major", "critical", "sev3", "sev2", "sev1", "sum", "contains", "low", "high", "p0"]
CONST_NAMES = ["LIMIT", "DOMAINS", "PLANS", "TZ", "RX", "ZERO", "WINDOW", "FLAG", "NAME", "count",
               "matches", "ends_with", "low"]
VAR_NAMES = ["r", "item", "e", "v2", "sum", "contains"]
_UNQUOTABLE = set(ROUTE_NAMES + CHECK_NAMES + LEVEL_POOL + CONST_NAMES + VAR_NAMES)
assert not _UNQUOTABLE & RESERVED, sorted(_UNQUOTABLE & RESERVED)   # they would be E105
ZONES = ["UTC", "Europe/Berlin"]
SAFE_REGEXES = [r"^INV-\d+$", "a", "[0-9]+", "^$", "x|y", "(ab)+", r"\.com$", r"^\w+@", "é", r"\\", r"\"q"]

# action fields (args.*) with the kind of value they usually hold
ARG_FIELDS = ["amount", "to", "mode", "tool", "items", "recipients", "first-name", "count", "flag",
              "nested", "ratio", "tz", "when", "any"]
STRINGS = ["acme.com", "a@acme.com", "Bob@Example.ORG", "https://Foo.com/x?y=1", "INV-12", "", "enterprise",
           "business", "x", "ab", "ü", 'quo"te', "back\\slash", "2026-11-20T14:03:00Z", "mon", "UTC",
           "Europe/Berlin", "Mars/Olympus", "key", "a\nb"]


def pick(draw, seq):
    """pick(draw, seq) without building a new strategy per call (much faster here)."""
    seq = tuple(seq)
    return seq[draw(st.integers(0, len(seq) - 1))] if len(seq) > 1 else seq[0]


OBJECT_KEYS = st.sampled_from(["x", "y", "id", "domain", "mode", "tool", "any", "first-name", "weird key", "é"])


# --------------------------------------------------------------------------- scalars
# mostly small; sometimes past 2**53, where ints and doubles part ways (numbers compare as doubles)
small_ints = st.one_of(st.integers(-10_000, 10_000), st.integers(-(2**70), 2**70),
                       st.sampled_from([2**53, 2**53 + 1, -(2**53) - 1, 10**308, 2**1023]))
moderate_floats = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
any_floats = st.one_of(moderate_floats, st.sampled_from([0.0, -0.0, 0.5, 0.7, 0.70000001, 1e300, -1e300, 5e-324]))
numbers = st.one_of(small_ints, any_floats)


texts = st.one_of(st.sampled_from(STRINGS), st.text(max_size=6))
names_text = st.text(min_size=0, max_size=12)


@functools.lru_cache(maxsize=None)
def duration_strategy(min_seconds: int = 1):
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    return st.builds(
        lambda n, u: A.Duration(n * units[u], f"{n}{u}"),
        st.integers(0 if min_seconds <= 0 else 1, 40), st.sampled_from(sorted(units)))


WINDOWS = st.sampled_from([A.Duration(30, "30s"), A.Duration(900, "15m"), A.Duration(3600, "1h"),
                           A.Duration(86400, "1d"), A.Duration(2 * 604800, "2w")]) | duration_strategy(1)


# --------------------------------------------------------------------------- expressions
@dataclass(frozen=True)
class Ctx:
    consts: Tuple[Tuple[str, Any], ...] = ()   # name → python value (tuples for lists, Duration)
    scope: Tuple[str, ...] = ()                 # quantifier variables in scope
    tame: bool = False                          # no deliberate mismatches, only paths actions usually fill

    def const_names(self, pred) -> List[str]:
        return [n for n, v in self.consts if pred(v)]

    def with_var(self, var: str) -> "Ctx":
        return Ctx(self.consts, self.scope + (var,), self.tame)

    def vars(self) -> Tuple[str, ...]:
        """Variables usable as typed values: list elements have any kind, so not in a tame policy."""
        return () if self.tame else self.scope


def _is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_zone(v):
    return isinstance(v, str) and v in ZONES


def _is_regex(v):
    if not isinstance(v, str) or len(v) > 1000:
        return False
    try:
        re.compile(v)
        return True
    except re.error:
        return False


WANTS = ("bool", "num", "str", "list")


def _path(root, *keys):
    return A.Path(root, tuple(keys))


def num_paths(ctx: Ctx):
    out = [_path("args", "amount"), _path("args", "count"), _path("confidence")]
    if not ctx.tame:
        out += [_path("args", "ratio"), _path("args", "nested", "x"), _path("args", "items", 0), _path("args", "any")]
    for v in ctx.vars():
        out += [_path(v), _path(v, "x")]
    out += [_path(n) for n in ctx.const_names(lambda v: _is_num(v) or isinstance(v, A.Duration))]
    return out


def str_paths(ctx: Ctx):
    out = [_path("args", "to"), _path("args", "mode"), _path("tenant", "plan"), _path("tool"),
           _path("context", "account", "tier")]
    if not ctx.tame:
        out += [_path("args", "tool"), _path("args", "first-name"), _path("tenant", "id"), _path("agent", "role"),
                _path("timestamp"), _path("args", "nested", "y"), _path("args", "when"),
                _path("args", "nested", "weird key"), _path("args", "recipients", 1)]
    for v in ctx.vars():
        out += [_path(v), _path(v, "domain"), _path(v, "é")]
    out += [_path(n) for n in ctx.const_names(lambda v: isinstance(v, str))]
    return out


def list_paths(ctx: Ctx):
    out = [_path("args", "items"), _path("args", "recipients")]
    if not ctx.tame:
        out += [_path("args", "nested", "list"), _path("context", "tags")]
    for v in ctx.vars():
        out += [_path(v), _path(v, "list")]
    out += [_path(n) for n in ctx.const_names(lambda v: isinstance(v, tuple))]
    return out


def bool_paths(ctx: Ctx):
    out = [_path("args", "flag"), _path("context", "account", "vip")]
    if not ctx.tame:
        out += [_path("args", "nested", "flag")]
    out += [_path(v) for v in ctx.vars()]
    out += [_path(n) for n in ctx.const_names(lambda v: isinstance(v, bool))]
    return out


def presence_paths(ctx: Ctx):
    """Paths `present`/`missing` may follow: never a const (checker E211)."""
    out = [_path("args", f) for f in ARG_FIELDS] + [
        _path("args", "nested", "x"), _path("args", "items", 0), _path("args", "items", 7),
        _path("tenant"), _path("tenant", "plan"), _path("agent", "id"), _path("confidence"),
        _path("timestamp"), _path("context", "account", "tier"), _path("tool"), _path("args", "missing"),
        _path("args"), _path("confidence", "x")]
    for v in ctx.scope:
        out += [_path(v), _path(v, "x")]
    return out


def any_path(draw, ctx: Ctx):
    pools = num_paths(ctx) + str_paths(ctx) + list_paths(ctx) + bool_paths(ctx) + presence_paths(ctx)
    return pick(draw, pools)


def number_literal(draw):
    return A.Literal(draw(numbers))


def _leaf(draw, ctx: Ctx, want: str):
    if want == "bool":
        return pick(draw, [
            lambda: A.Literal(draw(st.booleans())),
            lambda: pick(draw, bool_paths(ctx)),
            lambda: A.Presence(pick(draw, presence_paths(ctx)), draw(st.booleans())),
        ])()
    if want == "num":
        return pick(draw, [
            lambda: number_literal(draw),
            lambda: pick(draw, num_paths(ctx)),
            lambda: draw(duration_strategy(0)),
        ])()
    if want == "str":
        return pick(draw, [
            lambda: A.Literal(draw(texts)),
            lambda: pick(draw, str_paths(ctx)),
        ])()
    if want == "list":
        return pick(draw, [
            lambda: pick(draw, list_paths(ctx)),
            lambda: A.ListExpr(tuple(_leaf(draw, ctx, pick(draw, ("num", "str", "bool")))
                                     for _ in range(draw(st.integers(0, 3))))),
        ])()
    return any_path(draw, ctx)


def _tz_arg(draw, ctx: Ctx):
    zones = ctx.const_names(_is_zone)
    options = [lambda: A.Literal(pick(draw, ZONES))]
    if not ctx.tame:
        options.append(lambda: _path("args", "tz"))
    if zones:
        options.append(lambda: _path(pick(draw, zones)))
    return pick(draw, options)()


def _time_arg(draw, ctx: Ctx, depth: int):
    """Mostly something holding a timestamp; sometimes any string expression."""
    if ctx.tame or draw(st.integers(0, 3)) > 0:
        return pick(draw, [_path("timestamp"), _path("timestamp"), _path("args", "when"),
                           A.Literal("2026-11-22T23:30:00-02:00")])
    return gen_expr(draw, ctx, "str", depth)


def _time_args(draw, ctx: Ctx, depth: int):
    """Arguments of hour()/weekday(): a timestamp, and sometimes a time zone."""
    return (_time_arg(draw, ctx, depth),) + ((_tz_arg(draw, ctx),) if draw(st.booleans()) else ())


def _fresh_var(draw, ctx: Ctx) -> Optional[str]:
    taken = set(ROOTS) | {n for n, _ in ctx.consts} | set(ctx.scope)
    free = [v for v in VAR_NAMES if v not in taken]
    return pick(draw, free) if free else None


def gen_expr(draw, ctx: Ctx, want: str, depth: int):
    """An expression that *usually* has the kind `want`; sometimes (on purpose) another kind."""
    if not ctx.tame and draw(st.integers(0, 11)) == 0:
        want = pick(draw, WANTS)          # a deliberate type mismatch
    if depth <= 0 or draw(st.integers(0, 2)) == 0:
        return _leaf(draw, ctx, want)
    d = depth - 1
    sub = lambda w: gen_expr(draw, ctx, w, d)  # noqa: E731
    if want == "bool":
        kind = pick(draw, ["cmp", "cmp", "cmp", "in", "str_op", "matches", "presence", "not", "and", "or", "quant",
                           "sql"])
        if kind == "cmp":
            op = pick(draw, ["==", "!=", "<", "<=", ">", ">="])
            if op in ("==", "!="):
                w = pick(draw, WANTS)
                return A.Compare(op, sub(w), sub(w if ctx.tame else pick(draw, [w, w, w] + list(WANTS))))
            w = pick(draw, ["num", "num", "str"])
            return A.Compare(op, sub(w), sub(w))
        if kind == "in":
            return A.Compare(pick(draw, ["in", "not in"]),
                             sub(pick(draw, ["num", "str", "bool"])), sub("list"))
        if kind == "str_op":
            op = pick(draw, ["starts_with", "ends_with", "contains", "contains"])
            if op == "contains" and draw(st.booleans()):
                return A.Compare(op, sub("list"), sub(pick(draw, ["num", "str"])))
            return A.Compare(op, sub("str"), sub("str"))
        if kind == "matches":
            rx = ctx.const_names(_is_regex)
            right = _path(pick(draw, rx)) if rx and draw(st.booleans()) \
                else A.Literal(pick(draw, SAFE_REGEXES))
            return A.Compare("matches", sub("str"), right)
        if kind == "sql":
            dialect = (A.Literal(pick(draw, ["mysql", "tsql"])),) if draw(st.integers(0, 3)) == 0 else ()
            return A.Call("sql_read_only", (sub("str"),) + dialect)
        if kind == "presence":
            return A.Presence(pick(draw, presence_paths(ctx)), draw(st.booleans()))
        if kind == "not":
            return A.Not(sub("bool"))
        if kind in ("and", "or"):
            return A.BoolOp(kind, sub("bool"), sub("bool"))
        var = _fresh_var(draw, ctx)
        if var is None:
            return A.Not(sub("bool"))
        inner = ctx.with_var(var)
        return A.Quantifier(pick(draw, ["any", "all"]), var, gen_expr(draw, ctx, "list", d),
                            gen_expr(draw, inner, "bool", d))
    if want == "num":
        kind = pick(draw, ["arith", "arith", "div", "neg", "len", "hour"])
        if kind == "arith":
            return A.Arith(pick(draw, ["+", "-", "*"]), sub("num"), sub("num"))
        if kind == "div":
            if ctx.tame:
                divisor = A.Literal(pick(draw, [2, 3, 0.5, -4, 1e-3]))
            else:
                divisor = pick(draw, [
                    lambda: A.Literal(pick(draw, [0, 0.0, -0.0])),   # division by zero → error
                    lambda: sub("num"),
                ])()
            return A.Arith("/", sub("num"), divisor)
        if kind == "neg":
            operand = sub("num")
            if isinstance(operand, A.Literal) and _is_num(operand.value):
                return A.Literal(-operand.value)         # the parser folds `-5` into a literal
            return A.Neg(operand)
        if kind == "len":
            return A.Call("len", (sub(pick(draw, ["list", "str"])),))
        return A.Call("hour", _time_args(draw, ctx, d))
    if want == "str":
        kind = pick(draw, ["concat", "lower", "upper", "domain", "weekday"])
        if kind == "concat":
            return A.Arith("+", sub("str"), sub("str"))
        if kind == "weekday":
            return A.Call("weekday", _time_args(draw, ctx, d))
        return A.Call(kind, (sub("str"),))
    # list
    return A.ListExpr(tuple(sub(pick(draw, ["num", "str", "bool"])) for _ in range(draw(st.integers(0, 3)))))


# --------------------------------------------------------------------------- policies
@dataclass
class GenPolicy:
    decls: Tuple[A.Decl, ...]
    tools: Tuple[str, ...]            # names with a tool block
    other_tools: Tuple[str, ...]      # names only checks mention, and undeclared ones
    routes: Tuple[str, ...]

    @property
    def all_tools(self) -> Tuple[str, ...]:
        return self.tools + self.other_tools


OPTIONAL_TEXTS = st.one_of(st.none(), texts)
APPROVERS = st.lists(st.sampled_from(["lead", "cfo", "fm", "ops", "ünï", 'q"uote']), min_size=1, max_size=3)
TIMEOUTS = st.one_of(st.none(), duration_strategy(1))
TOOL_MODES = st.one_of(st.none(), st.sampled_from(["assisted", "guarded", "autonomous"]).map(A.ModeDecl))
LIMITS = st.one_of(st.integers(0, 30), st.floats(0, 500, allow_nan=False))
LEVEL_LISTS = st.lists(st.sampled_from(LEVEL_POOL), min_size=2, max_size=4, unique=True)
CONST_NAME_LISTS = st.lists(st.sampled_from(CONST_NAMES), max_size=4, unique=True)
ROUTE_NAME_LISTS = st.lists(st.sampled_from(ROUTE_NAMES), min_size=1, max_size=3, unique=True)
CHECK_ONLY_LISTS = st.lists(st.sampled_from(UNDECLARED_TOOLS), max_size=2, unique=True)
CHECK_NAME_LISTS = st.lists(st.sampled_from(CHECK_NAMES), max_size=4, unique=True)
_SCALAR_CONSTS = st.one_of(numbers, texts, st.booleans())
CONST_LISTS = st.lists(_SCALAR_CONSTS, max_size=4).map(tuple)
CONST_NESTED = st.lists(st.one_of(_SCALAR_CONSTS, st.lists(_SCALAR_CONSTS, max_size=2).map(tuple)),
                        max_size=3).map(tuple)


def const_value(draw):
    kind = pick(draw, ["num", "str", "bool", "list", "zone", "regex", "duration", "nested"])
    if kind == "num":
        return draw(numbers)
    if kind == "str":
        return draw(texts)
    if kind == "bool":
        return draw(st.booleans())
    if kind == "zone":
        return pick(draw, ZONES)
    if kind == "regex":
        return pick(draw, SAFE_REGEXES)
    if kind == "duration":
        return draw(duration_strategy(0))
    return draw(CONST_LISTS if kind == "list" else CONST_NESTED)


def outcome_strategy(routes: Sequence[str], allow_weight: int = 1):
    return _outcome_strategy(tuple(routes), allow_weight)


@functools.lru_cache(maxsize=None)
def _outcome_strategy(routes: Tuple[str, ...], allow_weight: int):
    return st.one_of(
        *[st.just(A.Outcome("allow"))] * allow_weight,
        st.builds(lambda r: A.Outcome("require_approval", route=r), st.sampled_from([None] + list(routes))),
        st.builds(lambda t: A.Outcome("ask", text=t), texts),
        st.builds(lambda t: A.Outcome("escalate", text=t), texts),
        st.builds(lambda t: A.Outcome("deny", text=t), OPTIONAL_TEXTS),
    )


INLINE_SCHEMAS = [   # the grammar takes an inline object (not `true`) or a file name
    {"type": "object"},
    {"type": "object", "required": ["amount"], "properties": {"amount": {"type": "number"}}},
    {"type": "object", "properties": {"to": {"type": "string", "maxLength": 40},
                                      "amount": {"type": "number", "minimum": -1.5, "maximum": 1e5},
                                      "items": {"type": "array", "items": {"type": ["number", "string"]}}},
     "additionalProperties": True},
    {"not": {"required": ["forbidden"]}},
]


def route_decl(draw, name: str) -> A.Route:
    approvers = tuple(draw(APPROVERS))                   # duplicates allowed: quorum counts distinct ones
    quorum = draw(st.one_of(st.none(), st.integers(1, len(set(approvers)))))
    timeout = draw(TIMEOUTS)
    escalate_to = draw(OPTIONAL_TEXTS) if timeout is not None else None
    return A.Route(name, approvers, quorum, timeout, escalate_to, draw(st.booleans()))


def risk_lines(draw, ctx: Ctx, levels: Sequence[str]) -> Tuple[A.RiskLine, ...]:
    lines = [A.RiskLine(pick(draw, levels), gen_expr(draw, ctx, "bool", 3))
             for _ in range(draw(st.integers(0, 3)))]
    close = pick(draw, ["none", "otherwise", "bare"])
    if close != "none":
        lines.append(A.RiskLine(pick(draw, levels), None, close == "otherwise"))
        if draw(st.integers(0, 4)) == 0:     # unreachable lines after the closing one: a lint warning only
            lines.append(A.RiskLine(pick(draw, levels), gen_expr(draw, ctx, "bool", 1)))
    return tuple(lines)


def tool_decl(draw, name: str, ctx: Ctx, levels, override: bool = False) -> A.Tool:
    schema = None
    if draw(st.integers(0, 5)) == 0:
        schema = A.Schema(inline=pick(draw, INLINE_SCHEMAS))
    mode = draw(TOOL_MODES)
    return A.Tool(name, schema, risk_lines(draw, ctx, levels), mode, override)


def category_decl(draw, level: str, ctx: Ctx, routes) -> A.Category:
    outcomes = outcome_strategy(routes, allow_weight=4)
    lines = [A.CategoryLine(draw(outcomes), gen_expr(draw, ctx, "bool", 3)) for _ in range(draw(st.integers(0, 3)))]
    close = pick(draw, ["none", "otherwise", "bare", "bare", "bare"])
    if close != "none":
        lines.append(A.CategoryLine(draw(outcomes), None, close == "otherwise"))
    return A.Category(level, tuple(lines))


BUDGET_KEYS = [_path("tenant"), _path("agent"), _path("args", "to"), _path("args", "nested", "x"),
               _path("context", "account", "tier"), _path("tenant", "plan"), _path("args", "mode")]
BUDGET_KEY_LISTS = st.lists(st.sampled_from(BUDGET_KEYS), min_size=1, max_size=2)
SUM_PATHS = [_path("args", "amount"), _path("args", "count"), _path("confidence"), _path("args", "ratio")]


def budget_line(draw, routes) -> A.Budget:
    agg = pick(draw, ["sum", "count"])
    path = pick(draw, SUM_PATHS) if agg == "sum" else None
    keys = tuple(draw(BUDGET_KEY_LISTS))
    limit = draw(LIMITS)
    return A.Budget(agg, path, keys, draw(WINDOWS), limit, draw(outcome_strategy(routes)))


def check_decl(draw, name: str, ctx: Ctx, routes, target_pool, override: bool = False) -> A.Check:
    if draw(st.integers(0, 4)) == 0:
        targets = None                                   # `on *`
    else:
        targets = tuple(pick(draw, target_pool) for _ in range(draw(st.integers(1, 3))))
    lines = []
    for _ in range(draw(st.integers(1, 3)) if draw(st.booleans()) else 1):
        if draw(st.integers(0, 2)) == 0:
            lines.append(budget_line(draw, routes))
        else:
            lines.append(A.Require(gen_expr(draw, ctx, "bool", 3), draw(outcome_strategy(routes))))
    return A.Check(name, targets, tuple(lines), draw(st.integers(0, 3)) == 0, override)


@functools.lru_cache(maxsize=None)
def _tool_name_lists(max_tools: int):
    return st.lists(st.sampled_from(DECLARED_TOOLS), min_size=1, max_size=max_tools, unique=True)


@st.composite
def policies(draw, max_tools: int = 4) -> GenPolicy:
    decls: List[A.Decl] = [A.PolicyDecl(draw(names_text))]
    if draw(st.booleans()):
        decls.append(A.VersionDecl(draw(names_text)))
    if draw(st.booleans()):
        decls.append(A.ModeDecl(pick(draw, ["assisted", "guarded", "autonomous"])))

    levels: Tuple[str, ...] = ("low", "medium", "high")
    if draw(st.integers(0, 3)) == 0:
        levels = tuple(draw(LEVEL_LISTS))
        decls.append(A.Levels(levels))

    const_names = draw(CONST_NAME_LISTS)
    consts = tuple((n, const_value(draw)) for n in const_names)
    for n, v in consts:
        decls.append(A.Const(n, v))
    ctx = Ctx(consts, tame=draw(st.booleans()))

    routes = tuple(draw(ROUTE_NAME_LISTS))
    for r in routes:
        decls.append(route_decl(draw, r))

    tool_names = tuple(draw(_tool_name_lists(max_tools)))
    tools = [tool_decl(draw, n, ctx, levels) for n in tool_names]
    decls.extend(tools)

    check_only = tuple(draw(CHECK_ONLY_LISTS))
    check_names = draw(CHECK_NAME_LISTS)
    checks = [check_decl(draw, n, ctx, routes, list(tool_names + check_only)) for n in check_names]
    decls.extend(checks)

    if draw(st.booleans()):
        decls.append(A.UnknownTools(draw(outcome_strategy(routes))))

    # `tool NAME as TARGET` for undeclared names no check mentions (a check on an alias is E219)
    free = [t for t in UNDECLARED_TOOLS if t not in check_only]
    for alias in draw(st.lists(st.sampled_from(free), max_size=2, unique=True)) if free else []:
        decls.append(A.ToolAlias(alias, pick(draw, tool_names)))

    # `override` (valid inside one file once the name exists): a tool, a check, a const
    overrides: List[A.Decl] = []
    if draw(st.integers(0, 4)) == 0:
        t = tool_decl(draw, pick(draw, tool_names), ctx, levels, override=True)
        overrides.append(t)
        tools.append(t)
    if checks and draw(st.integers(0, 4)) == 0:
        overrides.append(check_decl(draw, pick(draw, check_names), ctx, routes,
                                    list(tool_names + check_only), override=True))
    if consts and draw(st.integers(0, 5)) == 0:
        # same kind of value, so every use of the const stays valid
        n, v = pick(draw, consts)
        overrides.append(A.Const(n, v, override=True))

    used = {r.level for t in tools for r in t.risks}
    cat_levels = [l for l in levels if l in used or draw(st.integers(0, 9)) > 0]
    categories = [category_decl(draw, l, ctx, routes) for l in cat_levels]
    decls.extend(categories)

    # declaration order is free (names resolve over the whole file): shuffle, overrides last
    order = draw(st.permutations(range(len(decls))))
    final = tuple(decls[i] for i in order) + tuple(overrides)
    return GenPolicy(final, tool_names, check_only + tuple(t for t in UNDECLARED_TOOLS if t not in check_only),
                     routes)


# --------------------------------------------------------------------------- actions
json_scalars = st.one_of(st.none(), st.booleans(), small_ints, any_floats, texts)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(st.lists(children, max_size=3),
                               st.dictionaries(OBJECT_KEYS, children, max_size=3)),
    max_leaves=6)
emails = st.sampled_from(["a@acme.com", "B@Acme.IO", "eve@evil.example", "no-at-sign", "https://x.org/p", "",
                          "https://evil.example/?r=x@acme.com", "a@b@acme.com", "mailto:x@Bücher.de",
                          "select id from t where x = 'a@acme.com'", "select 1 delete from t"])

ARG_VALUES = {
    "amount": st.one_of(small_ints, moderate_floats),
    "to": emails,
    "mode": st.sampled_from(["fast", "slow", ""]),
    "tool": texts,
    "items": st.lists(st.one_of(small_ints, texts, st.booleans()), max_size=4),
    "recipients": st.lists(st.one_of(emails, st.fixed_dictionaries({"domain": emails, "x": small_ints})),
                           max_size=3),
    "first-name": texts,
    "count": st.integers(-3, 40),
    "flag": st.booleans(),
    "nested": st.fixed_dictionaries({"x": small_ints, "y": texts, "flag": st.booleans(),
                                     "list": st.lists(small_ints, max_size=3), "weird key": texts}),
    "ratio": any_floats,
    "tz": st.sampled_from(["UTC", "Europe/Berlin", "Mars/Olympus", "", "../etc"]),
    "when": st.sampled_from(["2026-11-20T14:03:00Z", "2026-11-20T14:03:00+05:30", "nope"]),
    "any": json_values,
}


@st.composite
def args_objects(draw, complete: bool = False):
    out: Dict[str, Any] = {}
    for name, typed in ARG_VALUES.items():
        choice = 0 if complete else draw(st.integers(0, 15))
        if choice < 12:
            out[name] = draw(typed)
        elif choice == 12:
            out[name] = draw(json_values)                # any kind: type mismatches
        elif choice == 13:
            out[name] = None                              # null counts as missing
    return out


def timestamp_text(dt: datetime, style: int) -> str:
    if style == 0:
        return dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    if style == 1:
        return dt.astimezone(timezone(timedelta(hours=5, minutes=30))).isoformat()
    if style == 2:
        return dt.strftime("%Y-%m-%dT%H:%M:%S")                         # no offset: UTC
    if style == 3:
        return dt.strftime("%Y-%m-%dt%H:%M:%S.%f") + "z"
    return dt.astimezone(timezone(-timedelta(hours=3))).strftime("%Y-%m-%d %H:%M:%S%z")[:-2] + ":00"


def timestamps(around: datetime = NOW, spread: int = 3 * 604800):
    return st.builds(lambda s, style: timestamp_text(around - timedelta(seconds=s), style),
                     st.integers(-3600, spread), st.integers(0, 4))


TIMESTAMPS = timestamps()
ACTION_IDS = st.one_of(st.integers(0, 99).map(lambda i: f"act-{i}"), small_ints)
ODD_CONFIDENCE = st.one_of(st.integers(-2, 2), moderate_floats)
# budgets put 1 and 1.0 in one bucket, `true` in another
_TENANT_IDS = st.sampled_from(["acme", "acme", "globex", 1, 1.0, True, ""])
_TENANT_REST = {"plan": st.sampled_from(["business", "enterprise", "free"])}
_TENANT_OPTIONAL = {"email_domain": st.sampled_from(["acme.com", "globex.io"])}
TENANTS = st.fixed_dictionaries({"id": _TENANT_IDS, **_TENANT_REST}, optional=_TENANT_OPTIONAL)
TENANTS_WITHOUT_ID = st.fixed_dictionaries({"id": st.none(), **_TENANT_REST}, optional=_TENANT_OPTIONAL)
AGENTS = st.fixed_dictionaries({"id": st.sampled_from(["bot-1", "bot-1", "bot-2", 7])},
                               optional={"role": st.sampled_from(["support", "admin"])})
CONTEXTS = st.fixed_dictionaries(
    {"account": st.fixed_dictionaries({"tier": st.sampled_from(["key", "normal"]), "vip": st.booleans()})},
    optional={"tags": st.lists(texts, max_size=3)})


@st.composite
def actions(draw, gp: GenPolicy, with_timestamp: Optional[bool] = None):
    if draw(st.integers(0, 3)) > 0:                       # mostly a declared tool
        a: Dict[str, Any] = {"tool": pick(draw, gp.tools)}
    else:
        a = {"tool": pick(draw, gp.all_tools)}
    if draw(st.booleans()):
        a["id"] = draw(ACTION_IDS)
    complete = draw(st.integers(0, 9)) < 6       # most actions fill every field a policy reads
    if complete or draw(st.integers(0, 9)) > 0:
        a["args"] = draw(args_objects(complete))
    elif draw(st.booleans()):
        a["args"] = None
    c = 0 if complete else draw(st.integers(0, 5))
    if c < 3:
        a["confidence"] = draw(st.floats(0, 1))
    elif c == 3:
        a["confidence"] = draw(ODD_CONFIDENCE)
    elif c == 4:
        a["confidence"] = None
    if complete or draw(st.integers(0, 9)) > 0:
        a["tenant"] = draw(TENANTS if complete or draw(st.integers(0, 9)) else TENANTS_WITHOUT_ID)
    if complete or draw(st.integers(0, 9)) > 0:
        a["agent"] = draw(AGENTS)
    if complete or draw(st.integers(0, 4)) > 0:
        a["context"] = draw(CONTEXTS)
    ts = with_timestamp if with_timestamp is not None else complete or draw(st.integers(0, 3)) > 0
    if ts:
        if draw(st.integers(0, 15)) == 0:
            a["timestamp"] = NOW - timedelta(seconds=draw(st.integers(0, 86400)))   # a datetime in a mapping
        else:
            a["timestamp"] = draw(TIMESTAMPS)
    return a


# --------------------------------------------------------------------------- malformed actions
BAD_TIMESTAMPS = ["yesterday", "", "2026-13-01T00:00:00Z", "2026-02-30T10:00:00Z", "2026-11-20T25:00:00Z",
                  "2026-11-20T14:03", "2026-11-20T14:03:00+24:00", "2026-11-20T14:03:00+23:99",
                  "0000-01-01T00:00:00Z", "2026-11-20T14:03:61Z", "20261120T140300Z", "2026-11-20T14:03:00ZZ",
                  "9999-12-31T23:59:60Z"]


@st.composite
def malformed_actions(draw, gp: GenPolicy):
    """Actions that are not valid input (spec §2): the decision must be `deny`, never an exception."""
    kind = pick(draw, ["not_object", "tool", "object_field", "confidence", "timestamp", "number"])
    if kind == "not_object":
        return draw(st.one_of(st.none(), st.integers(), st.text(max_size=5), st.lists(st.integers(), max_size=2),
                              st.just(("tool", "x")), st.floats()))
    a = draw(actions(gp))
    if kind == "tool":
        bad = pick(draw, ["missing", None, "", 3, True, ["send_email"], {"name": "x"}, 1.5])
        if bad == "missing":
            a.pop("tool", None)
        else:
            a["tool"] = bad
    elif kind == "object_field":
        a[pick(draw, ["args", "tenant", "agent", "context"])] = pick(draw, [[], [1, 2], "text", 0, True, 1.5, ["a"]])
    elif kind == "number":
        # NaN, infinities and ints no double can hold are input errors anywhere in an action (spec §2)
        bad = pick(draw, [math.nan, math.inf, -math.inf, 2**1024, -(2**1100)])
        where = pick(draw, ["args", "tenant", "agent", "context", "extra"])
        nest = pick(draw, [lambda v: v, lambda v: [1, v], lambda v: {"deep": [{"x": v}]}])
        if where == "extra":
            a["extra"] = nest(bad)                    # a top-level field the policy ignores
        else:
            obj = a.get(where) if isinstance(a.get(where), dict) else {}
            obj = dict(obj)
            obj[pick(draw, ["amount", "x", "id"])] = nest(bad)
            a[where] = obj
    elif kind == "confidence":
        a["confidence"] = pick(draw, [math.nan, math.inf, -math.inf, True, False, "0.9", [0.9], {"v": 1}, -math.nan])
    else:
        a["timestamp"] = draw(st.one_of(st.sampled_from(BAD_TIMESTAMPS), st.integers(), st.booleans(),
                                        st.just(["2026-11-20T14:03:00Z"]), st.text(max_size=8)))
        from engine.decide.actions import parse_timestamp
        try:                                             # the rare random text that *is* a timestamp
            parse_timestamp(a["timestamp"])
            a["timestamp"] = "not a timestamp"
        except (ValueError, OverflowError):
            pass
    return a


# --------------------------------------------------------------------------- layout noise (for fmt)
COMMENT_TEXTS = st.one_of(st.sampled_from(["", " note", "# nested hash", ' "quoted" {', " risk high", "\t tab",
                                           " ünïcode ✓", " trailing spaces   "]),
                          st.text(alphabet=st.characters(blacklist_characters="\n\r", blacklist_categories=("Cs",)),
                                  max_size=10))


def _json_interior(lines: List[str]) -> List[bool]:
    """Which lines of printer output lie inside a multi-line inline JSON schema (no `;` there)."""
    inside, out, closer = False, [], None
    for line in lines:
        if inside:
            out.append(True)
            if line == closer:
                inside = False
            continue
        out.append(False)
        stripped = line.lstrip()
        if stripped.startswith("schema ") and line.rstrip().endswith(("{", "[")):
            indent = line[:len(line) - len(stripped)]
            inside, closer = True, indent + ("}" if line.rstrip().endswith("{") else "]")
    return out


def _spaces_outside_strings(line: str) -> List[int]:
    """Positions of the spaces of a printed line that separate tokens (not those inside a string)."""
    out, in_string, i = [], False, 0
    while i < len(line):
        c = line[i]
        if in_string:
            if c == "\\":
                i += 1
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c == " " and i > 0 and not line[:i].isspace():
            out.append(i)
        i += 1
    return out


@st.composite
def messy_layout(draw, text: str) -> str:
    """The same policy with random comments, blank lines, `;` separators and indentation.
    Noise goes only where the grammar allows it: whole lines between lines (`;` not inside JSON),
    a comment at the end of any line, any whitespace at the start of a line, a line break (with or
    without a comment before it) at any space between two tokens."""
    lines = text.split("\n")
    interior = _json_interior(lines)
    # a long condition is printed over lines (`and …`, `or …`, `else …`): no `;` inside it either
    cont = [line.lstrip().startswith(("and ", "or ", "else ")) for line in lines] + [False]
    interior = [x or cont[i] or cont[i + 1] for i, x in enumerate(interior)]
    out: List[str] = []
    for i, line in enumerate(lines):
        for _ in range(draw(st.integers(0, 2)) if draw(st.integers(0, 3)) == 0 else 0):
            extra = pick(draw, ["blank", "comment", "semi", "ws"])
            if extra == "blank":
                out.append("")
            elif extra == "comment":
                out.append(pick(draw, ["", "  ", "\t"]) + "#" + draw(COMMENT_TEXTS))
            elif extra == "semi" and (i == 0 or not interior[i - 1]) and not interior[i]:
                out.append(pick(draw, [";", " ; ;", ";;"]))
            else:
                out.append(pick(draw, [" ", "\t", "  \t "]))
        if line:
            line = pick(draw, ["", "", " ", "    ", "\t"]) + line
            points = _spaces_outside_strings(line)
            if points and draw(st.integers(0, 4)) == 0:
                # break the statement over lines, with comments inside it
                for p in sorted({pick(draw, points) for _ in range(draw(st.integers(1, 3)))}, reverse=True):
                    brk = pick(draw, ["\n", "\n  ", "\n\n\t", "comment"])
                    if brk == "comment":
                        brk = " #" + draw(COMMENT_TEXTS) + "\n   "
                    line = line[:p] + brk + line[p + 1:]
            if draw(st.integers(0, 4)) == 0:
                line += pick(draw, [" ", "", "\t"]) + "#" + draw(COMMENT_TEXTS)
            elif draw(st.integers(0, 6)) == 0 and not interior[i] and (i + 1 >= len(lines) or not interior[i + 1]):
                line += pick(draw, [";", " ;"])
        out.append(line)
    return "\n".join(out)


# --------------------------------------------------------------------------- mutations (parser robustness)
TOKENS = ["{", "}", "(", ")", "[", "]", '"', "#", "\\", ",", ";", ":", ".", "-", "*", "/", "<", "<=", "==",
          "any", "all", "not", "in", "per", "else", "when", "otherwise", "risk", "tool", "check", "on", "require",
          "approval", "via", "1e999", "99999999999999999999999999", "1d", "0s", "-", "\n", " ", "\t", "\u2028",
          "\x00", "é", "null", "true", "matches", "sum(", "count()", "use", "\"\\u12\"", '"\\"', "override",
          "levels", "a < b", "((((((((((", "]]]]", "policy \"p\"", "1.5e", "0x10", "\r"]
# Literals that Python's own conversions refuse or change (finding 13): an integer over int()'s 4,300
# digits, numbers no double holds, a duration past any datetime, lone surrogate escapes in a string,
# a regex repeat count RE2 cannot hold, constructs RE2 lacks. Each must be a PolicyError, never a raise.
HUGE_INTEGERS = st.integers(4_290, 4_400).map(lambda n: "9" * n)
HOSTILE_NUMBERS = st.one_of(HUGE_INTEGERS, st.integers(305, 330).map(lambda n: "1" + "0" * n),
                            st.sampled_from([str(2 ** 1024 - 1), "1e-400", "0." + "0" * 400 + "1", "1e99999"]))
HOSTILE_DURATIONS = st.one_of(HUGE_INTEGERS, st.sampled_from(["99999999999999999999", "5215", "36501"])).flatmap(
    lambda n: st.sampled_from([n + u for u in "smhdw"]))
SURROGATE_ESCAPES = st.integers(0xD800, 0xDFFF).map(lambda c: f"\\u{c:04X}")
HOSTILE_STRINGS = st.lists(st.one_of(SURROGATE_ESCAPES, st.sampled_from(["\\uD83D\\uDE00", "\\u0000", "a" * 300]),
                                     st.sampled_from(["a", " ", "é", "/"])),
                           min_size=1, max_size=3).map(lambda parts: '"' + "".join(parts) + '"')
HOSTILE_REGEXES = st.one_of(
    st.one_of(st.integers(1_001, 10 ** 30), st.sampled_from([4_294_967_296, 2 ** 63, 10 ** 20])).flatmap(lambda n: st.sampled_from([f"a{{{n}}}", f"a{{0,{n}}}", f"(a{{{n},}})+"])),
    st.sampled_from(["(?=a)", "(?<!a)b", "(a)\\1", "(?P<n>a)(?P=n)", "a++", "(?>a)", "\\C", "\\pL{1000}",
                     "(a{100}){100}", "a\\Z", "(a|a)*$"]),
    HOSTILE_STRINGS.map(lambda s: s[1:-1]),
).map(lambda r: '"' + r.replace('"', '\\"') + '"')
HOSTILE_TOKENS = st.one_of(HOSTILE_NUMBERS, HOSTILE_DURATIONS, HOSTILE_STRINGS, HOSTILE_REGEXES,
                           HOSTILE_REGEXES.map(lambda r: "matches " + r))
INSERTIONS = st.one_of(st.sampled_from(TOKENS), st.text(max_size=3), HOSTILE_TOKENS)


@st.composite
def hostile_policy(draw) -> str:
    """A policy with a hostile literal in one literal position (each position a template)."""
    num, dur, s, rx = draw(HOSTILE_NUMBERS), draw(HOSTILE_DURATIONS), draw(HOSTILE_STRINGS), draw(HOSTILE_REGEXES)
    any_lit = draw(st.one_of(st.just(num), st.just(s)))
    templates = [
        f"policy {s}\ntool t {{ risk low }}\ncategory low {{ allow }}\n",
        f'policy "p"\ntool {s} {{ risk low }}\ncategory low {{ allow }}\n',
        f'policy "p"\nconst C = {any_lit}\ntool t {{ risk low when args.x == C }}\ncategory low {{ allow }}\n',
        f'policy "p"\nconst L = [1, {any_lit}]\ntool t {{ risk low when args.x in L }}\ncategory low {{ allow }}\n',
        f'policy "p"\ntool t {{ risk low when args.x > {num} }}\ncategory low {{ allow }}\n',
        f'policy "p"\ntool t {{ risk low when args.x * -{num} < {dur} }}\ncategory low {{ allow }}\n',
        f'policy "p"\ntool t {{ risk low when args.x[{num.split(".")[0].split("e")[0]}] == 1 }}\ncategory low {{ allow }}\n',
        f'policy "p"\ntool t {{ risk low when args[{s}] == {s} }}\ncategory low {{ allow }}\n',
        f'policy "p"\ntool t {{ risk low }}\ncategory low {{ deny {s} }}\n',
        f'policy "p"\ntool t {{ risk low }}\ncategory low {{ ask {s} }}\n',
        f'policy "p"\ntool t {{ risk low }}\ncategory low {{ escalate to {s} }}\n',
        f'policy "p"\nroute r {{ approvers {s} quorum {num.split(".")[0].split("e")[0]} timeout {dur} }}\n'
        f'tool t {{ risk low }}\ncategory low {{ require approval via r }}\n',
        f'policy "p"\ntool t {{ risk low }}\ncategory low {{ allow }}\n'
        f'check c on t {{ require args.x matches {rx} else deny }}\n',
        f'policy "p"\nconst RX = {rx}\ntool t {{ risk low }}\ncategory low {{ allow }}\n'
        f'check c on t {{ require not args.x matches RX else deny }}\n',
        f'policy "p"\ntool t {{ risk low }}\ncategory low {{ allow }}\n'
        f'check b on t {{ budget sum(args.x) per tenant per {dur} <= {num} else deny }}\n',
        f'policy "p"\ntool t {{ schema {{"type": "object", "maximum": {num}, {s}: {s}}} risk low }}\n'
        f'category low {{ allow }}\n',
        f'policy "p"\nuse {s}\n',
        f'policy "p"\ntool t {{ schema {s} risk low }}\ncategory low {{ allow }}\n',
        f'policy "p"\ntool t {{ risk low when hour(timestamp, {s}) > 3 }}\ncategory low {{ allow }}\n',
    ]
    return draw(st.sampled_from(templates))


@st.composite
def mutated(draw, text: str) -> str:
    for _ in range(draw(st.integers(1, 4))):
        op = pick(draw, ["delete", "insert", "duplicate", "token_delete", "token_dup", "token_swap"])
        n = len(text)
        if op in ("delete", "duplicate", "insert"):
            i = draw(st.integers(0, n))
            j = draw(st.integers(i, min(n, i + 12)))
            if op == "delete":
                text = text[:i] + text[j:]
            elif op == "duplicate":
                text = text[:j] + text[i:j] + text[j:]
            else:
                text = text[:i] + draw(INSERTIONS) + text[i:]
            continue
        toks = re.split(r"(\s+)", text)
        words = [k for k, t in enumerate(toks) if t and not t.isspace()]
        if not words:
            continue
        k = pick(draw, words)
        if op == "token_delete":
            toks[k] = ""
        elif op == "token_dup":
            toks[k] = toks[k] + " " + toks[k]
        else:
            k2 = pick(draw, words)
            toks[k], toks[k2] = toks[k2], toks[k]
        text = "".join(toks)
    return text
