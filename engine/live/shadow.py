"""Shadow policies: candidates that decide every live proposal too, recorded in the audit log and never enforced."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Sequence

from ..decide.evaluator import Policy
from .errors import InputError
from .patch import canonical
from .records import SYSTEM
from .shared import Committed, decided_action
from .store import Tx

if TYPE_CHECKING:
    from .workflow import Gate

__all__ = ["KIND", "ERROR", "candidates", "candidate_info", "shadow_records", "record_shadows"]

KIND = "shadow"       # the audit record's kind
ERROR = "internal error while deciding: the candidate's decision is not known"


def candidates(shadow: Any) -> List[Policy]:
    """The gate's `shadow=` argument as a list of policies; InputError for anything else (a path, a name)."""
    if shadow is None:
        return []
    if isinstance(shadow, Policy):
        shadow = [shadow]
    if isinstance(shadow, (str, bytes)) or not isinstance(shadow, Sequence):
        raise InputError("`shadow` must be a list of policies (load each with `load_policy`)")
    out = list(shadow)
    for p in out:
        if not isinstance(p, Policy):
            raise InputError("`shadow` must be a list of policies (load each with `load_policy`)")
    return out


def candidate_info(policy: Policy) -> Dict[str, Any]:
    """Name, version and digest of a candidate, as its records name it."""
    return {"name": policy.name, "version": policy.version, "digest": policy.digest}


class _ReadOnly:
    """The live ledger as a candidate reads it: totals as the live decision saw them, and no writes (a candidate
    never spends a budget)."""
    __slots__ = ("_ledger",)

    def __init__(self, ledger: Any):
        self._ledger = ledger

    def total(self, key: Any, start: float, end: float) -> float:
        """What the live decision would read under `key`."""
        return self._ledger.total(key, start, end)

    def add(self, key: Any, t: float, amount: float) -> None:
        """Nothing: a shadow decision is never counted."""


def shadow_records(gate: "Gate", tx: Tx, proposed: Dict[str, Any], args: Dict[str, Any], t: float,
                   action_id: str) -> List[Dict[str, Any]]:
    """One payload per candidate: its decision of the proposal as the live policy saw it (same time, same ledger),
    or the error that stopped it. Never raises: a candidate's failure is recorded, never the live decision's."""
    out: List[Dict[str, Any]] = []
    for cand in gate.shadow:
        try:
            info = candidate_info(cand)
        except Exception:  # a candidate broken beyond its name still gets a record
            info = {"name": None, "version": None, "digest": None}
        try:
            ledger = _ReadOnly(Committed(tx.ledger(action_id)))
            d = cand.decide(decided_action(proposed, args, t), ledger)
            payload = {"candidate": info, "decision": d.to_dict()}
            canonical(payload)      # what the log cannot hold must fail here, not in the live transaction's append
            out.append(payload)
        except Exception:  # the candidate is never enforced: its crash is its own record, nothing more
            out.append({"candidate": info, "error": ERROR})
    return out


def record_shadows(tx: Tx, action_id: str, at: str, digest: str, payloads: List[Dict[str, Any]]) -> None:
    """Append one `shadow` record per candidate payload, after the live decision's records."""
    for p in payloads:
        tx.append_event(action_id, KIND, SYSTEM, at, digest, p)
