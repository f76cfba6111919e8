"""Nodes of the compiled decision graph: dispatch index → schema → risk edges → category → checks → mode."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from policy_lang import ast as A

from .budget import budget_fns
from .decision import Reason
from .ledger import Ledger

Fn = Callable[..., Any]
# a tool node's closure: (action, epoch seconds, ledger) -> (outcome, risk level, reasons)
Run = Callable[[dict, float, Optional[Ledger]], Tuple[str, Optional[str], List[Reason]]]


@dataclass(frozen=True)
class Route:
    """A route as the compiler gives it: who approves (`approvers`, roles), how many (`quorum`), the timeout
    as written and in seconds, whom a timeout escalates to, and whether standing grants may stand in.

    `as_dict()` is the dict decisions carry (`Reason.route`); the live workflow stores routes with
    `timeout_seconds` and `grants_never` as well (`as_dict(full=True)`) and reads them back with `from_dict`.
    """
    name: str
    approvers: Tuple[str, ...] = ()
    quorum: int = 1
    timeout: Optional[str] = None
    timeout_seconds: Optional[float] = None
    escalate_to: Optional[str] = None
    grants_never: bool = False

    @classmethod
    def from_ast(cls, r: A.Route) -> "Route":
        """The route a declaration makes (quorum 1 when it names none)."""
        return cls(r.name, tuple(r.approvers), r.quorum if r.quorum is not None else 1,
                   r.timeout.text if r.timeout is not None else None,
                   r.timeout.seconds if r.timeout is not None else None, r.escalate_to, r.grants_never)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Route":
        """A route from its dict form (`as_dict`); a dict without `grants_never` is taken as forbidding grants."""
        on_timeout = d.get("on_timeout") or {}
        return cls(d["name"], tuple(d["approvers"]), d["quorum"], d.get("timeout"), d.get("timeout_seconds"),
                   on_timeout.get("to") if isinstance(on_timeout, dict) else None, d.get("grants_never", True))

    @property
    def on_timeout(self) -> Optional[Dict[str, Any]]:
        """What a timeout does: escalate to someone, expire the draft, or nothing (no timeout)."""
        if self.escalate_to is not None:
            return {"outcome": "escalate", "to": self.escalate_to}
        return {"outcome": "expire"} if self.timeout is not None else None

    def as_dict(self, full: bool = False) -> Dict[str, Any]:
        """The dict decisions carry; with `full`, also `timeout_seconds` and `grants_never` (a stored route)."""
        out: Dict[str, Any] = {"name": self.name, "approvers": list(self.approvers), "quorum": self.quorum,
                               "timeout": self.timeout, "on_timeout": self.on_timeout}
        if full:
            out["timeout_seconds"] = self.timeout_seconds
            out["grants_never"] = self.grants_never
        return out


@dataclass
class RiskEdge:
    """One `risk` line of a tool: the level it gives when its condition (if any) holds."""
    level: str
    cond: Optional[Fn]          # None: bare `risk L` / `otherwise`
    at: str
    line: A.RiskLine


@dataclass
class CategoryEdge:
    """One line of a category block: the reason it adds when its condition (if any) holds."""
    cond: Optional[Fn]
    reason: Reason              # built once; autonomous variants are built by the mode pass
    at: str
    line: A.CategoryLine


@dataclass
class CategoryNode:
    """A risk level's category block: its lines in order, and the deny given when none matches."""
    level: str
    edges: List[CategoryEdge]
    no_match: Reason


@dataclass
class RequireNode:
    """One `require` line of a check: the reason it adds when its condition does not hold."""
    check: str
    cond: Fn
    reason: Reason
    at: str
    advisory: bool
    line: A.Require


@dataclass
class BudgetNode:
    """One `budget` line of a check: the ledger key and amount of an action, and the limit over the window."""
    check: str
    bucket: Tuple[str, int]     # (check name, line index): budgets are keyed by name, not by policy version
    keys: List[Fn]              # raw getters (None = missing)
    key_texts: List[str]
    amount: Optional[Fn]        # raw getter of the summed path; None for count()
    amount_text: Optional[str]
    window: float
    limit: float
    reason: Reason
    at: str
    advisory: bool
    line: A.Budget
    # action -> ledger key, and action -> amount: made from the fields above by
    # engine.decide.budget.budget_fns, so every user computes them alike
    key_of: Callable[[dict], Tuple[Any, ...]] = field(init=False)
    amount_of: Callable[[dict], Any] = field(init=False)

    def __post_init__(self) -> None:
        self.key_of, self.amount_of = budget_fns(self)


@dataclass
class ToolNode:
    """Everything that decides one tool's actions, lowered by the link pass to the one closure `run`.

    A node with `known` false stands for an undeclared tool: it gives the `unknown tools` reason and
    runs only the checks that apply to it."""
    name: str
    known: bool
    mode: str
    mode_reason: Optional[Reason] = None      # assisted: the reason appended when allow turns into approval
    schema: Any = None                        # a compiled jsonschema validator
    schema_at: str = ""
    risk: List[RiskEdge] = field(default_factory=list)
    categories: Dict[str, CategoryNode] = field(default_factory=dict)
    checks: List[Any] = field(default_factory=list)   # RequireNode | BudgetNode, load order
    no_category: Dict[str, Reason] = field(default_factory=dict)
    unknown_reason: Optional[Reason] = None
    run: Optional[Run] = None                 # set by the link pass


@dataclass
class DecisionGraph:
    """A compiled policy: the dispatch index of tool nodes, with the routes, levels and mode they share."""
    policy: Dict[str, Any]
    levels: Tuple[str, ...]
    mode: str
    routes: Dict[str, dict]                 # the dicts decisions carry (`Route.as_dict()`)
    first_route: Optional[dict]
    consts: Dict[str, Any] = field(default_factory=dict)
    tools: Dict[str, ToolNode] = field(default_factory=dict)      # the dispatch index
    checks_by_target: Dict[str, List[Any]] = field(default_factory=dict)
    star_checks: List[Any] = field(default_factory=list)
    default: Optional[ToolNode] = None                            # unknown tools named by no check
    input_error_at: str = ""
    aliases: Dict[str, str] = field(default_factory=dict)         # `tool NAME as TARGET`: NAME -> TARGET
    route_records: Dict[str, Route] = field(default_factory=dict)  # the declared routes, typed
