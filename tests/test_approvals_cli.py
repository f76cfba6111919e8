"""`signoff approvals` and `signoff audit` on a store file, driven through click's runner."""
import json

import pytest
from click.testing import CliRunner

from cli.approvals_cmd import approvals
from cli.audit_cmd import audit
from engine.decide.actions import format_timestamp
from workflow_helpers import POLICY_PATH, Clock, Recorder, counts, make_gate, refund, store_path


def run(group, *args):
    return CliRunner().invoke(group, [str(a) for a in args])


@pytest.fixture
def inbox(tmp_path):
    clock = Clock()
    path = store_path(tmp_path)
    gate = make_gate(path, clock, {})
    first = gate.propose(refund(80, confidence=0.5))
    clock.advance(minutes=5)
    second = gate.propose(refund(300))
    clock.advance(minutes=5)
    gate.propose(refund(10))   # allowed: not in the inbox
    yield gate, clock, path, first, second
    gate.store.close()


def test_list_shows_waiting_drafts_oldest_first_with_reasons(inbox):
    gate, clock, path, first, second = inbox
    r = run(approvals, "list", "--store", path, "--now", format_timestamp(clock.now))
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0].split() == ["ID", "CREATED", "TENANT", "TOOL", "ARGS", "NEEDS", "DEADLINE", "REASONS"]
    assert len(lines) == 3
    assert lines[1].startswith(first.id[:12]) and "team_review 0/1" in lines[1]
    assert "require approval via team_review" in lines[1]
    assert lines[2].startswith(second.id[:12]) and "finance_review 0/2" in lines[2]
    assert "2026-11-20 18:05" in lines[2]   # deadline: 8h after it was drafted
    js = json.loads(run(approvals, "list", "--store", path, "--format", "json").output)
    assert [d["id"] for d in js] == [first.id, second.id]
    everything = run(approvals, "list", "--store", path, "--all").output
    assert "STATE" in everything and "approved" in everything


def test_approve_and_reject_from_the_terminal(inbox):
    gate, clock, path, first, second = inbox
    now = format_timestamp(clock.now)
    r = run(approvals, "approve", first.id[:10], "--store", path, "--by", "lea", "--now", now)
    assert r.exit_code == 0, r.output
    assert f"{first.id}: approved; waiting to execute" in r.output
    r = run(approvals, "approve", second.id, "--store", path, "--by", "lea", "--now", now)
    assert r.exit_code == 1 and "error: `lea` holds none of the roles" in r.output
    r = run(approvals, "approve", second.id, "--store", path, "--by", "bot", "--now", now)
    assert r.exit_code == 1 and "proposed this action" in r.output
    r = run(approvals, "reject", second.id, "--store", path, "--by", "carl", "--now", now)
    assert r.exit_code == 2 and "--reason" in r.output
    r = run(approvals, "reject", second.id, "--store", path, "--by", "carl", "--reason", "wrong invoice", "--now", now)
    assert r.exit_code == 0 and "rejected by carl: wrong invoice" in r.output
    assert run(approvals, "list", "--store", path).output.strip() == "no drafts waiting"
    rec = Recorder()
    agent = make_gate(path, clock, {"issue_refund": rec})
    # the approved draft and the allowed refund both waited for a process with the executor
    assert [h.state for h in agent.resume()] == ["executed", "executed"]
    assert rec.calls == [{"amount": 80, "invoice_id": "INV-1"}, {"amount": 10, "invoice_id": "INV-1"}]


def test_edit_is_decided_again_and_show_prints_the_diff(inbox):
    gate, clock, path, first, second = inbox
    now = format_timestamp(clock.now)
    r = run(approvals, "edit", first.id, "--store", path, "--by", "lea", "--policy", POLICY_PATH,
            "--set", "amount=60", "--set", "note=partial refund", "--now", now)
    assert r.exit_code == 0, r.output
    assert "waiting for approval via team_review" in r.output
    assert '-  "amount": 80,' in r.output and '+  "amount": 60,' in r.output
    show = run(approvals, "show", first.id, "--store", path, "--now", now)
    assert show.exit_code == 0, show.output
    out = show.output
    assert 'proposed  {"amount": 80, "invoice_id": "INV-1"}' in out
    assert '"op": "replace", "path": "/amount", "value": 60' in out
    assert '+  "note": "partial refund"' in out
    assert "category medium → require_approval: require approval via team_review" in out
    assert "edited" in out and "lea" in out
    js = json.loads(run(approvals, "show", first.id, "--store", path, "--format", "json").output)
    assert js["proposed_args"]["amount"] == 80 and js["args"]["amount"] == 60 and js["patch"]
    r = run(approvals, "edit", first.id, "--store", path, "--by", "lea", "--policy", POLICY_PATH,
            "--patch", '[{"op": "replace", "path": "/amount", "value": 800}]', "--approve", "--now", now)
    assert r.exit_code == 0 and "denied: refund outside 0..500" in r.output


