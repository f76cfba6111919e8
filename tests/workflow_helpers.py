"""Shared pieces of the workflow tests: the test policy, a fixed clock, identities, a recording executor."""
from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Dict, List, Optional

from engine.live.channels import MemoryChannel
from engine.decide.evaluator import Policy
from engine.live.opening import open_store
from engine.live.store import Identity, Store
from engine.live.workflow import Gate
from policy_lang.checker import load

HERE = Path(__file__).resolve().parent
POLICY_PATH = HERE / "workflow" / "support.policy"
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc)

_POLICY: Optional[Policy] = None


def policy() -> Policy:
    """Loaded once per process: compiling is the slow part and the policy is immutable."""
    global _POLICY
    if _POLICY is None:
        _POLICY = Policy(load(str(POLICY_PATH)))
    return _POLICY


class Clock:
    """A fixed clock the tests move by hand: no sleeping, no flakiness."""

    def __init__(self, start: datetime = T0):
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> datetime:
        self.now += timedelta(**kw)
        return self.now


PEOPLE = [
    Identity("lea", {"team_lead"}, "acme"),
    Identity("fiona", {"finance_manager"}, "acme"),
    Identity("carl", {"cfo"}, "acme"),
    Identity("sam", {"security"}, "acme"),
    Identity("otto", {"team_lead", "finance_manager"}, "globex"),
    Identity("nora", set(), "acme"),
    # an agent that also holds a role: it still may not approve what it proposed
    Identity("bot", {"team_lead", "finance_manager"}, "acme"),
]
BY = {p.id: p for p in PEOPLE}


class Recorder:
    """An executor that remembers every call (the thing exactly-once is about)."""

    def __init__(self, fail_on: Optional[float] = None):
        self.calls: List[Dict[str, Any]] = []
        self.fail_on = fail_on

    def __call__(self, args: Dict[str, Any], ctx: Any) -> Dict[str, Any]:
        self.calls.append(dict(args))
        if self.fail_on is not None and args.get("amount") == self.fail_on:
            raise RuntimeError("payment provider is down")
        return {"refund_id": f"R-{len(self.calls)}", "amount": args.get("amount")}


def refund(amount: Any, confidence: float = 0.95, invoice: Optional[str] = "INV-1", tenant: str = "acme",
           agent: str = "bot", **extra: Any) -> Dict[str, Any]:
    args: Dict[str, Any] = {"amount": amount}
    if invoice is not None:
        args["invoice_id"] = invoice
    a = {"tool": "issue_refund", "args": args, "confidence": confidence,
         "tenant": {"id": tenant, "plan": "enterprise"}, "agent": {"id": agent}}
    a.update(extra)
    return a


def make_gate(path: str, clock: Optional[Clock] = None, executors: Optional[Dict[str, Any]] = None,
              channels: Any = None, **kw: Any) -> Gate:
    store = open_store(path)
    return Gate(policy(), store, executors=executors if executors is not None else {},
                channels=channels if channels is not None else [MemoryChannel()], clock=clock or Clock(),
                identities=PEOPLE, **kw)


# The store the contract suite runs on: "sqlite" or "postgres" (set per test by conftest's `_store_backend`).
BACKEND = "sqlite"


def is_pg(store_or_spec: Any) -> bool:
    """Whether a store (or a store spec) is a PostgreSQL one."""
    if isinstance(store_or_spec, str):
        return store_or_spec.startswith("postgresql://")
    return type(store_or_spec).__name__ == "PostgresStore"


def raw(store: Store, sql: str, args: tuple = ()) -> List[tuple]:
    """Run SQL on the store's own connection, outside any transaction (a tamperer's write, or a count):
    `?` placeholders for both engines; rows as tuples."""
    if is_pg(store):
        from psycopg.rows import tuple_row
        conn = store._live_conn()  # type: ignore[attr-defined]
        with conn.cursor(row_factory=tuple_row) as cur:
            cur.execute(sql.replace("?", "%s"), args)
            return list(cur.fetchall()) if cur.description else []
    return [tuple(r) for r in store._conn.execute(sql, args).fetchall()]  # type: ignore[attr-defined]


def table_names(store: Store) -> List[str]:
    """The store's tables, by name."""
    if is_pg(store):
        return [r[0] for r in raw(store, "SELECT table_name FROM information_schema.tables "
                                         "WHERE table_schema = current_schema() ORDER BY table_name")]
    return [r[0] for r in raw(store, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]


def counts(store: Store) -> Dict[str, int]:
    """Row counts of every table: 'the store is unchanged' means these are equal."""
    out = {n: raw(store, f"SELECT COUNT(*) FROM {n}")[0][0] for n in table_names(store)}
    out["head"] = raw(store, "SELECT seq FROM audit_head")[0][0]
    return out


def store_path(tmp_path: Any, name: str = "signoff.db") -> str:
    """A store for the test: a file in `tmp_path` on SQLite, a fresh schema of the test PostgreSQL on postgres
    (the same arguments give the same store)."""
    if BACKEND == "postgres":
        import pg
        return pg.cluster().url(os.path.join(str(tmp_path), name))
    return os.path.join(str(tmp_path), name)


def tx_rows(tx: Any, sql: str, args: tuple = ()) -> List[tuple]:
    """Run a read inside an open transaction of either store (`?` placeholders); rows as tuples."""
    if type(tx).__name__ == "_PGTx":
        from psycopg.rows import tuple_row
        with tx.c.cursor(row_factory=tuple_row) as cur:
            cur.execute(sql.replace("?", "%s"), args)
            return list(cur.fetchall())
    return [tuple(r) for r in tx.c.execute(sql, args).fetchall()]


class _Row:
    """A result row read by position or by name, as sqlite3.Row is."""

    def __init__(self, names: List[str], values: tuple):
        self._names, self._values = names, values

    def keys(self) -> List[str]:
        return list(self._names)

    def __getitem__(self, k: Any) -> Any:
        return self._values[k] if isinstance(k, int) else self._values[self._names.index(k)]

    def __iter__(self) -> Any:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


class _Result:
    def __init__(self, rows: List[_Row], rowcount: int):
        self._rows, self.rowcount = rows, rowcount

    def fetchone(self) -> Optional[_Row]:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> List[_Row]:
        return list(self._rows)

    def __iter__(self) -> Any:
        return iter(self._rows)


class PGAttacker:
    """A raw PostgreSQL connection with the API the tamper tests use on sqlite3 (`?` placeholders, rows by
    position or name): what the database's owner can do to the store's schema."""

    def __init__(self, url: str):
        import psycopg
        from psycopg.rows import tuple_row
        self.c = psycopg.connect(url, autocommit=True, row_factory=tuple_row)

    def execute(self, sql: str, args: tuple = ()) -> _Result:
        with self.c.cursor() as cur:
            cur.execute(sql.replace("?", "%s"), tuple(args))
            names = [d.name for d in cur.description] if cur.description else []
            rows = [_Row(names, r) for r in cur.fetchall()] if cur.description else []
            return _Result(rows, cur.rowcount)

    def close(self) -> None:
        self.c.close()
