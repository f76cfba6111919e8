"""One history record decided against the policy with the ledger, and the replay rules applied: the step every backend shares."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple

from ..decide.decision import RANK, Decision, Reason
from ..decide.evaluator import Policy
from ..decide.graph import Fn
from ..decide.ledger import Ledger
from .records import Record

_EMPTY: Dict[str, Any] = {}


class Step(NamedTuple):
    """What one record became in the replay: the decision's parts and what the aggregates read.

    `action` is the action as executed (a human's `edited_args` applied), `tool` its tool name when
    that is a string (else None), `human` its `human` field as read, `executed` whether the replay
    counted it in the ledger, `decision` the `Decision` when the step was asked to build one.

    The step function returns these fields as a plain tuple (`StepRow`, same order): building a
    NamedTuple per record costs about 4% of a replay. `Step(*row)` names them where speed does not matter.
    """

    time: float
    outcome: str
    rank: int
    category: Optional[str]
    reasons: List[Reason]
    action_id: Any
    action: Any
    tool: Optional[str]
    human: Any
    problem: Optional[str]
    executed: bool
    decision: Optional[Decision]


StepRow = Tuple[float, str, int, Optional[str], List[Reason], Any, Any, Optional[str], Any, Optional[str], bool,
                Optional[Decision]]
StepFn = Callable[[Record, Ledger], StepRow]


def stepper(policy: Policy, assume_approved: bool = False, decisions: bool = False) -> StepFn:
    """The step function of `policy`: `step(record, ledger)` decides one record and applies the replay rules
    (it returns a `StepRow`: the fields of `Step`, in order).

    The rules (docs/simulate.md, "Replay semantics"): a record's time is its timestamp, else its place in
    the history; an `allow` is executed and counted in the ledger; a `require_approval` is executed when
    `assume_approved` or the record's `human.verdict` is `approved` or `edited` (with `edited_args` merged
    into `args` first); nothing else is executed. With `decisions`, every step carries its `Decision`;
    without, none is built.

    Records the reader has checked (`checked`: no NaN, infinity or integer past 64 bits, the timestamp
    read into the record's time) skip `check_action`: the few shape checks it would still make are
    made here, and anything unusual goes through `Policy.decide` itself, which words every error.
    """
    decide, input_error, count = policy.decide, policy.input_error, policy.count
    g = policy.graph
    graph_mode, meta = g.mode, dict(g.policy)
    default_node = g.default
    if default_node is None or default_node.run is None:   # the compiler's link pass sets both, always
        raise ValueError("the policy's decision graph is not linked")
    # tool -> (its closure, the mode a Decision carries), and the same for undeclared tools
    default = (default_node.run, graph_mode)
    runs: Dict[str, Tuple[Fn, str]] = {}
    for name, n in g.tools.items():
        if n.run is None:
            raise ValueError("the policy's decision graph is not linked")
        runs[name] = (n.run, n.mode if n is not default_node else graph_mode)
    rank = RANK

    def step(record: Record, ledger: Ledger) -> StepRow:
        t, _seq, action, _src, _line, problem, checked = record
        outcome = None
        mode = graph_mode
        if checked and problem is None and action.__class__ is dict:
            # Policy.decide without check_action: the reader has already proved what it checks of
            # numbers and the timestamp (read into t); the shape checks that remain are inline.
            # Anything unusual leaves outcome None and goes through Policy.decide itself.
            get = action.get
            tool = get("tool")
            c = get("confidence")
            v1, v2, v3, v4 = get("args"), get("tenant"), get("agent"), get("context")
            if tool.__class__ is str and tool \
                    and (c is None or (c.__class__ is float or c.__class__ is int) and 0 <= c <= 1) \
                    and (v1 is None or v1.__class__ is dict) and (v2 is None or v2.__class__ is dict) \
                    and (v3 is None or v3.__class__ is dict) and (v4 is None or v4.__class__ is dict):
                run, mode = runs.get(tool, default)
                try:
                    outcome, category, reasons = run(action, t, ledger)
                except Exception:  # fail closed; Policy.decide words the error as it always does
                    outcome = None
        d: Optional[Decision]
        if outcome is None:
            tool = None
            if problem is not None:
                d = input_error(action, problem)
            elif action.__class__ is dict and action.get("timestamp") is not None:
                d = decide(action, ledger)
            else:
                d = decide(action, ledger, datetime.fromtimestamp(t, timezone.utc))
            outcome, category, reasons = d.outcome, d.category, d.reasons
            aid = d.action_id
        else:
            aid = get("id")
            d = None
        human: Any = action.get("human") if action.__class__ is dict else None
        executed = False
        if outcome == "allow":
            executed = True
            count(action, t, ledger)
        elif outcome == "require_approval":
            verdict = human.get("verdict") if human.__class__ is dict else None
            if assume_approved or verdict == "approved" or verdict == "edited":
                if verdict == "edited":
                    edited = human.get("edited_args")
                    if edited.__class__ is dict:
                        args = action.get("args")
                        action = dict(action, args={**args, **edited} if args.__class__ is dict else edited)
                executed = True
                count(action, t, ledger)
        if tool is None:
            tool = (action if action.__class__ is dict else _EMPTY).get("tool")
            if tool.__class__ is not str:
                tool = None  # not hashable, perhaps: counted as `(none)`
        if decisions and d is None:
            d = Decision(aid, outcome, category, reasons, mode, meta)
        return (t, outcome, rank[outcome], category, reasons, aid, action, tool, human, problem, executed, d)

    return step
