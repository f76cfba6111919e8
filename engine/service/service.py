"""What every endpoint of `signoff serve` shares: the policy holder, reading bodies, the Service (who calls,
which drafts they see, the drafts' JSON views), the gate's refusals as problems and the `endpoint` wrapper."""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from engine import (Draft, GateError, StoreError, Gate, InputError, NotFound, PermissionDenied, Policy, StateError, TamperError,
                    canonical_id, draft_detail, draft_summary, format_timestamp, load_policy, may_act)
from policy_lang import PolicyError
from policy_lang.checker import strict_json_loads

from .auth import Authenticator, Principal
from .config import ServiceConfig
from .errors import Problem, problem_response
from .metrics import Metrics

_fast_dumps: Optional[Callable[[Any], bytes]]
try:
    from orjson import dumps as _fast_dumps
except ImportError:  # the `server` extra brings it; without it the standard library writes the JSON
    _fast_dumps = None

__all__ = ["JsonResponse", "MAX_BODY", "MAX_WAIT", "STATES", "PolicyHolder", "Service", "read_body", "read_json", "gate_problem",
           "call_gate", "endpoint", "iso", "same_actor", "json_object", "field", "only"]
log = logging.getLogger("signoff.service")

MAX_BODY = 1024 * 1024        # 1 MiB: larger bodies are 413
DRAIN_LIMIT = 4 * MAX_BODY    # an announced body up to this size is read (and dropped) before the 413
MAX_WAIT = 60.0               # the longest long-poll, seconds
LIST_FIELDS = ("id", "state", "tool", "hash", "decision", "proposed_at")   # HTTP.md's `GET /v1/drafts` items
STATES = ("drafted", "approved", "executing", "executed", "failed", "rejected", "expired", "escalated", "denied",
          "asked")


def iso(t: float) -> str:
    """Seconds since the epoch as RFC 3339 text, as the engine writes it (`format_timestamp`)."""
    return format_timestamp(datetime.fromtimestamp(t, timezone.utc))


def same_actor(a: str, b: str) -> bool:
    """Whether two ids name one actor (canonical ids); an id that is not one names nobody."""
    try:
        return canonical_id(a) == canonical_id(b)
    except ValueError:
        return False


class JsonResponse(JSONResponse):
    """A JSON response written by orjson when it is installed (several times faster for a decision), else as
    Starlette writes it; a value orjson does not write (an integer past 64 bits) falls back to the latter."""

    def render(self, content: Any) -> bytes:
        """The body."""
        if _fast_dumps is not None:
            try:
                return _fast_dumps(content)
            except TypeError:   # orjson.JSONEncodeError is one
                pass
        return super().render(content)


# ---------------------------------------------------------------- the policy, swapped atomically

class PolicyHolder:
    """The policy being served. `reload` checks a new version first: with errors it is refused and the old one
    keeps serving; else it is swapped in inside a store transaction (no gate step sees half of each) and recorded."""

    def __init__(self, path: str, gate: Gate):
        self.path = path
        self.gate = gate
        self.loaded_at = time.time()
        self.problem: Optional[str] = None   # why the last reload made on another server could not be followed
        self._seen = 0                       # the last reload record this server has looked at
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
            last = tx.last_reload()
            self._seen = int(last["seq"]) if last else 0   # reloads made before this server started are not its
            tx.record_policy(p.digest, p.name or "", p.version or "", source, by, time.time())

    def reload(self, text: Optional[str], by: str) -> Tuple[Dict[str, Any], Dict[str, Any]]:
        """Load the policy file again (or `text` in its place); returns (previous, current). Problem
        `invalid_policy` with the diagnostics when it has errors: nothing changes then."""
        with self._lock:
            try:
                if text is None:
                    with open(self.path, encoding="utf-8") as f:
                        text = f.read()
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
                tx.record_policy(new.digest, new.name or "", new.version or "", "reload", by, time.time(), text)
                last = tx.last_reload()
                self._seen = int(last["seq"]) if last else self._seen
            self.loaded_at = time.time()
            self.problem = None
            return before, self.info()

    def follow(self) -> bool:
        """Load the latest policy reloaded by another server on the store, if this server has not seen it yet
        (the worker calls this every round): True when the policy in force changed. A reload that does not
        load here is logged and kept in `problem`; the old policy keeps serving."""
        with self.gate.store.snapshot() as tx:
            last = tx.last_reload()
        if last is None or int(last["seq"]) <= self._seen:
            return False
        with self._lock:
            self._seen = int(last["seq"])
            if last["digest"] == self.policy.digest or not last["text"]:
                return False
            try:
                new = load_policy(self.path, last["text"])
            except (PolicyError, OSError) as e:
                self.problem = (f"the policy reloaded by `{last['by']}` on another server does not load here, the "
                                f"old one keeps serving: {str(e).splitlines()[0] if str(e) else 'error'}")
                log.error("%s", self.problem)
                return False
            with self.gate.store.transaction() as tx:
                self.gate.policy = new
                tx.record_policy(new.digest, new.name or "", new.version or "", "follow", last["by"], time.time())
            self.loaded_at = time.time()
            self.problem = None
            log.info("policy `%s` version `%s` (%s) loaded: reloaded by `%s` on another server",
                     new.name, new.version, new.digest[:19], last["by"])
            return True


# ---------------------------------------------------------------- reading requests

