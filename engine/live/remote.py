"""Execution outside the gate's process (an agent over HTTP): claim an approved draft for a lease, then complete it.

The same steps as `Gate.execute`, split in two: the claim decides the draft again with the current policy and
counts it in the budget (approved → executing, with a lease), the completion records the result (executing →
executed | failed). A lease that runs out is settled as an interrupted execution, exactly as `Gate.resume`
settles a non-idempotent tool whose process died: the server cannot know whether the agent acted.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Dict, List, Optional

import importlib

from .handles import Handle
from .identity import same_id
from .store import Identity, Tx
from .workflow import SYSTEM, Gate, NotFound, PermissionDenied, StateError

__all__ = ["Claim", "claim", "complete", "settle_leases", "ReportedFailure"]

INTERRUPTED = ("execution was interrupted and may or may not have taken effect: its lease ran out before the "
               "executor reported back")




def _module(name: str) -> Any:
    try:
        return importlib.import_module(f"engine.live.{name}")
    except ModuleNotFoundError as e:
        if e.name != f"engine.live.{name}":
            raise
        return None


# The gate's execution steps, reached where they live: as Gate methods on dict rows, or (after the split of
# engine/live into step modules) as functions of `execution`, `records`, `shared` and `views` on Draft records.
_EXECUTION, _RECORDS, _SHARED, _VIEWS = (_module(n) for n in ("execution", "records", "shared", "views"))
_SPLIT = _EXECUTION is not None and _RECORDS is not None and _SHARED is not None and _VIEWS is not None


def _now(gate: Gate, now: Optional[datetime]) -> float:
    return _SHARED.now_of(gate, now) if _SPLIT else getattr(gate, "_now")(now)


def _iso(t: float) -> str:
    if _SPLIT:
        return _RECORDS.iso(t)
    return getattr(importlib.import_module("engine.live.workflow"), "_iso")(t)


def _digest(gate: Gate, tx: Tx, rec: dict) -> str:
    if _SPLIT:
        return _SHARED.digest(gate, _RECORDS.load_draft(tx, rec["id"]))
    return getattr(gate, "_digest")(rec)


def _gate_claim(gate: Gate, tx: Tx, rec: dict, t: float, notes: List[Any]) -> Any:
    if _SPLIT:
        return _EXECUTION.claim(gate, tx, _RECORDS.load_draft(tx, rec["id"]), t, notes)
    return getattr(gate, "_claim")(tx, rec, t, notes)


def _gate_finish(gate: Gate, job: Any, ok: bool, value: Any, exc: Optional[BaseException]) -> Handle:
    if _SPLIT:
        return _EXECUTION._finish(gate, job, ok, value, exc)
    return getattr(gate, "_finish")(job, ok, value, exc)


def _gate_notify(gate: Gate, notes: List[Any]) -> None:
    if _SPLIT:
        _SHARED.notify(gate, notes)
    else:
        getattr(gate, "_notify")(notes)


def _gate_handle(gate: Gate, tx: Tx, rec: dict, t: float) -> Handle:
    if _SPLIT:
        return _VIEWS.handle(tx, _RECORDS.load_draft(tx, rec["id"]), t)
    return getattr(gate, "_handle")(tx, rec, t)


def _check_id(action_id: Any) -> str:
    if not isinstance(action_id, str) or not action_id:
        from .workflow import InputError
        raise InputError("a draft id must be a non-empty string")
    return action_id


def _reread(tx: Tx, rec: dict) -> dict:
    again = tx.get_action(rec["id"])
    if again is None:   # a row never disappears inside the transaction that read it
        raise NotFound(f"no draft `{rec['id']}`")
    return again


def _mark_failed(gate: Gate, tx: Tx, rec: dict, t: float) -> None:
    fields = dict(error=INTERRUPTED, lease_until=None, updated_at=t, closing={"interrupted": True})
    if _SPLIT:
        _RECORDS.transition(tx, _RECORDS.load_draft(tx, rec["id"]), "failed", **fields)
    else:
        tx.update_action(rec["id"], state="failed", **fields)


@dataclass(frozen=True)
class Claim:
    """What a claim hands the executor: the lease to complete with, the arguments to run (edits applied) and the
    idempotency key that stays the same across attempts."""
    id: str
    lease: str
    args: Dict[str, Any]
    idempotency_key: str
    attempt: int
    lease_until: str


class ReportedFailure(Exception):
    """The executor reported that the tool failed (its own words are the message)."""


def _token(tx: Tx, rec: dict) -> str:
    # bound to the attempt's `executing` record, whose hash nobody can predict before the claim
    ev = [e for e in tx.events(rec["id"]) if e["kind"] == "executing"]
    basis = f"{rec['id']}\n{rec['attempts']}\n{ev[-1]['hash'] if ev else ''}"
    return f"lease_{rec['attempts']}_" + hashlib.sha256(basis.encode()).hexdigest()[:32]


def _open(gate: Gate, tx: Tx, action_id: Any, by: Identity) -> dict:
    rec = tx.get_action(_check_id(action_id))
    # another tenant's draft is one that does not exist
    if rec is None or (by.tenant or "") != rec["tenant"]:
        raise NotFound(f"no draft `{action_id}`")
    if not same_id(by.id, rec["proposer"]):
        raise PermissionDenied(f"`{by.id}` did not propose draft `{rec['id']}`: only its proposer executes it")
    return rec


def _settle(gate: Gate, tx: Tx, rec: dict, t: float) -> bool:
    """Executing with its lease over → failed (interrupted). True when it settled the draft."""
    if rec["state"] != "executing" or rec["lease_until"] is None or rec["lease_until"] > t:
        return False
    _mark_failed(gate, tx, rec, t)
    tx.append_event(rec["id"], "failed", SYSTEM, _iso(t), _digest(gate, tx, rec),
                    {"attempt": rec["attempts"], "error": INTERRUPTED, "interrupted": True})
    return True


def claim(gate: Gate, action_id: str, by: Identity, now: Optional[datetime] = None) -> Claim:
    """Claim an approved draft for execution by its proposer: decided once more first (the stricter decision
    stands), counted in the budgets, leased for `gate.lease`. StateError when it is not approved (a live lease
    included), or when deciding again sent it back to waiting or closed it (that change is kept)."""
    t = _now(gate, now)
    notes: List[Any] = []
    problem: Optional[str] = None
    with gate.store.transaction() as tx:
        rec = _open(gate, tx, action_id, by)
        if _settle(gate, tx, rec, t):
            rec = _reread(tx, rec)
        if rec["state"] == "executing":
            problem = f"draft `{rec['id']}` is already claimed (lease until {_iso(rec['lease_until'])})"
        elif rec["state"] != "approved":
            problem = f"draft `{rec['id']}` is {rec['state']}, not approved"
        else:
            job = _gate_claim(gate, tx, rec, t, notes)
            rec = _reread(tx, rec)
            if job is None:
                problem = f"draft `{rec['id']}` was decided again and is now {rec['state']}"
            else:
                out = Claim(rec["id"], _token(tx, rec), dict(rec["executed_args"]), rec["idem_key"], rec["attempts"],
                            _iso(rec["lease_until"]))
    _gate_notify(gate, notes)
    if problem is not None:
        raise StateError(problem)
    return out


def complete(gate: Gate, action_id: str, lease: Any, ok: bool, result: Any, by: Identity,
             now: Optional[datetime] = None) -> Handle:
    """Record what the executor reports for its lease: executed (with `result`) or failed. StateError for a
    lease that is not the draft's current one, or that ran out (the draft was settled as interrupted)."""
    t = _now(gate, now)
    problem: Optional[str] = None
    with gate.store.transaction() as tx:
        rec = _open(gate, tx, action_id, by)
        current = rec["state"] == "executing" and isinstance(lease, str) and lease == _token(tx, rec)
        if current and _settle(gate, tx, rec, t):
            problem = f"the lease of draft `{rec['id']}` ran out: the server settled it as interrupted"
        elif not current:
            problem = f"`{lease}` is not the current lease of draft `{rec['id']}` (it is {rec['state']})" \
                if isinstance(lease, str) else "a lease must be a string"
        attempt = rec["attempts"]
    if problem is not None:
        raise StateError(problem)
    if ok:
        return _gate_finish(gate, (rec["id"], attempt), True, result, None)
    detail = result if isinstance(result, str) and result else "the executor reported a failure"
    return _gate_finish(gate, (rec["id"], attempt), False, None, ReportedFailure(detail))


def settle_leases(gate: Gate, now: Optional[datetime] = None) -> List[Handle]:
    """Settle every execution whose lease ran out and whose tool has no executor in this process (those are
    `Gate.resume`'s): failed, as interrupted. What the service's worker runs on a schedule."""
    t = _now(gate, now)
    out = []
    with gate.store.transaction() as tx:
        for rec in tx.stale_executions(t):
            if rec["tool"] in gate._executors:
                continue
            if _settle(gate, tx, rec, t):
                out.append(_gate_handle(gate, tx, _reread(tx, rec), t))
    return out
