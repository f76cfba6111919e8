"""`Gate`: proposals, drafts, human approvals, standing grants and exactly-once execution over a Store."""
from __future__ import annotations

import asyncio
import inspect
import json
import math
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple

from ..decide.actions import ActionError, check_action, format_timestamp
from .channels import Channel, Notification
from ..decide.decision import RANK, Decision
from ..decide.evaluator import Policy
from .handles import _CURRENT, ExecutionContext, Executor, Handle, Pending, current_execution
from .audit import DraftLog, draft_log, grant_log, log as audit_log, required_routes
from .identity import IdentityError, canonical_id, id_key, role_keys, same_id
from .patch import PatchError, apply_patch, canonical, json_value, make_patch, merge_patch, same, sha256_hex
from .store import Identity, Store, Tx, VerifyResult, verify_store

__all__ = ["Gate", "Handle", "Pending", "Identity", "Executor", "ExecutionContext", "GateError", "InputError",
           "PermissionDenied", "StateError", "NotFound", "TamperError", "STATES", "TERMINAL", "TRANSITIONS", "SYSTEM",
           "current_execution", "args_hash", "history", "route_progress"]

SYSTEM = "signoff"   # the actor of events no human caused

# drafted → approved → executing → executed | failed, plus the ways a proposal or draft closes early.
STATES = ("drafted", "approved", "executing", "executed", "failed", "rejected", "expired", "escalated",
          "denied", "asked")
TERMINAL = frozenset({"executed", "failed", "rejected", "expired", "escalated", "denied", "asked"})
TRANSITIONS: Dict[Optional[str], frozenset] = {
    None: frozenset({"drafted", "approved", "executing", "denied", "asked", "escalated"}),
    # a draft closes when a human rejects it, it times out, or an edit makes the decision stricter
    "drafted": frozenset({"approved", "rejected", "expired", "escalated", "denied", "asked"}),
    # back to drafted when, at execution, the approvals lapsed or the current policy needs other routes
    "approved": frozenset({"executing", "drafted", "rejected", "denied", "asked", "escalated"}),
    # executing → executing: an idempotent executor re-run after its process died
    "executing": frozenset({"executed", "failed", "executing"}),
    # an execution given up as interrupted that later reports back: the truth replaces the guess
    "failed": frozenset({"executed"}),
}
_CLOSED_BY = {"deny": "denied", "ask": "asked", "escalate": "escalated"}


# ---------------------------------------------------------------- errors

class GateError(Exception):
    """Base of every refusal by the gate; the message is for the person or agent who asked."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InputError(GateError, ValueError):
    """Malformed input: nothing was stored."""


class PermissionDenied(GateError):
    """The identity may not do this (tenant, proposer, role, grants never): nothing was stored."""


class StateError(GateError):
    """The draft is not in a state that allows this (already closed, changed since viewed, expired)."""


class NotFound(GateError):
    """No draft or grant with that id."""


class TamperError(StateError):
    """The draft's row disagrees with its records in the audit log (spec §6, v1.1): it does not run."""


# ---------------------------------------------------------------- helpers

def args_hash(tool: str, args: Any) -> str:
    """What an approval is bound to: the canonical JSON of tool and arguments."""
    return "sha256:" + sha256_hex(canonical({"tool": tool, "args": args}))


def _utc(dt: datetime) -> datetime:
    if not isinstance(dt, datetime):
        raise InputError(f"`{dt!r}` is not a datetime")
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=timezone.utc)


def _iso(t: float) -> str:
    return format_timestamp(datetime.fromtimestamp(t, timezone.utc))


def _new_id(prefix: str) -> str:
    return prefix + uuid.uuid4().hex


def route_progress(routes: Sequence[dict], approvals: Sequence[dict], hash_: str, now: float
                   ) -> Tuple[bool, List[Dict[str, Any]]]:
    """Per route, the distinct approvers whose approval counts: bound to the current arguments, unexpired,
    holding one of the route's roles. The draft is approved when every route reaches its quorum.
    Distinct means distinct canonical ids (spec §6, v1.1): `alice` and `Alice` are one approver."""
    valid = [a for a in approvals if a["args_hash"] == hash_ and a["expires_at"] > now]
    out, ok = [], True
    for r in routes:
        roles = role_keys(r["approvers"])
        who: Dict[str, str] = {}   # canonical id -> the id as first written, for display
        for a in sorted(valid, key=lambda a: (a["at"], a["approver"])):
            if roles & role_keys(a["roles"]):
                who.setdefault(id_key(a["approver"]), a["approver"])
        out.append({"name": r["name"], "approvers": list(r["approvers"]), "quorum": r["quorum"],
                    "approved_by": sorted(who.values())})
        ok = ok and len(who) >= r["quorum"]
    return ok, out


def _same_person(a: str, b: Optional[str]) -> bool:
    # canonical ids (NFKC + casefold): `ｂｏｔ` approving `bot`'s action is the same actor, fail closed
    return same_id(a, b)


# ---------------------------------------------------------------- the gate

