"""`Gate`: proposals, drafts, human approvals, standing grants and exactly-once execution over a Store.

Gate is a facade of the public verbs; the steps live by concern in `proposals`, `grants`, `human`,
`execution`, `leases` and `views`, over the typed records and `transition()` of `records`. This module keeps
re-exporting what it always exported (errors, states, `args_hash`, `route_progress`, `history`…).
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence

from ..decide.evaluator import Policy
from . import execution, grants, human, leases, proposals
from .channels import Channel
from .errors import GateError, InputError, NotFound, PermissionDenied, StateError, TamperError
from .handles import ExecutionContext, Executor, Handle, Pending, current_execution
from .leases import Claim
from .shadow import candidates
from .records import STATES, SYSTEM, TERMINAL, TRANSITIONS, args_hash, list_drafts, route_progress
from .shared import get_draft, notify, now_of, runnable
from .store import Identity, Store, VerifyResult, verify_store
from .views import handle, history

__all__ = ["Gate", "Handle", "Pending", "Identity", "Executor", "ExecutionContext", "GateError", "InputError",
           "PermissionDenied", "StateError", "NotFound", "TamperError", "STATES", "TERMINAL", "TRANSITIONS", "SYSTEM",
           "current_execution", "args_hash", "history", "route_progress"]


class Gate:
    """Ties a policy, a store, executors per tool and notification channels together.

    `policy` may be None for a gate that only reads, approves without edits, or rejects (the CLI's
    case); `clock` gives the time of every act; approvals last `approval_ttl`; an execution whose process
    died is settled after `lease`; `identities` are registered in the store; `defaults` are fields every
    action of `@gate.tool` carries; `shadow` are candidate policies that decide every proposal too, each decision
    recorded in the audit log (a `shadow` record) and never enforced.
    """

    def __init__(self, policy: Optional[Policy], store: Store, executors: Optional[Mapping[str, Any]] = None,
                 channels: Sequence[Channel] = (), clock: Optional[Callable[[], datetime]] = None,
                 approval_ttl: timedelta = timedelta(hours=24), lease: timedelta = timedelta(minutes=15),
                 identities: Iterable[Identity] = (), defaults: Optional[Mapping[str, Any]] = None,
                 shadow: Sequence[Policy] = ()):
        self.policy = policy
        self.shadow: List[Policy] = candidates(shadow)
        self.store = store
        self.channels = list(channels)
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(timezone.utc))
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

    def tool(self, name: str, idempotent: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator: gate a plain function (sync or async) as the tool `name` (see engine.live.sdk)."""
        from .sdk import gated_tool
        return lambda fn: gated_tool(self, name, fn, idempotent)

    # ------------------------------------------------------------ reading
    def get(self, action_id: str) -> Handle:
        """The handle of the draft with that id (NotFound when there is none)."""
        with self.store.snapshot() as tx:
            return handle(tx, get_draft(tx, action_id), now_of(self, None))

    status = get

    def pending(self, tenant: Optional[str] = None) -> List[Handle]:
        """The drafts waiting for approval (of one tenant, or all), oldest first."""
        with self.store.snapshot() as tx:
            t = now_of(self, None)
            return [handle(tx, d, t) for d in list_drafts(tx, ("drafted",), tenant)]

    def verify(self, state: bool = True) -> VerifyResult:
        """The audit log's chain and, with `state`, the state tables against a replay of it."""
        with self.store.snapshot() as tx:
            return verify_store(tx, state)

    def history(self, tenant: Optional[str] = None) -> Iterator[dict]:
        """Every proposal as a spec §2 historical action (see `engine.live.views.history`)."""
        with self.store.snapshot() as tx:
            return iter(list(history(tx, tenant)))

    # ------------------------------------------------------------ proposing
    def propose(self, action: Any, by: Optional[Identity] = None, idempotency_key: Optional[str] = None,
                now: Optional[datetime] = None) -> Handle:
        """Decide an action and act on the outcome: allow executes now, require_approval drafts (or a standing
        grant approves), ask/escalate/deny close with a handle saying why. Malformed input raises InputError."""
        h, job, notes = proposals.propose(self, action, by, idempotency_key, now, in_async=False)
        notify(self, notes)
        return execution.run(self, job) if job is not None else h

    async def apropose(self, action: Any, by: Optional[Identity] = None, idempotency_key: Optional[str] = None,
                       now: Optional[datetime] = None) -> Handle:
        """`propose` for an event loop: an async executor runs in it."""
        h, job, notes = proposals.propose(self, action, by, idempotency_key, now, in_async=True)
        notify(self, notes)
        return await execution.arun(self, job) if job is not None else h

    # ------------------------------------------------------------ standing grants
    def grant(self, by: Any, route: str, tool: str, expires_at: datetime, constraints: Optional[dict] = None,
              spend_cap: Optional[float] = None, spend_path: Optional[str] = None, comment: Optional[str] = None,
              now: Optional[datetime] = None) -> str:
        """A standing approval: `by` approves, for `route`, actions of `tool` whose arguments meet
        `constraints`, summing at most `spend_cap` of `args[spend_path]`, until `expires_at`. Returns its id."""
        return grants.grant(self, by, route, tool, expires_at, constraints, spend_cap, spend_path, comment, now)

    # ------------------------------------------------------------ human acts
    def approve(self, action_id: str, by: Any, edits: Any = None, comment: Optional[str] = None,
                expected_hash: Optional[str] = None, now: Optional[datetime] = None) -> Handle:
        """Approve (optionally with edits, which are decided again first). Executes once the quorum is met
        if this process has the tool's executor; otherwise the draft waits, approved, for one that has."""
        h = human.approve(self, action_id, by, edits, comment, expected_hash, now)
        if h.state == "approved" and runnable(self, h.tool, False):
            return self.execute(h.id, now=now)
        return h

    def edit(self, action_id: str, by: Any, edits: Any, comment: Optional[str] = None,
             expected_hash: Optional[str] = None, now: Optional[datetime] = None) -> Handle:
        """Change a draft's arguments without approving it; the edit is decided again and the stricter stands."""
        return human.edit(self, action_id, by, edits, comment, expected_hash, now)

    def reject(self, action_id: str, by: Any, reason: str, now: Optional[datetime] = None) -> Handle:
        """Close a draft (waiting or approved but not yet executing); one eligible approver suffices."""
        return human.reject(self, action_id, by, reason, now)

    def expire_due(self, now: Optional[datetime] = None) -> List[Handle]:
        """Expire every draft past its route's timeout (recorded, then escalated where the route says so)."""
        return human.expire_due(self, now)

    # ------------------------------------------------------------ execution
    def execute(self, action_id: str, now: Optional[datetime] = None) -> Handle:
        """Run an approved draft here (once, whoever else tries); anything else returns its handle unchanged."""
        job, h = execution.claim_for_execution(self, action_id, now, False)
        return execution.run(self, job) if job is not None else h

    async def aexecute(self, action_id: str, now: Optional[datetime] = None) -> Handle:
        """`execute` for an event loop: an async executor runs in it."""
        job, h = execution.claim_for_execution(self, action_id, now, True)
        return await execution.arun(self, job) if job is not None else h

    def resume(self, now: Optional[datetime] = None) -> List[Handle]:
        """After a restart: run approved drafts this process has executors for, and settle executions whose
        process died (lease over): idempotent tools run again with the same key, others are marked failed."""
        return execution.resume(self, now)

    # ------------------------------------------------------------ execution elsewhere (an agent over HTTP)
    def claim(self, action_id: str, by: Any, now: Optional[datetime] = None) -> Claim:
        """Claim an approved draft for its proposer `by` to execute elsewhere: decided once more first (the
        stricter decision stands), counted in the budgets, leased for `lease`. StateError when it is not
        approved (a live lease included) or deciding again sent it back to waiting or closed it."""
        return leases.claim(self, action_id, by, now)

    def complete(self, action_id: str, lease: str, ok: bool, result: Any, by: Any,
                 now: Optional[datetime] = None) -> Handle:
        """Record what the executor of a claim did: executed with `result` when `ok`, else failed (`result` is
        then its own words). StateError for a lease that is not current or ran out (settled as interrupted)."""
        return leases.complete(self, action_id, lease, ok, result, by, now)

    def settle_leases(self, now: Optional[datetime] = None) -> List[Handle]:
        """Settle, as interrupted (failed), every claimed execution whose lease ran out and whose tool has no
        executor in this process (`resume` judges those); what a server's worker runs on a schedule."""
        return leases.settle_leases(self, now)
