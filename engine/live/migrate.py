"""Copying a store into another (`signoff store migrate`): every table, the audit chain byte for byte, verified."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List

from .store import Store, StoreError, verify_store

__all__ = ["MigrateResult", "copy_store"]

# parents before children (the foreign keys), the audit log last, in sequence
_TABLES = ("identities", "api_keys", "policy_versions", "actions", "approvals", "grants", "grant_uses", "ledger")


@dataclass(frozen=True)
class MigrateResult:
    """What was copied: rows per table, the number of audit records and the chain's head (the same in both)."""
    rows: dict
    records: int
    head: str


def _columns(src: Any, table: str) -> List[str]:
    return [r[1] for r in src._conn.execute(f"PRAGMA table_info({table})").fetchall()]


def copy_store(src: Store, dst: Store) -> MigrateResult:
    """Copy an SQLite store into an empty PostgreSQL store in one transaction of the destination, then verify
    the destination's chain and state (`verify_store`) and that its head is the source's. Any failure rolls the
    destination back whole: a half-copied store is never left behind."""
    from .postgres import PostgresStore
    from .sqlite import SQLiteStore
    if not isinstance(src, SQLiteStore) or not isinstance(dst, PostgresStore):
        raise StoreError("migrate copies an SQLite store into a PostgreSQL store")
    with src.snapshot() as stx:
        before = verify_store(stx, state=True)
        if not before.ok:
            raise StoreError(f"the source store does not verify: {before.problem or before.problems[0]}")
        src_head = stx.head()
        rows = {t: [tuple(r) for r in src._conn.execute(f"SELECT * FROM {t}").fetchall()] for t in _TABLES}
        cols = {t: _columns(src, t) for t in _TABLES}
        events = [dict(r) for r in src._conn.execute("SELECT * FROM events ORDER BY seq").fetchall()]
        with dst.transaction() as dtx:
            if dtx.head()[0] != 0 or dtx.list_actions() or dtx.list_identity_info():
                raise StoreError("the destination store is not empty: migrate into a new database or schema")
            ptx: Any = dtx
            for t in _TABLES:
                names = ", ".join(f'"{c}"' for c in cols[t])
                marks = ", ".join(["%s"] * len(cols[t]))
                for r in rows[t]:
                    ptx._exec(f"INSERT INTO {t} ({names}) VALUES ({marks})", r)
            for t, col in (("ledger", "id"), ("policy_versions", "seq")):
                ptx._exec(f"SELECT setval(pg_get_serial_sequence('{t}', '{col}'), "
                          f"(SELECT COALESCE(MAX({col}), 0) + 1 FROM {t}), false)")
            for e in events:   # raw: the same text, links and hashes; the in-sequence trigger checks each
                ptx._exec("INSERT INTO events (seq, action_id, kind, actor, at, policy, payload, prev, hash) "
                          "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                          (e["seq"], e["action_id"], e["kind"], e["actor"], e["at"], e["policy"], e["payload"],
                           e["prev"], e["hash"]))
                ptx._exec("UPDATE audit_head SET seq = %s, hash = %s WHERE id = 1", (e["seq"], e["hash"]))
            ptx._exec("UPDATE audit_head SET seq = %s, hash = %s WHERE id = 1", src_head)
            after = verify_store(dtx, state=True)
            if not after.ok or dtx.head() != src_head:
                raise StoreError("the copy does not verify: "
                                 f"{after.problem or (after.problems[0] if after.problems else 'its head differs')}")
    return MigrateResult({t: len(rows[t]) for t in _TABLES}, len(events), src_head[1])
