"""The drafts' endpoints of `signoff serve`: the agents' (decide, propose, wait, claim, complete) and the
humans' (list, read, approve, reject, edit), each over the gate's public verbs."""
from __future__ import annotations

import asyncio
import contextlib
import math
import time
from typing import Any, Dict, Tuple

from starlette.requests import Request
from starlette.responses import Response

from engine import Draft, Store

from .auth import Principal
from .errors import Problem
from .service import (JsonResponse, MAX_WAIT, STATES, Service, call_gate, endpoint, field, iso, json_object, only, read_json,
                      same_actor)

__all__ = ["decide", "propose", "wait", "claim", "complete", "list_drafts", "get_draft", "approve", "reject",
           "edit"]


# ---------------------------------------------------------------- the agent's endpoints

def _prepared_action(p: Principal, body: Any) -> Dict[str, Any]:
    """The action with the caller as `agent.id` and the caller's tenant as `tenant.id` (checked, never taken)."""
    action = json_object(body)
    agent = action.get("agent", {})
    if not isinstance(agent, dict):
        raise Problem("invalid_action", "`$.agent` must be an object")
    if "id" in agent and not (isinstance(agent["id"], str) and same_actor(agent["id"], p.id)):
        raise Problem("forbidden", f"`{p.id}` cannot act as agent `{agent['id']}`: leave `agent.id` out or "
                      "set it to yourself")
    tenant = action.get("tenant", {})
    if not isinstance(tenant, dict):
        raise Problem("invalid_action", "`$.tenant` must be an object")
    if "id" in tenant and tenant["id"] != p.tenant:
        raise Problem("forbidden", f"`{p.id}` cannot act for tenant `{tenant['id']}`")
    action = dict(action)
    action["agent"] = dict(agent, id=p.id)
    if p.tenant is not None:
        action["tenant"] = dict(tenant, id=p.tenant)
    elif "tenant" in action and not tenant:
        del action["tenant"]
    return action


class _ReadLedger:
    """The budget ledger for `/v1/decide`: read-only, in one snapshot opened on the first budget read (a tool
    with no budget line costs no transaction at all)."""

    def __init__(self, store: Store, stack: contextlib.ExitStack):
        self.store = store
        self.stack = stack
        self.ledger: Any = None

    def total(self, key: Any, start: float, end: float) -> float:
        """The amount counted under `key` in (start, end], as the store holds it now."""
        if self.ledger is None:
            self.ledger = self.stack.enter_context(self.store.snapshot()).ledger()
        return self.ledger.total(key, start, end)

    def add(self, key: Any, t: float, amount: float) -> None:
        """Never called: deciding counts nothing."""
        raise AssertionError("/v1/decide never counts an action in a budget")


@endpoint
async def decide(svc: Service, request: Request) -> Response:
    """POST /v1/decide: the decision for an action; nothing stored, no budget used."""
    p = svc.principal(request)
    svc.need_kind(p, "agent")
    action = _prepared_action(p, await read_json(request))
    action["timestamp"] = iso(time.time())   # the server's clock, as in live use
    policy = svc.holder.policy
    with contextlib.ExitStack() as stack:
        d = policy.decide(action, _ReadLedger(svc.auth.store, stack))
    svc.metrics.decision(d.outcome, "decide")
    return JsonResponse(d.to_dict())


@endpoint
async def propose(svc: Service, request: Request) -> Response:
    """POST /v1/proposals: decide and record; drafts what waits for humans."""
    p = svc.principal(request)
    svc.need_kind(p, "agent")
    action = _prepared_action(p, await read_json(request))
    header = request.headers.get("idempotency-key")
    if header is not None and (not header or len(header) > 200):
        raise Problem("invalid_body", "`Idempotency-Key` must be 1 to 200 characters")
    raw = header if header is not None else action.get("id")
    if raw is not None and (isinstance(raw, bool) or not isinstance(raw, (str, int)) or raw == ""):
        raise Problem("invalid_action", "`$.id` must be a non-empty string")
    # keys are the agent's own: the same key from another agent is another draft
    key = None if raw is None else f"{p.identity.key}/{raw}"
    existed = False
    if key is not None:
        with svc.reads() as tx:
            existed = tx.find_action(p.tenant or "", key) is not None
    h = await call_gate(svc.gate.propose, action, by=p.identity, idempotency_key=key)
    decision = h.decision   # a new draft's decision is its last one
    if existed:
        with svc.reads() as tx:
            decision = tx.get_action(h.id)["decision"]   # a retry answers with the proposal's decision
    else:
        svc.metrics.decision(decision["outcome"], "proposal")
    return JsonResponse({"id": h.id, "state": h.state, "hash": h.args_hash, "decision": decision},
                        status_code=200 if existed else 201, headers={"Location": f"/v1/drafts/{h.id}"})


@endpoint
async def wait(svc: Service, request: Request) -> Response:
    """GET /v1/drafts/{id}/wait?timeout=S: long-poll until the draft leaves `drafted` (S at most 60)."""
    p = svc.principal(request)
    svc.need_kind(p, "agent")
    raw = request.query_params.get("timeout", "30")
    try:
        timeout = float(raw)
    except ValueError:
        timeout = float("nan")
    if not math.isfinite(timeout) or timeout < 0 or timeout > MAX_WAIT:
        raise Problem("invalid_body", f"`timeout` must be a number of seconds from 0 to {int(MAX_WAIT)}")
    draft_id = request.path_params["id"]
    deadline = time.monotonic() + timeout
    while True:
        with svc.reads() as tx:
            draft = svc.draft_record(tx, p, draft_id)
            if draft.state != "drafted" or time.monotonic() >= deadline or svc.shutting_down:
                return JsonResponse(svc.full(tx, draft))
        await asyncio.sleep(min(0.1, max(0.0, deadline - time.monotonic())))


