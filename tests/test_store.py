"""The stores (SQLite and PostgreSQL): schema and migrations, transactions, the SQL ledger, the hash-chained audit log, JSON Patch."""
import json
import sqlite3

import pytest
from hypothesis import given, settings, strategies as st

from engine import MemoryLedger
from engine.live.patch import PatchError, apply_patch, canonical, make_patch, merge_patch, same
from engine.live.store import GENESIS, SCHEMA_VERSION, Identity, SQLiteStore, StoreError, verify_events
from engine.live.opening import open_store
from workflow_helpers import Clock, Recorder, is_pg, make_gate, policy, raw, refund, store_path


# ---------------------------------------------------------------- schema

def test_a_new_store_is_wal_with_a_schema_version(tmp_path):
    path = store_path(tmp_path)
    s = open_store(path)
    assert s.schema_version == SCHEMA_VERSION
    if not is_pg(s):
        assert s._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    s.close()
    again = open_store(path)   # reopening migrates nothing and keeps the data
    assert again.schema_version == SCHEMA_VERSION
    assert raw(again, "SELECT COUNT(*) FROM schema_version")[0][0] == 1
    again.close()


def test_stores_it_cannot_read_are_refused(tmp_path):
    newer = store_path(tmp_path, "newer.db")
    s = open_store(newer)
    raw(s, "UPDATE schema_version SET version = 99")
    s.close()
    with pytest.raises(StoreError, match="schema version 99, newer than this signoff"):
        open_store(newer)
    other = store_path(tmp_path, "other.db")
    if is_pg(other):
        import psycopg
        with psycopg.connect(other, autocommit=True) as c:
            c.execute("CREATE TABLE t (x INTEGER)")
        with pytest.raises(StoreError, match="not a signoff store"):
            open_store(other)
        with pytest.raises(StoreError, match="cannot open store `postgresql://postgres@/nosuchdb"):
            open_store(other.replace("/signoff?", "/nosuchdb?"))
        return
    c = sqlite3.connect(other)
    c.execute("CREATE TABLE t (x)")
    c.commit()
    c.close()
    with pytest.raises(StoreError, match="not a signoff store"):
        SQLiteStore(other)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(StoreError, match="cannot open store"):
        SQLiteStore(str(junk))


def test_a_failed_transaction_leaves_nothing_and_transactions_do_not_nest(tmp_path):
    s = open_store(store_path(tmp_path))
    with pytest.raises(RuntimeError):
        with s.transaction() as tx:
            tx.put_identity(Identity("a", {"r"}, "t"))
            tx.append_event(None, "granted", "a", "2026-01-01T00:00:00Z", "", {})
            raise RuntimeError("boom")
    assert s.get_identity("a") is None and s.verify().count == 0
    with s.transaction():
        with pytest.raises(StoreError, match="do not nest"):
            with s.transaction():
                pass
    with s.snapshot() as tx:
        with pytest.raises(StoreError, match="read-only"):
            tx.put_identity(Identity("a"))


def test_identities_round_trip_and_are_validated(tmp_path):
    s = open_store(store_path(tmp_path))
    s.put_identity(Identity("maria", {"cfo", "finance_manager"}, "acme"))
    s.put_identity(Identity("ops", {"oncall"}))
    assert s.get_identity("maria") == Identity("maria", frozenset({"cfo", "finance_manager"}), "acme")
    assert s.get_identity("ops").tenant is None
    for bad in [dict(id=""), dict(id="x", roles="cfo"), dict(id="x", tenant="")]:
        with pytest.raises(ValueError):
            Identity(**bad)


# ---------------------------------------------------------------- the ledger

def test_sql_ledger_windows_are_half_open_and_keys_canonical(tmp_path):
    s = open_store(store_path(tmp_path))
    key = (("refund_budget", 0), ("acme",))
    with s.transaction() as tx:
        led = tx.ledger("a1")
        led.add(key, 100.0, 5)
        led.add(key, 200.0, 7)
        led.add((("refund_budget", 0), (("n", 1.0),)), 150.0, 11)
    with s.snapshot() as tx:
        led = tx.ledger()
        assert led.total(key, 100.0, 200.0) == 7           # start < t <= end
        assert led.total(key, 99.0, 200.0) == 12
        assert led.total(key, 200.0, 300.0) == 0
        assert led.total((("refund_budget", 0), (("n", 1.0),)), 0, 1000) == 11
        assert led.total((("refund_budget", 0), (("n", 2.0),)), 0, 1000) == 0
        assert tx.ledger_has("a1") and not tx.ledger_has("a2")


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b"]), st.integers(0, 50), st.integers(-5, 20)), max_size=25),
       st.lists(st.tuples(st.sampled_from(["a", "b"]), st.integers(-5, 60), st.integers(0, 60)), max_size=10))
