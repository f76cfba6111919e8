"""The workflow's typed records (Draft, Approval, Grant, Route), the state table and `transition()`.

The store keeps rows as dicts (the Store/Tx contract); this module is the one place they become records
(`Draft.from_row`, `load_draft`, …) and go back (`to_row`). Every change of a draft's state goes through
`transition()`, which refuses (raising, so the surrounding transaction rolls back) a change `TRANSITIONS`
does not allow.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any, Dict, FrozenSet, List, Mapping, Optional, Sequence, Tuple, Union

from ..decide.actions import format_timestamp
from ..decide.graph import Route
from .errors import InputError, StateError
from .identity import id_key, role_keys
from .patch import canonical, sha256_hex
from .store import StoreError, Tx

__all__ = ["SYSTEM", "STATES", "TERMINAL", "TRANSITIONS", "CLOSED_BY", "Route", "Draft", "Approval", "Grant",
           "args_hash", "route_progress", "load_draft", "find_draft", "list_drafts", "due_drafts",
           "stale_executions", "approvals_of", "as_approvals", "add_approval", "active_grants", "create",
           "transition", "update"]

SYSTEM = "signoff"   # the actor of events no human caused

# drafted → approved → executing → executed | failed, plus the ways a proposal or draft closes early.
STATES = ("drafted", "approved", "executing", "executed", "failed", "rejected", "expired", "escalated",
          "denied", "asked")
TERMINAL = frozenset({"executed", "failed", "rejected", "expired", "escalated", "denied", "asked"})
TRANSITIONS: Dict[Optional[str], FrozenSet[str]] = {
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
CLOSED_BY = {"deny": "denied", "ask": "asked", "escalate": "escalated"}   # decision outcome -> closed state


# ---------------------------------------------------------------- small helpers

def args_hash(tool: Optional[str], args: Any) -> str:
    """What an approval is bound to: the canonical JSON of tool and arguments (a forged record may name no
    tool: it hashes all the same, and then matches nothing)."""
    return "sha256:" + sha256_hex(canonical({"tool": tool, "args": args}))


def utc(dt: Any) -> datetime:
    """A datetime with a time zone (naive ones are UTC); InputError for anything else."""
    if not isinstance(dt, datetime):
        raise InputError(f"`{dt!r}` is not a datetime")
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=timezone.utc)


def iso(t: float) -> str:
    """Seconds since the epoch as the RFC 3339 text the audit log holds."""
    return format_timestamp(datetime.fromtimestamp(t, timezone.utc))


def new_id(prefix: str) -> str:
    """A fresh random id (`d_…` drafts, `g_…` grants, `k_…` idempotency keys)."""
    return prefix + uuid.uuid4().hex


# ---------------------------------------------------------------- the records

@dataclass(frozen=True)
class Draft:
    """One proposal and where it stands: a row of the `actions` table, typed.

    JSON values (`proposed`, `args`, `decision`, `closing`…) are kept as decoded; `routes` are the routes
    the draft needs, each with its timeout in seconds and whether grants may stand in.
    """
    id: str
    tenant: str
    idem_key: str
    proposer: str
    tool: str
    state: str
    required: str
    proposed: Dict[str, Any]
    args: Dict[str, Any]
    patch: List[Any]
    executed_args: Optional[Dict[str, Any]]
    args_hash: str
    decision: Dict[str, Any]
    last_decision: Dict[str, Any]
    routes: Tuple[Route, ...]
    deadline: Optional[float]
    closing: Optional[Dict[str, Any]]
    policy_digest: str
    stamp: str
    created_at: float
    updated_at: float
    result: Optional[Dict[str, Any]] = None
    error: Optional[str] = None
    attempts: int = 0
    lease_until: Optional[float] = None
    seq: Optional[int] = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> "Draft":
        """The record of a stored row (JSON columns decoded, as the store returns them).

        A row holding a value of a shape the workflow never writes (a store changed outside signoff) is
        a StoreError here, never an AttributeError or TypeError further on.
        """
        bad = _bad_draft_column(row)
        if bad is not None:
            raise StoreError(f"the stored draft `{row.get('id')}` holds a `{bad}` the workflow never writes: the "
                             "store was changed outside signoff (run `signoff audit verify`)")
        return cls(row["id"], row["tenant"], row["idem_key"], row["proposer"], row["tool"], row["state"],
                   row["required"], row["proposed"], row["args"], row["patch"], row["executed_args"],
                   row["args_hash"], row["decision"], row["last_decision"],
                   tuple(Route.from_dict(r) for r in row["routes"]), row["deadline"], row["closing"],
                   row["policy_digest"], row["stamp"], row["created_at"], row["updated_at"], row.get("result"),
                   row.get("error"), row.get("attempts", 0), row.get("lease_until"), row.get("seq"))

    def to_row(self) -> Dict[str, Any]:
        """The row the store keeps (without `seq`, which the store numbers)."""
        return {"id": self.id, "tenant": self.tenant, "idem_key": self.idem_key, "proposer": self.proposer,
                "tool": self.tool, "state": self.state, "required": self.required, "proposed": self.proposed,
                "args": self.args, "patch": self.patch, "executed_args": self.executed_args,
                "args_hash": self.args_hash, "decision": self.decision, "last_decision": self.last_decision,
                "routes": self.route_dicts(), "deadline": self.deadline, "closing": self.closing,
                "policy_digest": self.policy_digest, "stamp": self.stamp, "created_at": self.created_at,
                "updated_at": self.updated_at, "result": self.result, "error": self.error,
                "attempts": self.attempts, "lease_until": self.lease_until}

    def route_dicts(self) -> List[Dict[str, Any]]:
        """The routes as stored (`Route.as_dict(full=True)`)."""
        return [r.as_dict(full=True) for r in self.routes]

    @property
    def waiting(self) -> bool:
        """Whether the draft still waits for humans or an executor (drafted, approved, executing)."""
        return self.state in ("drafted", "approved", "executing")


_NUM = (int, float)
_DRAFT_COLUMNS: Dict[str, Tuple[type, ...]] = {
    "id": (str,), "tenant": (str,), "idem_key": (str,), "proposer": (str,), "tool": (str,), "state": (str,),
    "required": (str,), "proposed": (dict,), "args": (dict,), "patch": (list,), "executed_args": (dict, type(None)),
    "args_hash": (str,), "decision": (dict,), "last_decision": (dict,), "routes": (list,),
    "deadline": _NUM + (type(None),), "closing": (dict, type(None)), "policy_digest": (str,), "stamp": (str,),
    "created_at": _NUM, "updated_at": _NUM, "error": (str, type(None)), "attempts": (int,),
    "lease_until": _NUM + (type(None),),
}


def _strings(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def _bad_draft_column(row: Mapping[str, Any]) -> Optional[str]:
    """The first column of a draft's row whose value has a shape the workflow never writes, or None."""
    for col, kinds in _DRAFT_COLUMNS.items():
        if col not in row and col in ("error", "attempts", "lease_until"):
            continue
        if col not in row or not isinstance(row[col], kinds):
            return col
    for r in row["routes"]:
        if not isinstance(r, dict) or not isinstance(r.get("name"), str) or not _strings(r.get("approvers")) \
                or isinstance(r.get("quorum"), bool) or not isinstance(r.get("quorum"), int) \
                or not isinstance(r.get("timeout_seconds"), _NUM + (type(None),)) \
                or not isinstance(r.get("on_timeout"), (dict, type(None))):
            return "routes"
    reasons = row["last_decision"].get("reasons", [])
    if not isinstance(reasons, list) or not all(isinstance(r, dict) and isinstance(r.get("message"), str)
                                                for r in reasons):
        return "last_decision"
    closing = row["closing"] or {}
    if not all(_strings(closing.get(k, [])) for k in ("ask", "reasons")):
        return "closing"
    return None


