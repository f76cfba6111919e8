"""The embedded SQLite store: migrations, transactions (BEGIN IMMEDIATE), the SQL ledger; the default store."""
from __future__ import annotations

import json
import os
import sqlite3
import threading
from contextlib import contextmanager
from typing import Any, ContextManager, Dict, Hashable, Iterator, List, Optional, Sequence, Tuple

from .identity import id_key
from .patch import canonical

from .store import EVENT_KINDS, GENESIS, Identity, Store, StoreError, Tx, VerifyResult, event_hash, verify_store

__all__ = ["SCHEMA_VERSION", "MIGRATIONS", "SQLiteStore", "SQLLedger"]


SCHEMA_VERSION = 3

# Each migration is a list of statements run in one transaction; append, never edit, once released.
MIGRATIONS: Dict[int, List[str]] = {
    1: [
        """CREATE TABLE actions (
            id TEXT PRIMARY KEY,
            seq INTEGER NOT NULL UNIQUE,
            tenant TEXT NOT NULL,
            idem_key TEXT NOT NULL,
            proposer TEXT NOT NULL,
            tool TEXT NOT NULL,
            state TEXT NOT NULL,
            required TEXT NOT NULL,
            proposed TEXT NOT NULL,
            args TEXT NOT NULL,
            patch TEXT NOT NULL,
            executed_args TEXT,
            args_hash TEXT NOT NULL,
            decision TEXT NOT NULL,
            last_decision TEXT NOT NULL,
            routes TEXT NOT NULL,
            deadline REAL,
            closing TEXT,
            policy_digest TEXT NOT NULL,
            stamp TEXT NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            result TEXT,
            error TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            lease_until REAL,
            UNIQUE (tenant, idem_key))""",
        "CREATE INDEX actions_state ON actions (state, seq)",
        """CREATE TABLE approvals (
            action_id TEXT NOT NULL REFERENCES actions (id),
            approver TEXT NOT NULL,
            roles TEXT NOT NULL,
            args_hash TEXT NOT NULL,
            at REAL NOT NULL,
            expires_at REAL NOT NULL,
            grant_id TEXT,
            comment TEXT,
            PRIMARY KEY (action_id, approver, args_hash))""",
        """CREATE TABLE grants (
            id TEXT PRIMARY KEY,
            tenant TEXT NOT NULL,
            grantor TEXT NOT NULL,
            roles TEXT NOT NULL,
            route TEXT NOT NULL,
            tool TEXT NOT NULL,
            constraints TEXT NOT NULL,
            spend_path TEXT,
            spend_cap REAL,
            spent REAL NOT NULL DEFAULT 0,
            expires_at REAL NOT NULL,
            created_at REAL NOT NULL,
            comment TEXT)""",
        "CREATE INDEX grants_scope ON grants (tenant, tool, expires_at)",
        """CREATE TABLE grant_uses (
            grant_id TEXT NOT NULL REFERENCES grants (id),
            action_id TEXT NOT NULL REFERENCES actions (id),
            amount REAL NOT NULL,
            at REAL NOT NULL,
            PRIMARY KEY (grant_id, action_id))""",
        """CREATE TABLE identities (
            id TEXT PRIMARY KEY,
            roles TEXT NOT NULL,
            tenant TEXT NOT NULL)""",
        """CREATE TABLE ledger (
            id INTEGER PRIMARY KEY,
            key TEXT NOT NULL,
            t REAL NOT NULL,
            amount REAL NOT NULL,
            action_id TEXT)""",
        "CREATE INDEX ledger_window ON ledger (key, t)",
        "CREATE INDEX ledger_action ON ledger (action_id)",
        """CREATE TABLE events (
            seq INTEGER PRIMARY KEY,
            action_id TEXT,
            kind TEXT NOT NULL,
            actor TEXT NOT NULL,
            at TEXT NOT NULL,
            policy TEXT NOT NULL,
            payload TEXT NOT NULL,
            prev TEXT NOT NULL,
            hash TEXT NOT NULL)""",
        "CREATE INDEX events_action ON events (action_id, seq)",
        # the head lets verify notice records deleted from the end, which no link can show
        "CREATE TABLE audit_head (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, hash TEXT NOT NULL)",
        f"INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '{GENESIS}')",
        # append-only in the engine itself; a tamperer can drop these, which verify then catches
        """CREATE TRIGGER events_no_update BEFORE UPDATE ON events
           BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
        """CREATE TRIGGER events_no_delete BEFORE DELETE ON events
           BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
    ],
    # the workflow checks a grant against its own records before it counts (spec §6, v1.1): find them by id
    2: [
        "CREATE INDEX events_grant ON events (json_extract(CASE WHEN json_valid(payload) THEN payload END,"
        " CASE kind WHEN 'granted' THEN '$.id' ELSE '$.grant' END)) WHERE kind IN ('granted', 'approved')",
    ],
    # the HTTP service (issue 13): identities are agents or humans and can be revoked; API keys are kept as
    # SHA-256 hashes only; every policy the server serves is recorded with its digest
    3: [
        "ALTER TABLE identities ADD COLUMN kind TEXT NOT NULL DEFAULT 'human'",
        "ALTER TABLE identities ADD COLUMN revoked_at REAL",
        """CREATE TABLE api_keys (
            hash TEXT PRIMARY KEY,
            identity TEXT NOT NULL,
            created_at REAL NOT NULL,
            revoked_at REAL)""",
        "CREATE INDEX api_keys_identity ON api_keys (identity)",
        """CREATE TABLE policy_versions (
            seq INTEGER PRIMARY KEY,
            digest TEXT NOT NULL,
            name TEXT NOT NULL,
            version TEXT NOT NULL,
            source TEXT NOT NULL,
            by TEXT NOT NULL,
            at REAL NOT NULL)""",
    ],
}
_GRANT_EXPR = ("json_extract(CASE WHEN json_valid(payload) THEN payload END,"
               " CASE kind WHEN 'granted' THEN '$.id' ELSE '$.grant' END)")

