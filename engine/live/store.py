"""The approval store's contract: Identity, Tx and Store, the audit log's hash chain and its verification."""
from __future__ import annotations

import abc
import json
from dataclasses import dataclass, field
from typing import Any, ContextManager, Dict, List, Optional, Sequence, Tuple

from .identity import canonical_id
from ..decide.ledger import Ledger
from .patch import canonical, sha256_hex

__all__ = ["StoreError", "Identity", "Store", "Tx", "GENESIS", "EVENT_KINDS", "event_hash", "verify_events",
           "verify_store", "VerifyResult"]
# SQLiteStore, SQLLedger and SCHEMA_VERSION live in engine.live.sqlite and are reached through this
# module's __getattr__, at the end.

GENESIS = "0" * 64
EVENT_KINDS = ("proposed", "decided", "notified", "approved", "edited", "rejected", "expired", "escalated",
               "executing", "executed", "failed", "granted", "shadow")


class StoreError(RuntimeError):
    """The store cannot be opened or used (wrong schema version, not a signoff store, nested transaction)."""


@dataclass(frozen=True)
class Identity:
    """Who acts: an id, the route roles it holds, and its tenant (None: a deployment without tenants).
    Who holds which role is the deployment's business; the store keeps a directory the CLI reads."""
    id: str
    roles: frozenset = field(default_factory=frozenset)
    tenant: Optional[str] = None

    def __post_init__(self) -> None:
        # IdentityError is a ValueError: empty ids, surrounding whitespace and control characters are refused
        canonical_id(self.id, "an identity id")
        roles = self.roles
        if isinstance(roles, str) or not all(isinstance(r, str) and r for r in roles):
            raise ValueError(f"roles of `{self.id}` must be a collection of non-empty strings")
        for r in roles:
            canonical_id(r, f"a role of `{self.id}`")
        object.__setattr__(self, "roles", frozenset(roles))
        if self.tenant is not None and (not isinstance(self.tenant, str) or not self.tenant):
            raise ValueError(f"tenant of `{self.id}` must be a non-empty string or None")

    @property
    def key(self) -> str:
        """The canonical id: what every comparison of this identity uses (`id` stays as written, for display)."""
        return canonical_id(self.id)


# ---------------------------------------------------------------- the interface

