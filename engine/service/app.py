"""The HTTP API of `signoff serve` (../shared/spec/HTTP.md) over the live workflow, as a Starlette app."""
from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import math
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from engine import (OUTCOMES, GateError, Gate, InputError, NotFound, PermissionDenied, Policy, SQLiteStore,
                    StateError, TamperError, claim_draft, complete_draft, draft_log, load_policy, required_routes,
                    route_progress, settle_leases)
from policy_lang import PolicyError

from .auth import Authenticator, Principal
from .config import ConfigError, ServiceConfig
from .errors import Problem, problem_response
from .metrics import Metrics

__all__ = ["MAX_BODY", "MAX_WAIT", "PolicyHolder", "Service", "create_app", "ROUTES"]

MAX_BODY = 1024 * 1024        # 1 MiB: larger bodies are 413
MAX_WAIT = 60.0               # the longest long-poll, seconds
STATES = ("drafted", "approved", "executing", "executed", "failed", "rejected", "expired", "escalated", "denied",
          "asked")
access_log = logging.getLogger("signoff.access")


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ---------------------------------------------------------------- the policy, swapped atomically

class PolicyHolder:
    """The policy being served. `reload` checks a new version first: with errors it is refused and the old one
    keeps serving; else it is swapped in inside a store transaction (no gate step sees half of each) and recorded."""

    def __init__(self, path: str, gate: Gate):
        self.path = path
        self.gate = gate
        self.loaded_at = time.time()
        self._lock = threading.Lock()

    @property
    def policy(self) -> Policy:
        """The policy in force now."""
        assert self.gate.policy is not None
        return self.gate.policy

    def info(self) -> Dict[str, Any]:
        """Name, version and digest of the policy in force."""
        p = self.policy
        return {"name": p.name, "version": p.version, "digest": p.digest}

    def record(self, source: str, by: str) -> None:
        """Record the policy in force as served (at start, and after each reload)."""
        p = self.policy
        with self.gate.store.transaction() as tx:
            tx.record_policy(p.digest, p.name or "", p.version or "", source, by, time.time())

    def reload(self, text: Optional[str], by: str) -> Tuple[Dict[str, Any], Dict[str, Any]]:
        """Load the policy file again (or `text` in its place); returns (previous, current). Problem
        `invalid_policy` with the diagnostics when it has errors: nothing changes then."""
        with self._lock:
            try:
                new = load_policy(self.path, text)
            except PolicyError as e:
                lines = [str(d) for d in getattr(e, "diagnostics", [])][:20] or [str(e)]
                raise Problem("invalid_policy", "the policy was refused and the old one keeps serving: "
                              + "; ".join(lines)) from None
            except OSError as e:
                raise Problem("invalid_policy", f"cannot read `{self.path}`: {(e.strerror or str(e)).lower()}") \
                    from None
            before = self.info()
            with self.gate.store.transaction() as tx:
                self.gate.policy = new
                tx.record_policy(new.digest, new.name or "", new.version or "", "reload", by, time.time())
            self.loaded_at = time.time()
            return before, self.info()


# ---------------------------------------------------------------- reading requests

def _no_dupes(pairs: List[Tuple[str, Any]]) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key `{k}`")
        out[k] = v
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"`{name}` is not json")


