"""The audit log guards the state (spec §6, v1.1): forged rows never run an action, verify replays the log,
signed checkpoints catch truncation and re-hashing. Every attack writes the store with raw sqlite3."""
import json
import os
import sqlite3
import stat
from datetime import timedelta

import pytest
from click.testing import CliRunner

from cli.approvals_cmd import approvals
from cli.audit_cmd import audit
from engine.live.store import GENESIS, event_hash
from engine.live.workflow import StateError
from workflow_helpers import Clock, PGAttacker, Recorder, is_pg, make_gate, refund, store_path


def run(*args):
    return CliRunner().invoke(audit, [str(a) for a in args])


def raw(path):
    """The attacker's connection: the file (or the database), with the append-only triggers dropped."""
    if is_pg(path):
        pc = PGAttacker(path)
        for t in ("events_no_update", "events_no_delete", "events_no_truncate", "events_in_sequence"):
            pc.execute(f"DROP TRIGGER IF EXISTS {t} ON events")
        return pc
    c = sqlite3.connect(path, isolation_level=None)
    c.row_factory = sqlite3.Row
    c.execute("DROP TRIGGER IF EXISTS events_no_update")
    c.execute("DROP TRIGGER IF EXISTS events_no_delete")
    return c


def forge_approval(c, aid, who, roles, args_hash, at, grant=None):
    c.execute("INSERT INTO approvals (action_id, approver, roles, args_hash, at, expires_at, grant_id, comment) "
              "VALUES (?, ?, ?, ?, ?, ?, ?, NULL)", (aid, who, json.dumps(sorted(roles)), args_hash, at,
                                                     at + 3600, grant))


def append_event(c, action_id, kind, actor, at, payload):
    """A record appended the way the store appends one: right seq, right link, right hash, head moved."""
    seq, prev = c.execute("SELECT seq, hash FROM audit_head").fetchone()
    seq += 1
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    h = event_hash(prev, seq, action_id, kind, actor, at, "", text)
    c.execute("INSERT INTO events (seq, action_id, kind, actor, at, policy, payload, prev, hash) "
              "VALUES (?, ?, ?, ?, ?, '', ?, ?, ?)", (seq, action_id, kind, actor, at, text, prev, h))
    c.execute("UPDATE audit_head SET seq = ?, hash = ?", (seq, h))


def rehash_from(c, first):
    """Re-hash every record from `first` on and move the head: a consistent rewrite of the chain."""
    prev = GENESIS if first == 1 else c.execute("SELECT hash FROM events WHERE seq = ?", (first - 1,)).fetchone()[0]
    rows = [dict(r) for r in c.execute("SELECT * FROM events WHERE seq >= ? ORDER BY seq", (first,))]
    for r in rows:
        h = event_hash(prev, r["seq"], r["action_id"], r["kind"], r["actor"], r["at"], r["policy"], r["payload"])
        c.execute("UPDATE events SET prev = ?, hash = ? WHERE seq = ?", (prev, h, r["seq"]))
        prev = h
    n = rows[-1]["seq"] if rows else first - 1
    c.execute("UPDATE audit_head SET seq = ?, hash = ?", (n, prev))


@pytest.fixture
def env(tmp_path):
    clock = Clock()
    rec = Recorder()
    path = store_path(tmp_path)
    gate = make_gate(path, clock, {"issue_refund": rec})
    yield gate, clock, rec, path
    gate.store.close()


# ---------------------------------------------------------------- (a) the workflow counts what the log justifies

def test_forged_approval_rows_never_make_an_executor_run(env):
    gate, clock, rec, path = env
    h = gate.propose(refund(300))                       # finance_review, quorum 2
    c = raw(path)
    forge_approval(c, h.id, "fiona", ["finance_manager"], h.args_hash, clock.now.timestamp())
    forge_approval(c, h.id, "carl", ["cfo"], h.args_hash, clock.now.timestamp())
    c.execute("UPDATE actions SET state = 'approved' WHERE id = ?", (h.id,))
    with pytest.raises(StateError, match="does not count|records make it"):
        gate.execute(h.id)
    gate.resume()
    assert rec.calls == []
    assert gate.get(h.id).routes[0]["approved_by"] == []   # a forged approval is not shown as counting
    show = CliRunner().invoke(approvals, ["show", h.id, "--store", path])
    assert "approved  by fiona" in show.output and "(no record in the audit log: does not count)" in show.output
    assert "finance_review (finance_manager, cfo; quorum 2): nobody yet" in show.output
    listing = CliRunner().invoke(approvals, ["list", "--store", path, "--all"])
    assert "finance_review 0/2" in listing.output
    r = run("verify", "--store", path)
    assert r.exit_code == 1, r.output
    assert "approval by `fiona` has no record in the audit log" in r.output
    assert "its state is approved but its records make it drafted" in r.output