class Tx(abc.ABC):
    """One transaction. Write transactions are exclusive (the workflow's atomic steps run inside one);
    a PostgreSQL store implements the same methods with SERIALIZABLE or an advisory lock."""

    # actions (one row per proposal; JSON columns come back decoded)
    @abc.abstractmethod
    def get_action(self, action_id: str) -> Optional[dict]:
        """The row of the draft with that id, or None."""

    @abc.abstractmethod
    def find_action(self, tenant: str, idem_key: str) -> Optional[dict]:
        """The row of the tenant's proposal with that idempotency key, or None."""

    @abc.abstractmethod
    def insert_action(self, rec: dict) -> None:
        """Store a new draft's row; the store numbers it (`seq`)."""

    @abc.abstractmethod
    def update_action(self, action_id: str, **fields: Any) -> None:
        """Change columns of a draft's row (StoreError for a column the table does not have)."""

    @abc.abstractmethod
    def list_actions(self, states: Optional[Sequence[str]] = None, tenant: Optional[str] = None) -> List[dict]:
        """Oldest first."""

    @abc.abstractmethod
    def due_drafts(self, now: float) -> List[dict]:
        """Drafts still waiting whose deadline is at or before `now`, oldest first."""

    @abc.abstractmethod
    def stale_executions(self, now: float) -> List[dict]:
        """Executions whose lease ended at or before `now` (their process died), oldest first."""

    # approvals
    @abc.abstractmethod
    def add_approval(self, rec: dict, replace: bool = False) -> bool:
        """False when this approver already approved these exact arguments (and the approval still counts);
        `replace` overwrites that row even so (the workflow's answer to a row the audit log does not justify)."""

    @abc.abstractmethod
    def approvals(self, action_id: str) -> List[dict]:
        """The draft's approval rows, by time and approver."""

    # standing grants
    @abc.abstractmethod
    def insert_grant(self, rec: dict) -> None:
        """Store a new standing grant (nothing spent yet)."""

    @abc.abstractmethod
    def get_grant(self, grant_id: str) -> Optional[dict]:
        """The grant's row, or None."""

    @abc.abstractmethod
    def active_grants(self, tenant: str, tool: str, now: float) -> List[dict]:
        """The tenant's grants for `tool` that have not expired at `now`, oldest first."""

    @abc.abstractmethod
    def use_grant(self, grant_id: str, action_id: str, amount: float, at: float) -> None:
        """Record that the grant approved the draft, spending `amount` of its cap."""

    @abc.abstractmethod
    def list_grants(self) -> List[dict]:
        """Every grant, oldest first."""

    @abc.abstractmethod
    def grant_uses(self, grant_id: str) -> Dict[str, float]:
        """Draft id -> amount spent, per use of the grant."""

    # identities
    @abc.abstractmethod
    def put_identity(self, ident: Identity) -> None:
        """Register an identity, replacing the one with the same canonical id."""

    @abc.abstractmethod
    def get_identity(self, ident_id: str) -> Optional[Identity]:
        """The identity whose canonical id is `ident_id`'s, or None."""

    # budgets
    @abc.abstractmethod
    def ledger(self, action_id: Optional[str] = None) -> Ledger:
        """The engine's budget ledger inside this transaction; `add` tags rows with `action_id`."""

    @abc.abstractmethod
    def ledger_has(self, action_id: str) -> bool:
        """Whether the budget ledger already counts the draft (it is counted once, at its first execution)."""

    @abc.abstractmethod
    def ledger_owners(self) -> List[Optional[str]]:
        """The distinct draft ids the budget ledger counts (None for rows of no draft)."""

    # audit
    @abc.abstractmethod
    def append_event(self, action_id: Optional[str], kind: str, actor: str, at: str, policy: str,
                     payload: Any) -> dict:
        """Append one record to the audit log, chained to the one before; returns it as stored."""

    @abc.abstractmethod
    def events(self, action_id: Optional[str] = None) -> List[dict]:
        """Raw records (payload as stored text): the draft's in sequence order, or the whole log in storage
        order."""

    @abc.abstractmethod
    def event(self, seq: int) -> Optional[dict]:
        """The raw record numbered `seq` (payload as stored text), or None."""

    @abc.abstractmethod
    def grant_events(self, grant_id: str) -> List[dict]:
        """Raw `granted` records of this grant and `approved` records that used it, in log order."""

    @abc.abstractmethod
    def head(self) -> Tuple[int, str]:
        """The log's recorded head: (last sequence number, its hash)."""

    # the HTTP service's directory (issue 13). Not abstract: a store without it cannot serve HTTP, and says so.
    def _no_directory(self) -> Any:
        raise StoreError("this store keeps no API keys: the HTTP service needs the SQLite store")

    def set_identity_kind(self, ident_id: str, kind: str) -> None:
        """Mark an identity `agent` or `human` (and un-revoke it: registering it again brings it back)."""
        self._no_directory()

    def identity_info(self, ident_id: str) -> Optional[dict]:
        """`{"id", "roles", "tenant", "kind", "revoked_at", "keys"}` (keys: live API keys), or None."""
        return self._no_directory()

    def list_identity_info(self) -> List[dict]:
        """Every identity's `identity_info`, by id."""
        return self._no_directory()

    def add_api_key(self, ident_id: str, key_hash: str, at: float) -> None:
        """Keep the SHA-256 hash of a new API key of this identity (never the key)."""
        self._no_directory()

    def revoke_api_keys(self, ident_id: str, at: float) -> int:
        """Revoke every live key of this identity; the number revoked."""
        return self._no_directory()

    def revoke_identity(self, ident_id: str, at: float) -> bool:
        """Revoke the identity and its keys; False when there is no such identity."""
        return self._no_directory()

    def api_key_owner(self, key_hash: str) -> Optional[dict]:
        """The `identity_info` (plus `key_hash`) of the live, unrevoked identity holding the key with this hash."""
        return self._no_directory()

    def record_policy(self, digest: str, name: str, version: str, source: str, by: str, at: float,
                      text: Optional[str] = None) -> None:
        """Record that the server now serves this policy version (loaded at start or reloaded); a reload keeps
        the policy's text, which the other servers on the store load in turn."""
        self._no_directory()

    def policy_versions(self) -> List[dict]:
        """The policy versions served, oldest first."""
        return self._no_directory()

    def last_reload(self) -> Optional[dict]:
        """The latest policy reload recorded by any server (`seq`, `digest`, `text`, `by`, `at`), or None."""
        return self._no_directory()

    def put_session(self, id_hash: str, identity: str, via: str, key_hash: Optional[str], principal: str,
                    csrf: str, created: float, expires: float) -> None:
        """Keep a new inbox session (the id's hash, never the id); sessions already over are dropped."""
        self._no_directory()

    def session(self, id_hash: str) -> Optional[dict]:
        """The session with this id hash, or None (expired ones too: the caller checks `expires`)."""
        return self._no_directory()

    def drop_session(self, id_hash: str) -> None:
        """End a session."""
        self._no_directory()