async def read_body(request: Request) -> bytes:
    """The body, at most MAX_BODY bytes (Problem `body_too_large` past that, read or announced)."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_BODY:
        raise Problem("body_too_large", f"the body is over {MAX_BODY} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise Problem("body_too_large", f"the body is over {MAX_BODY} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request, empty: Any = None) -> Any:
    """The body as strict JSON (no duplicate keys, NaN or infinities); Problem `invalid_json` otherwise."""
    raw = await read_body(request)
    if not raw.strip():
        if empty is not None:
            return empty
        raise Problem("invalid_json", "the body is empty: send a json document")
    try:
        return json.loads(raw.decode("utf-8"), object_pairs_hook=_no_dupes, parse_constant=_no_constant)
    except RecursionError:
        raise Problem("invalid_json", "the body is nested too deeply") from None
    except UnicodeDecodeError:
        raise Problem("invalid_json", "the body is not utf-8") from None
    except ValueError as e:
        raise Problem("invalid_json", f"the body is not json: {str(e).lower()}") from None


def _object(body: Any, where: str = "$") -> Dict[str, Any]:
    if not isinstance(body, dict):
        raise Problem("invalid_body", f"`{where}` must be a json object")
    return body


def _field(body: Dict[str, Any], key: str, kind: Any, required: bool = True) -> Any:
    if key not in body:
        if required:
            raise Problem("invalid_body", f"`$.{key}` is required")
        return None
    v = body[key]
    if isinstance(v, bool) and kind is not bool or not isinstance(v, kind):
        raise Problem("invalid_body", f"`$.{key}` has the wrong type")
    return v


def _only(body: Dict[str, Any], keys: Tuple[str, ...]) -> None:
    for k in body:
        if k not in keys:
            raise Problem("invalid_body", f"`$.{k}` is not a field of this request")


# ---------------------------------------------------------------- the service

@dataclass
class Service:
    """What every handler needs: the gate, the policy holder, the authenticator, the config and the metrics."""
    gate: Gate
    holder: PolicyHolder
    auth: Authenticator
    config: ServiceConfig
    metrics: Metrics
    store_path: str
    shutting_down: bool = False

    def reads(self) -> Any:
        """A read-only snapshot on the service's own connection (WAL: it never waits for the gate's writes,
        and sees everything they committed)."""
        return self.auth.store.snapshot()

    # ------------------------------------------------------------ who
    def principal(self, request: Request) -> Principal:
        """The caller, from `Authorization: Bearer …`."""
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer":
            token = ""
        p = self.auth.authenticate(token.strip())
        request.state.actor = p.id
        return p

    @staticmethod
    def need_kind(p: Principal, kind: str) -> None:
        """Problem `forbidden` unless the caller is of this kind."""
        if p.kind != kind:
            raise Problem("forbidden", f"`{p.id}` is an {p.kind} identity; this needs an {kind} identity"
                          if p.kind == "agent" else
                          f"`{p.id}` is a {p.kind} identity; this needs an {kind} identity")

    # ------------------------------------------------------------ drafts
    def draft_record(self, tx: Any, p: Principal, draft_id: str) -> dict:
        """The draft's row, or Problem `not_found` — for another tenant's draft too, and for an agent's view
        of a draft another agent proposed."""
        rec = tx.get_action(draft_id) if draft_id else None
        if rec is None or (p.tenant or "") != rec["tenant"]:
            raise Problem("not_found", f"no draft `{draft_id}`")
        if p.kind == "agent" and not _same(p.id, rec["proposer"]):
            raise Problem("not_found", f"no draft `{draft_id}`")
        return rec

    def summary(self, rec: dict) -> Dict[str, Any]:
        """The list view of a draft."""
        return {"id": rec["id"], "state": rec["state"], "tool": rec["tool"], "hash": rec["args_hash"],
                "decision": rec["last_decision"], "proposed_at": rec["stamp"]}

    def full(self, tx: Any, rec: dict, now: Optional[float] = None) -> Dict[str, Any]:
        """The draft with its arguments, approvals, routes and audit events."""
        now = time.time() if now is None else now
        dl = draft_log(tx, rec)
        _, progress = route_progress(required_routes(rec, dl), [] if dl.fatal else dl.approvals,
                                     rec["args_hash"], now)
        out = self.summary(rec)
        events = []
        for e in tx.events(rec["id"]):
            try:
                payload = json.loads(e["payload"])
            except ValueError:
                payload = None
            events.append({"seq": e["seq"], "kind": e["kind"], "actor": e["actor"], "at": e["at"],
                           "payload": payload})
        approvals = [{"approver": a["approver"], "roles": list(a["roles"]), "hash": a["args_hash"],
                      "at": _iso(a["at"]), "expires_at": _iso(a["expires_at"]), "comment": a.get("comment"),
                      "counts": a["args_hash"] == rec["args_hash"] and a["expires_at"] > now}
                     for a in ([] if dl.fatal else dl.approvals)]
        result = rec["result"]
        out.update(tenant=rec["tenant"] or None, proposer=rec["proposer"], args=rec["args"],
                   proposed_args=(rec["proposed"].get("args") or {}), routes=progress, approvals=approvals,
                   events=events, deadline=_iso(rec["deadline"]) if rec["deadline"] is not None else None,
                   closing=rec["closing"], result=result.get("value") if isinstance(result, dict) else None,
                   error=rec["error"], lease_until=_iso(rec["lease_until"]) if rec.get("lease_until") else None)
        return out

    def read_draft(self, p: Principal, draft_id: str) -> Dict[str, Any]:
        """The full draft, in one snapshot."""
        with self.reads() as tx:
            return self.full(tx, self.draft_record(tx, p, draft_id))

    def may_act(self, p: Principal, rec: dict) -> bool:
        """Whether a route of this draft lets the caller act on it (role held, not the proposer)."""
        if _same(p.id, rec["proposer"]):
            return False
        roles = {x for r in rec["routes"] for x in r["approvers"]}
        return any(p.has_role(r) for r in roles)

    def check(self, p: Principal, draft_id: str, expected_hash: Optional[str]) -> dict:
        """Before a human act: the draft exists for this tenant, and (Problem `hash_conflict`) has this hash."""
        with self.reads() as tx:
            rec = self.draft_record(tx, p, draft_id)
        if expected_hash is not None and expected_hash != rec["args_hash"]:
            raise Problem("hash_conflict", f"draft `{rec['id']}` changed since it was viewed: its hash is now "
                          f"`{rec['args_hash']}`")
        return rec


def _same(a: str, b: str) -> bool:
    from engine import canonical_id
    try:
        return canonical_id(a) == canonical_id(b)
    except ValueError:
        return False


def gate_problem(e: GateError) -> Problem:
    """The problem for a refusal of the gate: its message, with the stable code of its kind."""
    msg = e.message
    if isinstance(e, NotFound):
        return Problem("not_found", msg)
    if isinstance(e, PermissionDenied):
        return Problem("forbidden", msg)
    if isinstance(e, TamperError):
        return Problem("tampered", msg)
    if isinstance(e, StateError):
        if "changed since it was viewed" in msg:
            return Problem("hash_conflict", msg)
        return Problem("state_conflict", msg)
    if isinstance(e, InputError):
        if "idempotency key" in msg and "already used" in msg:
            return Problem("idempotency_conflict", msg)
        return Problem("invalid_action", msg)
    return Problem("state_conflict", msg)


async def call_gate(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a gate step in the thread pool (its store transaction blocks); its refusals become problems."""
    try:
        return await run_in_threadpool(fn, *args, **kwargs)
    except GateError as e:
        raise gate_problem(e) from None