_JSON_COLS = {"proposed", "args", "patch", "executed_args", "decision", "last_decision", "routes", "closing",
              "result", "roles", "constraints"}
_ACTION_COLS = ("id", "seq", "tenant", "idem_key", "proposer", "tool", "state", "required", "proposed", "args",
                "patch", "executed_args", "args_hash", "decision", "last_decision", "routes", "deadline",
                "closing", "policy_digest", "stamp", "created_at", "updated_at", "result", "error", "attempts",
                "lease_until")


def _enc(col: str, v: Any) -> Any:
    if col in _JSON_COLS and v is not None:
        return canonical(v)
    return v


def _dec(row: sqlite3.Row) -> dict:
    """A row as a dict, its JSON columns decoded. A column that is not JSON (or not text) was written
    outside signoff: a StoreError, never a JSONDecodeError or TypeError out of the workflow."""
    out = {}
    for k in row.keys():
        v = row[k]
        if k in _JSON_COLS and v is not None:
            try:
                v = json.loads(v)
            except (ValueError, TypeError, RecursionError):
                raise StoreError(f"the stored `{k}` of a row is not JSON: the store was changed outside signoff "
                                 "(run `signoff audit verify`)") from None
        out[k] = v
    return out


class SQLLedger:
    """The engine's Ledger over the store's table of executed actions, inside the current transaction.
    Keys are hashable tuples; they are stored as canonical JSON so equal keys always meet."""

    def __init__(self, conn: sqlite3.Connection, action_id: Optional[str] = None):
        self._conn = conn
        self.action_id = action_id

    def total(self, key: Hashable, start: float, end: float) -> float:
        """The amount counted under `key` in the window (start, end]."""
        row = self._conn.execute("SELECT COALESCE(SUM(amount), 0) FROM ledger WHERE key = ? AND t > ? AND t <= ?",
                                 (canonical(key), start, end)).fetchone()
        return row[0]

    def add(self, key: Hashable, t: float, amount: float) -> None:
        """Count `amount` under `key` at time `t`, tagged with the ledger's draft."""
        self._conn.execute("INSERT INTO ledger (key, t, amount, action_id) VALUES (?, ?, ?, ?)",
                           (canonical(key), t, amount, self.action_id))


