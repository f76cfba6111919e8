"""What the gate's step modules share: the clock, identities, deciding again, routes and notifications."""
from __future__ import annotations

import math

import asyncio
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from ..decide.decision import Decision
from .audit import DraftLog, draft_log, required_routes
from .channels import Channel, Notification
from .errors import InputError, NotFound, PermissionDenied, StateError, TamperError
from .identity import IdentityError, canonical_id, role_keys, same_id
from .records import SYSTEM, Draft, Route, iso, load_draft, utc
from .store import Identity, Tx

if TYPE_CHECKING:   # the facade passes itself to the steps; importing it at run time would be a cycle
    from .workflow import Gate

__all__ = ["now_of", "digest", "identity", "runnable", "check_id", "get_draft", "checked_log", "required", "actor_problem",
           "decided_action",
           "decide", "route_specs", "deadline", "closing", "notify"]


def now_of(gate: "Gate", now: Optional[datetime]) -> float:
    """`now`, or the gate's clock, as seconds since the epoch."""
    return utc(now if now is not None else gate.clock()).timestamp()


def digest(gate: "Gate", draft: Optional[Draft] = None) -> str:
    """The policy digest records are written under: the gate's policy, else the draft's."""
    if gate.policy is not None:
        return gate.policy.digest
    return draft.policy_digest if draft is not None else ""


def identity(tx: Tx, by: Any) -> Identity:
    """`by` as an Identity: one given, or a registered id looked up in the store."""
    if isinstance(by, Identity):
        return by
    if isinstance(by, str) and by:
        try:
            canonical_id(by, "`by`")
        except IdentityError as e:
            raise InputError(e.message) from None
        ident = tx.get_identity(by)
        if ident is None:
            raise PermissionDenied(f"unknown identity `{by}`: register it in the store first")
        return ident
    raise InputError("`by` must be an Identity or a registered identity id")


def runnable(gate: "Gate", tool: str, in_async: bool) -> bool:
    """Whether this process can run `tool` now (an async executor needs an event loop it may use)."""
    ex = gate._executors.get(tool)
    if ex is None:
        return False
    if ex.is_async and not in_async:
        try:
            asyncio.get_running_loop()
            return False   # a sync call inside a running loop cannot run a coroutine to completion
        except RuntimeError:
            return True
    return True


def check_id(action_id: Any) -> str:
    """A draft id, or InputError."""
    if not isinstance(action_id, str) or not action_id:
        raise InputError("a draft id must be a non-empty string")
    return action_id


def get_draft(tx: Tx, action_id: Any) -> Draft:
    """The draft with that id; InputError for a malformed id, NotFound when there is none."""
    draft = load_draft(tx, check_id(action_id))
    if draft is None:
        raise NotFound(f"no draft `{action_id}`")
    return draft


def checked_log(tx: Tx, draft: Draft, need: Optional[str] = None) -> DraftLog:
    """The draft as its records make it; TamperError when the row disagrees on what the action is, or (with
    `need`) the records do not put it in that state. Discrepancies go to the `signoff.audit` log."""
    dl = draft_log(tx, draft.to_row())
    dl.report()
    if dl.fatal or (need is not None and dl.state != need):
        why = dl.problems[0] if dl.problems else \
            f"draft `{draft.id}`: it is {draft.state} but its records make it {dl.state}"
        raise TamperError(f"{why}; it will not run (see `signoff audit verify`)")
    return dl


def required(draft: Draft, dl: DraftLog) -> List[Route]:
    """The draft's routes, with every route a logged decision requires added or made as strict as logged."""
    return [Route.from_dict(r) for r in required_routes({"routes": draft.route_dicts()}, dl)]


def actor_problem(draft: Draft, ident: Identity) -> Optional[str]:
    """Why `ident` may not approve, edit or reject `draft` (another tenant, its proposer, none of its routes'
    roles), or None when it may."""
    if (ident.tenant or "") != draft.tenant:
        return f"`{ident.id}` cannot act on drafts of another tenant"
    # canonical ids (NFKC + casefold): `ｂｏｔ` approving `bot`'s action is the same actor, fail closed
    if same_id(ident.id, draft.proposer):
        return f"`{ident.id}` proposed this action and cannot approve, edit or reject it"
    roles = {x for r in draft.routes for x in r.approvers}
    if not role_keys(roles) & role_keys(ident.roles):
        return (f"`{ident.id}` holds none of the roles that approve this draft "
                f"({', '.join(sorted(roles)) or 'none'})")
    return None


