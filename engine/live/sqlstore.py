"""The SQL both stores share: one transaction class over a small dialect hook, the ledger, the conveniences."""
from __future__ import annotations

import abc
import json
from typing import Any, Dict, Hashable, List, Optional, Sequence, Tuple, TypeVar

from .identity import id_key
from .patch import canonical
from .store import EVENT_KINDS, GENESIS, Identity, Store, StoreError, Tx, VerifyResult, event_hash, verify_store

__all__ = ["JSON_COLS", "ACTION_COLS", "SQLLedger", "SQLTx", "SQLStore"]

JSON_COLS = frozenset({"proposed", "args", "patch", "executed_args", "decision", "last_decision", "routes", "closing",
                       "result", "roles", "constraints"})
ACTION_COLS = ("id", "seq", "tenant", "idem_key", "proposer", "tool", "state", "required", "proposed", "args",
               "patch", "executed_args", "args_hash", "decision", "last_decision", "routes", "deadline",
               "closing", "policy_digest", "stamp", "created_at", "updated_at", "result", "error", "attempts",
               "lease_until")


def _enc(col: str, v: Any) -> Any:
    if col in JSON_COLS and v is not None:
        return canonical(v)
    return v


def _dec(row: Dict[str, Any]) -> dict:
    """A row as a dict, its JSON columns decoded. A column that is not JSON (or not text) was written
    outside signoff: a StoreError, never a JSONDecodeError or TypeError out of the workflow."""
    out = {}
    for k, v in row.items():
        if k in JSON_COLS and v is not None:
            try:
                v = json.loads(v)
            except (ValueError, TypeError, RecursionError):
                raise StoreError(f"the stored `{k}` of a row is not JSON: the store was changed outside signoff "
                                 "(run `signoff audit verify`)") from None
        out[k] = v
    return out


class SQLLedger:
    """The engine's Ledger over the store's `ledger` table, inside the current (write-locked) transaction:
    the window's total and the reservation are read and written under the same lock, so they are atomic
    across processes. Keys are hashable tuples; they are stored as canonical JSON so equal keys always meet."""

    def __init__(self, tx: "SQLTx", action_id: Optional[str] = None):
        self._tx = tx
        self.action_id = action_id

    def total(self, key: Hashable, start: float, end: float) -> float:
        """The amount counted under `key` in the window (start, end]."""
        row = self._tx._row("SELECT COALESCE(SUM(amount), 0) AS s FROM ledger WHERE key = ? AND t > ? AND t <= ?",
                            (canonical(key), start, end))
        return row["s"] if row else 0.0

    def add(self, key: Hashable, t: float, amount: float) -> None:
        """Count `amount` under `key` at time `t`, tagged with the ledger's draft."""
        self._tx._exec("INSERT INTO ledger (key, t, amount, action_id) VALUES (?, ?, ?, ?)",
                       (canonical(key), t, amount, self.action_id))


