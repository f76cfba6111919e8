"""Frozen-dataclass AST of the policy language; every node's `span` is excluded from equality."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Tuple, Union


@dataclass(frozen=True)
class Span:
    """Where a node was written: file, start line and column, end line and column (1-based; 0 when built in memory)."""
    file: str
    line: int
    column: int
    end_line: int
    end_column: int

    def at(self) -> str:
        """`FILE:LINE:COL`, the start of the span as messages and reasons cite it."""
        return f"{self.file}:{self.line}:{self.column}"


NO_SPAN = Span("<memory>", 0, 0, 0, 0)


def _span() -> Any:
    return field(default=NO_SPAN, compare=False, repr=False)


# ---------------------------------------------------------------- expressions

@dataclass(frozen=True)
class Literal:
    """A string, number or boolean written in the policy, or a list of them (held as a tuple)."""
    value: Any  # str | int | float | bool | tuple (list literal of literals)
    text: Optional[str] = field(default=None, compare=False, repr=False)  # numbers as written
    span: Span = _span()


@dataclass(frozen=True)
class Duration:
    """A duration such as `30m` or `1d`: its length in seconds and the text as written."""
    seconds: int
    text: str
    span: Span = _span()


@dataclass(frozen=True)
class Path:
    """A value read from the action, a const or a quantifier's variable: a root name and the keys after it."""
    root: str              # args, tenant, agent, context, confidence, tool, timestamp, a const or a variable
    keys: Tuple[Union[str, int], ...] = ()
    span: Span = _span()


@dataclass(frozen=True)
class ListExpr:
    """A list written with expressions in it, such as `[args.from, args.to]`."""
    items: Tuple["Expr", ...]
    span: Span = _span()


@dataclass(frozen=True)
class Call:
    """A call of a built-in function (spec §4.4), such as `len(args.items)`."""
    fn: str
    args: Tuple["Expr", ...]
    span: Span = _span()


@dataclass(frozen=True)
class Neg:
    """Unary minus: `-x`."""
    operand: "Expr"
    span: Span = _span()


@dataclass(frozen=True)
class Not:
    """`not x`."""
    operand: "Expr"
    span: Span = _span()


@dataclass(frozen=True)
class BoolOp:
    """`x and y` or `x or y`, evaluated left to right and short-circuited."""
    op: str  # "and" | "or"
    left: "Expr"
    right: "Expr"
    span: Span = _span()
    parens: bool = field(default=False, compare=False, repr=False)  # written in parentheses


@dataclass(frozen=True)
class Arith:
    """`x + y`, `x - y`, `x * y` or `x / y`."""
    op: str  # + - * /
    left: "Expr"
    right: "Expr"
    span: Span = _span()
    parens: bool = field(default=False, compare=False, repr=False)  # written in parentheses


@dataclass(frozen=True)
class Compare:
    """A comparison or a membership or string test: `==`, `<`, `in`, `contains`, `matches`, …."""
    op: str  # == != < <= > >= in "not in" starts_with ends_with contains matches
    left: "Expr"
    right: "Expr"
    span: Span = _span()


@dataclass(frozen=True)
class Presence:
    """`x present` or `x missing`; the checker accepts only a path as `x` (E211)."""
    path: "Expr"
    present: bool  # True: `present`, False: `missing`
    span: Span = _span()


@dataclass(frozen=True)
class Quantifier:
    """`any v in xs: cond` or `all v in xs: cond`."""
    kind: str  # "any" | "all"
    var: str
    source: "Expr"
    body: "Expr"
    span: Span = _span()


Expr = Union[Literal, Duration, Path, ListExpr, Call, Neg, Not, BoolOp, Arith, Compare, Presence, Quantifier]

# ---------------------------------------------------------------- outcomes


@dataclass(frozen=True)
class Outcome:
    """What a line decides: `allow`, `require approval [via ROUTE]`, `ask`, `escalate to` or `deny`."""
    kind: str                      # allow | require_approval | ask | escalate | deny
    route: Optional[str] = None    # require_approval via ROUTE
    text: Optional[str] = None     # ask question, escalate target, deny reason
    span: Span = _span()


# ---------------------------------------------------------------- declarations


@dataclass(frozen=True)
class PolicyDecl:
    """`policy "NAME"`."""
    name: str
    span: Span = _span()


@dataclass(frozen=True)
class VersionDecl:
    """`version "V"`."""
    version: str
    span: Span = _span()


@dataclass(frozen=True)
class ModeDecl:
    """`mode guarded|assisted|autonomous`, for the whole policy or in a tool block."""
    mode: str
    span: Span = _span()


@dataclass(frozen=True)
class Use:
    """`use stdlib.NAME` or `use "./file.policy"`: a file whose declarations are loaded before this one's."""
    module: Optional[str] = None   # stdlib.NAME (dotted, without the `stdlib.` check)
    path: Optional[str] = None     # "./file.policy"
    span: Span = _span()