def test_the_cli_rejects_bad_input_and_changes_nothing(inbox):
    gate, clock, path, first, second = inbox
    before = counts(gate.store)
    cases = [
        (["edit", first.id, "--by", "lea", "--policy", POLICY_PATH, "--patch", "[nope"], 2, "`--patch` is not json"),
        (["edit", first.id, "--by", "lea", "--policy", POLICY_PATH, "--patch", "{}"], 2, "must be a json list"),
        (["edit", first.id, "--by", "lea", "--policy", POLICY_PATH], 2, "nothing to change"),
        (["edit", first.id, "--by", "lea", "--policy", POLICY_PATH, "--set", "amount"], 2, "must be key=value"),
        (["edit", first.id, "--by", "lea", "--policy", POLICY_PATH, "--patch", '[{"op": "x", "path": ""}]'], 2,
         "unknown operation 'x'"),
        (["approve", "d_nope", "--by", "lea"], 1, "no draft `d_nope`"),
        (["approve", "d_", "--by", "lea"], 1, "no draft"),
        (["approve", first.id, "--by", "ghost"], 1, "unknown identity `ghost`"),
    ]
    for args, code, msg in cases:
        r = run(approvals, *args, "--store", path, "--now", format_timestamp(clock.now))
        assert r.exit_code == code, (args, r.output)
        assert msg in r.output.lower(), (args, r.output)
    assert counts(gate.store) == before
    missing = str(path) + ".typo"
    r = run(approvals, "list", "--store", missing)
    assert r.exit_code == 2 and "does not exist" in r.output
    r = run(audit, "verify", "--store", missing)
    assert r.exit_code == 2


def test_audit_verify_and_export(inbox):
    gate, clock, path, first, second = inbox
    r = run(audit, "verify", "--store", path)
    assert r.exit_code == 0 and r.output.startswith("ok: ")
    head = r.output.split()[-1]
    gate.reject(second.id, by="carl", reason="no")
    assert run(audit, "verify", "--store", path, "--head", head).exit_code == 0
    assert run(audit, "verify", "--store", path, "--head", "f" * 64).exit_code == 1
    lines = [json.loads(x) for x in run(audit, "export", "--store", path).output.splitlines()]
    assert [x["signoff"]["draft"] for x in lines] == [first.id, second.id, lines[2]["signoff"]["draft"]]
    assert lines[1]["human"] == {"verdict": "rejected", "by": "carl", "at": "2026-11-20T10:10:00Z",
                                 "edited_by": [], "approved_by": []}
    assert lines[2]["executed"] is False and "human" not in lines[2]
    gate.store._conn.execute("DROP TRIGGER events_no_update")
    gate.store._conn.execute("UPDATE events SET actor = 'mallory' WHERE seq = 4")
    r = run(audit, "verify", "--store", path)
    assert r.exit_code == 1 and "audit log broken at record 4" in r.output


def test_export_names_the_editor_of_an_edited_verdict_and_every_approver(tmp_path):
    """Finding 17: `human.by` of an edited verdict is the editor, not the last approver; each act is kept."""
    clock = Clock()
    path = store_path(tmp_path)
    gate = make_gate(path, clock, {})
    h = gate.propose(refund(300))                       # finance_review, quorum 2
    gate.approve(h.id, by="fiona", edits={"amount": 250})
    clock.advance(minutes=3)
    gate.approve(h.id, by="carl")
    h2 = gate.propose(refund(400))
    gate.approve(h2.id, by="fiona")
    clock.advance(minutes=1)
    gate.approve(h2.id, by="carl")
    h3 = gate.propose(refund(80, confidence=0.5))
    gate.edit(h3.id, by="lea", edits={"amount": 600})   # the edit breaks a check: the verdict is lea's
    r = run(audit, "export", "--store", path)
    assert r.exit_code == 0, r.output
    lines = {x["signoff"]["draft"]: x for x in map(json.loads, r.output.splitlines())}
    assert lines[h.id]["human"] == {"verdict": "edited", "by": "fiona", "at": "2026-11-20T10:00:00Z",
                                    "edited_by": ["fiona"], "approved_by": ["fiona", "carl"],
                                    "edited_args": {"amount": 250, "invoice_id": "INV-1"}}
    assert lines[h2.id]["human"] == {"verdict": "approved", "by": "carl", "at": "2026-11-20T10:04:00Z",
                                     "edited_by": [], "approved_by": ["fiona", "carl"]}
    assert lines[h3.id]["human"]["verdict"] == "edited" and lines[h3.id]["human"]["by"] == "lea"
    assert lines[h3.id]["human"]["edited_by"] == ["lea"] and lines[h3.id]["human"]["approved_by"] == []
    gate.store.close()
