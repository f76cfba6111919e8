"""Proposing: validating an action before anything is stored, idempotency, and the first decision."""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from ..decide.actions import ActionError, check_action
from .channels import Notification
from .errors import GateError, InputError, PermissionDenied, StateError
from .execution import Job, claim, reserve
from .grants import apply_grants
from .handles import Handle
from .identity import IdentityError, canonical_id, same_id
from .patch import PatchError, json_value, same
from . import records
from .records import CLOSED_BY, SYSTEM, Draft, args_hash, create, find_draft, iso, load_draft
from .shadow import record_shadows, shadow_records
from .shared import closing, deadline, decide, now_of, route_specs, runnable
from .store import Identity
from .views import handle, note

if TYPE_CHECKING:
    from .workflow import Gate

__all__ = ["normalise", "propose"]


def _string_id(action: Dict[str, Any], root: str) -> Optional[str]:
    value = (action.get(root) or {}).get("id")
    if value is not None and (not isinstance(value, str) or not value):
        raise InputError(f"`{root}.id` must be a non-empty string")
    return value


def normalise(action: Any, by: Any, idempotency_key: Optional[str]) -> Tuple[Dict[str, Any], str, str, str]:
    """Validate a proposal before anything is stored. Returns (action, tenant, proposer, idempotency key)."""
    try:
        action = json_value(action, "action")
    except PatchError as e:
        raise InputError(e.args[0]) from None
    try:
        check_action(action)
    except ActionError as e:
        raise InputError(e.message) from None
    if "args" in action and not isinstance(action["args"], dict):
        raise InputError("`args` must be an object")
    tenant = _string_id(action, "tenant")
    agent = _string_id(action, "agent")
    if agent is not None:
        try:
            canonical_id(agent, "`agent.id`")
        except IdentityError as e:
            raise InputError(e.message) from None
    if by is not None:
        if not isinstance(by, Identity):
            raise InputError("`by` must be an Identity")
        if agent is not None and not same_id(agent, by.id):
            raise PermissionDenied(f"`{by.id}` cannot propose an action as agent `{agent}`")
        if by.tenant != tenant:
            raise PermissionDenied(f"`{by.id}` cannot propose an action for another tenant")
        agent = by.id
    if agent is None:
        raise InputError("the proposal names no proposer: set `agent.id` or pass `by=`")
    key = idempotency_key if idempotency_key is not None else action.get("id")
    if key is None:
        key = records.new_id("k_")
    if isinstance(key, bool) or not isinstance(key, (str, int)) or key == "":
        raise InputError("an idempotency key (or the action's `id`) must be a non-empty string")
    return action, tenant or "", agent, str(key)


def _guarded(action: Any, by: Any, idempotency_key: Optional[str]) -> Tuple[Dict[str, Any], str, str, str]:
    """The fail-closed guard of proposing: all input validation, and nothing else, runs inside."""
    try:
        out = normalise(action, by, idempotency_key)
        json_value(out[3], "idempotency key")   # text the store and JSON output can hold
        return out
    except GateError:
        raise
    except PatchError as e:
        raise InputError(e.args[0]) from None
    except RecursionError:
        raise InputError("the action is nested too deeply") from None
    except Exception:  # anything unforeseen in a proposal is its input error, never a traceback
        raise InputError("the action is not valid input") from None


def propose(gate: "Gate", action: Any, by: Any, idempotency_key: Optional[str], now_dt: Optional[datetime],
            in_async: bool) -> Tuple[Handle, Optional[Job], List[Notification]]:
    """Decide an action and store what follows, in one transaction: (its handle, the job to run now if it
    may run here, the notifications to send after the commit). A retry with the same idempotency key gets
    the same answer."""
    if gate.policy is None:
        raise StateError("proposing needs the policy: the gate was opened without one")
    action, tenant, proposer, key = _guarded(action, by, idempotency_key)
    now = now_of(gate, now_dt)
    notes: List[Notification] = []
    job = None
    with gate.store.transaction() as tx:
        old = find_draft(tx, tenant, key)
        if old is not None:
            if not same(old.proposed, action):
                raise InputError(f"idempotency key `{key}` was already used for a different action")
            # a retry: same answer, and an approved draft left behind by a crash runs now
            if old.state == "approved" and runnable(gate, old.tool, in_async):
                job = claim(gate, tx, old, now, notes)
            return handle(tx, load_draft(tx, old.id) or old, now), job, notes
        aid = records.new_id("d_")
        args = action.get("args") or {}
        d = decide(gate, tx, action, args, now, aid)
        dd = d.to_dict()
        # candidates decide from the same ledger the live decision read, before anything of it is written
        shadows = shadow_records(gate, tx, action, args, now, aid) if gate.shadow else []
        state, required, routes, closed = "approved", "allow", [], None
        if d.outcome in CLOSED_BY:
            state, closed = CLOSED_BY[d.outcome], closing(d)
        elif d.outcome == "require_approval":
            state, required, routes = "drafted", "require_approval", route_specs(gate, d)
        h = args_hash(action["tool"], args)
        draft = create(tx, Draft(aid, tenant, key, proposer, action["tool"], state, required, action, args, [], None,
                                 h, dd, dd, tuple(routes), deadline(routes, now), closed, gate.policy.digest,
                                 iso(now), now, now))
        digest, at = gate.policy.digest, iso(now)
        tx.append_event(aid, "proposed", proposer, at, digest, {"action": action, "idempotency_key": key,
                                                                "args_hash": h})
        tx.append_event(aid, "decided", SYSTEM, at, digest, {"stage": "proposal", "decision": dd, "state": state})
        record_shadows(tx, aid, at, digest, shadows)
        if draft.state == "drafted":
            granted = apply_grants(gate, tx, draft, now)
            if granted is not None:
                draft = granted
            else:
                notes.append(note("approval_needed", draft))
        elif draft.state == "escalated":
            notes.append(note("escalated", draft))
        if draft.state == "approved" and runnable(gate, draft.tool, in_async):
            # the decision just made is the one the claim would make: same transaction, same ledger
            job = reserve(gate, tx, draft, now)
        return handle(tx, load_draft(tx, aid) or draft, now), job, notes