def test_sql_ledger_agrees_with_the_memory_ledger(tmp_path_factory, adds, queries):
    s = open_store(store_path(tmp_path_factory.mktemp("led"), "l.db"))
    mem = MemoryLedger()
    with s.transaction() as tx:
        led = tx.ledger()
        for k, t, amount in adds:
            led.add((k,), float(t), amount)
            mem.add((k,), float(t), amount)
        for k, a, b in queries:
            assert led.total((k,), float(a), float(b)) == mem.total((k,), float(a), float(b))
    s.close()


def test_budgets_decide_the_same_on_the_sql_ledger(tmp_path):
    pol = policy()
    s = open_store(store_path(tmp_path))
    mem = MemoryLedger()
    with s.transaction() as tx:
        led = tx.ledger()
        for i in range(60):
            a = refund(20, timestamp=f"2026-11-20T10:{i:02d}:00Z")
            d1, d2 = pol.decide(a, led), pol.decide(a, mem)
            assert d1.to_dict() == d2.to_dict()
            if d1.outcome == "allow":
                assert pol.record(a, led) == pol.record(a, mem) == 1
    assert d1.outcome == "escalate"


# ---------------------------------------------------------------- the audit log

@pytest.fixture
def logged(tmp_path):
    """A store whose log holds a real workflow: allow, approval with edit, rejection, grant."""
    clock = Clock()
    gate = make_gate(store_path(tmp_path), clock, {"issue_refund": Recorder()})
    gate.propose(refund(10))
    h = gate.propose(refund(50, confidence=0.5))
    gate.approve(h.id, by="lea", edits={"amount": 40})
    h = gate.propose(refund(300))
    gate.reject(h.id, by="carl", reason="no")
    from datetime import timedelta
    gate.grant("lea", "team_review", "issue_refund", clock.now + timedelta(days=1))
    assert gate.verify().ok
    yield gate.store
    gate.store.close()


def _tamper(store, sql, *args):
    """What an attacker with the file (or the database's owner) can do: drop the append-only triggers, then write."""
    on = " ON events" if is_pg(store) else ""
    raw(store, f"DROP TRIGGER IF EXISTS events_no_update{on}")
    raw(store, f"DROP TRIGGER IF EXISTS events_no_delete{on}")
    raw(store, sql, args)


def test_the_log_is_append_only_through_sql(logged):
    if is_pg(logged):
        import psycopg
        for sql in ("UPDATE events SET actor = 'x' WHERE seq = 1", "DELETE FROM events WHERE seq = 1",
                    "TRUNCATE events"):
            with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                raw(logged, sql)
        # and in sequence: a record that is not the head's successor, or does not link to it, is refused
        seq, head = logged.verify().count, logged.verify().head
        for bad_seq, prev in ((seq + 2, head), (seq + 1, "f" * 64), (seq, head)):
            with pytest.raises(psycopg.errors.RaiseException, match="appended in sequence"):
                raw(logged, "INSERT INTO events (seq, action_id, kind, actor, at, policy, payload, prev, hash) "
                            "VALUES (?, NULL, 'granted', 'x', 't', '', '{}', ?, 'h')", (bad_seq, prev))
        assert logged.verify().ok
        return
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        logged._conn.execute("UPDATE events SET actor = 'x' WHERE seq = 1")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        logged._conn.execute("DELETE FROM events WHERE seq = 1")


@pytest.mark.parametrize("column, value", [("actor", "mallory"), ("kind", "approved"), ("at", "2020-01-01T00:00:00Z"),
                                           ("policy", "sha256:forged"), ("action_id", "d_other")])
def test_editing_any_field_is_detected(logged, column, value):
    _tamper(logged, f"UPDATE events SET {column} = ? WHERE seq = 5", value)
    res = logged.verify()
    assert not res.ok and res.bad_seq == 5 and "was edited" in res.problem


def test_editing_a_payload_even_by_one_byte_is_detected(logged):
    row = raw(logged, "SELECT payload FROM events WHERE seq = 3")[0][0]
    _tamper(logged, "UPDATE events SET payload = ? WHERE seq = 3", row.replace("10", "99", 1))
    assert logged.verify().bad_seq == 3
    _tamper(logged, "UPDATE events SET payload = ? WHERE seq = 3", row + " ")
    assert logged.verify().bad_seq == 3


def _event(store, seq):
    with store.snapshot() as tx:
        return tx.event(seq)


def test_editing_a_record_and_rehashing_it_breaks_the_next_link(logged):
    from engine.live.store import event_hash
    r = _event(logged, 4)
    h = event_hash(r["prev"], 4, r["action_id"], r["kind"], "mallory", r["at"], r["policy"], r["payload"])
    _tamper(logged, "UPDATE events SET actor = 'mallory', hash = ? WHERE seq = 4", h)
    res = logged.verify()
    assert not res.ok and res.bad_seq == 5 and "does not link" in res.problem