async def read_body(request: Request) -> bytes:
    """The body, at most MAX_BODY bytes (Problem `body_too_large` past that, read or announced)."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_BODY:
        if int(length) <= DRAIN_LIMIT:
            # read what the client is still sending before answering: closing on a client mid-send makes
            # it see a broken pipe instead of the 413 (a bounded cost: a larger body is cut off at once)
            async for _ in request.stream():
                pass
        raise Problem("body_too_large", f"the body is over {MAX_BODY} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise Problem("body_too_large", f"the body is over {MAX_BODY} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request, empty: Any = None) -> Any:
    """The body as strict JSON (policy_lang's reader: no duplicate keys, NaN, infinities or lone surrogates);
    Problem `invalid_json` otherwise."""
    raw = await read_body(request)
    if not raw.strip():
        if empty is not None:
            return empty
        raise Problem("invalid_json", "the body is empty: send a json document")
    try:
        return strict_json_loads(raw.decode("utf-8"))
    except RecursionError:
        raise Problem("invalid_json", "the body is nested too deeply") from None
    except UnicodeDecodeError:
        raise Problem("invalid_json", "the body is not utf-8") from None
    except ValueError as e:
        raise Problem("invalid_json", f"the body is not json: {str(e).lower()}") from None


def json_object(body: Any, where: str = "$") -> Dict[str, Any]:
    """The body as a JSON object, or Problem `invalid_body`."""
    if not isinstance(body, dict):
        raise Problem("invalid_body", f"`{where}` must be a json object")
    return body


def field(body: Dict[str, Any], key: str, kind: Any, required: bool = True) -> Any:
    """`body[key]` of type `kind` (a bool is never a number), None when absent and not required; Problem
    `invalid_body` otherwise."""
    if key not in body:
        if required:
            raise Problem("invalid_body", f"`$.{key}` is required")
        return None
    v = body[key]
    if isinstance(v, bool) and kind is not bool or not isinstance(v, kind):
        raise Problem("invalid_body", f"`$.{key}` has the wrong type")
    return v


def only(body: Dict[str, Any], keys: Tuple[str, ...]) -> None:
    """Problem `invalid_body` for a member of `body` outside `keys`."""
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
            def a(k: str) -> str:
                return ("an " if k[:1] in "aeiou" else "a ") + k
            raise Problem("forbidden", f"`{p.id}` is {a(p.kind)} identity; this needs {a(kind)} identity")

    # ------------------------------------------------------------ drafts
    def draft_record(self, tx: Any, p: Principal, draft_id: str) -> Draft:
        """The draft, or Problem `not_found` — for another tenant's draft too, and for an agent's view of a
        draft another agent proposed."""
        row = tx.get_action(draft_id) if draft_id else None
        if row is None or (p.tenant or "") != row["tenant"]:
            raise Problem("not_found", f"no draft `{draft_id}`")
        if p.kind == "agent" and not same_actor(p.id, row["proposer"]):
            raise Problem("not_found", f"no draft `{draft_id}`")
        return Draft.from_row(row)

    def visible_drafts(self, p: Principal, state: str) -> List[Draft]:
        """The tenant's drafts in `state` that the caller may act on (all of them for role `auditor`)."""
        with self.reads() as tx:
            rows = tx.list_actions((state,), p.tenant or "")
        auditor = p.has_role("auditor")
        drafts = [Draft.from_row(r) for r in rows]
        return [d for d in drafts if auditor or may_act(d, p.identity)]

    @staticmethod
    def summary(draft: Draft) -> Dict[str, Any]:
        """The list view of a draft: the fields of `engine.draft_summary` that HTTP.md lists (id, state, tool,
        hash, decision, proposed_at)."""
        s = draft_summary(draft)
        return {k: s[k] for k in LIST_FIELDS}

    @staticmethod
    def full(tx: Any, draft: Draft, now: Optional[float] = None) -> Dict[str, Any]:
        """The draft in full: `engine.draft_detail`, each approval also under HTTP.md's `approver`."""
        out = draft_detail(tx, draft, time.time() if now is None else now)
        out["approvals"] = [dict(a, approver=a["by"]) for a in out["approvals"]]
        return out

    def read_draft(self, p: Principal, draft_id: str) -> Dict[str, Any]:
        """The full draft, in one snapshot."""
        with self.reads() as tx:
            return self.full(tx, self.draft_record(tx, p, draft_id))

    @staticmethod
    def may_act(p: Principal, draft: Draft) -> bool:
        """Whether the caller may approve, edit or reject the draft (`engine.may_act`)."""
        return may_act(draft, p.identity)

    def check(self, p: Principal, draft_id: str, expected_hash: Optional[str]) -> Draft:
        """Before a human act: the draft exists for this tenant, and (Problem `hash_conflict`) has this hash."""
        with self.reads() as tx:
            draft = self.draft_record(tx, p, draft_id)
        if expected_hash is not None and expected_hash != draft.args_hash:
            raise Problem("hash_conflict", f"draft `{draft.id}` changed since it was viewed: its hash is now "
                          f"`{draft.args_hash}`")
        return draft


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
    except StoreError:
        raise _store_problem() from None


def _store_problem() -> Problem:
    # a lost connection or a store that cannot be read: the transaction rolled back, so nothing changed; the
    # reason goes to the log (it may name the database), not to the caller
    logging.getLogger("signoff.service").exception("store error")
    return Problem("store_unavailable", "the store cannot be used now: the request changed nothing")


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
        except StoreError:
            request.state.code = "store_unavailable"
            return problem_response(_store_problem())
        except Exception:
            logging.getLogger("signoff.service").exception("internal error")
            request.state.code = "internal_error"
            return problem_response(Problem("internal_error", "internal error: the request changed nothing"))
    run.__name__ = fn.__name__
    run.__doc__ = fn.__doc__
    return run