Handler = Callable[[Request], Awaitable[Response]]


def endpoint(fn: Callable[[Service, Request], Awaitable[Response]]) -> Handler:
    """Wrap a handler: the service from the app state, every Problem as problem+json, anything else a 500."""
    async def run(request: Request) -> Response:
        svc: Service = request.app.state.service
        try:
            return await fn(svc, request)
        except Problem as p:
            request.state.code = p.code
            return problem_response(p)
        except Exception:
            logging.getLogger("signoff.service").exception("internal error")
            request.state.code = "internal_error"
            return problem_response(Problem("internal_error", "internal error: the request changed nothing"))
    run.__name__ = fn.__name__
    run.__doc__ = fn.__doc__
    return run


# ---------------------------------------------------------------- the agent's endpoints

def _prepared_action(p: Principal, body: Any) -> Dict[str, Any]:
    """The action with the caller as `agent.id` and the caller's tenant as `tenant.id` (checked, never taken)."""
    action = _object(body)
    agent = action.get("agent", {})
    if not isinstance(agent, dict):
        raise Problem("invalid_action", "`$.agent` must be an object")
    if "id" in agent and not (isinstance(agent["id"], str) and _same(agent["id"], p.id)):
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

    def __init__(self, store: SQLiteStore, stack: contextlib.ExitStack):
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
    action["timestamp"] = _iso(time.time())   # the server's clock, as in live use
    policy = svc.holder.policy
    with contextlib.ExitStack() as stack:
        d = policy.decide(action, _ReadLedger(svc.auth.store, stack))
    svc.metrics.decision(d.outcome, "decide")
    return JSONResponse(d.to_dict())


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
    return JSONResponse({"id": h.id, "state": h.state, "hash": h.args_hash, "decision": decision},
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
            rec = svc.draft_record(tx, p, draft_id)
            if rec["state"] != "drafted" or time.monotonic() >= deadline or svc.shutting_down:
                return JSONResponse(svc.full(tx, rec))
        await asyncio.sleep(min(0.1, max(0.0, deadline - time.monotonic())))


@endpoint
async def claim(svc: Service, request: Request) -> Response:
    """POST /v1/drafts/{id}/claim: the proposer takes an approved draft for a lease."""
    p = svc.principal(request)
    svc.need_kind(p, "agent")
    body = await read_json(request, empty={})
    _only(_object(body), ())
    draft_id = request.path_params["id"]
    with svc.reads() as tx:
        svc.draft_record(tx, p, draft_id)
    c = await call_gate(claim_draft, svc.gate, draft_id, p.identity)
    return JSONResponse({"lease": c.lease, "args": c.args, "idempotency_key": c.idempotency_key,
                         "attempt": c.attempt, "lease_until": c.lease_until})


@endpoint
async def complete(svc: Service, request: Request) -> Response:
    """POST /v1/drafts/{id}/complete: what the executor did with its lease."""
    p = svc.principal(request)
    svc.need_kind(p, "agent")
    body = _object(await read_json(request))
    _only(body, ("lease", "ok", "result"))
    lease = _field(body, "lease", str)
    ok = _field(body, "ok", bool)
    draft_id = request.path_params["id"]
    with svc.reads() as tx:
        svc.draft_record(tx, p, draft_id)
    try:
        await call_gate(complete_draft, svc.gate, draft_id, lease, ok, body.get("result"), p.identity)
    except Problem as e:
        if e.code == "state_conflict":
            raise Problem("lease_conflict", e.detail) from None
        raise
    return JSONResponse(svc.read_draft(p, draft_id))


# ---------------------------------------------------------------- the humans' endpoints

@endpoint
async def list_drafts(svc: Service, request: Request) -> Response:
    """GET /v1/drafts?state=STATE: the tenant's drafts the caller may act on (all of them for `auditor`)."""
    p = svc.principal(request)
    svc.need_kind(p, "human")
    state = request.query_params.get("state", "drafted")
    if state not in STATES:
        raise Problem("invalid_body", f"`state` must be one of {', '.join(STATES)}")
    with svc.reads() as tx:
        recs = tx.list_actions((state,), p.tenant or "")
    auditor = p.has_role("auditor")
    drafts = [svc.summary(r) for r in recs if auditor or svc.may_act(p, r)]
    return JSONResponse({"drafts": drafts})


@endpoint
async def get_draft(svc: Service, request: Request) -> Response:
    """GET /v1/drafts/{id}: the draft, its arguments, approvals and events."""
    p = svc.principal(request)
    return JSONResponse(svc.read_draft(p, request.path_params["id"]))


async def _human_body(svc: Service, request: Request, fields: Tuple[str, ...]) -> Tuple[Principal, Dict[str, Any]]:
    p = svc.principal(request)
    svc.need_kind(p, "human")
    body = _object(await read_json(request))
    _only(body, fields)
    _field(body, "hash", str)
    _field(body, "comment", str, required=False)
    return p, body


def _observe_approval(svc: Service, before: dict, after: Dict[str, Any]) -> None:
    if before["state"] == "drafted" and after["state"] != "drafted":
        svc.metrics.closed(before, after["state"])


@endpoint
async def approve(svc: Service, request: Request) -> Response:
    """POST /v1/drafts/{id}/approve: approve the draft's current arguments (bound to `hash`)."""
    p, body = await _human_body(svc, request, ("hash", "comment"))
    before = svc.check(p, request.path_params["id"], body["hash"])
    await call_gate(svc.gate.approve, before["id"], p.identity, comment=body.get("comment"),
                    expected_hash=body["hash"])
    out = svc.read_draft(p, before["id"])
    _observe_approval(svc, before, out)
    return JSONResponse(out)


@endpoint
async def reject(svc: Service, request: Request) -> Response:
    """POST /v1/drafts/{id}/reject: close the draft, with a comment."""
    p, body = await _human_body(svc, request, ("hash", "comment"))
    before = svc.check(p, request.path_params["id"], body["hash"])
    comment = body.get("comment") or f"rejected by {p.id}"
    # Gate.reject takes no hash: svc.check compared it, and the gate's own transaction re-reads the draft
    await call_gate(svc.gate.reject, before["id"], p.identity, comment)
    out = svc.read_draft(p, before["id"])
    _observe_approval(svc, before, out)
    return JSONResponse(out)


@endpoint
async def edit(svc: Service, request: Request) -> Response:
    """POST /v1/drafts/{id}/edit: change the arguments (JSON Patch list or merge-patch object); decided again."""
    p, body = await _human_body(svc, request, ("hash", "patch", "comment"))
    if "patch" not in body or not isinstance(body["patch"], (list, dict)):
        raise Problem("invalid_body", "`$.patch` must be a json patch (list) or a merge patch (object)")
    before = svc.check(p, request.path_params["id"], body["hash"])
    await call_gate(svc.gate.edit, before["id"], p.identity, body["patch"], comment=body.get("comment"),
                    expected_hash=body["hash"])
    out = svc.read_draft(p, before["id"])
    _observe_approval(svc, before, out)
    return JSONResponse(out)


@endpoint
async def audit_verify(svc: Service, request: Request) -> Response:
    """GET /v1/audit/verify: the audit log's chain and state (role `auditor`)."""
    p = svc.principal(request)
    svc.need_kind(p, "human")
    if not p.has_role("auditor"):
        raise Problem("forbidden", f"`{p.id}` does not hold the role `auditor`")
    res = await run_in_threadpool(svc.gate.verify)
    return JSONResponse({"ok": res.ok, "records": res.count, "head": res.head,
                         "problems": ([res.problem] if res.problem else []) + list(res.problems)})


@endpoint
async def policy_get(svc: Service, request: Request) -> Response:
    """GET /v1/policy: the policy in force."""
    svc.principal(request)
    return JSONResponse({"policy": svc.holder.info(), "loaded_at": _iso(svc.holder.loaded_at)})


@endpoint
async def policy_reload(svc: Service, request: Request) -> Response:
    """POST /v1/policy: reload the policy (from its file, or `{"source": TEXT}`), role `admin`."""
    p = svc.principal(request)
    if not p.has_role("admin"):
        raise Problem("forbidden", f"`{p.id}` does not hold the role `admin`")
    body = _object(await read_json(request, empty={}))
    _only(body, ("source",))
    source = _field(body, "source", str, required=False)
    before, after = await run_in_threadpool(svc.holder.reload, source, p.id)
    svc.metrics.reloads.inc()
    return JSONResponse({"previous": before, "policy": after})


# ---------------------------------------------------------------- operations

@endpoint
async def healthz(svc: Service, request: Request) -> Response:
    """GET /healthz: up, and the policy in force."""
    if svc.shutting_down:
        return JSONResponse({"ok": False, "policy": svc.holder.info()}, status_code=503)
    return JSONResponse({"ok": True, "policy": svc.holder.info()})


def _client_ip(request: Request) -> Optional[Any]:
    host = request.client.host if request.client else None
    try:
        return ipaddress.ip_address(host) if host else None
    except ValueError:
        return None


@endpoint
async def metrics(svc: Service, request: Request) -> Response:
    """GET /metrics: Prometheus text, for clients on the configured networks."""
    ip = _client_ip(request)
    if ip is None or not any(ip in n for n in svc.config.metrics_allow):
        raise Problem("forbidden", "metrics are served to the networks in `server.metrics_allow` only")
    text = await run_in_threadpool(svc.metrics.render, svc.gate.store)
    return Response(text, media_type="text/plain; version=0.0.4; charset=utf-8")


@endpoint
async def openapi(svc: Service, request: Request) -> Response:
    """GET /openapi.json: the OpenAPI 3.1 document of this API."""
    from .openapi import document
    return JSONResponse(document())


@endpoint
async def not_found(svc: Service, request: Request) -> Response:
    """Any other path."""
    raise Problem("not_found", f"no endpoint `{request.url.path}`")


API = [
    Route("/v1/decide", decide, methods=["POST"]),
    Route("/v1/proposals", propose, methods=["POST"]),
    Route("/v1/drafts", list_drafts, methods=["GET"]),
    Route("/v1/drafts/{id}", get_draft, methods=["GET"]),
    Route("/v1/drafts/{id}/approve", approve, methods=["POST"]),
    Route("/v1/drafts/{id}/reject", reject, methods=["POST"]),
    Route("/v1/drafts/{id}/edit", edit, methods=["POST"]),
    Route("/v1/drafts/{id}/wait", wait, methods=["GET"]),
    Route("/v1/drafts/{id}/claim", claim, methods=["POST"]),
    Route("/v1/drafts/{id}/complete", complete, methods=["POST"]),
    Route("/v1/audit/verify", audit_verify, methods=["GET"]),
    Route("/v1/policy", policy_get, methods=["GET"]),
    Route("/v1/policy", policy_reload, methods=["POST"]),
    Route("/healthz", healthz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
    Route("/openapi.json", openapi, methods=["GET"]),
]
ROUTES = [(m, r.path) for r in API for m in sorted(r.methods or []) if m != "HEAD"]


# ---------------------------------------------------------------- the app

class _Guard:
    """ASGI middleware: the JSON access log line of every request (never a header value, key or body), and
    problem+json for the router's own 404 and 405."""

    def __init__(self, app: Any, service: Service):
        self.app = app
        self.service = service

    async def __call__(self, scope: Dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500}
        scope.setdefault("state", {})

        async def send_wrapper(message: Dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            st = scope.get("state", {})
            client = scope.get("client")
            line = {"ts": _iso(time.time()), "method": scope.get("method"), "path": scope.get("path"),
                    "status": status["code"], "ms": round((time.perf_counter() - start) * 1000, 2),
                    "client": client[0] if client else None, "actor": st.get("actor"), "code": st.get("code")}
            access_log.info(json.dumps(line, ensure_ascii=True))


async def _method_not_allowed(request: Request, exc: Exception) -> Response:
    from starlette.exceptions import HTTPException
    code = getattr(exc, "status_code", 500) if isinstance(exc, HTTPException) else 500
    if code == 405:
        return problem_response(Problem("method_not_allowed", f"`{request.method}` is not allowed on "
                                                              f"`{request.url.path}`"))
    if code == 404:
        return problem_response(Problem("not_found", f"no endpoint `{request.url.path}`"))
    return problem_response(Problem("internal_error", "internal error: the request changed nothing"))


def create_app(policy_path: str, store_path: str, config: Optional[ServiceConfig] = None,
               channels: Optional[List[Any]] = None) -> Starlette:
    """The service as an ASGI app: the API, the inbox and the operations endpoints over one gate. Raises
    PolicyError for a policy with errors and StoreError for a store that cannot be opened."""
    from .inbox import inbox_routes
    config = config or ServiceConfig()
    policy = load_policy(policy_path)
    store = SQLiteStore(store_path)
    box: List[Gate] = []
    if channels is None:
        channels = _channels(config, store, lambda: box[0].policy.digest if box and box[0].policy else "")
    gate = Gate(policy, store, channels=channels, lease=timedelta(seconds=config.lease_seconds),
                approval_ttl=timedelta(seconds=config.approval_ttl_seconds))
    box.append(gate)
    holder = PolicyHolder(policy_path, gate)
    holder.record("start", "signoff")
    svc = Service(gate, holder, Authenticator(store_path, config.oidc), config, Metrics(), store_path)
    svc.metrics.channels = list(gate.channels)
    gate.channels = [svc.metrics.counting(ch) for ch in gate.channels]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        stop = _start_worker(svc)
        try:
            yield
        finally:
            svc.shutting_down = True
            await run_in_threadpool(stop)
            await run_in_threadpool(_close_channels, channels)
            svc.auth.close()
            store.close()

    app = Starlette(routes=API + [Mount("/inbox", routes=inbox_routes())],
                    exception_handlers={404: _method_not_allowed, 405: _method_not_allowed,
                                        Exception: _method_not_allowed},
                    lifespan=lifespan)
    app.state.service = svc
    app.add_middleware(_Guard, service=svc)
    return app


# ---------------------------------------------------------------- the other helpers' parts, wired here
# Notifications (engine/service/notify.py: `load_channels(table, base_url=, audit=, digest=)`, `close_channels`)
# and the worker (engine/service/worker.py: `Worker(gate, interval)` with start()/stop()) are built beside this
# module. This is the one place they are wired in; without the worker the server runs timeouts and leases itself.

def _optional(name: str) -> Any:
    import importlib
    try:
        return importlib.import_module(f"engine.service.{name}")
    except ModuleNotFoundError as e:
        if e.name != f"engine.service.{name}":
            raise
        return None


def _channels(config: ServiceConfig, store: SQLiteStore, digest: Callable[[], str]) -> List[Any]:
    if not config.notifications:
        return []
    notify = _optional("notify")
    if notify is None:
        raise ConfigError("`notifications` needs the notifications module, which this install lacks")
    try:
        return list(notify.load_channels(config.notifications, base_url=config.public_url, audit=store,
                                         digest=digest))
    except ValueError as e:
        raise ConfigError(str(e)) from None


def _close_channels(channels: List[Any]) -> None:
    notify = _optional("notify")
    if notify is not None and channels:
        notify.close_channels(channels)


def _start_worker(svc: Service) -> Callable[[], None]:
    """Start what runs on a schedule: the Worker when it exists (timeouts, expiry, leases), else a loop of
    the gate's own steps doing the same. Returns the function that stops it."""
    mod = _optional("worker")
    if mod is not None:
        worker = mod.Worker(svc.gate, svc.config.worker_interval)
        worker.start()
        return lambda: worker.stop()
    done = threading.Event()

    def loop() -> None:
        while not done.wait(svc.config.worker_interval):
            try:
                svc.gate.expire_due()
                settle_leases(svc.gate)
            except Exception:  # a failing round is logged and the next one tries again
                logging.getLogger("signoff.service").exception("scheduled work failed")

    t = threading.Thread(target=loop, name="signoff-schedule", daemon=True)
    t.start()

    def stop() -> None:
        done.set()
        t.join(timeout=10)
    return stop


_ = OUTCOMES  # the outcomes metrics count are the engine's
