"""Execution by an executor outside the gate's process (an agent over HTTP): claim for a lease, then complete.

The same steps as `Gate.execute`, split in two: the claim decides the draft again with the current policy and
counts it in the budget (approved → executing, with a lease: `execution.claim`), the completion records the
result (executing → executed | failed: `execution.finish`). A lease that runs out is settled as an interrupted
execution, exactly as `Gate.resume` settles a non-idempotent tool whose process died: nobody can know whether
the executor acted. `Gate.claim`, `Gate.complete` and `Gate.settle_leases` are the public verbs.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Dict, List, Optional

from .channels import Notification
from .errors import NotFound, PermissionDenied, StateError
from .execution import claim as decide_and_reserve
from .execution import finish
from .handles import Handle
from .identity import same_id
from .records import SYSTEM, Draft, iso, load_draft, stale_executions, transition
from .shared import check_id, digest, get_draft, identity, notify, now_of
from .store import Tx
from .views import handle

if TYPE_CHECKING:
    from .workflow import Gate

__all__ = ["INTERRUPTED", "Claim", "ReportedFailure", "claim", "complete", "settle_leases", "settle", "claim_draft",
           "complete_draft"]

INTERRUPTED = ("execution was interrupted and may or may not have taken effect: its lease ran out before the "
               "executor reported back")


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


def _token(tx: Tx, draft: Draft) -> str:
    # bound to the attempt's `executing` record, whose hash nobody can predict before the claim
    ev = [e for e in tx.events(draft.id) if e["kind"] == "executing"]
    basis = f"{draft.id}\n{draft.attempts}\n{ev[-1]['hash'] if ev else ''}"
    return f"lease_{draft.attempts}_" + hashlib.sha256(basis.encode()).hexdigest()[:32]


def _open(tx: Tx, action_id: Any, by: Any) -> Draft:
    """The draft, for its proposer only; another tenant's draft is one that does not exist."""
    ident = identity(tx, by)
    draft = load_draft(tx, check_id(action_id))
    if draft is None or (ident.tenant or "") != draft.tenant:
        raise NotFound(f"no draft `{action_id}`")
    if not same_id(ident.id, draft.proposer):
        raise PermissionDenied(f"`{ident.id}` did not propose draft `{draft.id}`: only its proposer executes it")
    return draft


def settle(gate: "Gate", tx: Tx, draft: Draft, now: float) -> Optional[Draft]:
    """Executing with its lease over → failed (interrupted), recorded; the draft as stored now, or None when
    its lease still runs (or it is not executing)."""
    if draft.state != "executing" or draft.lease_until is None or draft.lease_until > now:
        return None
    after = transition(tx, draft, "failed", error=INTERRUPTED, lease_until=None, updated_at=now,
                       closing={"interrupted": True})
    tx.append_event(draft.id, "failed", SYSTEM, iso(now), digest(gate, draft),
                    {"attempt": draft.attempts, "error": INTERRUPTED, "interrupted": True})
    return after


def claim(gate: "Gate", action_id: Any, by: Any, now: Optional[datetime] = None) -> Claim:
    """`Gate.claim`: an approved draft, for its proposer, decided once more (the stricter decision stands),
    counted in the budgets and leased for `gate.lease`. StateError when it is not approved (a live lease
    included), or when deciding again sent it back to waiting or closed it (that change is kept)."""
    t = now_of(gate, now)
    notes: List[Notification] = []
    problem: Optional[str] = None
    out: Optional[Claim] = None
    with gate.store.transaction() as tx:
        draft = _open(tx, action_id, by)
        draft = settle(gate, tx, draft, t) or draft
        if draft.state == "executing":
            until = iso(draft.lease_until) if draft.lease_until is not None else "its process reports back"
            problem = f"draft `{draft.id}` is already claimed (lease until {until})"
        elif draft.state != "approved":
            problem = f"draft `{draft.id}` is {draft.state}, not approved"
        else:
            job = decide_and_reserve(gate, tx, draft, t, notes)
            draft = get_draft(tx, draft.id)
            if job is None or draft.lease_until is None:
                problem = f"draft `{draft.id}` was decided again and is now {draft.state}"
            else:
                out = Claim(draft.id, _token(tx, draft), dict(draft.executed_args or {}), draft.idem_key,
                            draft.attempts, iso(draft.lease_until))
    notify(gate, notes)   # after the commit: what deciding again changed is kept, and announced
    if out is None:
        raise StateError(problem or f"draft `{action_id}` cannot be claimed")
    return out


def complete(gate: "Gate", action_id: Any, lease: Any, ok: bool, result: Any, by: Any,
             now: Optional[datetime] = None) -> Handle:
    """`Gate.complete`: record what the executor reports for its lease, executed (with `result`) or failed
    (`result` is then its words). StateError for a lease that is not the draft's current one, or that ran out
    (the draft is then settled as interrupted)."""
    t = now_of(gate, now)
    problem: Optional[str] = None
    with gate.store.transaction() as tx:
        draft = _open(tx, action_id, by)
        current = draft.state == "executing" and isinstance(lease, str) and lease == _token(tx, draft)
        if current and settle(gate, tx, draft, t) is not None:
            problem = f"the lease of draft `{draft.id}` ran out: it was settled as interrupted"
        elif not current:
            problem = f"`{lease}` is not the current lease of draft `{draft.id}` (it is {draft.state})" \
                if isinstance(lease, str) else "a lease must be a string"
    if problem is not None:
        raise StateError(problem)
    job = (draft.id, draft.attempts)
    if ok:
        return finish(gate, job, True, result, None)
    detail = result if isinstance(result, str) and result else "the executor reported a failure"
    return finish(gate, job, False, None, ReportedFailure(detail))


def settle_leases(gate: "Gate", now: Optional[datetime] = None) -> List[Handle]:
    """`Gate.settle_leases` (and `engine.settle_leases(gate, now)`): every execution whose lease ran out and whose tool has no executor in this process
    (those are `Gate.resume`'s) becomes failed, as interrupted. What the service's worker runs on a schedule."""
    t = now_of(gate, now)
    out = []
    with gate.store.transaction() as tx:
        for draft in stale_executions(tx, t):
            if draft.tool in gate._executors:   # this process's own: `Gate.resume` judges them
                continue
            after = settle(gate, tx, draft, t)
            if after is not None:
                out.append(handle(tx, after, t))
    return out


# ---------------------------------------------------------------- the names `engine` exported before the verbs

def claim_draft(gate: "Gate", action_id: str, by: Any, now: Optional[datetime] = None) -> Claim:
    """`gate.claim(action_id, by, now)`."""
    return gate.claim(action_id, by, now)


def complete_draft(gate: "Gate", action_id: str, lease: str, ok: bool, result: Any, by: Any,
                   now: Optional[datetime] = None) -> Handle:
    """`gate.complete(action_id, lease, ok, result, by, now)`."""
    return gate.complete(action_id, lease, ok, result, by, now)
