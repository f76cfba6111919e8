"""Human acts on drafts (approve, edit, reject) and timeouts (expire, escalate), each in one transaction."""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple

from ..decide.actions import ActionError, check_action
from ..decide.decision import RANK
from .channels import Notification
from .errors import InputError, PermissionDenied, StateError
from .handles import Handle
from .identity import same_id
from .patch import PatchError, apply_patch, json_value, make_patch, merge_patch, same
from .records import (CLOSED_BY, SYSTEM, Approval, Draft, add_approval, approvals_of, args_hash, as_approvals,
                      due_drafts, iso, route_progress, transition, update)
from .shared import (actor_problem, checked_log, closing, deadline, decide, decided_action, digest, get_draft,
                     identity, notify, now_of, required, route_specs)
from .store import Identity, Tx
from .views import handle, note

if TYPE_CHECKING:
    from .workflow import Gate

__all__ = ["approve", "edit", "reject", "expire", "expire_due", "check_comment"]

# one act inside the shared preamble: (tx, the open draft, who acts, now, notes) -> the draft after it
Step = Callable[[Tx, Draft, Identity, float, List[Notification]], Draft]


def check_comment(comment: Any) -> Optional[str]:
    """A comment (None or text), or InputError."""
    if comment is not None and not isinstance(comment, str):
        raise InputError("a comment must be a string")
    return comment


def _open_draft(gate: "Gate", tx: Tx, action_id: Any, by: Any, now: float, states: Tuple[str, ...],
                expected_hash: Optional[str], notes: List[Notification]) -> Tuple[Draft, Identity, bool]:
    """Load a draft for a human act. Returns (draft, identity, expired_now): an overdue draft is expired
    first, in the same transaction, so a late approval never slips in before the timeout runs."""
    draft = get_draft(tx, action_id)
    ident = identity(tx, by)
    if (ident.tenant or "") != draft.tenant:
        raise PermissionDenied(f"`{ident.id}` cannot act on drafts of another tenant")
    if draft.state == "drafted" and draft.deadline is not None and draft.deadline <= now:
        return expire(gate, tx, draft, now, notes), ident, True
    if draft.state not in states:
        raise StateError(f"draft `{draft.id}` is {draft.state}, not waiting for approval")
    if draft.required != "require_approval":
        raise StateError(f"draft `{draft.id}` was allowed by the policy; there is nothing to approve")
    problem = actor_problem(draft, ident)
    if problem is not None:
        raise PermissionDenied(problem)
    if expected_hash is not None and expected_hash != draft.args_hash:
        raise StateError(f"draft `{draft.id}` changed since it was viewed (now {draft.args_hash})")
    return draft, ident, False


def _human_act(gate: "Gate", action_id: Any, by: Any, t: float, states: Tuple[str, ...],
               expected_hash: Optional[str], step: Step, late: Callable[[Draft], str]) -> Handle:
    """The preamble every human act shares: one transaction that opens the draft (expiring it when overdue),
    runs `step`, and reads the handle; notifications after the commit; StateError(`late(draft)`) when the
    draft expired before the act."""
    notes: List[Notification] = []
    with gate.store.transaction() as tx:
        draft, ident, expired = _open_draft(gate, tx, action_id, by, t, states, expected_hash, notes)
        if not expired:
            draft = step(tx, draft, ident, t, notes)
        h = handle(tx, draft, t)   # every step returns the draft as stored now
    notify(gate, notes)
    if expired:
        raise StateError(late(draft))
    return h


