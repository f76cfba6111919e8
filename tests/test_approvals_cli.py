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
                                 "edited_by": [], "approved_by": [],
                                 "acts": [{"act": "rejected", "by": "carl", "at": "2026-11-20T10:10:00Z"}]}
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
                                    "edited_args": {"amount": 250, "invoice_id": "INV-1"},
                                    "acts": [{"act": "edited", "by": "fiona", "at": "2026-11-20T10:00:00Z"},
                                             {"act": "approved", "by": "fiona", "at": "2026-11-20T10:00:00Z"},
                                             {"act": "approved", "by": "carl", "at": "2026-11-20T10:03:00Z"}]}
    h2_human = dict(lines[h2.id]["human"])
    assert [(a["act"], a["by"]) for a in h2_human.pop("acts")] == [("approved", "fiona"), ("approved", "carl")]
    assert h2_human == {"verdict": "approved", "by": "carl", "at": "2026-11-20T10:04:00Z",
                        "edited_by": [], "approved_by": ["fiona", "carl"]}
    assert lines[h3.id]["human"]["verdict"] == "edited" and lines[h3.id]["human"]["by"] == "lea"
    assert lines[h3.id]["human"]["edited_by"] == ["lea"] and lines[h3.id]["human"]["approved_by"] == []
    gate.store.close()


# ---------------------------------------------------------------- standing grants from the terminal

def grant_args(path, *extra, by="lea", route="team_review", tool="issue_refund"):
    return ["grant", route, tool, "--store", path, "--by", by, "--policy", POLICY_PATH, *extra]


def test_a_grant_from_the_terminal_approves_matching_proposals_and_lets_others_wait(tmp_path):
    clock = Clock()
    path = store_path(tmp_path)
    gate = make_gate(path, clock, {})
    now = format_timestamp(clock.now)
    r = run(approvals, *grant_args(path, "--for", "30d", "--max", "amount=90", "--equals", "invoice_id=INV-1",
                                   "--comment", "regular refunds", "--now", now))
    assert r.exit_code == 0, r.output
    gid = r.output.split(":")[0]
    assert gid.startswith("g_") and "granted by lea for team_review on issue_refund until 2026-12-20 10:00" in r.output
    inside = gate.propose(refund(80, confidence=0.5))          # team_review, within the constraints
    over = gate.propose(refund(95, confidence=0.5))            # above --max
    other_invoice = gate.propose(refund(50, confidence=0.5, invoice="INV-2"))   # not --equals
    assert (inside.state, over.state, other_invoice.state) == ("approved", "drafted", "drafted")
    shown = json.loads(run(approvals, "show", inside.id, "--store", path, "--format", "json").output)
    assert [(a["by"], a["grant"]) for a in shown["approvals"]] == [("lea", gid)]
    listed = json.loads(run(approvals, "grants", "--store", path, "--format", "json", "--now", now).output)
    assert [(g["id"], g["grantor"], g["constraints"], g["expires"], g["comment"]) for g in listed] == [
        (gid, "lea", {"amount": {"max": 90}, "invoice_id": {"eq": "INV-1"}}, "2026-12-20 10:00", "regular refunds")]
    text = run(approvals, "grants", "--store", path, "--now", now).output
    assert text.splitlines()[0].split()[:5] == ["ID", "TENANT", "GRANTOR", "ROUTE", "TOOL"] and gid in text
    # past its expiry it is no longer listed as in force, nor applied
    later = format_timestamp(clock.advance(days=31))
    assert run(approvals, "grants", "--store", path, "--now", later).output.strip() == "no standing grants in force"
    assert gid in run(approvals, "grants", "--store", path, "--all", "--now", later).output
    assert gate.propose(refund(80, confidence=0.5)).state == "drafted"
    gate.store.close()


