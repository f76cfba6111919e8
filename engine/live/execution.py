"""Exactly-once execution: the claim (decide again, reserve the budget, lease), running the executor,
recording what it did, and resuming after a restart."""
from __future__ import annotations

import asyncio
import inspect
from datetime import datetime
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from .channels import Notification
from .errors import StateError, TamperError
from .handles import _CURRENT, ExecutionContext, Executor, Handle
from .patch import PatchError, json_value
from .records import (CLOSED_BY, SYSTEM, Draft, iso, list_drafts, load_draft, route_progress, stale_executions,
                      transition, update)
from .shared import (checked_log, closing, deadline, decide, decided_action, digest, get_draft, notify, now_of,
                     required, route_specs, runnable)
from .store import Tx
from .views import handle, note

if TYPE_CHECKING:
    from .workflow import Gate

__all__ = ["Job", "reserve", "claim", "claim_for_execution", "run", "arun", "finish", "resume"]

Job = Tuple[str, int]   # (draft id, attempt): an execution this process has claimed and must run


def reserve(gate: "Gate", tx: Tx, draft: Draft, now: float) -> Job:
    """Approved → executing (or executing → executing, a re-run): count the action in the budget ledger in
    the same transaction that decided it, and take the lease."""
    if not tx.ledger_has(draft.id):
        if gate.policy is None:
            raise StateError("executing needs the policy: the gate was opened without one")
        gate.policy.record(decided_action(draft.proposed, draft.args, now), tx.ledger(draft.id))
    attempt = draft.attempts + 1
    transition(tx, draft, "executing", attempts=attempt, lease_until=now + gate.lease, executed_args=draft.args,
               updated_at=now)
    tx.append_event(draft.id, "executing", SYSTEM, iso(now), digest(gate, draft),
                    {"attempt": attempt, "args_hash": draft.args_hash, "args": draft.args})
    return draft.id, attempt


def claim(gate: "Gate", tx: Tx, draft: Draft, now: float, notes: List[Notification]) -> Optional[Job]:
    """Decide an approved draft again with the current policy and ledger; the stricter decision stands.
    Returns the job to run, or None when the draft went back to waiting or closed."""
    if draft.state != "approved":
        return None
    at = iso(now)
    dl = checked_log(tx, draft, "approved")
    approvals = dl.approvals   # only what the audit log justifies counts (spec §6, v1.1)
    if draft.required == "require_approval" or dl.routes:
        ok, _ = route_progress(required(draft, dl), approvals, draft.args_hash, now)
        if not ok:
            after = transition(tx, draft, "drafted", updated_at=now)
            tx.append_event(draft.id, "expired", SYSTEM, at, digest(gate, draft),
                            {"reason": "approvals lapsed before execution", "state": "drafted"})
            notes.append(note("approval_needed", after))
            return None
    d = decide(gate, tx, draft.proposed, draft.args, now, draft.id)
    dd = d.to_dict()
    fields: Dict[str, Any] = {"last_decision": dd, "updated_at": now}
    state = "approved"
    if d.outcome in CLOSED_BY:
        state = CLOSED_BY[d.outcome]
        fields.update(closing=closing(d))
    elif d.outcome == "require_approval":
        routes = required(draft, dl)
        routes.extend(s for s in route_specs(gate, d) if all(s.name != r.name for r in routes))
        ok, _ = route_progress(routes, approvals, draft.args_hash, now)
        if not ok:
            # the current policy wants approvals this draft does not have: it waits for them
            state = "drafted"
            fields.update(routes=routes, required="require_approval", deadline=deadline(routes, now))
    after = update(tx, draft, **fields) if state == "approved" else transition(tx, draft, state, **fields)
    tx.append_event(draft.id, "decided", SYSTEM, at, digest(gate, draft),
                    {"stage": "execution", "decision": dd, "state": state})
    if state == "escalated":
        notes.append(note("escalated", after))
    if state == "drafted":
        notes.append(note("approval_needed", after))
    if state != "approved":
        return None
    return reserve(gate, tx, after, now)


def claim_for_execution(gate: "Gate", action_id: Any, now: Optional[datetime], is_async: bool
                        ) -> Tuple[Optional[Job], Handle]:
    """The claim both `execute` and `aexecute` make: (job to run or None, the draft's handle)."""
    t = now_of(gate, now)
    notes: List[Notification] = []
    with gate.store.transaction() as tx:
        draft = get_draft(tx, action_id)
        job = claim(gate, tx, draft, t, notes) if runnable(gate, draft.tool, is_async) else None
        h = handle(tx, load_draft(tx, draft.id) or draft, t)
    notify(gate, notes)
    return job, h


