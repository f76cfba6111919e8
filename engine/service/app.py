"""The HTTP API of `signoff serve` (../shared/spec/HTTP.md) over the live workflow, as a Starlette app: the
routes, the access-log middleware and the wiring of gate, store, notifications and worker.

The endpoints live by concern: `drafts` (the agents' and the humans' draft endpoints), `ops` (audit, policy,
health, metrics, OpenAPI) and `inbox` (the web pages), over what `service` shares.
"""
from __future__ import annotations

import contextlib
import json
import logging
import time
from datetime import timedelta
from typing import Any, Callable, Dict, List, Optional, Sequence

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from engine import Gate, Store, load_policy, open_store

from .auth import Authenticator
from .config import ConfigError, ServiceConfig
from .drafts import approve, claim, complete, decide, edit, get_draft, list_drafts, propose, reject, wait
from .errors import Problem, problem_response
from .metrics import Metrics
from .ops import audit_verify, healthz, metrics, openapi, policy_get, policy_reload
from .notify import close_channels, load_channels
from .service import MAX_BODY, MAX_WAIT, PolicyHolder, Service, iso
from .worker import Worker

__all__ = ["MAX_BODY", "MAX_WAIT", "PolicyHolder", "Service", "create_app", "ROUTES"]

access_log = logging.getLogger("signoff.access")


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
            line = {"ts": iso(time.time()), "method": scope.get("method"), "path": scope.get("path"),
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
               channels: Optional[List[Any]] = None, shadow: Sequence[str] = ()) -> Starlette:
    """The service as an ASGI app: the API, the inbox and the operations endpoints over one gate. `shadow` are
    candidate policy files that decide every proposal too, recorded and never enforced. Raises PolicyError for a
    policy (or candidate) with errors and StoreError for a store that cannot be opened."""
    from .inbox import inbox_routes
    config = config or ServiceConfig()
    policy = load_policy(policy_path)
    candidates = [load_policy(p) for p in shadow]
    store = open_store(store_path)
    box: List[Gate] = []
    if channels is None:
        channels = _channels(config, store, lambda: box[0].policy.digest if box and box[0].policy else "")
    gate = Gate(policy, store, channels=channels, lease=timedelta(seconds=config.lease_seconds),
                approval_ttl=timedelta(seconds=config.approval_ttl_seconds), shadow=candidates)
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


# ---------------------------------------------------------------- notifications and the worker, wired here

def _channels(config: ServiceConfig, store: Store, digest: Callable[[], str]) -> List[Any]:
    if not config.notifications:
        return []
    try:
        return list(load_channels(config.notifications, base_url=config.public_url, audit=store, digest=digest))
    except ValueError as e:
        raise ConfigError(str(e)) from None


def _close_channels(channels: List[Any]) -> None:
    if channels:
        close_channels(channels)


def _start_worker(svc: Service) -> Callable[[], None]:
    """Start what runs on a schedule (timeouts, expiry, leases); returns the function that stops it."""
    # each round also follows a policy reloaded by another server on the store
    worker = Worker(svc.gate, svc.config.worker_interval, on_round=lambda _: svc.holder.follow())
    worker.start()
    return lambda: worker.stop()
