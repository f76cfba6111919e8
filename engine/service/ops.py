"""The operations endpoints of `signoff serve`: audit verification, the policy (read, reload), health,
metrics, the OpenAPI document and the answer for any other path."""
from __future__ import annotations

import ipaddress
from typing import Any, Dict, Optional

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from .errors import Problem
from .service import JsonResponse, Service, endpoint, field, iso, json_object, only, read_json

__all__ = ["audit_verify", "policy_get", "policy_reload", "healthz", "metrics", "openapi", "not_found"]


@endpoint
async def audit_verify(svc: Service, request: Request) -> Response:
    """GET /v1/audit/verify: the audit log's chain and state (role `auditor`)."""
    p = svc.principal(request)
    svc.need_kind(p, "human")
    if not p.has_role("auditor"):
        raise Problem("forbidden", f"`{p.id}` does not hold the role `auditor`")
    res = await run_in_threadpool(svc.gate.verify)
    return JsonResponse({"ok": res.ok, "records": res.count, "head": res.head,
                         "problems": ([res.problem] if res.problem else []) + list(res.problems)})


@endpoint
async def policy_get(svc: Service, request: Request) -> Response:
    """GET /v1/policy: the policy in force."""
    svc.principal(request)
    return JsonResponse({"policy": svc.holder.info(), "loaded_at": iso(svc.holder.loaded_at)})


@endpoint
async def policy_reload(svc: Service, request: Request) -> Response:
    """POST /v1/policy: reload the policy (from its file, or `{"source": TEXT}`), role `admin`."""
    p = svc.principal(request)
    if not p.has_role("admin"):
        raise Problem("forbidden", f"`{p.id}` does not hold the role `admin`")
    body = json_object(await read_json(request, empty={}))
    only(body, ("source",))
    source = field(body, "source", str, required=False)
    before, after = await run_in_threadpool(svc.holder.reload, source, p.id)
    svc.metrics.reloads.inc()
    return JsonResponse({"previous": before, "policy": after})


# ---------------------------------------------------------------- operations

@endpoint
async def healthz(svc: Service, request: Request) -> Response:
    """GET /healthz: up, and the policy in force."""
    if svc.shutting_down:
        return JsonResponse({"ok": False, "policy": svc.holder.info()}, status_code=503)
    body: Dict[str, Any] = {"ok": True, "policy": svc.holder.info()}
    if svc.holder.problem:
        body["policy_problem"] = svc.holder.problem
    return JsonResponse(body)


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
    return JsonResponse(document())


@endpoint
async def not_found(svc: Service, request: Request) -> Response:
    """Any other path."""
    raise Problem("not_found", f"no endpoint `{request.url.path}`")