class SQLTx(Tx):
    """A transaction of an SQL store. Subclasses run statements (written with `?` placeholders) through
    `_exec`, `_row` and `_rows`, and spell what differs between dialects in the class attributes below."""

    # appended to a text column in ORDER BY: byte order on every store
    COLLATE = ""
    # appended to ORDER BY where NULL must come first (SQLite's default)
    NULLS_FIRST = ""
    # the order of the whole log in `events()`
    EVENT_ORDER = "seq"
    # the SQL expression of the grant id a `granted` or `approved` record names (indexed by migration 2)
    GRANT_REF = ""

    def __init__(self, conn: Any, write: bool):
        self.c = conn
        self.write = write

    # ------------------------------------------------------------ the dialect's plumbing
    @abc.abstractmethod
    def _exec(self, sql: str, args: Sequence[Any] = ()) -> int:
        """Run a statement; the number of rows it changed."""

    @abc.abstractmethod
    def _row(self, sql: str, args: Sequence[Any] = ()) -> Optional[Dict[str, Any]]:
        """The first row of a query as a plain dict (nothing decoded), or None."""

    @abc.abstractmethod
    def _rows(self, sql: str, args: Sequence[Any] = ()) -> List[Dict[str, Any]]:
        """Every row of a query as plain dicts (nothing decoded)."""

    def _one(self, sql: str, args: Sequence[Any] = ()) -> Optional[dict]:
        row = self._row(sql, args)
        return _dec(row) if row is not None else None

    def _all(self, sql: str, args: Sequence[Any] = ()) -> List[dict]:
        return [_dec(r) for r in self._rows(sql, args)]

    def _need_write(self) -> None:
        if not self.write:
            raise StoreError("a read-only snapshot cannot write")

    # actions
    def get_action(self, action_id: str) -> Optional[dict]:
        """The row of the draft with that id, or None."""
        return self._one("SELECT * FROM actions WHERE id = ?", (action_id,))

    def find_action(self, tenant: str, idem_key: str) -> Optional[dict]:
        """The row of the tenant's proposal with that idempotency key, or None."""
        return self._one("SELECT * FROM actions WHERE tenant = ? AND idem_key = ?", (tenant, idem_key))

    def insert_action(self, rec: dict) -> None:
        """Store a new draft's row; the store numbers it (`seq`)."""
        self._need_write()
        rec = dict(rec)
        row = self._row("SELECT COALESCE(MAX(seq), 0) + 1 AS n FROM actions")
        rec["seq"] = int(row["n"]) if row else 1
        cols = [c for c in ACTION_COLS if c in rec]
        self._exec(f"INSERT INTO actions ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                   tuple(_enc(c, rec[c]) for c in cols))

    def update_action(self, action_id: str, **fields: Any) -> None:
        """Change columns of a draft's row (StoreError for a column the table does not have)."""
        self._need_write()
        bad = [k for k in fields if k not in ACTION_COLS or k in ("id", "seq")]
        if bad:
            raise StoreError(f"unknown action column `{bad[0]}`")
        sets = ", ".join(f"{k} = ?" for k in fields)
        self._exec(f"UPDATE actions SET {sets} WHERE id = ?",
                   tuple(_enc(k, v) for k, v in fields.items()) + (action_id,))

    def list_actions(self, states: Optional[Sequence[str]] = None, tenant: Optional[str] = None) -> List[dict]:
        """Oldest first."""
        where: List[str] = []
        args: List[Any] = []
        if states:
            where.append(f"state IN ({', '.join('?' * len(states))})")
            args.extend(states)
        if tenant is not None:
            where.append("tenant = ?")
            args.append(tenant)
        sql = "SELECT * FROM actions" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY seq"
        return self._all(sql, tuple(args))

    def due_drafts(self, now: float) -> List[dict]:
        """Drafts still waiting whose deadline is at or before `now`, oldest first."""
        return self._all("SELECT * FROM actions WHERE state = 'drafted' AND deadline IS NOT NULL AND deadline <= ? "
                         "ORDER BY seq", (now,))

    def stale_executions(self, now: float) -> List[dict]:
        """Executions whose lease ended at or before `now` (their process died), oldest first."""
        return self._all("SELECT * FROM actions WHERE state = 'executing' AND lease_until <= ? ORDER BY seq", (now,))

    # approvals
    def add_approval(self, rec: dict, replace: bool = False) -> bool:
        """False when this approver already approved these exact arguments (and the approval still counts);
        `replace` overwrites that row even so (the workflow's answer to a row the audit log does not justify)."""
        self._need_write()
        # a repeated approval of the same arguments is a no-op while the first still counts, a renewal after;
        # "the same approver" is the canonical id (spec §6, v1.1), so `Alice` repeats `alice`'s approval
        key = id_key(rec["approver"])
        row = next((r for r in self._rows(
            "SELECT approver, expires_at FROM approvals WHERE action_id = ? AND args_hash = ?",
            (rec["action_id"], rec["args_hash"])) if id_key(r["approver"]) == key), None)
        values = (canonical(sorted(rec["roles"])), rec["at"], rec["expires_at"], rec.get("grant_id"),
                  rec.get("comment"))
        if row is None:
            self._exec(
                "INSERT INTO approvals (action_id, approver, roles, args_hash, at, expires_at, grant_id, comment)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (rec["action_id"], rec["approver"], values[0], rec["args_hash"]) + values[1:])
            return True
        if row["expires_at"] > rec["at"] and not replace:
            return False
        self._exec("UPDATE approvals SET approver = ?, roles = ?, at = ?, expires_at = ?, grant_id = ?, "
                   "comment = ? WHERE action_id = ? AND approver = ? AND args_hash = ?",
                   (rec["approver"],) + values + (rec["action_id"], row["approver"], rec["args_hash"]))
        return True

    def approvals(self, action_id: str) -> List[dict]:
        """The draft's approval rows, by time and approver."""
        return self._all(f"SELECT * FROM approvals WHERE action_id = ? ORDER BY at, approver{self.COLLATE}",
                         (action_id,))

    # grants
    def insert_grant(self, rec: dict) -> None:
        """Store a new standing grant (nothing spent yet)."""
        self._need_write()
        self._exec(
            "INSERT INTO grants (id, tenant, grantor, roles, route, tool, constraints, spend_path, spend_cap, spent,"
            " expires_at, created_at, comment) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?)",
            (rec["id"], rec["tenant"], rec["grantor"], canonical(sorted(rec["roles"])), rec["route"], rec["tool"],
             canonical(rec["constraints"]), rec.get("spend_path"), rec.get("spend_cap"), rec["expires_at"],
             rec["created_at"], rec.get("comment")))

    def get_grant(self, grant_id: str) -> Optional[dict]:
        """The grant's row, or None."""
        return self._one("SELECT * FROM grants WHERE id = ?", (grant_id,))

    def active_grants(self, tenant: str, tool: str, now: float) -> List[dict]:
        """The tenant's grants for `tool` that have not expired at `now`, oldest first."""
        return self._all("SELECT * FROM grants WHERE tenant = ? AND tool = ? AND expires_at > ? "
                         f"ORDER BY created_at, id{self.COLLATE}", (tenant, tool, now))

    def use_grant(self, grant_id: str, action_id: str, amount: float, at: float) -> None:
        """Record that the grant approved the draft, spending `amount` of its cap."""
        self._need_write()
        self._exec("INSERT INTO grant_uses (grant_id, action_id, amount, at) VALUES (?, ?, ?, ?)",
                   (grant_id, action_id, amount, at))
        self._exec("UPDATE grants SET spent = spent + ? WHERE id = ?", (amount, grant_id))

    def list_grants(self) -> List[dict]:
        """Every grant, oldest first."""
        return self._all(f"SELECT * FROM grants ORDER BY created_at, id{self.COLLATE}")

    def grant_uses(self, grant_id: str) -> Dict[str, float]:
        """Draft id -> amount spent, per use of the grant."""
        return {r["action_id"]: r["amount"] for r in self._rows(
            "SELECT action_id, amount FROM grant_uses WHERE grant_id = ?", (grant_id,))}

    # identities
    def _identity_rows(self, ident_id: str) -> List[dict]:
        # a scan, not an index lookup: the key is Python's NFKC + casefold, and the directory is small
        key = id_key(ident_id)
        return [r for r in self._all(f"SELECT * FROM identities ORDER BY id{self.COLLATE}") if id_key(r["id"]) == key]

    def put_identity(self, ident: Identity) -> None:
        """Register an identity, replacing the one with the same canonical id."""
        self._need_write()
        # one person, one row: registering `Alice` replaces `alice` (spec §6, v1.1)
        for r in self._identity_rows(ident.id):
            self._exec("DELETE FROM identities WHERE id = ?", (r["id"],))
        self._exec("INSERT INTO identities (id, roles, tenant) VALUES (?, ?, ?)",
                   (ident.id, canonical(sorted(ident.roles)), ident.tenant or ""))

    def get_identity(self, ident_id: str) -> Optional[Identity]:
        """The identity whose canonical id is `ident_id`'s; StoreError when an older store holds two."""
        rows = self._identity_rows(ident_id)
        if not rows:
            return None
        if len(rows) > 1:
            raise StoreError(f"the store registers {len(rows)} identities that are one person `{rows[0]['id']}`: "
                             "register it again to merge them")
        row = rows[0]
        try:
            return Identity(row["id"], frozenset(row["roles"]), row["tenant"] or None)
        except ValueError as e:
            raise StoreError(f"the store's identity `{row['id']!r}` is not valid: {e}") from None

    # the HTTP service's directory (migration 3): kinds, revocation, API key hashes, policy versions
    def _identity_row(self, ident_id: str) -> Optional[dict]:
        rows = self._identity_rows(ident_id)
        return rows[0] if len(rows) == 1 else None

    def set_identity_kind(self, ident_id: str, kind: str) -> None:
        """Mark an identity `agent` or `human` (and un-revoke it: registering it again brings it back)."""
        self._need_write()
        row = self._identity_row(ident_id)
        if row is None:
            raise StoreError(f"no identity `{ident_id}`")
        self._exec("UPDATE identities SET kind = ?, revoked_at = NULL WHERE id = ?", (kind, row["id"]))

    def identity_info(self, ident_id: str) -> Optional[dict]:
        """`{"id", "roles", "tenant", "kind", "revoked_at", "keys"}` (keys: live API keys), or None."""
        row = self._identity_row(ident_id)
        if row is None:
            return None
        n = self._row("SELECT COUNT(*) AS n FROM api_keys WHERE identity = ? AND revoked_at IS NULL", (row["id"],))
        return {"id": row["id"], "roles": row["roles"], "tenant": row["tenant"] or None, "kind": row["kind"],
                "revoked_at": row["revoked_at"], "keys": int(n["n"]) if n else 0}

    def list_identity_info(self) -> List[dict]:
        """Every identity's `identity_info`, by id."""
        out = []
        for row in self._rows(f"SELECT id FROM identities ORDER BY id{self.COLLATE}"):
            info = self.identity_info(row["id"])
            if info is not None:
                out.append(info)
        return out

    def add_api_key(self, ident_id: str, key_hash: str, at: float) -> None:
        """Keep the SHA-256 hash of a new API key of this identity (never the key)."""
        self._need_write()
        row = self._identity_row(ident_id)
        if row is None:
            raise StoreError(f"no identity `{ident_id}`")
        self._exec("INSERT INTO api_keys (hash, identity, created_at) VALUES (?, ?, ?)", (key_hash, row["id"], at))

    def revoke_api_keys(self, ident_id: str, at: float) -> int:
        """Revoke every live key of this identity; the number revoked."""
        self._need_write()
        row = self._identity_row(ident_id)
        if row is None:
            return 0
        return self._exec("UPDATE api_keys SET revoked_at = ? WHERE identity = ? AND revoked_at IS NULL",
                          (at, row["id"]))

    def revoke_identity(self, ident_id: str, at: float) -> bool:
        """Revoke the identity and its keys; False when there is no such identity."""
        self._need_write()
        row = self._identity_row(ident_id)
        if row is None:
            return False
        self.revoke_api_keys(row["id"], at)
        self._exec("UPDATE identities SET revoked_at = ? WHERE id = ?", (at, row["id"]))
        return True

    def api_key_owner(self, key_hash: str) -> Optional[dict]:
        """The `identity_info` (plus `key_hash`) of the live, unrevoked identity holding the key with this hash."""
        r = self._one("SELECT identity, hash FROM api_keys WHERE hash = ? AND revoked_at IS NULL", (key_hash,))
        if r is None:
            return None
        info = self.identity_info(r["identity"])
        if info is None or info["revoked_at"] is not None or info["id"] != r["identity"]:
            return None
        return dict(info, key_hash=r["hash"])

    def record_policy(self, digest: str, name: str, version: str, source: str, by: str, at: float,
                      text: Optional[str] = None) -> None:
        """Record that the server now serves this policy version (loaded at start or reloaded); a reload keeps
        the policy's text, which the other servers on the store load in turn."""
        self._need_write()
        # `by` is a keyword PostgreSQL reserves: quoted, which SQLite reads the same
        self._exec('INSERT INTO policy_versions (digest, name, version, source, "by", at, text) '
                   'VALUES (?, ?, ?, ?, ?, ?, ?)', (digest, name, version, source, by, at, text))

    def policy_versions(self) -> List[dict]:
        """The policy versions served, oldest first."""
        return self._all('SELECT seq, digest, name, version, source, "by", at FROM policy_versions ORDER BY seq')

    def last_reload(self) -> Optional[dict]:
        """The latest policy reload recorded by any server (`seq`, `digest`, `text`, `by`, `at`), or None."""
        return self._one("SELECT seq, digest, text, \"by\", at FROM policy_versions WHERE source = 'reload' "
                         "ORDER BY seq DESC LIMIT 1")

    # inbox sessions
    def put_session(self, id_hash: str, identity: str, via: str, key_hash: Optional[str], principal: str,
                    csrf: str, created: float, expires: float) -> None:
        """Keep a new inbox session (the id's hash, never the id); sessions already over are dropped."""
        self._need_write()
        self._exec("DELETE FROM sessions WHERE expires <= ?", (created,))
        self._exec("INSERT INTO sessions (id_hash, identity, via, key_hash, principal, csrf, created, expires) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (id_hash, identity, via, key_hash, principal, csrf, created,
                                                       expires))

    def session(self, id_hash: str) -> Optional[dict]:
        """The session with this id hash, or None (expired ones too: the caller checks `expires`)."""
        return self._one("SELECT * FROM sessions WHERE id_hash = ?", (id_hash,))

    def drop_session(self, id_hash: str) -> None:
        """End a session."""
        self._need_write()
        self._exec("DELETE FROM sessions WHERE id_hash = ?", (id_hash,))

    # budgets
    def ledger(self, action_id: Optional[str] = None) -> SQLLedger:
        """The engine's budget ledger inside this transaction; `add` tags rows with `action_id`."""
        return SQLLedger(self, action_id)

    def ledger_has(self, action_id: str) -> bool:
        """Whether the budget ledger already counts the draft (it is counted once, at its first execution)."""
        return self._row("SELECT 1 AS x FROM ledger WHERE action_id = ? LIMIT 1", (action_id,)) is not None

    def ledger_owners(self) -> List[Optional[str]]:
        # NULL first and byte order on every store: the order SQLite gives
        """The distinct draft ids the budget ledger counts (None for rows of no draft)."""
        return [r["action_id"] for r in self._rows(
            f"SELECT DISTINCT action_id{self.COLLATE} AS action_id FROM ledger ORDER BY 1{self.NULLS_FIRST}")]

    # audit
    def head(self) -> Tuple[int, str]:
        """The log's recorded head: (last sequence number, its hash)."""
        row = self._row("SELECT seq, hash FROM audit_head WHERE id = 1")
        return (int(row["seq"]), str(row["hash"])) if row else (0, GENESIS)

    def append_event(self, action_id: Optional[str], kind: str, actor: str, at: str, policy: str,
                     payload: Any) -> dict:
        """Append one record to the audit log, chained to the one before; returns it as stored."""
        self._need_write()
        if kind not in EVENT_KINDS:
            raise StoreError(f"unknown event kind `{kind}`")
        seq, prev = self.head()
        seq += 1
        text = canonical(payload)
        h = event_hash(prev, seq, action_id, kind, actor, at, policy, text)
        self._exec("INSERT INTO events (seq, action_id, kind, actor, at, policy, payload, prev, hash) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", (seq, action_id, kind, actor, at, policy, text, prev, h))
        self._exec("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", (seq, h))
        return {"seq": seq, "action_id": action_id, "kind": kind, "actor": actor, "at": at, "policy": policy,
                "payload": payload, "prev": prev, "hash": h}

    def events(self, action_id: Optional[str] = None) -> List[dict]:
        """Raw rows (payload as stored text): the draft's by sequence number, the whole log in the store's
        `EVENT_ORDER` (storage order where the store keeps one): what verify must see, not what it hopes."""
        if action_id is None:
            return self._rows(f"SELECT * FROM events ORDER BY {self.EVENT_ORDER}")
        return self._rows("SELECT * FROM events WHERE action_id = ? ORDER BY seq", (action_id,))

    def event(self, seq: int) -> Optional[dict]:
        """The raw record numbered `seq` (payload as stored text), or None."""
        return self._row("SELECT * FROM events WHERE seq = ?", (seq,))

    def grant_events(self, grant_id: str) -> List[dict]:
        """Raw `granted` records of this grant and `approved` records that used it, in log order."""
        return self._rows(f"SELECT * FROM events WHERE kind IN ('granted', 'approved') AND {self.GRANT_REF} = ?"
                          " ORDER BY seq", (grant_id,))


_S = TypeVar("_S", bound="SQLStore")


class SQLStore(Store):
    """What both SQL stores offer beyond the Store contract, built on their transactions."""

    def __enter__(self: _S) -> _S:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def put_identity(self, ident: Identity) -> None:
        """Register (or replace) an identity in a transaction of its own."""
        with self.transaction() as tx:
            tx.put_identity(ident)

    def get_identity(self, ident_id: str) -> Optional[Identity]:
        """The identity whose canonical id is `ident_id`'s, read from a snapshot; None when unknown."""
        with self.snapshot() as tx:
            return tx.get_identity(ident_id)

    def verify(self, state: bool = True) -> VerifyResult:
        """The chain, then (with `state`) the state tables against a replay of it (engine.live.audit)."""
        with self.snapshot() as tx:
            return verify_store(tx, state)