def approve(gate: "Gate", action_id: Any, by: Any, edits: Any, comment: Any, expected_hash: Optional[str],
            now: Optional[datetime]) -> Handle:
    """`Gate.approve` up to execution: edit first when `edits` are given, then record the approval and move
    the draft to approved once every route's quorum is met."""
    comment = check_comment(comment)
    t = now_of(gate, now)

    def step(tx: Tx, draft: Draft, ident: Identity, t: float, notes: List[Notification]) -> Draft:
        if edits is not None:
            draft = _edit(gate, tx, draft, ident, edits, comment, t, notes)
        if draft.state != "drafted":
            return draft
        dl = checked_log(tx, draft, "drafted")
        new = Approval(draft.id, ident.id, tuple(sorted(ident.roles)), draft.args_hash, t, t + gate.approval_ttl,
                       None, comment)

        def hers(a: Approval) -> bool:
            return same_id(a.approver, ident.id) and a.args_hash == draft.args_hash
        counted = as_approvals(dl.approvals)
        # a row of hers the log does not justify (forged) must not block her real approval
        forged = any(hers(a) for a in approvals_of(tx, draft.id)) and not any(hers(a) for a in counted)
        if not add_approval(tx, new, replace=forged):
            return draft
        # what counts: the approvals the log justifies, this one in place of a lapsed one of hers
        ok, _ = route_progress(required(draft, dl), [a for a in counted if not hers(a)] + [new], draft.args_hash, t)
        tx.append_event(draft.id, "approved", ident.id, iso(t), digest(gate, draft),
                        {"args_hash": draft.args_hash, "comment": comment, "roles": sorted(ident.roles),
                         "expires_at": iso(t + gate.approval_ttl), "state": "approved" if ok else "drafted"})
        return transition(tx, draft, "approved", updated_at=t) if ok else draft

    return _human_act(gate, action_id, by, t, ("drafted",), expected_hash, step,
                      lambda d: f"draft `{d.id}` expired at {iso(d.deadline or 0)} before this approval")


def edit(gate: "Gate", action_id: Any, by: Any, edits: Any, comment: Any, expected_hash: Optional[str],
         now: Optional[datetime]) -> Handle:
    """`Gate.edit`: change the arguments without approving; the edit is decided again, the stricter stands."""
    if edits is None:
        raise InputError("an edit needs `edits`: an object (merge patch) or a list (JSON Patch)")
    t = now_of(gate, now)
    comment = check_comment(comment)

    def step(tx: Tx, draft: Draft, ident: Identity, t: float, notes: List[Notification]) -> Draft:
        return _edit(gate, tx, draft, ident, edits, comment, t, notes)

    return _human_act(gate, action_id, by, t, ("drafted",), expected_hash, step,
                      lambda d: f"draft `{d.id}` expired before this edit")


def _edited_args(draft: Draft, edits: Any, t: float) -> Dict[str, Any]:
    try:
        if isinstance(edits, dict):
            new_args = merge_patch(draft.args, json_value(edits, "edits"))
        elif isinstance(edits, list):
            new_args = apply_patch(draft.args, edits)
        else:
            raise InputError("edits must be an object (merge patch) or a list (JSON Patch)")
        new_args = json_value(new_args, "args")
    except PatchError as e:
        raise InputError(f"cannot apply the edits: {e.args[0]}") from None
    if not isinstance(new_args, dict):
        raise InputError("the edited arguments must be an object")
    try:
        check_action(decided_action(draft.proposed, new_args, t))
    except ActionError as e:
        raise InputError(f"the edited action is not valid: {e.message}") from None
    return new_args