@dataclass(frozen=True)
class Const:
    """`const NAME = VALUE` (or `override const`): a literal named once and read by its name."""
    name: str
    value: Any  # python value: str, int, float, bool, tuple, or Duration
    override: bool = False
    span: Span = _span()
    text: Optional[str] = field(default=None, compare=False, repr=False)  # the literal as written


@dataclass(frozen=True)
class Route:
    """`route NAME { … }`: who approves (approvers, quorum), how long they have, and what a timeout does."""
    name: str
    approvers: Tuple[str, ...] = ()
    quorum: Optional[int] = None
    timeout: Optional[Duration] = None
    escalate_to: Optional[str] = None
    grants_never: bool = False
    override: bool = False
    span: Span = _span()
    quorum_span: Span = _span()
    item_spans: Tuple[Tuple[str, Span], ...] = field(default=(), compare=False, repr=False)


@dataclass(frozen=True)
class Schema:
    """A tool's `schema`: inline JSON, or a `*.json` file relative to the policy that declares it."""
    inline: Optional[Any] = None   # parsed JSON value
    file: Optional[str] = None
    span: Span = _span()


@dataclass(frozen=True)
class RiskLine:
    """One `risk LEVEL [when COND]` line of a tool block (or `risk LEVEL otherwise`)."""
    level: str
    when: Optional[Expr] = None    # None: bare or `otherwise`
    otherwise: bool = False
    span: Span = _span()


@dataclass(frozen=True)
class Tool:
    """`tool NAME { … }`: the schema of its arguments, its risk lines and its mode."""
    name: str
    schema: Optional[Schema] = None
    risks: Tuple[RiskLine, ...] = ()
    mode: Optional[ModeDecl] = None
    override: bool = False
    span: Span = _span()
    quoted: bool = field(default=False, compare=False, repr=False)


@dataclass(frozen=True)
class ToolAlias:
    """`tool NAME as TARGET`: actions calling NAME are decided as TARGET (an extension of the spec)."""
    name: str
    target: str
    override: bool = False
    span: Span = _span()


@dataclass(frozen=True)
class Levels:
    """`levels a < b < c`: the risk levels, lowest first (low, medium, high when not given)."""
    names: Tuple[str, ...]
    span: Span = _span()


@dataclass(frozen=True)
class CategoryLine:
    """One line of a category block: `OUTCOME [when COND]` (or `OUTCOME otherwise`)."""
    outcome: Outcome
    when: Optional[Expr] = None
    otherwise: bool = False
    span: Span = _span()


@dataclass(frozen=True)
class Category:
    """`category LEVEL { … }`: the outcome lines for actions at that risk level, first match wins."""
    level: str
    lines: Tuple[CategoryLine, ...] = ()
    override: bool = False
    span: Span = _span()


@dataclass(frozen=True)
class Require:
    """`require COND else OUTCOME`: the outcome is added when the condition does not hold."""
    cond: Expr
    outcome: Outcome
    span: Span = _span()


@dataclass(frozen=True)
class Budget:
    """`budget sum(PATH)|count() per KEYS per WINDOW <= LIMIT else OUTCOME`, over executed actions."""
    agg: str                      # "sum" | "count"
    path: Optional[Path]          # summed path (None for count)
    keys: Tuple[Path, ...]
    window: Duration
    limit: Union[int, float]
    outcome: Outcome
    span: Span = _span()
    limit_text: Optional[str] = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Check:
    """`[advisory] check NAME on TOOLS|* { … }`: require and budget lines applied to the tools named."""
    name: str
    targets: Optional[Tuple[str, ...]]  # None means `on *`
    lines: Tuple[Union[Require, Budget], ...] = ()
    advisory: bool = False
    override: bool = False
    span: Span = _span()


@dataclass(frozen=True)
class UnknownTools:
    """`unknown tools OUTCOME`: what an action for a tool with no `tool` block gets (deny when not given)."""
    outcome: Outcome
    span: Span = _span()


Decl = Union[PolicyDecl, VersionDecl, ModeDecl, Use, Const, Route, Tool, ToolAlias, Levels, Category, Check,
             UnknownTools]


@dataclass(frozen=True)
class Comment:
    """A `#` comment and where it was, kept so that `signoff fmt` puts it back."""
    text: str
    line: int
    column: int
    own_line: bool  # nothing but whitespace before it on its line


@dataclass(frozen=True)
class Module:
    """One parsed file."""
    decls: Tuple[Decl, ...]
    file: str = field(default="<memory>", compare=False)
    comments: Tuple[Comment, ...] = field(default=(), compare=False, repr=False)


def plain(value: Any) -> Any:
    """A const's value as evaluation sees it: list literals as lists, durations as seconds."""
    if isinstance(value, tuple):
        return [plain(v) for v in value]
    if isinstance(value, Duration):
        return value.seconds
    return value