def _names(v: Any) -> Tuple[str, ...]:
    # roles as stored; a tampered value of another shape holds no role (fail closed: it approves nothing)
    return tuple(x for x in v if isinstance(x, str)) if isinstance(v, (list, tuple)) else ()


@dataclass(frozen=True)
class Approval:
    """One approver's approval of one draft's arguments (`args_hash`), until `expires_at`; `grant_id` when a
    standing grant gave it."""
    action_id: str
    approver: str
    roles: Tuple[str, ...]
    args_hash: str
    at: float
    expires_at: float
    grant_id: Optional[str] = None
    comment: Optional[str] = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> "Approval":
        """The record of an approval row (or of an approval the audit log holds, which has no `action_id`)."""
        return cls(row.get("action_id", ""), row["approver"], _names(row.get("roles")), row["args_hash"],
                   row["at"], row["expires_at"], row.get("grant_id"), row.get("comment"))

    def to_row(self) -> Dict[str, Any]:
        """The row the store keeps."""
        return {"action_id": self.action_id, "approver": self.approver, "roles": list(self.roles),
                "args_hash": self.args_hash, "at": self.at, "expires_at": self.expires_at,
                "grant_id": self.grant_id, "comment": self.comment}


@dataclass(frozen=True)
class Grant:
    """A standing approval by `grantor` for `route` and `tool`: arguments within `constraints`, at most
    `spend_cap` of `args[spend_path]` in all (`spent` so far), until `expires_at`."""
    id: str
    tenant: str
    grantor: str
    roles: Tuple[str, ...]
    route: str
    tool: str
    constraints: Dict[str, Any]
    spend_path: Optional[str]
    spend_cap: Optional[float]
    expires_at: float
    created_at: float
    comment: Optional[str] = None
    spent: float = 0.0

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> "Grant":
        """The record of a grant row; a row changed outside signoff is caught by the audit check after it
        (`grant_log` over `to_row()`), so only `roles` is normalised here (another shape holds no role)."""
        return cls(row["id"], row["tenant"], row["grantor"], _names(row.get("roles")), row["route"], row["tool"],
                   row["constraints"], row.get("spend_path"), row.get("spend_cap"), row["expires_at"],
                   row["created_at"], row.get("comment"), row.get("spent", 0.0))

    def to_row(self) -> Dict[str, Any]:
        """The row the store keeps."""
        return {"id": self.id, "tenant": self.tenant, "grantor": self.grantor, "roles": list(self.roles),
                "route": self.route, "tool": self.tool, "constraints": self.constraints,
                "spend_path": self.spend_path, "spend_cap": self.spend_cap, "spent": self.spent,
                "expires_at": self.expires_at, "created_at": self.created_at, "comment": self.comment}