class Gate:
    """Ties a policy, a store, executors per tool and notification channels together."""

    def __init__(self, policy: Optional[Policy], store: Store, executors: Optional[Mapping[str, Any]] = None,
                 channels: Sequence[Channel] = (), clock: Optional[Callable[[], datetime]] = None,
                 approval_ttl: timedelta = timedelta(hours=24), lease: timedelta = timedelta(minutes=15),
                 identities: Iterable[Identity] = (), defaults: Optional[Mapping[str, Any]] = None):
        self.policy = policy
        self.store = store
        self.channels = list(channels)
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.approval_ttl = approval_ttl.total_seconds()
        self.lease = lease.total_seconds()
        self.defaults = dict(defaults or {})
        self._executors: Dict[str, Executor] = {}
        for tool, ex in (executors or {}).items():
            self.register(tool, ex)
        idents = list(identities)
        if idents:
            with store.transaction() as tx:
                for ident in idents:
                    tx.put_identity(ident)

    # ------------------------------------------------------------ setup
    def register(self, tool: str, fn: Any, idempotent: bool = False) -> None:
        """Run `fn(args, ctx)` for approved actions of `tool` in this process."""
        if not isinstance(tool, str) or not tool:
            raise InputError("a tool name must be a non-empty string")
        ex = fn if isinstance(fn, Executor) else Executor(fn, idempotent)
        if not callable(ex.fn):
            raise InputError(f"the executor for `{tool}` is not callable")
        self._executors[tool] = ex

    def tool(self, name: str, idempotent: bool = False):
        """Decorator: gate a plain function (sync or async) as the tool `name` (see engine.live.sdk)."""
        from .sdk import gated_tool
        return lambda fn: gated_tool(self, name, fn, idempotent)

    def _now(self, now: Optional[datetime]) -> float:
        return _utc(now if now is not None else self.clock()).timestamp()

    def _digest(self, rec: Optional[dict] = None) -> str:
        if self.policy is not None:
            return self.policy.digest
        return rec["policy_digest"] if rec else ""

    def _identity(self, tx: Tx, by: Any) -> Identity:
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

    def _runnable(self, tool: str, in_async: bool) -> bool:
        ex = self._executors.get(tool)
        if ex is None:
            return False
        if ex.is_async and not in_async:
            try:
                asyncio.get_running_loop()
                return False   # a sync call inside a running loop cannot run a coroutine to completion
            except RuntimeError:
                return True
        return True

    # ------------------------------------------------------------ reading
    def get(self, action_id: str) -> Handle:
        with self.store.snapshot() as tx:
            rec = tx.get_action(self._check_id(action_id))
            if rec is None:
                raise NotFound(f"no draft `{action_id}`")
            return self._handle(tx, rec)

    status = get

    def pending(self, tenant: Optional[str] = None) -> List[Handle]:
        with self.store.snapshot() as tx:
            return [self._handle(tx, r) for r in tx.list_actions(("drafted",), tenant)]

    def verify(self, state: bool = True) -> VerifyResult:
        """The audit log's chain and, with `state`, the state tables against a replay of it."""
        with self.store.snapshot() as tx:
            return verify_store(tx, state)

    @staticmethod
    def _log(tx: Tx, rec: dict, need: Optional[str] = None) -> DraftLog:
        """The draft as its records make it; TamperError when the row disagrees on what the action is, or
        (with `need`) the records do not put it in that state. Discrepancies go to the `signoff.audit` log."""
        dl = draft_log(tx, rec)
        dl.report()
        if dl.fatal or (need is not None and dl.state != need):
            why = dl.problems[0] if dl.problems else \
                f"draft `{rec['id']}`: it is {rec['state']} but its records make it {dl.state}"
            raise TamperError(f"{why}; it will not run (see `signoff audit verify`)")
        return dl

    @staticmethod
    def _check_id(action_id: Any) -> str:
        if not isinstance(action_id, str) or not action_id:
            raise InputError("a draft id must be a non-empty string")
        return action_id

    def _handle(self, tx: Tx, rec: dict, now: Optional[float] = None) -> Handle:
        now = self._now(None) if now is None else now
        dl = draft_log(tx, rec)
        # only approvals the audit log justifies are shown as counting (spec §6, v1.1)
        _, progress = route_progress(required_routes(rec, dl), [] if dl.fatal else dl.approvals, rec["args_hash"],
                                     now)
        closing = rec["closing"] or {}
        d = rec["last_decision"]
        reasons = [r["message"] for r in d.get("reasons", []) if not r.get("advisory")]
        result = rec["result"]
        h = (Pending if rec["state"] in ("drafted", "approved", "executing") else Handle)(
            id=rec["id"], state=rec["state"], tool=rec["tool"], tenant=rec["tenant"] or None, args=rec["args"],
            args_hash=rec["args_hash"], decision=d, routes=progress, ask=list(closing.get("ask", [])),
            escalate_to=closing.get("escalate_to"), reasons=reasons,
            result=result.get("value") if isinstance(result, dict) else None, error=rec["error"])
        h.message = self._message(rec, progress, closing)
        return h

    @staticmethod
    def _message(rec: dict, progress: List[dict], closing: dict) -> str:
        s = rec["state"]
        if s == "drafted":
            need = "; ".join(f"{p['name']} ({', '.join(p['approvers'])}): {len(p['approved_by'])} of {p['quorum']}"
                             for p in progress)
            return f"waiting for approval via {need}"
        if s == "approved":
            return "approved; waiting to execute"
        if s == "executing":
            return "executing"
        if s == "executed":
            return "executed"
        if s == "failed":
            return f"failed: {rec['error']}"
        if s == "rejected":
            return f"rejected by {closing.get('by')}: {closing.get('reason')}"
        if s == "expired":
            return f"expired: {closing.get('reason', 'nobody approved in time')}"
        if s == "escalated":
            return f"escalated to {closing.get('escalate_to')}"
        if s == "asked":
            return "needs information: " + "; ".join(closing.get("ask", []))
        if s == "denied":
            return "denied: " + "; ".join(closing.get("reasons", []))
        return s

    # ------------------------------------------------------------ proposing
    def _normalise(self, action: Any, by: Any, idempotency_key: Optional[str]) -> Tuple[dict, str, str, str]:
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
        tenant = (action.get("tenant") or {}).get("id")
        if tenant is not None and (not isinstance(tenant, str) or not tenant):
            raise InputError("`tenant.id` must be a non-empty string")
        agent = (action.get("agent") or {}).get("id")
        if agent is not None and (not isinstance(agent, str) or not agent):
            raise InputError("`agent.id` must be a non-empty string")
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
            key = _new_id("k_")
        if isinstance(key, bool) or not isinstance(key, (str, int)) or key == "":
            raise InputError("an idempotency key (or the action's `id`) must be a non-empty string")
        return action, tenant or "", agent, str(key)

    def _decided_action(self, proposed: dict, args: dict, t: float) -> dict:
        # in live use the gate's clock is the action's time: an agent's own timestamp could dodge budget windows
        a = dict(proposed)
        a["args"] = args
        a["timestamp"] = _iso(t)
        return a

    def _decide(self, tx: Tx, proposed: dict, args: dict, t: float, action_id: str) -> Decision:
        if self.policy is None:
            raise StateError("this needs the policy: the gate was opened without one")
        return self.policy.decide(self._decided_action(proposed, args, t), tx.ledger(action_id))

    def _route_specs(self, d: Decision) -> List[dict]:
        specs: List[dict] = []
        for r in d.reasons:
            if r.outcome != "require_approval" or r.advisory or r.route is None:
                continue
            if any(s["name"] == r.route["name"] for s in specs):
                continue
            ast = self.policy.program.routes.get(r.route["name"]) if self.policy else None
            spec = dict(r.route)
            spec["timeout_seconds"] = ast.timeout.seconds if ast is not None and ast.timeout is not None else None
            # a route the program does not know cannot be shown to allow grants: fail closed
            spec["grants_never"] = ast.grants_never if ast is not None else True
            specs.append(spec)
        if not specs:
            raise StateError("the decision requires approval but names no route")
        return specs

    @staticmethod
    def _deadline(routes: List[dict], start: float) -> Optional[float]:
        outs = [start + r["timeout_seconds"] for r in routes if r.get("timeout_seconds") is not None]
        return min(outs) if outs else None

    def propose(self, action: Any, by: Optional[Identity] = None, idempotency_key: Optional[str] = None,
                now: Optional[datetime] = None) -> Handle:
        """Decide an action and act on the outcome: allow executes now, require_approval drafts (or a standing
        grant approves), ask/escalate/deny close with a handle saying why. Malformed input raises InputError."""
        handle, job, notes = self._propose(action, by, idempotency_key, now, in_async=False)
        self._notify(notes)
        if job is not None:
            return self._run(job)
        return handle

    async def apropose(self, action: Any, by: Optional[Identity] = None, idempotency_key: Optional[str] = None,
                       now: Optional[datetime] = None) -> Handle:
        handle, job, notes = self._propose(action, by, idempotency_key, now, in_async=True)
        self._notify(notes)
        if job is not None:
            return await self._arun(job)
        return handle

    def _propose(self, action: Any, by: Any, idempotency_key: Optional[str], now_dt: Optional[datetime],
                 in_async: bool):
        if self.policy is None:
            raise StateError("proposing needs the policy: the gate was opened without one")
        try:  # the fail-closed guard of proposing: all input validation, and nothing else, runs inside
            action, tenant, proposer, key = self._normalise(action, by, idempotency_key)
            json_value(key, "idempotency key")   # text the store and JSON output can hold
        except GateError:
            raise
        except PatchError as e:
            raise InputError(e.args[0]) from None
        except RecursionError:
            raise InputError("the action is nested too deeply") from None
        except Exception:  # anything unforeseen in a proposal is its input error, never a traceback
            raise InputError("the action is not valid input") from None
        now = self._now(now_dt)
        notes: List[Notification] = []
        job = None
        with self.store.transaction() as tx:
            old = tx.find_action(tenant, key)
            if old is not None:
                if not same(old["proposed"], action):
                    raise InputError(f"idempotency key `{key}` was already used for a different action")
                # a retry: same answer, and an approved draft left behind by a crash runs now
                if old["state"] == "approved" and self._runnable(old["tool"], in_async):
                    job = self._claim(tx, old, now, notes)
                return self._handle(tx, tx.get_action(old["id"]), now), job, notes
            aid = _new_id("d_")
            args = action.get("args") or {}
            h = args_hash(action["tool"], args)
            d = self._decide(tx, action, args, now, aid)
            dd = d.to_dict()
            rec = {"id": aid, "tenant": tenant, "idem_key": key, "proposer": proposer, "tool": action["tool"],
                   "state": "drafted", "required": "allow", "proposed": action, "args": args, "patch": [],
                   "executed_args": None, "args_hash": h, "decision": dd, "last_decision": dd, "routes": [],
                   "deadline": None, "closing": None, "policy_digest": self.policy.digest, "stamp": _iso(now),
                   "created_at": now, "updated_at": now, "attempts": 0}
            digest = self.policy.digest
            at = _iso(now)
            proposed_ev = {"action": action, "idempotency_key": key, "args_hash": h}
            if d.outcome in _CLOSED_BY:
                rec["state"] = _CLOSED_BY[d.outcome]
                rec["closing"] = self._closing(d)
            elif d.outcome == "require_approval":
                rec["required"] = "require_approval"
                rec["routes"] = self._route_specs(d)
                rec["deadline"] = self._deadline(rec["routes"], now)
            else:
                rec["state"] = "approved"
            tx.insert_action(rec)
            tx.append_event(aid, "proposed", proposer, at, digest, proposed_ev)
            tx.append_event(aid, "decided", SYSTEM, at, digest, {"stage": "proposal", "decision": dd,
                                                               "state": rec["state"]})
            if rec["state"] == "drafted":
                if self._apply_grants(tx, rec, now):
                    rec["state"] = "approved"
                else:
                    notes.append(self._note("approval_needed", rec))
            elif rec["state"] == "escalated":
                notes.append(self._note("escalated", rec))
            if rec["state"] == "approved" and self._runnable(rec["tool"], in_async):
                # the decision just made is the one the claim would make: same transaction, same ledger
                job = self._reserve(tx, tx.get_action(aid), now, d)
            return self._handle(tx, tx.get_action(aid), now), job, notes

    @staticmethod
    def _closing(d: Decision) -> dict:
        out = {"outcome": d.outcome,
               "reasons": [r.message for r in d.reasons if not r.advisory and r.outcome == d.outcome]}
        if d.outcome == "ask":
            out["ask"] = d.ask
        if d.outcome == "escalate":
            out["escalate_to"] = d.escalate_to
        return out

    def _note(self, kind: str, rec: dict) -> Notification:
        closing = rec.get("closing") or {}
        roles: List[str] = []
        for r in rec["routes"]:
            roles.extend(x for x in r["approvers"] if x not in roles)
        d = rec["last_decision"]
        return Notification(kind=kind, action_id=rec["id"], tenant=rec["tenant"] or None, tool=rec["tool"],
                            args=rec["args"], roles=roles if kind == "approval_needed" else [],
                            routes=[r["name"] for r in rec["routes"]], to=closing.get("escalate_to"),
                            reasons=[r["message"] for r in d.get("reasons", []) if not r.get("advisory")],
                            deadline=_iso(rec["deadline"]) if rec.get("deadline") is not None else None)

    def _notify(self, notes: List[Notification]) -> None:
        """Send after the commit (a notification must never announce a draft that was rolled back); a channel
        that fails is recorded, never fatal: the draft waits in the store either way."""
        if not notes or not self.channels:
            return
        results = []
        for note in notes:
            for ch in self.channels:
                try:
                    ch.send(note)
                    results.append((note, ch, None))
                except Exception as e:  # a broken channel must not break the workflow
                    results.append((note, ch, f"{type(e).__name__}: {e}"))
        now = self._now(None)
        with self.store.transaction() as tx:
            for note, ch, err in results:
                tx.append_event(note.action_id, "notified", SYSTEM, _iso(now), self._digest(),
                                {"channel": getattr(ch, "name", type(ch).__name__), "kind": note.kind,
                                 "roles": note.roles, "to": note.to, "ok": err is None, "error": err})

    # ------------------------------------------------------------ standing grants
    def grant(self, by: Any, route: str, tool: str, expires_at: datetime, constraints: Optional[dict] = None,
              spend_cap: Optional[float] = None, spend_path: Optional[str] = None, comment: Optional[str] = None,
              now: Optional[datetime] = None) -> str:
        """A standing approval: `by` approves, for `route`, actions of `tool` whose arguments meet
        `constraints`, summing at most `spend_cap` of `args[spend_path]`, until `expires_at`. Returns its id."""
        if self.policy is None:
            raise StateError("granting needs the policy: the gate was opened without one")
        t = self._now(now)
        if not isinstance(route, str) or route not in self.policy.program.routes:
            raise InputError(f"route `{route}` is not declared in the policy")
        if not isinstance(tool, str) or not tool:
            raise InputError("a grant needs a tool name")
        if not isinstance(expires_at, datetime):
            raise InputError("a grant needs an expiry (`expires_at`, a datetime)")
        exp = _utc(expires_at).timestamp()
        if exp <= t:
            raise InputError(f"the grant would expire at {_iso(exp)}, which is not in the future")
        cons = self._check_constraints(constraints)
        if spend_cap is not None:
            if isinstance(spend_cap, bool) or not isinstance(spend_cap, (int, float)) or not math.isfinite(spend_cap) \
                    or spend_cap < 0:
                raise InputError("`spend_cap` must be a finite number of at least 0")
            if not isinstance(spend_path, str) or not spend_path:
                raise InputError("a spend cap needs `spend_path`, the argument it sums")
        elif spend_path is not None:
            raise InputError("`spend_path` without `spend_cap` caps nothing")
        if comment is not None and not isinstance(comment, str):
            raise InputError("a comment must be a string")
        r = self.policy.program.routes[route]
        with self.store.transaction() as tx:
            ident = self._identity(tx, by)
            if r.grants_never:
                raise PermissionDenied(f"route `{route}` forbids standing grants (`grants never`)")
            route_roles = role_keys(r.approvers)
            if not route_roles & role_keys(ident.roles):
                raise PermissionDenied(f"`{ident.id}` holds none of the roles of route `{route}`")
            gid = _new_id("g_")
            rec = {"id": gid, "tenant": ident.tenant or "", "grantor": ident.id,
                   "roles": sorted(x for x in ident.roles if id_key(x) in route_roles), "route": route, "tool": tool,
                   "constraints": cons, "spend_path": spend_path,
                   "spend_cap": float(spend_cap) if spend_cap is not None else None,
                   "expires_at": exp, "created_at": t, "comment": comment}
            tx.insert_grant(rec)
            ev = dict(rec)
            ev["expires_at"] = _iso(exp)
            ev["created_at"] = _iso(t)
            tx.append_event(None, "granted", ident.id, _iso(t), self.policy.digest, ev)
        return gid

    @staticmethod
    def _check_constraints(constraints: Any) -> dict:
        if constraints is None:
            return {}
        if not isinstance(constraints, dict):
            raise InputError("grant constraints must be an object mapping argument names to conditions")
        try:
            cons = json_value(constraints, "constraints")
        except PatchError as e:
            raise InputError(e.args[0]) from None
        for arg, c in cons.items():
            if not arg:
                raise InputError("a grant constraint names an empty argument")
            if not isinstance(c, dict) or not c:
                raise InputError(f"the constraint on `{arg}` must be an object like {{\"max\": 100}}")
            for op, v in c.items():
                if op in ("min", "max"):
                    if isinstance(v, bool) or not isinstance(v, (int, float)):
                        raise InputError(f"`{op}` of `{arg}` must be a number")
                elif op == "in":
                    if not isinstance(v, list):
                        raise InputError(f"`in` of `{arg}` must be a list")
                elif op != "eq":
                    raise InputError(f"unknown grant condition `{op}` on `{arg}` (use eq, in, min, max)")
        return cons

    @staticmethod
    def _grant_matches(g: dict, args: dict) -> Optional[float]:
        """The amount this action would spend of the grant, or None when the grant does not cover it."""
        for arg, c in g["constraints"].items():
            if arg not in args:
                return None
            v = args[arg]
            num = not isinstance(v, bool) and isinstance(v, (int, float))
            for op, x in c.items():
                if op == "eq" and not same(v, x):
                    return None
                if op == "in" and not any(same(v, y) for y in x):
                    return None
                if op == "min" and not (num and v >= x):
                    return None
                if op == "max" and not (num and v <= x):
                    return None
        if g["spend_cap"] is None:
            return 0.0
        amount = args.get(g["spend_path"])
        if isinstance(amount, bool) or not isinstance(amount, (int, float)) or amount < 0:
            return None   # an amount the cap cannot count is not covered
        if g["spent"] + amount > g["spend_cap"]:
            return None
        return float(amount)

    def _apply_grants(self, tx: Tx, rec: dict, now: float) -> bool:
        """Approve a fresh draft from standing grants when every route reaches its quorum with them."""
        routes = rec["routes"]
        if any(r["grants_never"] for r in routes):
            return False
        grants = []
        for g in tx.active_grants(rec["tenant"], rec["tool"], now):
            gl = grant_log(tx, g, g["id"])
            if not gl.ok:
                for p in gl.problems:
                    audit_log.warning("the store disagrees with the audit log: %s; the grant is ignored", p)
                continue
            # spending is what the log records, or more: a reset `spent` column never frees a cap
            grants.append(dict(g, spent=max(g["spent"], gl.spent)))
        if not grants:
            return False
        chosen: Dict[str, Tuple[dict, float]] = {}
        for r in routes:
            by_grantor: Dict[str, Tuple[dict, float]] = {}
            for g in grants:
                if g["route"] != r["name"] or _same_person(g["grantor"], rec["proposer"]):
                    continue
                # one grantor counts once however its id is spelled (spec §6, v1.1)
                if not role_keys(g["roles"]) & role_keys(r["approvers"]) or id_key(g["grantor"]) in by_grantor:
                    continue
                amount = self._grant_matches(g, rec["args"])
                if amount is not None:
                    by_grantor[id_key(g["grantor"])] = (g, amount)
            if len(by_grantor) < r["quorum"]:
                return False
            for grantor, (g, amount) in sorted(by_grantor.items())[:r["quorum"]]:
                chosen.setdefault(g["id"], (g, amount))
        at = _iso(now)
        for gid, (g, amount) in chosen.items():
            tx.use_grant(gid, rec["id"], amount, now)
            expires = min(now + self.approval_ttl, g["expires_at"])
            tx.add_approval({"action_id": rec["id"], "approver": g["grantor"], "roles": g["roles"],
                             "args_hash": rec["args_hash"], "at": now, "expires_at": expires, "grant_id": gid,
                             "comment": None})
            tx.append_event(rec["id"], "approved", g["grantor"], at, self._digest(rec),
                            {"grant": gid, "args_hash": rec["args_hash"], "spent": amount, "expires_at": _iso(expires),
                             "state": "approved"})
        tx.update_action(rec["id"], state="approved", updated_at=now)
        return True

    # ------------------------------------------------------------ human actions
    def _actor_checks(self, tx: Tx, rec: dict, ident: Identity) -> None:
        if (ident.tenant or "") != rec["tenant"]:
            raise PermissionDenied(f"`{ident.id}` cannot act on drafts of another tenant")
        if _same_person(ident.id, rec["proposer"]):
            raise PermissionDenied(f"`{ident.id}` proposed this action and cannot approve, edit or reject it")
        roles = {x for r in rec["routes"] for x in r["approvers"]}
        if not role_keys(roles) & role_keys(ident.roles):
            raise PermissionDenied(f"`{ident.id}` holds none of the roles that approve this draft "
                                   f"({', '.join(sorted(roles)) or 'none'})")

    def _open_draft(self, tx: Tx, action_id: Any, by: Any, now: float, states: Tuple[str, ...],
                    expected_hash: Optional[str], notes: List[Notification]) -> Tuple[dict, Identity, bool]:
        """Load a draft for a human action. Returns (record, identity, expired_now): an overdue draft is
        expired first, in the same transaction, so a late approval never slips in before the timeout runs."""
        rec = tx.get_action(self._check_id(action_id))
        if rec is None:
            raise NotFound(f"no draft `{action_id}`")
        ident = self._identity(tx, by)
        if (ident.tenant or "") != rec["tenant"]:
            raise PermissionDenied(f"`{ident.id}` cannot act on drafts of another tenant")
        if rec["state"] == "drafted" and rec["deadline"] is not None and rec["deadline"] <= now:
            self._expire(tx, rec, now, notes)
            return tx.get_action(rec["id"]), ident, True
        if rec["state"] not in states:
            raise StateError(f"draft `{rec['id']}` is {rec['state']}, not waiting for approval")
        if rec["required"] != "require_approval":
            raise StateError(f"draft `{rec['id']}` was allowed by the policy; there is nothing to approve")
        self._actor_checks(tx, rec, ident)
        if expected_hash is not None and expected_hash != rec["args_hash"]:
            raise StateError(f"draft `{rec['id']}` changed since it was viewed (now {rec['args_hash']})")
        return rec, ident, False

    def approve(self, action_id: str, by: Any, edits: Any = None, comment: Optional[str] = None,
                expected_hash: Optional[str] = None, now: Optional[datetime] = None) -> Handle:
        """Approve (optionally with edits, which are decided again first). Executes once the quorum is met
        if this process has the tool's executor; otherwise the draft waits, approved, for one that has."""
        t = self._now(now)
        comment = self._check_comment(comment)
        notes: List[Notification] = []
        with self.store.transaction() as tx:
            rec, ident, late = self._open_draft(tx, action_id, by, t, ("drafted",), expected_hash, notes)
            if not late:
                if edits is not None:
                    rec = self._edit(tx, rec, ident, edits, comment, t, notes)
                if rec["state"] == "drafted":
                    dl = self._log(tx, rec, "drafted")
                    new = {"action_id": rec["id"], "approver": ident.id, "roles": sorted(ident.roles),
                           "args_hash": rec["args_hash"], "at": t, "expires_at": t + self.approval_ttl,
                           "comment": comment, "grant_id": None}
                    # a row of hers the log does not justify (forged) must not block her real approval
                    forged = any(same_id(a["approver"], ident.id) and a["args_hash"] == rec["args_hash"]
                                 for a in tx.approvals(rec["id"])) and \
                        not any(same_id(a["approver"], ident.id) and a["args_hash"] == rec["args_hash"]
                                for a in dl.approvals)
                    added = tx.add_approval(new, replace=forged)
                    if added:
                        # what counts: the approvals the log justifies, this one in place of a lapsed one of hers
                        counted = [a for a in dl.approvals if not (same_id(a["approver"], ident.id)
                                                                   and a["args_hash"] == rec["args_hash"])]
                        ok, _ = route_progress(required_routes(rec, dl), counted + [new], rec["args_hash"], t)
                        tx.append_event(rec["id"], "approved", ident.id, _iso(t), self._digest(rec),
                                        {"args_hash": rec["args_hash"], "comment": comment,
                                         "roles": sorted(ident.roles), "expires_at": _iso(t + self.approval_ttl),
                                         "state": "approved" if ok else "drafted"})
                        if ok:
                            tx.update_action(rec["id"], state="approved", updated_at=t)
            rec = tx.get_action(rec["id"])
            h = self._handle(tx, rec, t)
        self._notify(notes)
        if late:
            raise StateError(f"draft `{rec['id']}` expired at {_iso(rec['deadline'])} before this approval")
        if h.state == "approved" and self._runnable(h.tool, False):
            return self.execute(h.id, now=now)
        return h

    def edit(self, action_id: str, by: Any, edits: Any, comment: Optional[str] = None,
             expected_hash: Optional[str] = None, now: Optional[datetime] = None) -> Handle:
        """Change a draft's arguments without approving it; the edit is decided again and the stricter stands."""
        if edits is None:
            raise InputError("an edit needs `edits`: an object (merge patch) or a list (JSON Patch)")
        t = self._now(now)
        comment = self._check_comment(comment)
        notes: List[Notification] = []
        with self.store.transaction() as tx:
            rec, ident, late = self._open_draft(tx, action_id, by, t, ("drafted",), expected_hash, notes)
            if not late:
                rec = self._edit(tx, rec, ident, edits, comment, t, notes)
            h = self._handle(tx, tx.get_action(rec["id"]), t)
        self._notify(notes)
        if late:
            raise StateError(f"draft `{h.id}` expired before this edit")
        return h

    def _edit(self, tx: Tx, rec: dict, ident: Identity, edits: Any, comment: Optional[str], t: float,
              notes: List[Notification]) -> dict:
        if self.policy is None:
            raise StateError("editing needs the policy: the edited action must be decided again")
        try:
            if isinstance(edits, dict):
                new_args = merge_patch(rec["args"], json_value(edits, "edits"))
            elif isinstance(edits, list):
                new_args = apply_patch(rec["args"], edits)
            else:
                raise InputError("edits must be an object (merge patch) or a list (JSON Patch)")
            new_args = json_value(new_args, "args")
        except PatchError as e:
            raise InputError(f"cannot apply the edits: {e.args[0]}") from None
        if not isinstance(new_args, dict):
            raise InputError("the edited arguments must be an object")
        try:
            check_action(self._decided_action(rec["proposed"], new_args, t))
        except ActionError as e:
            raise InputError(f"the edited action is not valid: {e.message}") from None
        if same(new_args, rec["args"]):
            return rec
        d = self._decide(tx, rec["proposed"], new_args, t, rec["id"])
        dd = d.to_dict()
        new_hash = args_hash(rec["tool"], new_args)
        proposed_args = rec["proposed"].get("args") or {}
        at = _iso(t)
        tx.append_event(rec["id"], "edited", ident.id, at, self._digest(rec),
                        {"patch": make_patch(rec["args"], new_args), "from_hash": rec["args_hash"],
                         "args_hash": new_hash, "comment": comment})
        fields: Dict[str, Any] = {"args": new_args, "patch": make_patch(proposed_args, new_args),
                                  "args_hash": new_hash, "last_decision": dd, "updated_at": t}
        if RANK[d.outcome] > RANK["require_approval"]:
            # the edit made the decision stricter: it stands and the draft closes with it
            fields.update(state=_CLOSED_BY[d.outcome], closing=dict(self._closing(d), by_edit=ident.id))
        elif d.outcome == "require_approval":
            routes = list(rec["routes"])
            added = [s for s in self._route_specs(d) if all(s["name"] != r["name"] for r in routes)]
            if added:
                # both decisions stand: the draft now needs the new routes' approvers as well
                routes.extend(added)
                fields.update(routes=routes, deadline=self._deadline(routes, rec["created_at"]))
        tx.update_action(rec["id"], **fields)
        tx.append_event(rec["id"], "decided", SYSTEM, at, self._digest(rec),
                        {"stage": "edit", "decision": dd, "state": fields.get("state", rec["state"])})
        if fields.get("state") == "escalated":
            notes.append(self._note("escalated", tx.get_action(rec["id"])))
        elif "routes" in fields:
            notes.append(self._note("approval_needed", tx.get_action(rec["id"])))
        return tx.get_action(rec["id"])

    def reject(self, action_id: str, by: Any, reason: str, now: Optional[datetime] = None) -> Handle:
        """Close a draft (waiting or approved but not yet executing); one eligible approver suffices."""
        if not isinstance(reason, str) or not reason.strip():
            raise InputError("a rejection needs a reason")
        t = self._now(now)
        notes: List[Notification] = []
        with self.store.transaction() as tx:
            rec, ident, late = self._open_draft(tx, action_id, by, t, ("drafted", "approved"), None, notes)
            if not late:
                tx.update_action(rec["id"], state="rejected", updated_at=t,
                                 closing={"outcome": "rejected", "by": ident.id, "reason": reason, "at": _iso(t)})
                tx.append_event(rec["id"], "rejected", ident.id, _iso(t), self._digest(rec),
                                {"reason": reason, "args_hash": rec["args_hash"]})
            h = self._handle(tx, tx.get_action(rec["id"]), t)
        self._notify(notes)
        if late:
            raise StateError(f"draft `{h.id}` expired before this rejection")
        return h

    @staticmethod
    def _check_comment(comment: Any) -> Optional[str]:
        if comment is not None and not isinstance(comment, str):
            raise InputError("a comment must be a string")
        return comment

    # ------------------------------------------------------------ timeouts
    def _expire(self, tx: Tx, rec: dict, now: float, notes: List[Notification]) -> None:
        due = [r for r in rec["routes"] if r.get("timeout_seconds") is not None]
        first = min(due, key=lambda r: r["timeout_seconds"])
        at = _iso(now)
        target = (first.get("on_timeout") or {}).get("to")
        tx.append_event(rec["id"], "expired", SYSTEM, at, self._digest(rec),
                        {"route": first["name"], "timeout": first["timeout"], "deadline": _iso(rec["deadline"])})
        if target:
            tx.update_action(rec["id"], state="escalated", updated_at=now,
                             closing={"outcome": "escalate", "escalate_to": target, "timeout": first["name"],
                                      "reason": f"nobody approved within {first['timeout']}"})
            tx.append_event(rec["id"], "escalated", SYSTEM, at, self._digest(rec),
                            {"to": target, "route": first["name"]})
            notes.append(self._note("escalated", tx.get_action(rec["id"])))
        else:
            tx.update_action(rec["id"], state="expired", updated_at=now,
                             closing={"outcome": "expired", "timeout": first["name"],
                                      "reason": f"nobody approved within {first['timeout']}"})

    def expire_due(self, now: Optional[datetime] = None) -> List[Handle]:
        """Expire every draft past its route's timeout (recorded, then escalated where the route says so)."""
        t = self._now(now)
        notes: List[Notification] = []
        with self.store.transaction() as tx:
            due = tx.due_drafts(t)
            for rec in due:
                self._expire(tx, rec, t, notes)
            out = [self._handle(tx, tx.get_action(r["id"]), t) for r in due]
        self._notify(notes)
        return out

    # ------------------------------------------------------------ execution
    def _reserve(self, tx: Tx, rec: dict, now: float, d: Decision) -> Tuple[str, int]:
        """Approved → executing: count the action in the budget ledger in the same transaction that decided it."""
        if not tx.ledger_has(rec["id"]):
            self.policy.record(self._decided_action(rec["proposed"], rec["args"], now), tx.ledger(rec["id"]))
        attempt = rec["attempts"] + 1
        tx.update_action(rec["id"], state="executing", attempts=attempt, lease_until=now + self.lease,
                         executed_args=rec["args"], updated_at=now)
        tx.append_event(rec["id"], "executing", SYSTEM, _iso(now), self._digest(rec),
                        {"attempt": attempt, "args_hash": rec["args_hash"], "args": rec["args"]})
        return rec["id"], attempt

    def _claim(self, tx: Tx, rec: dict, now: float, notes: List[Notification]) -> Optional[Tuple[str, int]]:
        """Decide an approved draft again with the current policy and ledger; the stricter decision stands.
        Returns the job to run, or None when the draft went back to waiting or closed."""
        if rec["state"] != "approved":
            return None
        at = _iso(now)
        dl = self._log(tx, rec, "approved")
        approvals = dl.approvals   # only what the audit log justifies counts (spec §6, v1.1)
        if rec["required"] == "require_approval" or dl.routes:
            ok, _ = route_progress(required_routes(rec, dl), approvals, rec["args_hash"], now)
            if not ok:
                tx.update_action(rec["id"], state="drafted", updated_at=now)
                tx.append_event(rec["id"], "expired", SYSTEM, at, self._digest(rec),
                                {"reason": "approvals lapsed before execution", "state": "drafted"})
                notes.append(self._note("approval_needed", tx.get_action(rec["id"])))
                return None
        d = self._decide(tx, rec["proposed"], rec["args"], now, rec["id"])
        dd = d.to_dict()
        fields: Dict[str, Any] = {"last_decision": dd, "updated_at": now}
        state = "approved"
        if d.outcome in _CLOSED_BY:
            state = _CLOSED_BY[d.outcome]
            fields.update(state=state, closing=self._closing(d))
        elif d.outcome == "require_approval":
            routes = required_routes(rec, dl)
            routes.extend(s for s in self._route_specs(d) if all(s["name"] != r["name"] for r in routes))
            ok, _ = route_progress(routes, approvals, rec["args_hash"], now)
            if not ok:
                # the current policy wants approvals this draft does not have: it waits for them
                state = "drafted"
                fields.update(state=state, routes=routes, required="require_approval",
                              deadline=self._deadline(routes, now))
        tx.update_action(rec["id"], **fields)
        tx.append_event(rec["id"], "decided", SYSTEM, at, self._digest(rec),
                        {"stage": "execution", "decision": dd, "state": state})
        if state == "escalated":
            notes.append(self._note("escalated", tx.get_action(rec["id"])))
        if state == "drafted":
            notes.append(self._note("approval_needed", tx.get_action(rec["id"])))
        if state != "approved":
            return None
        return self._reserve(tx, tx.get_action(rec["id"]), now, d)

    def _claim_for_execution(self, action_id: str, now: Optional[datetime], is_async: bool):
        """The claim both `execute` and `aexecute` make: (job to run or None, the draft's handle)."""
        t = self._now(now)
        notes: List[Notification] = []
        with self.store.transaction() as tx:
            rec = tx.get_action(self._check_id(action_id))
            if rec is None:
                raise NotFound(f"no draft `{action_id}`")
            job = self._claim(tx, rec, t, notes) if self._runnable(rec["tool"], is_async) else None
            h = self._handle(tx, tx.get_action(rec["id"]), t)
        self._notify(notes)
        return job, h

    def execute(self, action_id: str, now: Optional[datetime] = None) -> Handle:
        """Run an approved draft here (once, whoever else tries); anything else returns its handle unchanged."""
        job, h = self._claim_for_execution(action_id, now, False)
        return self._run(job) if job is not None else h

    async def aexecute(self, action_id: str, now: Optional[datetime] = None) -> Handle:
        job, h = self._claim_for_execution(action_id, now, True)
        return await self._arun(job) if job is not None else h

    def _context(self, job: Tuple[str, int]) -> Tuple[Executor, dict, ExecutionContext]:
        with self.store.snapshot() as tx:
            rec = tx.get_action(job[0])
        ex = self._executors[rec["tool"]]
        ctx = ExecutionContext(rec["id"], rec["idem_key"], job[1], rec["tool"],
                               self._decided_action(rec["proposed"], rec["executed_args"], rec["updated_at"]))
        return ex, dict(rec["executed_args"]), ctx

    def _run(self, job: Tuple[str, int]) -> Handle:
        ex, args, ctx = self._context(job)
        token = _CURRENT.set(ctx)
        try:
            value = ex.fn(args, ctx)
            if inspect.isawaitable(value):
                value = asyncio.run(_await(value))
        except Exception as e:  # the tool failed: recorded as failed, never retried blindly
            return self._finish(job, False, None, e)
        finally:
            _CURRENT.reset(token)
        return self._finish(job, True, value, None)

    async def _arun(self, job: Tuple[str, int]) -> Handle:
        ex, args, ctx = self._context(job)
        token = _CURRENT.set(ctx)
        try:
            value = ex.fn(args, ctx)
            if inspect.isawaitable(value):
                value = await value
        except Exception as e:
            return self._finish(job, False, None, e)
        finally:
            _CURRENT.reset(token)
        return self._finish(job, True, value, None)

    def _finish(self, job: Tuple[str, int], ok: bool, value: Any, exc: Optional[BaseException]) -> Handle:
        aid, attempt = job
        t = self._now(None)
        try:
            stored = {"value": json_value(value, "result")} if ok else None
        except PatchError:
            stored = {"repr": repr(value)[:2000]}
        error = None if ok else f"{type(exc).__name__}: {exc}"
        with self.store.transaction() as tx:
            rec = tx.get_action(aid)
            current = rec["attempts"] == attempt
            interrupted = rec["state"] == "failed" and (rec["closing"] or {}).get("interrupted")
            payload = {"attempt": attempt, "args_hash": rec["args_hash"]}
            if ok:
                payload["result"] = stored
            else:
                payload["error"] = error
            if current and (rec["state"] == "executing" or (interrupted and ok)):
                tx.update_action(aid, state="executed" if ok else "failed", result=stored, error=error,
                                 lease_until=None, updated_at=t, closing=None if ok else rec["closing"])
            else:
                # another attempt owns the record now; what this one did is still recorded
                payload["superseded"] = True
            tx.append_event(aid, "executed" if ok else "failed", SYSTEM, _iso(t), self._digest(rec), payload)
            h = self._handle(tx, tx.get_action(aid), t)
        if ok:
            h.result = value
        else:
            h.exception = exc
        return h

    def resume(self, now: Optional[datetime] = None) -> List[Handle]:
        """After a restart: run approved drafts this process has executors for, and settle executions whose
        process died (lease over): idempotent tools run again with the same key, others are marked failed."""
        t = self._now(now)
        out: List[Handle] = []
        with self.store.snapshot() as tx:
            approved = [r["id"] for r in tx.list_actions(("approved",)) if self._runnable(r["tool"], False)]
        for aid in approved:
            try:
                out.append(self.execute(aid, now=now))
            except TamperError:
                continue   # reported to the `signoff.audit` logger; the other drafts still run
        jobs = []
        with self.store.transaction() as tx:
            for rec in tx.stale_executions(t):
                ex = self._executors.get(rec["tool"])
                if ex is None:
                    continue   # not ours to judge: a process with this executor settles it
                try:
                    self._log(tx, rec, "executing")
                except TamperError:
                    continue   # an execution the log does not show is neither re-run nor settled
                if ex.idempotent and self._runnable(rec["tool"], False):
                    jobs.append(self._reserve(tx, rec, t, None))
                else:
                    err = "execution was interrupted and may or may not have taken effect; not retried " \
                          "because the tool is not idempotent"
                    tx.update_action(rec["id"], state="failed", error=err, lease_until=None, updated_at=t,
                                     closing={"interrupted": True})
                    tx.append_event(rec["id"], "failed", SYSTEM, _iso(t), self._digest(rec),
                                    {"attempt": rec["attempts"], "error": err, "interrupted": True})
                    out.append(self._handle(tx, tx.get_action(rec["id"]), t))
        for job in jobs:
            out.append(self._run(job))
        return out

    # ------------------------------------------------------------ history
    def history(self, tenant: Optional[str] = None) -> Iterator[dict]:
        with self.store.snapshot() as tx:
            return iter(list(history(tx, tenant)))