def test_a_forged_row_plus_one_real_approval_does_not_meet_a_quorum_of_two(env):
    gate, clock, rec, path = env
    h = gate.propose(refund(300))
    forge_approval(raw(path), h.id, "fiona", ["finance_manager"], h.args_hash, clock.now.timestamp())
    h = gate.approve(h.id, by="carl")
    assert h.state == "drafted" and rec.calls == []
    # the forged row does not block fiona's real approval either
    h = gate.approve(h.id, by="fiona")
    assert h.state == "executed" and len(rec.calls) == 1


def test_arguments_changed_in_the_row_after_approval_never_run(tmp_path):
    clock = Clock()
    path = store_path(tmp_path)
    reviewer = make_gate(path, clock, {})              # the CLI: no executor, the draft waits approved
    h = reviewer.propose(refund(50, confidence=0.5))
    assert reviewer.approve(h.id, by="lea").state == "approved"
    c = raw(path)
    c.execute("UPDATE actions SET args = ? WHERE id = ?", ('{"amount":450,"invoice_id":"INV-1"}', h.id))
    rec = Recorder()
    agent = make_gate(path, clock, {"issue_refund": rec})
    agent.resume()
    with pytest.raises(StateError, match="arguments are not the ones its records make"):
        agent.execute(h.id)
    assert rec.calls == []


def test_a_rejected_draft_set_back_to_approved_never_runs(tmp_path):
    clock = Clock()
    path = store_path(tmp_path)
    reviewer = make_gate(path, clock, {})
    h = reviewer.propose(refund(50, confidence=0.5))
    reviewer.approve(h.id, by="lea")
    reviewer.reject(h.id, by="lea", reason="wrong customer")
    raw(path).execute("UPDATE actions SET state = 'approved' WHERE id = ?", (h.id,))
    rec = Recorder()
    agent = make_gate(path, clock, {"issue_refund": rec})
    agent.resume()
    with pytest.raises(StateError, match="records make it rejected"):
        agent.execute(h.id)
    assert rec.calls == []


def test_a_proposed_action_rewritten_to_look_allowed_never_runs(tmp_path):
    clock = Clock()
    path = store_path(tmp_path)
    reviewer = make_gate(path, clock, {})
    h = reviewer.propose(refund(50, confidence=0.5))     # needs team_review
    c = raw(path)
    proposed = json.loads(c.execute("SELECT proposed FROM actions WHERE id = ?", (h.id,)).fetchone()[0])
    proposed["confidence"] = 0.99                         # the policy would allow this one
    c.execute("UPDATE actions SET proposed = ?, state = 'approved', required = 'allow', routes = '[]' WHERE id = ?",
              (json.dumps(proposed), h.id))
    rec = Recorder()
    agent = make_gate(path, clock, {"issue_refund": rec})
    agent.resume()
    assert rec.calls == []


def test_forged_grants_approve_nothing(env):
    gate, clock, rec, path = env
    c = raw(path)
    for who, role in [("fiona", "finance_manager"), ("carl", "cfo")]:
        c.execute("INSERT INTO grants (id, tenant, grantor, roles, route, tool, constraints, spend_path, spend_cap,"
                  " spent, expires_at, created_at, comment) VALUES (?, 'acme', ?, ?, 'finance_review',"
                  " 'issue_refund', '{}', NULL, NULL, 0, ?, ?, NULL)",
                  (f"g_forged_{who}", who, json.dumps([role]), clock.now.timestamp() + 86400,
                   clock.now.timestamp()))
    h = gate.propose(refund(300))
    assert h.state == "drafted" and rec.calls == []
    r = run("verify", "--store", path)
    assert r.exit_code == 1 and "grant `g_forged_fiona` has no `granted` record" in r.output


def test_a_grant_whose_spending_was_reset_keeps_its_cap(env):
    gate, clock, rec, path = env
    gate.grant("lea", "team_review", "issue_refund", clock.now + timedelta(days=1), spend_cap=100,
               spend_path="amount")
    assert gate.propose(refund(60, confidence=0.5)).state == "executed"
    raw(path).execute("UPDATE grants SET spent = 0")
    h = gate.propose(refund(61, confidence=0.5))
    assert h.state == "drafted" and len(rec.calls) == 1
    r = run("verify", "--store", path)
    assert r.exit_code == 1 and "it has spent 0, its records 60" in r.output