# ---------------------------------------------------------------- what counts

RouteLike = Union[Route, Mapping[str, Any]]
ApprovalLike = Union[Approval, Mapping[str, Any]]


def route_progress(routes: Sequence[RouteLike], approvals: Sequence[ApprovalLike], hash_: str, now: float
                   ) -> Tuple[bool, List[Dict[str, Any]]]:
    """Per route, the distinct approvers whose approval counts: bound to the current arguments, unexpired,
    holding one of the route's roles. The draft is approved when every route reaches its quorum.

    Distinct means distinct canonical ids (spec §6, v1.1): `alice` and `Alice` are one approver. Routes and
    approvals are records or their dict forms (rows, or what the audit log holds).
    """
    typed = [a if isinstance(a, Approval) else Approval.from_row(a) for a in approvals]
    valid = [a for a in typed if a.args_hash == hash_ and a.expires_at > now]
    valid.sort(key=lambda a: (a.at, a.approver))
    out, ok = [], True
    for route in routes:
        r = route if isinstance(route, Route) else Route.from_dict(route)
        roles = role_keys(r.approvers)
        who: Dict[str, str] = {}   # canonical id -> the id as first written, for display
        for a in valid:
            if roles & role_keys(a.roles):
                who.setdefault(id_key(a.approver) or "", a.approver)
        out.append({"name": r.name, "approvers": list(r.approvers), "quorum": r.quorum,
                    "approved_by": sorted(who.values())})
        ok = ok and len(who) >= r.quorum
    return ok, out


# ---------------------------------------------------------------- reading and writing (the boundary)

def load_draft(tx: Tx, action_id: str) -> Optional[Draft]:
    """The draft with that id, or None."""
    row = tx.get_action(action_id)
    return Draft.from_row(row) if row is not None else None


