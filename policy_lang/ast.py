"""Frozen-dataclass AST of the policy language; every node's `span` is excluded from equality."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Tuple, Union


@dataclass(frozen=True)
class Span:
    file: str
    line: int
    column: int
    end_line: int
    end_column: int

    def at(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


NO_SPAN = Span("<memory>", 0, 0, 0, 0)


def _span() -> Any:
    return field(default=NO_SPAN, compare=False, repr=False)


# ---------------------------------------------------------------- expressions

@dataclass(frozen=True)
class Literal:
    value: Any  # str | int | float | bool | tuple (list literal of literals)
    text: Optional[str] = field(default=None, compare=False, repr=False)  # numbers as written
    span: Span = _span()


@dataclass(frozen=True)
class Duration:
    seconds: int
    text: str
    span: Span = _span()


@dataclass(frozen=True)
class Path:
    root: str              # args, tenant, agent, context, confidence, tool, timestamp, a const or a variable
    keys: Tuple[Union[str, int], ...] = ()
    span: Span = _span()


@dataclass(frozen=True)
class ListExpr:
    items: Tuple["Expr", ...]
    span: Span = _span()


@dataclass(frozen=True)
class Call:
    fn: str
    args: Tuple["Expr", ...]
    span: Span = _span()


@dataclass(frozen=True)
class Neg:
    operand: "Expr"
    span: Span = _span()


@dataclass(frozen=True)
class Not:
    operand: "Expr"
    span: Span = _span()


@dataclass(frozen=True)
class BoolOp:
    op: str  # "and" | "or"
    left: "Expr"
    right: "Expr"
    span: Span = _span()
    parens: bool = field(default=False, compare=False, repr=False)  # written in parentheses


@dataclass(frozen=True)
class Arith:
    op: str  # + - * /
    left: "Expr"
    right: "Expr"
    span: Span = _span()
    parens: bool = field(default=False, compare=False, repr=False)  # written in parentheses


@dataclass(frozen=True)
class Compare:
    op: str  # == != < <= > >= in "not in" starts_with ends_with contains matches
    left: "Expr"
    right: "Expr"
    span: Span = _span()


@dataclass(frozen=True)
class Presence:
    path: "Expr"
    present: bool  # True: `present`, False: `missing`
    span: Span = _span()


@dataclass(frozen=True)
class Quantifier:
    kind: str  # "any" | "all"
    var: str
    source: "Expr"
    body: "Expr"
    span: Span = _span()


Expr = Union[Literal, Duration, Path, ListExpr, Call, Neg, Not, BoolOp, Arith, Compare, Presence, Quantifier]

# ---------------------------------------------------------------- outcomes


@dataclass(frozen=True)
class Outcome:
    kind: str                      # allow | require_approval | ask | escalate | deny
    route: Optional[str] = None    # require_approval via ROUTE
    text: Optional[str] = None     # ask question, escalate target, deny reason
    span: Span = _span()


# ---------------------------------------------------------------- declarations


@dataclass(frozen=True)
class PolicyDecl:
    name: str
    span: Span = _span()


@dataclass(frozen=True)
class VersionDecl:
    version: str
    span: Span = _span()


@dataclass(frozen=True)
class ModeDecl:
    mode: str
    span: Span = _span()


@dataclass(frozen=True)
class Use:
    module: Optional[str] = None   # stdlib.NAME (dotted, without the `stdlib.` check)
    path: Optional[str] = None     # "./file.policy"
    span: Span = _span()


@dataclass(frozen=True)
class Const:
    name: str
    value: Any  # python value: str, int, float, bool, tuple, or Duration
    override: bool = False
    span: Span = _span()
    text: Optional[str] = field(default=None, compare=False, repr=False)  # the literal as written


@dataclass(frozen=True)
class Route:
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
    inline: Optional[Any] = None   # parsed JSON value
    file: Optional[str] = None
    span: Span = _span()


@dataclass(frozen=True)
class RiskLine:
    level: str
    when: Optional[Expr] = None    # None: bare or `otherwise`
    otherwise: bool = False
    span: Span = _span()


@dataclass(frozen=True)
class Tool:
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
    names: Tuple[str, ...]
    span: Span = _span()


@dataclass(frozen=True)
class CategoryLine:
    outcome: Outcome
    when: Optional[Expr] = None
    otherwise: bool = False
    span: Span = _span()


@dataclass(frozen=True)
class Category:
    level: str
    lines: Tuple[CategoryLine, ...] = ()
    override: bool = False
    span: Span = _span()


@dataclass(frozen=True)
class Require:
    cond: Expr
    outcome: Outcome
    span: Span = _span()


@dataclass(frozen=True)
class Budget:
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
    name: str
    targets: Optional[Tuple[str, ...]]  # None means `on *`
    lines: Tuple[Union[Require, Budget], ...] = ()
    advisory: bool = False
    override: bool = False
    span: Span = _span()


@dataclass(frozen=True)
class UnknownTools:
    outcome: Outcome
    span: Span = _span()


Decl = Union[PolicyDecl, VersionDecl, ModeDecl, Use, Const, Route, Tool, ToolAlias, Levels, Category, Check,
             UnknownTools]


@dataclass(frozen=True)
class Comment:
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