def test_a_forged_interrupted_execution_is_not_rerun(tmp_path):
    clock = Clock()
    path = store_path(tmp_path)
    reviewer = make_gate(path, clock, {})
    h = reviewer.propose(refund(50, confidence=0.5))
    raw(path).execute("UPDATE actions SET state = 'executing', attempts = 1, lease_until = 0, executed_args = args"
                      " WHERE id = ?", (h.id,))
    calls = []
    agent = make_gate(path, clock, {})
    agent.register("issue_refund", lambda args, ctx: calls.append(args), idempotent=True)
    agent.resume()
    assert calls == []


# ---------------------------------------------------------------- (b) verify replays the log

def _workflow(gate, clock):
    """Allowed and executed, approved after an edit, rejected, and one left waiting."""
    gate.propose(refund(10))
    h = gate.propose(refund(50, confidence=0.5))
    gate.approve(h.id, by="lea", edits={"amount": 40})
    h2 = gate.propose(refund(300))
    gate.reject(h2.id, by="carl", reason="no")
    clock.advance(minutes=1)
    return gate.propose(refund(80, confidence=0.5))


def test_verify_of_an_honest_store_is_ok(env):
    gate, clock, rec, path = env
    _workflow(gate, clock)
    gate.grant("lea", "team_review", "issue_refund", clock.now + timedelta(days=1))
    gate.propose(refund(70, confidence=0.5))
    r = run("verify", "--store", path)
    assert r.exit_code == 0 and r.output.startswith("ok: "), r.output
    assert gate.verify().problems == []


def test_truncating_the_tail_and_rewriting_the_head_is_caught_by_replay(env):
    gate, clock, rec, path = env
    h = gate.propose(refund(10))                 # proposed, decided, executing, executed
    c = raw(path)
    last = c.execute("SELECT seq FROM events WHERE kind = 'executed' AND action_id = ?", (h.id,)).fetchone()[0]
    c.execute("DELETE FROM events WHERE seq >= ?", (last,))
    seq, hash_ = c.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
    c.execute("UPDATE audit_head SET seq = ?, hash = ?", (seq, hash_))
    r = run("verify", "--store", path)
    assert r.exit_code == 1, r.output
    assert "its state is executed but its records make it executing" in r.output


def test_a_forged_appended_record_is_caught_by_replay(env):
    gate, clock, rec, path = env
    h = gate.propose(refund(300))
    c = raw(path)
    append_event(c, h.id, "approved", "fiona", "2026-11-20T10:00:00Z",
                 {"args_hash": h.args_hash, "roles": ["finance_manager"], "comment": None,
                  "expires_at": "2026-11-21T10:00:00Z"})
    append_event(c, h.id, "executed", "signoff", "2026-11-20T10:00:00Z", {"attempt": 1, "args_hash": h.args_hash})
    r = run("verify", "--store", path)
    assert r.exit_code == 1, r.output
    assert "approval record" in r.output and "has no approval row" in r.output
    assert "its state is drafted but its records make it executed" in r.output


def test_a_rewritten_and_rehashed_log_is_caught_by_replay(env):
    gate, clock, rec, path = env
    _workflow(gate, clock)
    c = raw(path)
    seq = c.execute("SELECT seq FROM events WHERE kind = 'rejected'").fetchone()[0]
    c.execute("UPDATE events SET actor = 'mallory' WHERE seq = ?", (seq,))
    rehash_from(c, seq)
    r = run("verify", "--store", path)
    assert r.exit_code == 1 and "rejected by `mallory`" in r.output, r.output


# ---------------------------------------------------------------- (c) signed checkpoints

@pytest.fixture
def keys(tmp_path):
    key = str(tmp_path / "audit.key")
    r = run("keygen", "--out", key)
    assert r.exit_code == 0, r.output
    return key, key + ".pub"


def test_keygen_writes_a_private_key_only_its_owner_reads_and_never_overwrites(keys, tmp_path):
    key, pub = keys
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert open(key).read().startswith("-----BEGIN PRIVATE KEY-----")
    assert open(pub).read().startswith("-----BEGIN PUBLIC KEY-----")
    before = open(key).read()
    r = run("keygen", "--out", key)
    assert r.exit_code == 2 and "already exists" in r.output and open(key).read() == before


def _checkpoint(path, key, tmp_path):
    out = str(tmp_path / "cp.json")
    r = run("checkpoint", "--store", path, "--key", key, "--out", out)
    assert r.exit_code == 0, r.output
    return out