class _SQLiteTx(Tx):
    def __init__(self, conn: sqlite3.Connection, write: bool):
        self.c = conn
        self.write = write

    def _one(self, sql: str, args: tuple = ()) -> Optional[dict]:
        row = self.c.execute(sql, args).fetchone()
        return _dec(row) if row is not None else None

    def _all(self, sql: str, args: tuple = ()) -> List[dict]:
        return [_dec(r) for r in self.c.execute(sql, args).fetchall()]

    def _need_write(self) -> None:
        if not self.write:
            raise StoreError("a read-only snapshot cannot write")

    # actions
    def get_action(self, action_id: str) -> Optional[dict]:
        return self._one("SELECT * FROM actions WHERE id = ?", (action_id,))

    def find_action(self, tenant: str, idem_key: str) -> Optional[dict]:
        return self._one("SELECT * FROM actions WHERE tenant = ? AND idem_key = ?", (tenant, idem_key))

    def insert_action(self, rec: dict) -> None:
        self._need_write()
        rec = dict(rec)
        rec["seq"] = self.c.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM actions").fetchone()[0]
        cols = [c for c in _ACTION_COLS if c in rec]
        self.c.execute(f"INSERT INTO actions ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                       tuple(_enc(c, rec[c]) for c in cols))

    def update_action(self, action_id: str, **fields: Any) -> None:
        self._need_write()
        bad = [k for k in fields if k not in _ACTION_COLS or k in ("id", "seq")]
        if bad:
            raise StoreError(f"unknown action column `{bad[0]}`")
        sets = ", ".join(f"{k} = ?" for k in fields)
        self.c.execute(f"UPDATE actions SET {sets} WHERE id = ?",
                       tuple(_enc(k, v) for k, v in fields.items()) + (action_id,))

    def list_actions(self, states: Optional[Sequence[str]] = None, tenant: Optional[str] = None) -> List[dict]:
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
        return self._all("SELECT * FROM actions WHERE state = 'drafted' AND deadline IS NOT NULL AND deadline <= ? "
                         "ORDER BY seq", (now,))

    def stale_executions(self, now: float) -> List[dict]:
        return self._all("SELECT * FROM actions WHERE state = 'executing' AND lease_until <= ? ORDER BY seq", (now,))

    # approvals
    def add_approval(self, rec: dict, replace: bool = False) -> bool:
        self._need_write()
        # a repeated approval of the same arguments is a no-op while the first still counts, a renewal after;
        # "the same approver" is the canonical id (spec §6, v1.1), so `Alice` repeats `alice`'s approval
        key = id_key(rec["approver"])
        row = next((r for r in self.c.execute(
            "SELECT approver, expires_at FROM approvals WHERE action_id = ? AND args_hash = ?",
            (rec["action_id"], rec["args_hash"])).fetchall() if id_key(r["approver"]) == key), None)
        values = (canonical(sorted(rec["roles"])), rec["at"], rec["expires_at"], rec.get("grant_id"),
                  rec.get("comment"))
        if row is None:
            self.c.execute(
                "INSERT INTO approvals (action_id, approver, roles, args_hash, at, expires_at, grant_id, comment)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (rec["action_id"], rec["approver"], values[0], rec["args_hash"]) + values[1:])
            return True
        if row["expires_at"] > rec["at"] and not replace:
            return False
        self.c.execute("UPDATE approvals SET approver = ?, roles = ?, at = ?, expires_at = ?, grant_id = ?, "
                       "comment = ? WHERE action_id = ? AND approver = ? AND args_hash = ?",
                       (rec["approver"],) + values + (rec["action_id"], row["approver"], rec["args_hash"]))
        return True

    def approvals(self, action_id: str) -> List[dict]:
        return self._all("SELECT * FROM approvals WHERE action_id = ? ORDER BY at, approver", (action_id,))

    # grants
    def insert_grant(self, rec: dict) -> None:
        self._need_write()
        self.c.execute(
            "INSERT INTO grants (id, tenant, grantor, roles, route, tool, constraints, spend_path, spend_cap, spent,"
            " expires_at, created_at, comment) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?)",
            (rec["id"], rec["tenant"], rec["grantor"], canonical(sorted(rec["roles"])), rec["route"], rec["tool"],
             canonical(rec["constraints"]), rec.get("spend_path"), rec.get("spend_cap"), rec["expires_at"],
             rec["created_at"], rec.get("comment")))

    def get_grant(self, grant_id: str) -> Optional[dict]:
        return self._one("SELECT * FROM grants WHERE id = ?", (grant_id,))

    def active_grants(self, tenant: str, tool: str, now: float) -> List[dict]:
        return self._all("SELECT * FROM grants WHERE tenant = ? AND tool = ? AND expires_at > ? "
                         "ORDER BY created_at, id", (tenant, tool, now))

    def use_grant(self, grant_id: str, action_id: str, amount: float, at: float) -> None:
        self._need_write()
        self.c.execute("INSERT INTO grant_uses (grant_id, action_id, amount, at) VALUES (?, ?, ?, ?)",
                       (grant_id, action_id, amount, at))
        self.c.execute("UPDATE grants SET spent = spent + ? WHERE id = ?", (amount, grant_id))

    def list_grants(self) -> List[dict]:
        return self._all("SELECT * FROM grants ORDER BY created_at, id")

    def grant_uses(self, grant_id: str) -> Dict[str, float]:
        return {r[0]: r[1] for r in self.c.execute("SELECT action_id, amount FROM grant_uses WHERE grant_id = ?",
                                                    (grant_id,)).fetchall()}

    # identities
    def _identity_rows(self, ident_id: str) -> List[dict]:
        # a scan, not an index lookup: the key is Python's NFKC + casefold, and the directory is small
        key = id_key(ident_id)
        return [r for r in self._all("SELECT * FROM identities ORDER BY id") if id_key(r["id"]) == key]

    def put_identity(self, ident: Identity) -> None:
        self._need_write()
        # one person, one row: registering `Alice` replaces `alice` (spec §6, v1.1)
        for r in self._identity_rows(ident.id):
            self.c.execute("DELETE FROM identities WHERE id = ?", (r["id"],))
        self.c.execute("INSERT INTO identities (id, roles, tenant) VALUES (?, ?, ?)",
                       (ident.id, canonical(sorted(ident.roles)), ident.tenant or ""))

    # the HTTP service's directory (migration 3): kinds, revocation, API key hashes, policy versions
    def _identity_row(self, ident_id: str) -> Optional[dict]:
        rows = self._identity_rows(ident_id)
        return rows[0] if len(rows) == 1 else None

    def set_identity_kind(self, ident_id: str, kind: str) -> None:
        self._need_write()
        row = self._identity_row(ident_id)
        if row is None:
            raise StoreError(f"no identity `{ident_id}`")
        self.c.execute("UPDATE identities SET kind = ?, revoked_at = NULL WHERE id = ?", (kind, row["id"]))

    def identity_info(self, ident_id: str) -> Optional[dict]:
        row = self._identity_row(ident_id)
        if row is None:
            return None
        keys = self.c.execute("SELECT COUNT(*) FROM api_keys WHERE identity = ? AND revoked_at IS NULL",
                              (row["id"],)).fetchone()[0]
        return {"id": row["id"], "roles": row["roles"], "tenant": row["tenant"] or None, "kind": row["kind"],
                "revoked_at": row["revoked_at"], "keys": keys}

    def list_identity_info(self) -> List[dict]:
        out = []
        for row in self._all("SELECT id FROM identities ORDER BY id"):
            info = self.identity_info(row["id"])
            if info is not None:
                out.append(info)
        return out

    def add_api_key(self, ident_id: str, key_hash: str, at: float) -> None:
        self._need_write()
        row = self._identity_row(ident_id)
        if row is None:
            raise StoreError(f"no identity `{ident_id}`")
        self.c.execute("INSERT INTO api_keys (hash, identity, created_at) VALUES (?, ?, ?)", (key_hash, row["id"], at))

    def revoke_api_keys(self, ident_id: str, at: float) -> int:
        self._need_write()
        row = self._identity_row(ident_id)
        if row is None:
            return 0
        return self.c.execute("UPDATE api_keys SET revoked_at = ? WHERE identity = ? AND revoked_at IS NULL",
                              (at, row["id"])).rowcount

    def revoke_identity(self, ident_id: str, at: float) -> bool:
        self._need_write()
        row = self._identity_row(ident_id)
        if row is None:
            return False
        self.revoke_api_keys(row["id"], at)
        self.c.execute("UPDATE identities SET revoked_at = ? WHERE id = ?", (at, row["id"]))
        return True

    def api_key_owner(self, key_hash: str) -> Optional[dict]:
        r = self._one("SELECT identity, hash FROM api_keys WHERE hash = ? AND revoked_at IS NULL", (key_hash,))
        if r is None:
            return None
        info = self.identity_info(r["identity"])
        if info is None or info["revoked_at"] is not None or info["id"] != r["identity"]:
            return None
        return dict(info, key_hash=r["hash"])

    def record_policy(self, digest: str, name: str, version: str, source: str, by: str, at: float) -> None:
        self._need_write()
        self.c.execute("INSERT INTO policy_versions (digest, name, version, source, by, at) VALUES (?, ?, ?, ?, ?, ?)",
                       (digest, name, version, source, by, at))

    def policy_versions(self) -> List[dict]:
        return self._all("SELECT seq, digest, name, version, source, by, at FROM policy_versions ORDER BY seq")

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

    # budgets
    def ledger(self, action_id: Optional[str] = None) -> SQLLedger:
        return SQLLedger(self.c, action_id)

    def ledger_has(self, action_id: str) -> bool:
        return self.c.execute("SELECT 1 FROM ledger WHERE action_id = ? LIMIT 1", (action_id,)).fetchone() is not None

    def ledger_owners(self) -> List[Optional[str]]:
        return [r[0] for r in self.c.execute("SELECT DISTINCT action_id FROM ledger ORDER BY action_id").fetchall()]

    # audit
    def head(self) -> Tuple[int, str]:
        row = self.c.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
        return (row[0], row[1]) if row else (0, GENESIS)

    def append_event(self, action_id: Optional[str], kind: str, actor: str, at: str, policy: str,
                     payload: Any) -> dict:
        self._need_write()
        if kind not in EVENT_KINDS:
            raise StoreError(f"unknown event kind `{kind}`")
        seq, prev = self.head()
        seq += 1
        text = canonical(payload)
        h = event_hash(prev, seq, action_id, kind, actor, at, policy, text)
        self.c.execute("INSERT INTO events (seq, action_id, kind, actor, at, policy, payload, prev, hash) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", (seq, action_id, kind, actor, at, policy, text, prev, h))
        self.c.execute("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", (seq, h))
        return {"seq": seq, "action_id": action_id, "kind": kind, "actor": actor, "at": at, "policy": policy,
                "payload": payload, "prev": prev, "hash": h}

    def events(self, action_id: Optional[str] = None) -> List[dict]:
        """Raw rows (payload as stored text), in storage order: what verify must see, not what it hopes."""
        if action_id is None:
            rows = self.c.execute("SELECT * FROM events ORDER BY rowid").fetchall()
        else:
            rows = self.c.execute("SELECT * FROM events WHERE action_id = ? ORDER BY seq", (action_id,)).fetchall()
        return [dict(r) for r in rows]

    def event(self, seq: int) -> Optional[dict]:
        row = self.c.execute("SELECT * FROM events WHERE seq = ?", (seq,)).fetchone()
        return dict(row) if row is not None else None

    def grant_events(self, grant_id: str) -> List[dict]:
        rows = self.c.execute(f"SELECT * FROM events WHERE kind IN ('granted', 'approved') AND {_GRANT_EXPR} = ?"
                              " ORDER BY seq", (grant_id,)).fetchall()
        return [dict(r) for r in rows]


class SQLiteStore(Store):
    """One SQLite file in WAL mode. Every write is one `BEGIN IMMEDIATE` transaction, which takes the
    database's write lock up front: the read-decide-write steps of the workflow are atomic across processes."""

    def __init__(self, path: str, busy_timeout: float = 30.0):
        self.path = path
        existed = path != ":memory:" and os.path.exists(path)
        if existed and os.path.isdir(path):
            raise StoreError(f"`{path}` is a directory, not a store file")
        try:
            self._conn = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
            self._conn.row_factory = sqlite3.Row
            self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            self._conn.execute("PRAGMA journal_mode = WAL")
            # FULL: a committed `executing` must survive a power cut, or an execution could run twice
            self._conn.execute("PRAGMA synchronous = FULL")
            self._conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.DatabaseError as e:
            raise StoreError(f"cannot open store `{path}`: {str(e).lower()}") from None
        self._lock = threading.RLock()
        self._busy = False
        self._migrate()

    # ------------------------------------------------------------ schema
    def _version(self) -> int:
        row = self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
                                 ).fetchone()
        if row is None:
            other = self._conn.execute("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
            if other:
                raise StoreError(f"`{self.path}` is an SQLite file but not a signoff store")
            return 0
        v = self._conn.execute("SELECT version FROM schema_version").fetchone()
        return v[0] if v else 0

    def _migrate(self) -> None:
        try:
            with self._lock:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    v = self._version()
                    if v > SCHEMA_VERSION:
                        raise StoreError(f"store `{self.path}` has schema version {v}, newer than this signoff "
                                         f"({SCHEMA_VERSION}): upgrade signoff")
                    if v == 0:
                        self._conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
                        self._conn.execute("INSERT INTO schema_version (version) VALUES (0)")
                    for n in range(v + 1, SCHEMA_VERSION + 1):
                        for stmt in MIGRATIONS[n]:
                            self._conn.execute(stmt)
                        self._conn.execute("UPDATE schema_version SET version = ?", (n,))
                    self._conn.execute("COMMIT")
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
        except sqlite3.DatabaseError as e:
            raise StoreError(f"cannot open store `{self.path}`: {str(e).lower()}") from None

    @property
    def schema_version(self) -> int:
        """The store's schema version (see MIGRATIONS)."""
        return self._conn.execute("SELECT version FROM schema_version").fetchone()[0]

    # ------------------------------------------------------------ transactions
    @contextmanager
    def _tx(self, begin: str, write: bool) -> Iterator[Tx]:
        with self._lock:
            if self._busy:
                raise StoreError("transactions do not nest")
            self._busy = True
            try:
                self._conn.execute(begin)
                try:
                    yield _SQLiteTx(self._conn, write)
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")
            finally:
                self._busy = False

    def transaction(self) -> ContextManager[Tx]:
        """A write transaction, `BEGIN IMMEDIATE`: exclusive across processes, rolled back on any exception."""
        return self._tx("BEGIN IMMEDIATE", True)

    def snapshot(self) -> ContextManager[Tx]:
        """A read-only transaction: a consistent view; writing in it is a StoreError."""
        return self._tx("BEGIN", False)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> "SQLiteStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------ conveniences
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