class Store(abc.ABC):
    """A place drafts live. `transaction()` is exclusive across processes; `snapshot()` reads consistently."""

    @abc.abstractmethod
    def transaction(self) -> ContextManager[Tx]:
        """`with store.transaction() as tx:` a write transaction, exclusive across processes; an exception
        inside rolls it back whole (state rows and audit records alike)."""

    @abc.abstractmethod
    def snapshot(self) -> ContextManager[Tx]:
        """`with store.snapshot() as tx:` a consistent read-only view."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the store's connection."""


# ---------------------------------------------------------------- hashing the audit log

def event_hash(prev: str, seq: int, action_id: Optional[str], kind: str, actor: str, at: str, policy: str,
               payload_text: str) -> str:
    """The SHA-256 over the previous hash, the record's fields as canonical JSON and the payload's exact text:
    so editing any byte of a record, or moving it, changes its hash and breaks every link after it."""
    head = canonical([seq, action_id, kind, actor, at, policy])
    return sha256_hex(prev + "\n" + head + "\n" + payload_text)


@dataclass
class VerifyResult:
    """`ok` when the chain holds and (when checked) the state tables are what replaying it yields; `problems`
    lists each way they are not."""
    ok: bool
    count: int
    head: str
    bad_seq: Optional[int] = None
    problem: str = ""
    problems: List[str] = field(default_factory=list)


def verify_events(rows: Sequence[dict], head: Optional[Tuple[int, str]] = None) -> VerifyResult:
    """Walk the chain in storage order: numbering, links, hashes, then the recorded head (tail deletion)."""
    prev = GENESIS
    expected = 1
    for r in rows:
        seq = r["seq"]
        if seq != expected:
            what = "missing" if seq > expected else "out of order"
            return VerifyResult(False, expected - 1, prev, seq,
                                f"record {seq} follows record {expected - 1}: a record is {what}")
        if r["prev"] != prev:
            return VerifyResult(False, expected - 1, prev, seq,
                                f"record {seq} does not link to the record before it (deleted or reordered)")
        if r["kind"] not in EVENT_KINDS:
            return VerifyResult(False, expected - 1, prev, seq, f"record {seq} has unknown kind `{r['kind']}`")
        h = event_hash(prev, seq, r["action_id"], r["kind"], r["actor"], r["at"], r["policy"], r["payload"])
        if h != r["hash"]:
            return VerifyResult(False, expected - 1, prev, seq, f"record {seq} was edited: its hash does not match")
        try:
            json.loads(r["payload"])
        except ValueError:
            return VerifyResult(False, expected - 1, prev, seq, f"record {seq} has a payload that is not JSON")
        prev = h
        expected += 1
    n = expected - 1
    if head is not None:
        hseq, hhash = head
        if hseq != n or hhash != prev:
            return VerifyResult(False, n, prev, n + 1 if hseq > n else hseq,
                                f"the log ends at record {n} but its head says record {hseq}: "
                                "records were deleted or the head was changed")
    return VerifyResult(True, n, prev)


def verify_store(tx: Tx, state: bool = True) -> VerifyResult:
    """`verify_events` over the whole log, and with `state` every discrepancy between tables and log."""
    res = verify_events(tx.events(), tx.head())
    if state:
        from .audit import replay_problems   # engine.live.audit builds on this module
        res.problems = replay_problems(tx)
        res.ok = res.ok and not res.problems
    return res


def __getattr__(name: str) -> Any:
    # the SQLite store builds on this contract, so it is reached lazily: importing engine.live.sqlite
    # first, or this module first, both work
    if name in ("SQLiteStore", "SQLLedger", "SCHEMA_VERSION", "MIGRATIONS"):
        from . import sqlite
        return getattr(sqlite, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