def test_a_checkpoint_verifies_and_later_records_extend_it(env, keys, tmp_path):
    gate, clock, rec, path = env
    _workflow(gate, clock)
    key, pub = keys
    cp = _checkpoint(path, key, tmp_path)
    body = json.load(open(cp))
    assert body["format"] == "signoff-checkpoint/1" and body["seq"] == gate.verify().count
    gate.propose(refund(10))
    r = run("verify", "--store", path, "--checkpoint", cp, "--public-key", pub)
    assert r.exit_code == 0, r.output
    assert f"the checkpoint of record {body['seq']} signed at" in r.output


def test_truncation_below_a_checkpoint_is_detected(env, keys, tmp_path):
    gate, clock, rec, path = env
    _workflow(gate, clock)
    key, pub = keys
    cp = _checkpoint(path, key, tmp_path)
    c = raw(path)
    # only the last `notified` record goes: no state depends on it, so replay alone cannot tell
    n = c.execute("SELECT MAX(seq) FROM events").fetchone()[0]
    assert c.execute("SELECT kind FROM events WHERE seq = ?", (n,)).fetchone()[0] == "notified"
    c.execute("DELETE FROM events WHERE seq = ?", (n,))
    c.execute("UPDATE audit_head SET seq = ?, hash = (SELECT hash FROM events WHERE seq = ?)", (n - 1, n - 1))
    assert run("verify", "--store", path).exit_code == 0
    r = run("verify", "--store", path, "--checkpoint", cp, "--public-key", pub)
    assert r.exit_code == 1 and f"the log ends at record {n - 1}" in r.output and "records were deleted" in r.output


def test_rewriting_and_rehashing_up_to_a_checkpoint_is_detected(env, keys, tmp_path):
    gate, clock, rec, path = env
    _workflow(gate, clock)
    key, pub = keys
    cp = _checkpoint(path, key, tmp_path)
    c = raw(path)
    # a comment nobody's state keeps, changed and the whole chain re-hashed after it
    seq = c.execute("SELECT seq FROM events WHERE kind = 'notified' ORDER BY seq LIMIT 1").fetchone()[0]
    payload = json.loads(c.execute("SELECT payload FROM events WHERE seq = ?", (seq,)).fetchone()[0])
    payload["channel"] = "forged"
    c.execute("UPDATE events SET payload = ? WHERE seq = ?", (json.dumps(payload, sort_keys=True), seq))
    rehash_from(c, seq)
    assert run("verify", "--store", path).exit_code == 0
    r = run("verify", "--store", path, "--checkpoint", cp, "--public-key", pub)
    assert r.exit_code == 1 and "is not the one the checkpoint" in r.output and "rewritten" in r.output


def test_a_forged_or_foreign_checkpoint_is_refused(env, keys, tmp_path):
    gate, clock, rec, path = env
    _workflow(gate, clock)
    key, pub = keys
    cp = _checkpoint(path, key, tmp_path)
    body = json.load(open(cp))
    body["seq"] -= 3                                      # an attacker moving the checkpoint back
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(body))
    r = run("verify", "--store", path, "--checkpoint", forged, "--public-key", pub)
    assert r.exit_code == 1 and "signature does not verify" in r.output
    other = str(tmp_path / "other.key")
    run("keygen", "--out", other)
    r = run("verify", "--store", path, "--checkpoint", cp, "--public-key", other + ".pub")
    assert r.exit_code == 1 and "signature does not verify" in r.output


def test_checkpoint_and_verify_refuse_bad_input(env, keys, tmp_path):
    gate, clock, rec, path = env
    _workflow(gate, clock)
    key, pub = keys
    cp = _checkpoint(path, key, tmp_path)
    r = run("verify", "--store", path, "--checkpoint", cp)
    assert r.exit_code == 2 and "go together" in r.output
    junk = tmp_path / "junk.pem"
    junk.write_text("not a key")
    for args in [("checkpoint", "--store", path, "--key", junk), ("checkpoint", "--store", path, "--key", pub),
                 ("verify", "--store", path, "--checkpoint", cp, "--public-key", junk),
                 ("verify", "--store", path, "--checkpoint", junk, "--public-key", pub)]:
        r = run(*args)
        assert r.exit_code == 2 and r.output.startswith("error: ") and "Traceback" not in r.output, (args, r.output)
    # a log that does not verify is never signed
    raw(path).execute("UPDATE events SET actor = 'mallory' WHERE seq = 2")
    r = run("checkpoint", "--store", path, "--key", key)
    assert r.exit_code == 1 and "nothing was signed" in r.output


