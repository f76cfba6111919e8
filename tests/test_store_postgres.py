"""The PostgreSQL store beyond the shared contract: moving an SQLite store into it, the CLI on a URL, a lost
connection, and one audit chain written by many processes at once."""
import multiprocessing as mp
from datetime import timedelta

import pytest
from click.testing import CliRunner

import pg
from cli.main import cli
from engine import StoreError, open_store
from engine.live.postgres import PostgresStore
from workflow_helpers import Clock, PEOPLE, Recorder, make_gate, raw, refund, store_path

CTX = mp.get_context("fork")


@pytest.fixture
def server():
    return pg.postgres_or_skip()


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _sqlite_with_history(tmp_path):
    path = store_path(tmp_path, "old.db")        # SQLite: the autouse backend is sqlite in this module
    clock = Clock()
    gate = make_gate(path, clock, {"issue_refund": Recorder()})
    gate.propose(refund(10))
    h = gate.propose(refund(50, confidence=0.5))
    gate.approve(h.id, by="lea", edits={"amount": 40})
    h = gate.propose(refund(300))
    gate.reject(h.id, by="carl", reason="no")
    waiting = gate.propose(refund(60, confidence=0.5, invoice="INV-9")).id
    gate.grant("lea", "team_review", "issue_refund", clock.now + timedelta(days=1))
    gate.store.close()
    return path, waiting


def test_store_migrate_copies_the_chain_byte_for_byte_and_the_copy_goes_on(tmp_path, server):
    path, waiting = _sqlite_with_history(tmp_path)
    url = server.url(str(tmp_path / "migrated"))
    r = run("store", "migrate", "--from", f"sqlite:{path}", "--to", url)
    assert r.exit_code == 0, r.output
    old, new = open_store(path), open_store(url)
    with old.snapshot() as a, new.snapshot() as b:
        assert a.events() == b.events() and a.head() == b.head() and len(a.events()) > 8
        assert a.list_actions() == b.list_actions() and a.list_grants() == b.list_grants()
        assert [x["id"] for x in a.list_identity_info()] == [x["id"] for x in b.list_identity_info()]
    assert f"head {old.verify().head}" in r.output
    old.close()
    new.close()
    v = run("audit", "verify", "--store", url)
    assert v.exit_code == 0 and v.output.startswith("ok: "), v.output
    # the copy is a working store: the waiting draft is approved and runs on PostgreSQL
    rec = Recorder()
    gate = make_gate(url, Clock(), {"issue_refund": rec})
    assert gate.approve(waiting, by="lea").state == "executed" and len(rec.calls) == 1
    assert gate.verify().ok
    # a second migrate into the same store is refused and changes nothing
    before = raw(gate.store, "SELECT seq, hash FROM audit_head")
    again = run("store", "migrate", "--from", f"sqlite:{path}", "--to", url)
    assert again.exit_code != 0 and "destination store is not empty" in again.output
    assert raw(gate.store, "SELECT seq, hash FROM audit_head") == before
    gate.store.close()


def test_store_migrate_refuses_a_source_that_does_not_verify_and_bad_arguments(tmp_path, server):
    import sqlite3
    path, _ = _sqlite_with_history(tmp_path)
    c = sqlite3.connect(path, isolation_level=None)
    c.execute("DROP TRIGGER events_no_update")
    c.execute("UPDATE events SET actor = 'mallory' WHERE seq = 2")
    c.close()
    url = server.url(str(tmp_path / "target"))
    r = run("store", "migrate", "--from", f"sqlite:{path}", "--to", url)
    assert r.exit_code != 0 and "source store does not verify" in r.output and "Traceback" not in r.output
    s = open_store(url)
    assert s.verify().count == 0       # nothing was copied
    s.close()
    assert "must be `sqlite:PATH`" in run("store", "migrate", "--from", path, "--to", url).output
    assert "must be a `postgresql://` URL" in run("store", "migrate", "--from", f"sqlite:{path}", "--to",
                                                  str(tmp_path / "x.db")).output
    assert "does not exist" in run("store", "migrate", "--from", f"sqlite:{tmp_path}/nope.db", "--to", url).output


