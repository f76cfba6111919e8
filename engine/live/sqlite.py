"""The embedded SQLite store: migrations, transactions (BEGIN IMMEDIATE), the SQL ledger; the default store."""
from __future__ import annotations

import os
import sqlite3
import threading
from contextlib import contextmanager
from typing import Any, ContextManager, Dict, Iterator, List, Optional, Sequence

from .sqlstore import SQLLedger, SQLStore, SQLTx
from .store import GENESIS, StoreError, Tx

__all__ = ["SCHEMA_VERSION", "MIGRATIONS", "SQLiteStore", "SQLLedger"]


SCHEMA_VERSION = 4

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
    # the inbox's sessions in the store, so several server processes share them (issue 14); the id is kept as
    # its SHA-256 only, and an API-key session keeps the key's hash, checked again on every request; the text
    # of a reloaded policy, so every server on the store follows a reload
    4: [
        """CREATE TABLE sessions (
            id_hash TEXT PRIMARY KEY,
            identity TEXT NOT NULL,
            via TEXT NOT NULL,
            key_hash TEXT,
            principal TEXT NOT NULL,
            csrf TEXT NOT NULL,
            created REAL NOT NULL,
            expires REAL NOT NULL)""",
        "CREATE INDEX sessions_expires ON sessions (expires)",
        "ALTER TABLE policy_versions ADD COLUMN text TEXT",
    ],
}
_GRANT_EXPR = ("json_extract(CASE WHEN json_valid(payload) THEN payload END,"
               " CASE kind WHEN 'granted' THEN '$.id' ELSE '$.grant' END)")


class _SQLiteTx(SQLTx):
    EVENT_ORDER = "rowid"   # storage order: what verify must see, not what it hopes
    GRANT_REF = _GRANT_EXPR

    def _exec(self, sql: str, args: Sequence[Any] = ()) -> int:
        return int(self.c.execute(sql, tuple(args)).rowcount)

    def _row(self, sql: str, args: Sequence[Any] = ()) -> Optional[Dict[str, Any]]:
        row = self.c.execute(sql, tuple(args)).fetchone()
        return dict(row) if row is not None else None

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> List[Dict[str, Any]]:
        return [dict(r) for r in self.c.execute(sql, tuple(args)).fetchall()]


class SQLiteStore(SQLStore):
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