@endpoint
async def claim(svc: Service, request: Request) -> Response:
    """POST /v1/drafts/{id}/claim: the proposer takes an approved draft for a lease."""
    p = svc.principal(request)
    svc.need_kind(p, "agent")
    body = await read_json(request, empty={})
    only(json_object(body), ())
    draft_id = request.path_params["id"]
    with svc.reads() as tx:
        svc.draft_record(tx, p, draft_id)
    c = await call_gate(svc.gate.claim, draft_id, p.identity)
    return JsonResponse({"lease": c.lease, "args": c.args, "idempotency_key": c.idempotency_key,
                         "attempt": c.attempt, "lease_until": c.lease_until})


@endpoint
async def complete(svc: Service, request: Request) -> Response:
    """POST /v1/drafts/{id}/complete: what the executor did with its lease."""
    p = svc.principal(request)
    svc.need_kind(p, "agent")
    body = json_object(await read_json(request))
    only(body, ("lease", "ok", "result"))
    lease = field(body, "lease", str)
    ok = field(body, "ok", bool)
    draft_id = request.path_params["id"]
    with svc.reads() as tx:
        svc.draft_record(tx, p, draft_id)
    try:
        await call_gate(svc.gate.complete, draft_id, lease, ok, body.get("result"), p.identity)
    except Problem as e:
        if e.code == "state_conflict":
            raise Problem("lease_conflict", e.detail) from None
        raise
    return JsonResponse(svc.read_draft(p, draft_id))


# ---------------------------------------------------------------- the humans' endpoints

@endpoint
async def list_drafts(svc: Service, request: Request) -> Response:
    """GET /v1/drafts?state=STATE: the tenant's drafts the caller may act on (all of them for `auditor`)."""
    p = svc.principal(request)
    svc.need_kind(p, "human")
    state = request.query_params.get("state", "drafted")
    if state not in STATES:
        raise Problem("invalid_body", f"`state` must be one of {', '.join(STATES)}")
    drafts = svc.visible_drafts(p, state)
    return JsonResponse({"drafts": [svc.summary(d) for d in drafts]})


@endpoint
async def get_draft(svc: Service, request: Request) -> Response:
    """GET /v1/drafts/{id}: the draft, its arguments, approvals and events."""
    p = svc.principal(request)
    return JsonResponse(svc.read_draft(p, request.path_params["id"]))


async def _human_body(svc: Service, request: Request, fields: Tuple[str, ...]) -> Tuple[Principal, Dict[str, Any]]:
    p = svc.principal(request)
    svc.need_kind(p, "human")
    body = json_object(await read_json(request))
    only(body, fields)
    field(body, "hash", str)
    field(body, "comment", str, required=False)
    return p, body


def _observe_approval(svc: Service, before: Draft, after: Dict[str, Any]) -> None:
    if before.state == "drafted" and after["state"] != "drafted":
        svc.metrics.closed(before, after["state"])


@endpoint
async def approve(svc: Service, request: Request) -> Response:
    """POST /v1/drafts/{id}/approve: approve the draft's current arguments (bound to `hash`)."""
    p, body = await _human_body(svc, request, ("hash", "comment"))
    before = svc.check(p, request.path_params["id"], body["hash"])
    await call_gate(svc.gate.approve, before.id, p.identity, comment=body.get("comment"),
                    expected_hash=body["hash"])
    out = svc.read_draft(p, before.id)
    _observe_approval(svc, before, out)
    return JsonResponse(out)


@endpoint
async def reject(svc: Service, request: Request) -> Response:
    """POST /v1/drafts/{id}/reject: close the draft, with a comment."""
    p, body = await _human_body(svc, request, ("hash", "comment"))
    before = svc.check(p, request.path_params["id"], body["hash"])
    comment = body.get("comment") or f"rejected by {p.id}"
    # Gate.reject takes no hash: svc.check compared it, and the gate's own transaction re-reads the draft
    await call_gate(svc.gate.reject, before.id, p.identity, comment)
    out = svc.read_draft(p, before.id)
    _observe_approval(svc, before, out)
    return JsonResponse(out)


@endpoint
async def edit(svc: Service, request: Request) -> Response:
    """POST /v1/drafts/{id}/edit: change the arguments (JSON Patch list or merge-patch object); decided again."""
    p, body = await _human_body(svc, request, ("hash", "patch", "comment"))
    if "patch" not in body or not isinstance(body["patch"], (list, dict)):
        raise Problem("invalid_body", "`$.patch` must be a json patch (list) or a merge patch (object)")
    before = svc.check(p, request.path_params["id"], body["hash"])
    await call_gate(svc.gate.edit, before.id, p.identity, body["patch"], comment=body.get("comment"),
                    expected_hash=body["hash"])
    out = svc.read_draft(p, before.id)
    _observe_approval(svc, before, out)
    return JsonResponse(out)