def decided_action(proposed: Dict[str, Any], args: Dict[str, Any], t: float) -> Dict[str, Any]:
    """The action as decided: in live use the gate's clock is its time (an agent's own timestamp could
    dodge budget windows)."""
    a = dict(proposed)
    a["args"] = args
    a["timestamp"] = iso(t)
    return a


def decide(gate: "Gate", tx: Tx, proposed: Dict[str, Any], args: Dict[str, Any], t: float,
           action_id: str) -> Decision:
    """Decide the action with the gate's policy against the store's ledger, inside `tx`."""
    if gate.policy is None:
        raise StateError("this needs the policy: the gate was opened without one")
    return gate.policy.decide(decided_action(proposed, args, t), Committed(tx.ledger(action_id)))


class Committed:
    """The store's ledger as a live decision reads it: everything committed since a window's start counts,
    including entries stamped after the window's end.

    Such an entry is a reservation another process (or thread) committed before this transaction took the
    write lock, with a clock read a moment after ours (another server, a skewed clock): it is spent. Leaving
    it out let claims racing on three servers overspend a budget by two actions. Counting it fails closed;
    the ledger itself keeps its (start, end] windows, which replay and the contract tests rely on."""
    __slots__ = ("_ledger", "action_id")

    def __init__(self, ledger: Any):
        self._ledger = ledger
        self.action_id = getattr(ledger, "action_id", None)

    def total(self, key: Any, start: float, end: float) -> float:
        """The amount under `key` committed after `start`, whatever its time."""
        return self._ledger.total(key, start, math.inf)

    def add(self, key: Any, t: float, amount: float) -> None:
        """Count `amount` under `key` at `t` in the store's ledger."""
        self._ledger.add(key, t, amount)


def route_specs(gate: "Gate", d: Decision) -> List[Route]:
    """The routes a require_approval decision names, first mention first, with their timeouts and whether
    grants may stand in. A route the policy does not declare cannot be shown to allow grants: fail closed."""
    declared = gate.policy.graph.route_records if gate.policy is not None else {}
    specs: List[Route] = []
    for r in d.reasons:
        if r.outcome != "require_approval" or r.advisory or r.route is None:
            continue
        if any(s.name == r.route["name"] for s in specs):
            continue
        known = declared.get(r.route["name"])
        specs.append(replace(Route.from_dict(r.route), timeout_seconds=known.timeout_seconds if known else None,
                             grants_never=known.grants_never if known else True))
    if not specs:
        raise StateError("the decision requires approval but names no route")
    return specs


def deadline(routes: List[Route], start: float) -> Optional[float]:
    """The first timeout among the routes, from `start`; None when no route has one."""
    outs = [start + r.timeout_seconds for r in routes if r.timeout_seconds is not None]
    return min(outs) if outs else None


def closing(d: Decision) -> Dict[str, Any]:
    """What a draft closed by a deny, ask or escalate decision keeps: the outcome and its reasons."""
    out: Dict[str, Any] = {"outcome": d.outcome,
                           "reasons": [r.message for r in d.reasons if not r.advisory and r.outcome == d.outcome]}
    if d.outcome == "ask":
        out["ask"] = d.ask
    if d.outcome == "escalate":
        out["escalate_to"] = d.escalate_to
    return out


def notify(gate: "Gate", notes: List[Notification]) -> None:
    """Send after the commit (a notification must never announce a draft that was rolled back); a channel
    that fails is recorded, never fatal: the draft waits in the store either way."""
    if not notes or not gate.channels:
        return
    results: List[Tuple[Notification, Channel, Optional[str]]] = []
    for note in notes:
        for ch in gate.channels:
            try:
                ch.send(note)
                results.append((note, ch, None))
            except Exception as e:  # a broken channel must not break the workflow
                results.append((note, ch, f"{type(e).__name__}: {e}"))
    now = now_of(gate, None)
    with gate.store.transaction() as tx:
        for note, ch, err in results:
            tx.append_event(note.action_id, "notified", SYSTEM, iso(now), digest(gate),
                            {"channel": getattr(ch, "name", type(ch).__name__), "kind": note.kind,
                             "roles": note.roles, "to": note.to, "ok": err is None, "error": err})