@pytest.mark.parametrize("kind, payload", [
    ("approved", [1]), ("approved", {"args_hash": 5, "roles": "cfo", "expires_at": 7}),
    ("approved", {"grant": ["g"], "args_hash": None}), ("executing", {"attempt": "x", "args": None}),
    ("edited", {"patch": "nope", "from_hash": None}), ("decided", {"decision": "allow", "state": 3}),
    ("proposed", {"action": None}), ("granted", {"id": 1}), ("granted", "text"),
])
def test_forged_records_of_any_shape_never_crash_verify_or_run_anything(env, kind, payload):
    gate, clock, rec, path = env
    h = gate.propose(refund(300))
    c = raw(path)
    append_event(c, None if kind == "granted" else h.id, kind, "fiona", "2026-11-20T10:00:00Z", payload)
    c.execute("UPDATE actions SET state = 'approved' WHERE id = ?", (h.id,))
    r = run("verify", "--store", path)
    assert r.exit_code == 1 and "Traceback" not in r.output and r.output.startswith("error: "), r.output
    try:
        gate.execute(h.id)
    except StateError:
        pass
    gate.resume()
    gate.propose(refund(300))
    assert rec.calls == []


# ---------------------------------------------------------------- any mix of forged rows

from hypothesis import HealthCheck, given, settings, strategies as st   # noqa: E402

PEOPLE_ROLES = [("fiona", "finance_manager"), ("carl", "cfo"), ("lea", "team_lead"), ("Fiona", "cfo")]
FORGERIES = st.sampled_from(["approval", "approval_other_hash", "state_approved", "state_executing", "args",
                             "grant", "proposed_allowed", "required_allow", "routes_empty"])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(FORGERIES, st.integers(0, 3), st.integers(0, 3)), min_size=1, max_size=8))
def test_no_mix_of_forged_rows_runs_an_action_nobody_approved(tmp_path_factory, forgeries):
    clock = Clock()
    path = str(tmp_path_factory.mktemp("forge") / "s.db")
    reviewer = make_gate(path, clock, {})
    drafts = [reviewer.propose(refund(a, confidence=0.5)) for a in (50, 300, 450)]
    reviewer.store.close()
    c = raw(path)
    now = clock.now.timestamp()
    for what, i, j in forgeries:
        h = drafts[i % len(drafts)]
        who, role = PEOPLE_ROLES[j]
        if what == "approval":
            c.execute("INSERT OR IGNORE INTO approvals VALUES (?, ?, ?, ?, ?, ?, NULL, NULL)",
                      (h.id, who, json.dumps([role]), h.args_hash, now, now + 3600))
        elif what == "approval_other_hash":
            c.execute("INSERT OR IGNORE INTO approvals VALUES (?, ?, ?, 'sha256:x', ?, ?, NULL, NULL)",
                      (h.id, who, json.dumps([role]), now, now + 3600))
        elif what == "state_approved":
            c.execute("UPDATE actions SET state = 'approved' WHERE id = ?", (h.id,))
        elif what == "state_executing":
            c.execute("UPDATE actions SET state = 'executing', lease_until = 0, attempts = 1, executed_args = args"
                      " WHERE id = ?", (h.id,))
        elif what == "args":
            c.execute("UPDATE actions SET args = '{\"amount\": 5, \"invoice_id\": \"INV-1\"}' WHERE id = ?", (h.id,))
        elif what == "grant":
            c.execute("INSERT OR IGNORE INTO grants VALUES (?, 'acme', ?, ?, ?, 'issue_refund', '{}', NULL, NULL, 0,"
                      " ?, ?, NULL)", (f"g_{who}_{role}", who, json.dumps([role]),
                                       "finance_review" if role != "team_lead" else "team_review", now + 86400, now))
        elif what == "proposed_allowed":
            c.execute("UPDATE actions SET proposed = json_set(proposed, '$.confidence', 0.99) WHERE id = ?", (h.id,))
        elif what == "required_allow":
            c.execute("UPDATE actions SET required = 'allow' WHERE id = ?", (h.id,))
        elif what == "routes_empty":
            c.execute("UPDATE actions SET routes = '[]' WHERE id = ?", (h.id,))
    c.close()
    calls = []
    agent = make_gate(path, clock, {})
    agent.register("issue_refund", lambda args, ctx: calls.append(args), idempotent=True)
    clock.advance(minutes=20)      # past the lease of a forged `executing`
    agent.resume()
    for h in drafts:
        try:
            agent.execute(h.id)
        except StateError:
            pass
    agent.propose(refund(300))      # a fresh draft that forged grants must not approve
    agent.propose(refund(60, confidence=0.5))
    assert calls == []
    agent.store.close()