def test_deleting_a_record_is_detected(logged):
    _tamper(logged, "DELETE FROM events WHERE seq = 6")
    res = logged.verify()
    assert not res.ok and res.bad_seq == 7 and "missing" in res.problem


def test_deleting_the_last_records_is_detected_by_the_head(logged):
    n = raw(logged, "SELECT MAX(seq) FROM events")[0][0]
    _tamper(logged, "DELETE FROM events WHERE seq >= ?", n - 1)
    res = logged.verify()
    assert not res.ok and "head says record" in res.problem


def test_reordering_records_is_detected(logged):
    a, b = _event(logged, 3), _event(logged, 4)
    cols = ["action_id", "kind", "actor", "at", "policy", "payload", "prev", "hash"]
    _tamper(logged, f"UPDATE events SET {', '.join(c + ' = ?' for c in cols)} WHERE seq = 3", *[b[c] for c in cols])
    sets = ", ".join(c + " = ?" for c in cols)
    raw(logged, f"UPDATE events SET {sets} WHERE seq = 4", tuple(a[c] for c in cols))
    res = logged.verify()
    assert not res.ok and res.bad_seq == 3


def test_renumbering_records_is_detected(logged):
    n = raw(logged, "SELECT MAX(seq) FROM events")[0][0]
    _tamper(logged, "UPDATE events SET seq = ? WHERE seq = 2", n + 10)
    res = logged.verify()
    assert not res.ok and res.bad_seq == 3


def test_verify_of_an_empty_and_a_forged_genesis_log():
    assert verify_events([], (0, GENESIS)).ok
    row = {"seq": 1, "action_id": None, "kind": "granted", "actor": "x", "at": "t", "policy": "",
           "payload": "{}", "prev": "f" * 64, "hash": "0"}
    assert verify_events([row]).bad_seq == 1


# ---------------------------------------------------------------- JSON values and patches

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 10) | st.floats(allow_nan=False, allow_infinity=False, width=32)
    | st.text(alphabet="ab/~0", max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(alphabet="ab/~1", max_size=3), inner,
                                                                max_size=3),
    max_leaves=10)


@settings(max_examples=200, deadline=None)
@given(json_values, json_values)
def test_make_patch_then_apply_gives_the_target(a, b):
    patch = make_patch(a, b)
    assert same(apply_patch(a, patch), b)
    assert (patch == []) == same(a, b)
    json.dumps(patch)


def test_patches_keep_types_apart():
    assert make_patch({"x": 1}, {"x": True}) == [{"op": "replace", "path": "/x", "value": True}]
    assert make_patch({"x": 1}, {"x": 1.0}) == [{"op": "replace", "path": "/x", "value": 1.0}]
    assert make_patch({"a/b": 1}, {}) == [{"op": "remove", "path": "/a~1b"}]


def test_apply_patch_supports_rfc6902_and_refuses_bad_operations():
    doc = {"a": [1, 2], "b": {"c": 3}}
    out = apply_patch(doc, [{"op": "add", "path": "/a/-", "value": 9}, {"op": "move", "from": "/b/c", "path": "/d"},
                            {"op": "copy", "from": "/d", "path": "/e"}, {"op": "test", "path": "/e", "value": 3}])
    assert out == {"a": [1, 2, 9], "b": {}, "d": 3, "e": 3} and doc == {"a": [1, 2], "b": {"c": 3}}
    for bad, msg in [({"op": "add", "path": "/a/01", "value": 1}, "not a valid sequence index"),
                     ({"op": "add", "path": "/a/7", "value": 1}, "outside of list"),
                     ({"op": "add", "path": "a", "value": 1}, "must start with"),
                     ({"op": "remove", "path": "/x"}, "non-existent"),
                     ({"op": "add", "path": "/x"}, "does not contain a 'value'"),
                     ({"op": "move", "from": "/b", "path": "/b/c"}, "own children"),
                     ({"op": "add", "path": "/~2", "value": 1}, "invalid escape"),
                     ({"op": "bogus", "path": "/a"}, "Unknown operation"),
                     ("add", "not an object")]:
        with pytest.raises(PatchError, match=msg):
            apply_patch(doc, [bad])
    with pytest.raises(PatchError, match="list of operations"):
        apply_patch(doc, {"op": "add"})


def test_merge_patch_and_canonical_json():
    assert merge_patch({"a": 1, "b": {"c": 2, "d": 3}}, {"a": None, "b": {"c": 5}}) == {"b": {"c": 5, "d": 3}}
    assert canonical({"b": 1, "a": [1.5, "é"]}) == '{"a":[1.5,"é"],"b":1}'
    with pytest.raises(ValueError):
        canonical({"x": float("nan")})