def test_the_cli_works_on_a_postgresql_url(tmp_path, server):
    url = server.url(str(tmp_path / "cli"))
    r = run("identities", "add", "bot", "--role", "agent", "--kind", "agent", "--tenant", "acme", "--store", url)
    assert r.exit_code == 0, r.output
    gate = make_gate(url, Clock(), {})
    aid = gate.propose(refund(50, confidence=0.5)).id
    gate.store.close()
    listed = run("approvals", "list", "--store", url)
    assert listed.exit_code == 0 and aid[:10] in listed.output, listed.output
    assert "bot" in run("identities", "list", "--store", url).output
    bad = run("approvals", "list", "--store", url.replace("/signoff?", "/nosuchdb?"))
    assert bad.exit_code != 0 and "cannot open store" in bad.output and "Traceback" not in bad.output


def test_a_newer_schema_refuses_to_start(tmp_path, server):
    url = server.url(str(tmp_path / "newer"))
    s = open_store(url)
    raw(s, "UPDATE schema_version SET version = 5")
    s.close()
    with pytest.raises(StoreError, match="schema version 5, newer than this signoff \\(4\\): upgrade signoff"):
        PostgresStore(url)


def test_a_lost_connection_fails_the_call_cleanly_and_the_next_call_reconnects(tmp_path, server):
    url = server.url(str(tmp_path / "lost"))
    gate = make_gate(url, Clock(), {})
    aid = gate.propose(refund(50, confidence=0.5)).id
    before = gate.verify()
    killer = open_store(url)
    pid = gate.store._conn.info.backend_pid
    with pytest.raises(StoreError, match="the database failed"):
        with gate.store.transaction() as tx:
            tx.append_event(aid, "notified", "x", "2026-11-20T10:00:00Z", "", {"half": True})
            raw(killer, "SELECT pg_terminate_backend(?)", (pid,))
            tx.update_action(aid, state="approved")
    killer.close()
    after = gate.verify()                 # reconnected: nothing of the half transaction was kept
    assert after.ok and after.count == before.count and after.head == before.head
    assert gate.get(aid).state == "drafted"
    gate.store.close()


def _appender(url, n, barrier):
    s = PostgresStore(url)
    barrier.wait()
    for i in range(n):
        with s.transaction() as tx:
            tx.append_event(None, "granted", f"w{i}", "2026-11-20T10:00:00Z", "", {"i": i})
    s.close()


def test_many_processes_append_one_chain_without_gaps_or_forks(tmp_path, server):
    url = server.url(str(tmp_path / "chain"))
    PostgresStore(url).close()
    barrier = CTX.Barrier(6)
    procs = [CTX.Process(target=_appender, args=(url, 25, barrier)) for _ in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    s = PostgresStore(url)
    res = s.verify(state=False)
    assert res.ok and res.count == 150
    with s.snapshot() as tx:
        assert [e["seq"] for e in tx.events()] == list(range(1, 151))
    s.close()


def test_people_helpers_are_known():
    assert {p.id for p in PEOPLE} >= {"lea", "carl"}


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_audit_export_since_writes_the_records_after_seq_that_chain_on(tmp_path, backend, server):
    import json
    spec = server.url(str(tmp_path / "exp")) if backend == "postgres" else str(tmp_path / "exp.db")
    gate = make_gate(spec, Clock(), {"issue_refund": Recorder()})
    gate.propose(refund(10))
    gate.propose(refund(50, confidence=0.5))
    with gate.store.snapshot() as tx:
        every = tx.events()
    archive = tmp_path / "audit-1.jsonl"
    first = run("audit", "export", "--store", spec, "--since", 0, "-o", archive)
    assert first.exit_code == 0, first.output
    lines = [json.loads(ln) for ln in archive.read_text().splitlines()]
    assert [r["seq"] for r in lines] == [r["seq"] for r in every] and lines[-1]["hash"] == every[-1]["hash"]
    assert f"next: --since {every[-1]['seq']}" in first.output
    cut = every[-1]["seq"]
    gate.propose(refund(300))
    more = run("audit", "export", "--store", spec, "--since", cut)
    new = [json.loads(ln) for ln in more.output.splitlines() if ln.startswith("{")]
    assert new and new[0]["seq"] == cut + 1 and new[0]["prev"] == lines[-1]["hash"]   # the archive chains on
    from engine import verify_events
    assert verify_events(lines + new).ok
    assert run("audit", "export", "--store", spec, "--since", new[-1]["seq"]).output == ""
    assert "does not take `--tenant`" in run("audit", "export", "--store", spec, "--since", 0, "--tenant", "a").output
    gate.store.close()
