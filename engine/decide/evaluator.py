"""`Policy`: a compiled policy that decides many actions; compile once, decide many times."""
from __future__ import annotations

from datetime import datetime, timezone
from time import time as _clock
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple, cast

from policy_lang.checker import Program, load

from .actions import ActionError, InputSyntaxError, check_action, loads_action, safe_id
from .compiler import compile_program
from .decision import Decision
from .graph import BudgetNode, DecisionGraph, Run, ToolNode
from .ledger import Ledger
from .runtime import error_reason
from .values import EvalError

if TYPE_CHECKING:
    from .trace import Tracer


class Policy:
    """A checked program compiled to its decision graph: `decide` one action (fail closed), with the
    policy's name, version and digest. Build one with `load_policy(path)`."""

    def __init__(self, program: Program):
        self.program = program
        self.graph = compile_program(program)
        self.name = program.name
        self.version = program.version
        self.digest = program.digest
        self._meta = dict(self.graph.policy)
        self._index, self._default = _dispatch(self.graph)
        self._now: Tuple[Optional[datetime], float] = (None, 0.0)
        self._budgets = {name: [c for c in node.checks if isinstance(c, BudgetNode)]
                         for name, node in self.graph.tools.items()}
        self._default_budgets = [c for c in _default_node(self.graph).checks if isinstance(c, BudgetNode)]
        self._aliases = {n: al.target for n, al in program.aliases.items()}

    # ------------------------------------------------------------ deciding
    def decide(self, action: Any, ledger: Optional[Ledger] = None, now: Optional[datetime] = None) -> Decision:
        """Decide one action. Never raises for bad input or evaluation errors: those are `deny`.
        Everything, input validation included, runs inside the one fail-closed guard."""
        try:
            try:
                a, when = check_action(action)
            except ActionError as e:
                return self.input_error(action, e.message)
            if when is not None:
                t = when.timestamp()
            elif now is None:
                t = _clock()   # the same clock as datetime.now(), without building a datetime
            else:
                # the last `now` and its epoch seconds: a caller deciding many actions at one instant
                # pays for the conversion once (datetimes are immutable, so `is` is exact). One tuple,
                # replaced whole, so threads never see a time paired with another `now`
                last = self._now
                if last[0] is now:
                    t = last[1]
                else:
                    t = self._time(None, now)
                    self._now = (now, t)
            # one lookup per tool name: its closure and its mode together
            run, mode = self._index.get(a["tool"], self._default)
            outcome, category, reasons = run(a, t, ledger)
            return Decision(a.get("id"), outcome, category, reasons, mode, self._meta)
        except RecursionError:  # a value nested deeper than a comparison or the schema validator can go
            return self.input_error(action, "the action is nested too deeply to decide")
        except Exception:  # fail closed: an internal error is never an allow, never escapes
            return self.input_error(action, "internal error while deciding")

    def decide_json(self, text: str, ledger: Optional[Ledger] = None, now: Optional[datetime] = None) -> Decision:
        """Decide JSON text; duplicate keys, NaN/Infinity and every other input problem are input
        errors (deny). Text that cannot be read as JSON raises InputSyntaxError (with line/column),
        an integer literal too long to read included; nothing else escapes."""
        try:
            action = loads_action(text)
        except InputSyntaxError:
            raise
        except ActionError as e:
            return self.input_error(None, e.message)
        except Exception:  # fail closed, as in decide: text that is not a str, and the unforeseen
            if not isinstance(text, (str, bytes, bytearray)):
                return self.input_error(None, "an action must be JSON text")
            return self.input_error(None, "internal error while reading the action")
        return self.decide(action, ledger, now)

    def input_error(self, action: Any, message: str) -> Decision:
        """`deny` with one `error` reason; the action's `id` is kept only if it can be reported."""
        return Decision(safe_id(action), "deny", None, [error_reason(message, self.graph.input_error_at)],
                        self.graph.mode, self._meta)

    @staticmethod
    def _time(when: Optional[datetime], now: Optional[datetime]) -> float:
        if when is not None:
            return when.timestamp()
        if now is not None:
            return (now if now.tzinfo else now.replace(tzinfo=timezone.utc)).timestamp()
        return _clock()

    # ------------------------------------------------------------ budgets
    def record(self, action: Any, ledger: Ledger, now: Optional[datetime] = None) -> int:
        """Count an executed action in the ledger for every budget that applies to its tool.
        Returns how many budget lines it was counted in (lines whose key or amount is missing skip it)."""
        try:
            a, when = check_action(action)
        except ActionError:
            return 0
        return self.count(a, self._time(when, now), ledger)

    def count(self, a: dict, t: float, ledger: Ledger) -> int:
        """`record` for an action that has passed check_action, at time t."""
        target = self._aliases.get(a["tool"]) if self._aliases else None
        if target is not None:
            a = {**a, "tool": target}  # counted as its tool, as it was decided
        n = 0
        for node in self._budgets.get(a["tool"], self._default_budgets):
            try:
                amount = node.amount_of(a)
                key = node.key_of(a)
            except EvalError:
                continue
            ledger.add(key, t, amount)
            n += 1
        return n

    def max_window(self) -> float:
        """The longest window of any budget line: what a ledger must keep to decide."""
        return max((c.window for cs in [*self._budgets.values(), self._default_budgets] for c in cs), default=0.0)

    # ------------------------------------------------------------ introspection
    def explain(self, action: Any, ledger: Optional[Ledger] = None,
                now: Optional[datetime] = None) -> Tuple[Decision, List[Dict[str, Any]]]:
        """Decide with a trace of every rule consulted and every sub-condition's value."""
        from .trace import Tracer
        tracer = Tracer()
        traced = _Traced(self.program, tracer)
        decision = traced.decide(action, ledger, now)
        return decision, tracer.entries

    @property
    def tools(self) -> List[str]:
        """The names of the declared tools, then of their aliases (`tool NAME as TARGET`)."""
        return [n for n, node in self.graph.tools.items() if node.known]


class _Traced(Policy):
    def __init__(self, program: Program, tracer: Tracer):
        self.program = program
        self.graph = compile_program(program, hook=tracer.expr, tracer=tracer)
        self._meta = dict(self.graph.policy)
        self._index, self._default = _dispatch(self.graph)
        self._now = (None, 0.0)


def _default_node(graph: DecisionGraph) -> ToolNode:
    """The node of tools named by no `tool` block and no check (always set by compile_program)."""
    return cast(ToolNode, graph.default)


def _dispatch(graph: DecisionGraph) -> Tuple[Dict[str, Tuple[Run, str]], Tuple[Run, str]]:
    """(linked closure, mode) of each tool by name, and the pair for every other tool (the policy's
    mode): one dict lookup per decision finds both."""
    index = {name: (cast(Run, node.run), node.mode) for name, node in graph.tools.items()}  # all linked
    return index, (cast(Run, _default_node(graph).run), graph.mode)


def load_policy(path: str, text: Optional[str] = None) -> Policy:
    """Load, check and compile a policy file. Raises policy_lang.PolicyError on load errors."""
    return Policy(load(path, text))