def _context(gate: "Gate", job: Job) -> Tuple[Executor, Dict[str, Any], ExecutionContext]:
    with gate.store.snapshot() as tx:
        draft = get_draft(tx, job[0])
    args = draft.executed_args or {}
    ex = gate._executors[draft.tool]
    ctx = ExecutionContext(draft.id, draft.idem_key, job[1], draft.tool,
                           decided_action(draft.proposed, args, draft.updated_at))
    return ex, dict(args), ctx


def run(gate: "Gate", job: Job) -> Handle:
    """Run a claimed job's executor here and record what it did (a failure is recorded, never retried blindly)."""
    ex, args, ctx = _context(gate, job)
    token = _CURRENT.set(ctx)
    try:
        value = ex.fn(args, ctx)
        if inspect.isawaitable(value):
            value = asyncio.run(_await(value))
    except Exception as e:  # the tool failed: recorded as failed, never retried blindly
        return finish(gate, job, False, None, e)
    finally:
        _CURRENT.reset(token)
    return finish(gate, job, True, value, None)


async def arun(gate: "Gate", job: Job) -> Handle:
    """`run` for an event loop: an async executor is awaited in it."""
    ex, args, ctx = _context(gate, job)
    token = _CURRENT.set(ctx)
    try:
        value = ex.fn(args, ctx)
        if inspect.isawaitable(value):
            value = await value
    except Exception as e:
        return finish(gate, job, False, None, e)
    finally:
        _CURRENT.reset(token)
    return finish(gate, job, True, value, None)


async def _await(value: Any) -> Any:
    return await value


def finish(gate: "Gate", job: Job, ok: bool, value: Any, exc: Optional[BaseException]) -> Handle:
    """Record what a claimed job did (executing → executed | failed); an attempt another one superseded, or
    an execution already settled as interrupted that failed after all, is recorded without a change of state."""
    aid, attempt = job
    t = now_of(gate, None)
    stored: Optional[Dict[str, Any]]
    try:
        stored = {"value": json_value(value, "result")} if ok else None
    except PatchError:
        stored = {"repr": repr(value)[:2000]}
    error = None if ok else f"{type(exc).__name__}: {exc}"
    with gate.store.transaction() as tx:
        draft = get_draft(tx, aid)
        current = draft.attempts == attempt
        interrupted = draft.state == "failed" and (draft.closing or {}).get("interrupted")
        payload: Dict[str, Any] = {"attempt": attempt, "args_hash": draft.args_hash}
        if ok:
            payload["result"] = stored
        else:
            payload["error"] = error
        after = draft
        if current and (draft.state == "executing" or (interrupted and ok)):
            after = transition(tx, draft, "executed" if ok else "failed", result=stored, error=error,
                               lease_until=None, updated_at=t, closing=None if ok else draft.closing)
        else:
            # another attempt owns the record now; what this one did is still recorded
            payload["superseded"] = True
        tx.append_event(aid, "executed" if ok else "failed", SYSTEM, iso(t), digest(gate, draft), payload)
        h = handle(tx, after, t)
    if ok:
        h.result = value
    else:
        h.exception = exc
    return h


def resume(gate: "Gate", now: Optional[datetime]) -> List[Handle]:
    """`Gate.resume`: run approved drafts this process has executors for, and settle executions whose process
    died (lease over): idempotent tools run again with the same key, others are marked failed."""
    t = now_of(gate, now)
    out: List[Handle] = []
    with gate.store.snapshot() as tx:
        approved = [d.id for d in list_drafts(tx, ("approved",)) if runnable(gate, d.tool, False)]
    for aid in approved:
        try:
            job, h = claim_for_execution(gate, aid, now, False)
            out.append(run(gate, job) if job is not None else h)
        except TamperError:
            continue   # reported to the `signoff.audit` logger; the other drafts still run
    jobs = []
    with gate.store.transaction() as tx:
        for draft in stale_executions(tx, t):
            ex = gate._executors.get(draft.tool)
            if ex is None:
                continue   # not ours to judge: a process with this executor settles it
            try:
                checked_log(tx, draft, "executing")
            except TamperError:
                continue   # an execution the log does not show is neither re-run nor settled
            if ex.idempotent and runnable(gate, draft.tool, False):
                jobs.append(reserve(gate, tx, draft, t))
            else:
                err = "execution was interrupted and may or may not have taken effect; not retried " \
                      "because the tool is not idempotent"
                after = transition(tx, draft, "failed", error=err, lease_until=None, updated_at=t,
                                   closing={"interrupted": True})
                tx.append_event(draft.id, "failed", SYSTEM, iso(t), digest(gate, draft),
                                {"attempt": draft.attempts, "error": err, "interrupted": True})
                out.append(handle(tx, after, t))
    for job in jobs:
        out.append(run(gate, job))
    return out