async def _await(value: Any) -> Any:
    return await value


def history(tx: Tx, tenant: Optional[str] = None) -> Iterator[dict]:
    """Every proposal as a spec §2 historical action: as proposed, at the time the gate decided it, with the
    human verdict (approved | edited | rejected | expired) and whether it executed. Who did what comes from
    the draft's audit records, one name per human act (finding 17)."""
    for rec in tx.list_actions(None, tenant):
        line = dict(rec["proposed"])
        line["timestamp"] = rec["stamp"]
        human = _verdict(rec, _acts(tx.events(rec["id"])))
        if human is not None:
            line["human"] = human
        line["executed"] = rec["state"] == "executed"
        grants = sorted({a["grant_id"] for a in tx.approvals(rec["id"]) if a["grant_id"]})
        line["signoff"] = {"draft": rec["id"], "state": rec["state"], "grants": grants,
                           "executed_args": rec["executed_args"]}
        yield line


def _acts(rows: List[dict]) -> List[dict]:
    """The human acts among a draft's records: (kind, actor, at, payload), in log order."""
    out = []
    for r in rows:
        if r["kind"] in ("approved", "edited", "rejected"):
            try:
                payload = json.loads(r["payload"])
            except ValueError:
                continue
            out.append({"kind": r["kind"], "by": r["actor"], "at": r["at"],
                        "payload": payload if isinstance(payload, dict) else {}})
    return out