def _edit(gate: "Gate", tx: Tx, draft: Draft, ident: Identity, edits: Any, comment: Optional[str], t: float,
          notes: List[Notification]) -> Draft:
    if gate.policy is None:
        raise StateError("editing needs the policy: the edited action must be decided again")
    new_args = _edited_args(draft, edits, t)
    if same(new_args, draft.args):
        return draft
    d = decide(gate, tx, draft.proposed, new_args, t, draft.id)
    dd = d.to_dict()
    new_hash = args_hash(draft.tool, new_args)
    at = iso(t)
    tx.append_event(draft.id, "edited", ident.id, at, digest(gate, draft),
                    {"patch": make_patch(draft.args, new_args), "from_hash": draft.args_hash,
                     "args_hash": new_hash, "comment": comment})
    fields: Dict[str, Any] = {"args": new_args, "patch": make_patch(draft.proposed.get("args") or {}, new_args),
                              "args_hash": new_hash, "last_decision": dd, "updated_at": t}
    state = draft.state
    if RANK[d.outcome] > RANK["require_approval"]:
        # the edit made the decision stricter: it stands and the draft closes with it
        state = CLOSED_BY[d.outcome]
        after = transition(tx, draft, state, closing=dict(closing(d), by_edit=ident.id), **fields)
    else:
        added = [s for s in route_specs(gate, d) if all(s.name != r.name for r in draft.routes)] \
            if d.outcome == "require_approval" else []
        if added:
            # both decisions stand: the draft now needs the new routes' approvers as well
            routes = list(draft.routes) + added
            fields.update(routes=routes, deadline=deadline(routes, draft.created_at))
        after = update(tx, draft, **fields)
    tx.append_event(draft.id, "decided", SYSTEM, at, digest(gate, draft),
                    {"stage": "edit", "decision": dd, "state": state})
    if state == "escalated":
        notes.append(note("escalated", after))
    elif "routes" in fields:
        notes.append(note("approval_needed", after))
    return after


def reject(gate: "Gate", action_id: Any, by: Any, reason: Any, now: Optional[datetime]) -> Handle:
    """`Gate.reject`: close a draft (waiting, or approved but not yet executing) with the reason given."""
    if not isinstance(reason, str) or not reason.strip():
        raise InputError("a rejection needs a reason")
    t = now_of(gate, now)

    def step(tx: Tx, draft: Draft, ident: Identity, t: float, notes: List[Notification]) -> Draft:
        after = transition(tx, draft, "rejected", updated_at=t,
                           closing={"outcome": "rejected", "by": ident.id, "reason": reason, "at": iso(t)})
        tx.append_event(draft.id, "rejected", ident.id, iso(t), digest(gate, draft),
                        {"reason": reason, "args_hash": draft.args_hash})
        return after

    return _human_act(gate, action_id, by, t, ("drafted", "approved"), None, step,
                      lambda d: f"draft `{d.id}` expired before this rejection")


# ---------------------------------------------------------------- timeouts

def expire(gate: "Gate", tx: Tx, draft: Draft, now: float, notes: List[Notification]) -> Draft:
    """Close an overdue draft: `expired`, or `escalated` when its first timing-out route says so."""
    due = [r for r in draft.routes if r.timeout_seconds is not None]
    first = min(due, key=lambda r: r.timeout_seconds or 0.0)
    at = iso(now)
    target = first.escalate_to
    tx.append_event(draft.id, "expired", SYSTEM, at, digest(gate, draft),
                    {"route": first.name, "timeout": first.timeout, "deadline": iso(draft.deadline or 0)})
    why = f"nobody approved within {first.timeout}"
    if not target:
        return transition(tx, draft, "expired", updated_at=now,
                          closing={"outcome": "expired", "timeout": first.name, "reason": why})
    after = transition(tx, draft, "escalated", updated_at=now,
                       closing={"outcome": "escalate", "escalate_to": target, "timeout": first.name, "reason": why})
    tx.append_event(draft.id, "escalated", SYSTEM, at, digest(gate, draft), {"to": target, "route": first.name})
    notes.append(note("escalated", after))
    return after


def expire_due(gate: "Gate", now: Optional[datetime]) -> List[Handle]:
    """`Gate.expire_due`: expire every draft past its route's timeout, in one transaction."""
    t = now_of(gate, now)
    notes: List[Notification] = []
    with gate.store.transaction() as tx:
        due = [expire(gate, tx, d, t, notes) for d in due_drafts(tx, t)]
        out = [handle(tx, d, t) for d in due]
    notify(gate, notes)
    return out