def find_draft(tx: Tx, tenant: str, idem_key: str) -> Optional[Draft]:
    """The tenant's proposal with that idempotency key, or None."""
    row = tx.find_action(tenant, idem_key)
    return Draft.from_row(row) if row is not None else None


def list_drafts(tx: Tx, states: Optional[Sequence[str]] = None, tenant: Optional[str] = None) -> List[Draft]:
    """Drafts in those states (all when None), of one tenant or all, oldest first."""
    return [Draft.from_row(r) for r in tx.list_actions(states, tenant)]


def due_drafts(tx: Tx, now: float) -> List[Draft]:
    """Drafts still waiting whose deadline is at or before `now`, oldest first."""
    return [Draft.from_row(r) for r in tx.due_drafts(now)]


def stale_executions(tx: Tx, now: float) -> List[Draft]:
    """Executions whose lease ended at or before `now`, oldest first."""
    return [Draft.from_row(r) for r in tx.stale_executions(now)]


def approvals_of(tx: Tx, action_id: str) -> List[Approval]:
    """Every approval row of the draft (justified by the audit log or not: see `DraftLog.approvals`)."""
    return as_approvals(tx.approvals(action_id))


def as_approvals(rows: Sequence[Mapping[str, Any]]) -> List[Approval]:
    """The records of approval rows (the ones a DraftLog justifies, say)."""
    return [Approval.from_row(r) for r in rows]


def add_approval(tx: Tx, approval: Approval, replace: bool = False) -> bool:
    """Store an approval; False when the approver's approval of these arguments still counts (see `Tx`)."""
    return tx.add_approval(approval.to_row(), replace=replace)


def active_grants(tx: Tx, tenant: str, tool: str, now: float) -> List[Grant]:
    """The tenant's unexpired grants for `tool`, oldest first (not yet checked against the audit log)."""
    return [Grant.from_row(r) for r in tx.active_grants(tenant, tool, now)]


def _reread(tx: Tx, draft: Draft) -> Draft:
    out = load_draft(tx, draft.id)
    if out is None:   # the row was written in this very transaction: only a store breaking its contract
        raise StateError(f"draft `{draft.id}` vanished from the store")
    return out


def create(tx: Tx, draft: Draft) -> Draft:
    """Store a new draft; its state must be one a proposal may start in (`TRANSITIONS[None]`)."""
    if draft.state not in TRANSITIONS[None]:
        raise StateError(f"a proposal cannot start {draft.state}")
    tx.insert_action(draft.to_row())
    return _reread(tx, draft)


def _row_fields(fields: Dict[str, Any]) -> Dict[str, Any]:
    if "routes" in fields:
        fields["routes"] = [r.as_dict(full=True) if isinstance(r, Route) else r for r in fields["routes"]]
    return fields


def transition(tx: Tx, draft: Draft, new_state: str, **fields: Any) -> Draft:
    """Move `draft` to `new_state` (with other columns changed alongside) when `TRANSITIONS` allows it.

    Raises StateError otherwise, before writing anything: the caller's transaction then rolls back, its
    audit records too. Returns the draft as stored now.
    """
    current = load_draft(tx, draft.id)
    state = current.state if current is not None else draft.state
    if new_state not in STATES or new_state not in TRANSITIONS.get(state, frozenset()):
        raise StateError(f"draft `{draft.id}` cannot go from {state} to {new_state}")
    if "state" in fields:
        raise StateError("the new state is `transition`'s argument, not a field")
    tx.update_action(draft.id, state=new_state, **_row_fields(fields))
    return _reread(tx, draft)


def update(tx: Tx, draft: Draft, **fields: Any) -> Draft:
    """Change columns of `draft` other than its state (a state change goes through `transition`)."""
    if "state" in fields:
        raise StateError("a change of state goes through `transition`")
    tx.update_action(draft.id, **_row_fields(fields))
    return _reread(tx, draft)


def with_fields(draft: Draft, **fields: Any) -> Draft:
    """A copy of `draft` with fields changed (not stored)."""
    return replace(draft, **fields)