def _distinct(names: Iterable[str]) -> List[str]:
    seen: Dict[Optional[str], str] = {}
    for n in names:
        seen.setdefault(id_key(n), n)
    return list(seen.values())


def _verdict(rec: dict, acts: List[dict]) -> Optional[dict]:
    """`by`/`at`: the act that gave the verdict (the rejection, the last edit, or the approval completing the
    quorum); `edited_by`: every editor, in order; `approved_by`: every approver of the final arguments, in
    order (grantors of standing grants included) — both lists of distinct canonical ids, as first written."""
    closing = rec["closing"] or {}
    if rec["required"] != "require_approval":
        return None
    edits = [a for a in acts if a["kind"] == "edited"]
    final = [a for a in acts if a["kind"] == "approved" and a["payload"].get("args_hash") == rec["args_hash"]]
    out: Dict[str, Any] = {"edited_by": _distinct(a["by"] for a in edits),
                           "approved_by": _distinct(a["by"] for a in final)}
    if rec["state"] == "rejected":
        return dict(out, verdict="rejected", by=closing.get("by"), at=closing.get("at"))
    if closing.get("timeout") is not None:
        return dict(out, verdict="expired", by=None, at=_iso(rec["updated_at"]))
    if closing.get("by_edit"):
        return dict(out, verdict="edited", by=closing["by_edit"], at=edits[-1]["at"] if edits else
                    _iso(rec["updated_at"]), edited_args=rec["args"])
    if not final or rec["state"] == "drafted":
        return None
    if rec["patch"] and edits:
        # an edited verdict is the editor's: the approvers who let the edited arguments run are `approved_by`
        return dict(out, verdict="edited", by=edits[-1]["by"], at=edits[-1]["at"], edited_args=rec["args"])
    return dict(out, verdict="approved", by=final[-1]["by"], at=final[-1]["at"])