def test_until_sets_the_expiry_and_in_and_min_reach_the_gate(tmp_path):
    clock = Clock()
    path = store_path(tmp_path)
    gate = make_gate(path, clock, {})
    now = format_timestamp(clock.now)
    r = run(approvals, *grant_args(path, "--until", "2026-11-21T10:00:00Z", "--min", "amount=30",
                                   "--in", 'invoice_id=["INV-1", "INV-3"]', "--now", now))
    assert r.exit_code == 0, r.output
    assert "until 2026-11-21 10:00" in r.output
    assert gate.propose(refund(40, confidence=0.5, invoice="INV-3")).state == "approved"
    assert gate.propose(refund(25, confidence=0.5)).state == "drafted"        # below --min
    assert gate.propose(refund(40, confidence=0.5, invoice="INV-2")).state == "drafted"   # not --in
    clock.advance(days=1, seconds=1)
    assert gate.propose(refund(40, confidence=0.5)).state == "drafted"        # expired at --until
    gate.store.close()


def test_grants_are_refused_to_non_approvers_and_on_grants_never_routes(tmp_path):
    clock = Clock()
    path = store_path(tmp_path)
    gate = make_gate(path, clock, {})
    now = format_timestamp(clock.now)
    r = run(approvals, *grant_args(path, "--for", "30d", "--now", now, by="fiona"))
    assert r.exit_code == 1 and r.output == "error: `fiona` holds none of the roles of route `team_review`\n"
    r = run(approvals, *grant_args(path, "--for", "30d", "--now", now, by="sam", route="security_review",
                                   tool="delete_record"))
    assert r.exit_code == 1
    assert r.output == "error: route `security_review` forbids standing grants (`grants never`)\n"
    r = run(approvals, *grant_args(path, "--for", "30d", "--now", now, by="nobody"))
    assert r.exit_code == 1 and "nobody" in r.output and "Traceback" not in r.output
    assert run(approvals, "grants", "--store", path, "--all").output.strip() == "no standing grants"
    assert gate.propose(refund(80, confidence=0.5)).state == "drafted"
    gate.store.close()


@pytest.mark.parametrize("extra, message", [
    ([], "give exactly one of `--until TIME` and `--for DURATION`"),
    (["--for", "1d", "--until", "2026-12-01T00:00:00Z"], "give exactly one of `--until TIME` and `--for DURATION`"),
    (["--for", "3y"], "`--for 3y` must be a duration like `30d` (units s, m, h, d, w)"),
    (["--for", "d"], "`--for d` must be a duration like `30d` (units s, m, h, d, w)"),
    (["--for", "-1d"], "`--for -1d` must be a duration like `30d` (units s, m, h, d, w)"),
    (["--for", "0h"], "`--for 0h` must be more than 0 and at most 100 years"),
    (["--for", "40000d"], "`--for 40000d` must be more than 0 and at most 100 years"),
    (["--until", "2020-01-01T00:00:00Z"], "the grant would expire at 2020-01-01T00:00:00Z, which is not in the future"),
    (["--for", "1d", "--max", "amount"], "`--max amount` must be FIELD=VALUE"),
    (["--for", "1d", "--max", "amount=ten"], "`--max amount=ten` needs a number after `=`"),
    (["--for", "1d", "--max", "amount=NaN"], "`--max amount=NaN` needs a number after `=`"),
    (["--for", "1d", "--max", "amount=true"], "`--max amount=true` needs a number after `=`"),
    (["--for", "1d", "--max", "amount=5", "--max", "amount=6"], "`--max` is given twice for `amount`"),
    (["--for", "1d", "--in", "invoice_id=INV-1"], "`--in invoice_id=INV-1` needs a JSON list after `=`"),
    (["--for", "1d", "--spend-cap", "100"], "a spend cap needs `spend_path`, the argument it sums"),
])
def test_bad_durations_and_constraints_are_usage_errors_and_grant_nothing(tmp_path, extra, message):
    clock = Clock()
    path = store_path(tmp_path)
    gate = make_gate(path, clock, {})
    r = run(approvals, *grant_args(path, *extra, "--now", format_timestamp(clock.now)))
    assert r.exit_code == 2 and r.output == f"error: {message}\n", r.output
    with gate.store.snapshot() as tx:
        assert tx.list_grants() == [] and not [e for e in tx.events() if e["kind"] == "granted"]
    gate.store.close()
