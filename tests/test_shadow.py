"""Shadow policies (issue 16 point 5): candidates decide every live proposal too, are recorded, and never enforced."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from cli.main import cli
from engine import Gate, InputError, load_policy, open_store
from server_helpers import BIG_REFUND, TEAM, Server, call, identities
from server_helpers import POLICY as SERVER_POLICY
from workflow_helpers import POLICY_PATH, Clock, Recorder, make_gate, policy, raw, refund, store_path

HIGH = "category high {\n  require approval via finance_review\n}"


def candidate(high: str = "allow", version: str = "2"):
    """The workflow policy with its `high` category changed (and a new version): a real, loaded policy."""
    text = POLICY_PATH.read_text(encoding="utf-8")
    assert HIGH in text
    text = text.replace('version "1"', f'version "{version}"').replace(HIGH, "category high {\n  %s\n}" % high)
    return load_policy(str(POLICY_PATH), text)


def shadow_rows(gate, draft_id):
    with gate.store.snapshot() as tx:
        return [dict(r, payload=json.loads(r["payload"])) for r in tx.events(draft_id) if r["kind"] == "shadow"]


def test_a_looser_candidate_is_recorded_and_never_enforced(tmp_path):
    rec = Recorder()
    gate = make_gate(store_path(tmp_path), Clock(), {"issue_refund": rec}, shadow=[candidate("allow")])
    h = gate.propose(refund(300))                 # live: high → finance_review; the candidate would allow
    assert h.state == "drafted" and rec.calls == []
    (row,) = shadow_rows(gate, h.id)
    assert row["payload"]["decision"]["outcome"] == "allow"
    assert row["payload"]["candidate"]["version"] == "2"
    assert row["policy"] == policy().digest        # written under the live policy, like every record of the draft
    assert gate.verify().ok and not gate.verify().problems
    line = next(iter(gate.history()))
    assert line["signoff"]["outcome"] == "require_approval"
    assert line["signoff"]["shadow"] == [{"candidate": row["payload"]["candidate"], "outcome": "allow", "routes": []}]


def test_a_stricter_candidate_does_not_stop_what_the_live_policy_allows(tmp_path):
    rec = Recorder()
    strict = candidate("deny \"never\"")
    gate = make_gate(store_path(tmp_path), Clock(), {"issue_refund": rec}, shadow=[strict])
    h = gate.propose(refund(300))
    assert h.state == "drafted"
    low = gate.propose(refund(10, confidence=0.95))  # low: allowed live and by the candidate alike
    assert low.state == "executed" and rec.calls == [{"amount": 10, "invoice_id": "INV-1"}]
    assert shadow_rows(gate, h.id)[0]["payload"]["decision"]["outcome"] == "deny"


def test_a_crashing_candidate_records_its_error_and_the_live_decision_stands(tmp_path):
    rec = Recorder()
    broken = candidate("allow")

    def crash(*args, **kwargs):
        raise RuntimeError("the candidate blew up")
    broken.decide = crash                          # a candidate whose evaluation raises, whatever the reason
    good = candidate("allow", version="3")
    gate = make_gate(store_path(tmp_path), Clock(), {"issue_refund": rec}, shadow=[broken, good])
    h = gate.propose(refund(300))
    ok = gate.propose(refund(10, confidence=0.95))
    assert h.state == "drafted" and ok.state == "executed" and len(rec.calls) == 1
    first, second = shadow_rows(gate, h.id)
    assert "decision" not in first["payload"] and first["payload"]["error"].startswith("internal error")
    assert "RuntimeError" not in first["payload"]["error"] and "blew up" not in first["payload"]["error"]
    assert second["payload"]["decision"]["outcome"] == "allow"   # one broken candidate stops no other
    assert gate.verify().ok and not gate.verify().problems


def test_the_live_outcome_is_the_same_with_and_without_shadows(tmp_path):
    """Every outcome of the live policy, proposed to a gate with candidates and to one without: same states."""
    free = refund(40)
    free["tenant"]["plan"] = "free"
    actions = [refund(300), refund(10), refund(50, confidence=0.5), refund(900), refund(60, invoice=None), free,
               {"tool": "nope", "agent": {"id": "bot"}, "tenant": {"id": "acme"}}]
    plain = make_gate(store_path(tmp_path, "a.db"), Clock(), {})
    shadowed = make_gate(store_path(tmp_path, "b.db"), Clock(), {},
                         shadow=[candidate("allow"), candidate('deny "no"', "4")])
    for a in actions:
        x, y = plain.propose(a), shadowed.propose(a)
        assert (x.state, x.decision, x.reasons) == (y.state, y.decision, y.reasons)
        assert len(shadow_rows(shadowed, y.id)) == 2


def test_shadow_takes_only_loaded_policies():
    for bad in ("new.policy", [str(POLICY_PATH)], [policy(), 3]):
        with pytest.raises(InputError, match="list of policies"):
            Gate(policy(), None, shadow=bad)  # type: ignore[arg-type]   # refused before the store is used


def test_report_shadow_counts_against_the_humans_verdicts(tmp_path):
    path = store_path(tmp_path)
    clock = Clock()
    gate = make_gate(path, clock, {}, shadow=[candidate("allow")])
    approved = gate.propose(refund(300, invoice="INV-A"))
    gate.approve(approved.id, by="fiona")
    gate.approve(approved.id, by="carl")
    rejected = gate.propose(refund(400, invoice="INV-B"))
    gate.reject(rejected.id, by="carl", reason="duplicate")
    edited = gate.propose(refund(200, invoice="INV-C"))
    gate.approve(edited.id, by="fiona", edits={"amount": 150})
    gate.approve(edited.id, by="carl")
    gate.propose(refund(10))                      # allowed live and by the candidate: agreement
    r = CliRunner().invoke(cli, ["report", "--store", path, "--shadow", "--format", "json"])
    assert r.exit_code == 0, r.output
    (c,) = json.loads(r.output)["shadow"]
    assert c["label"] == "2" and c["decided"] == 4 and c["agree"] == 1 and c["disagree"] == 3
    assert c["would_allow"]["total"] == 3 and c["approvals_saved"] == 1
    assert (c["would_allow"]["rejected"], c["would_allow"]["edited"]) == (1, 1)
    assert {d["verdict"] for d in c["disagreements"]} == {"approved", "rejected", "edited"}
    assert [d["verdict"] for d in c["disagreements"]][2] == "approved"   # rejected and edited ones listed first
    (week,) = c["weeks"]
    assert (week["decided"], week["would_allow"], week["approvals_saved"], week["rejected_or_edited"]) == (4, 3, 1, 2)
    text = CliRunner().invoke(cli, ["report", "--store", path, "--shadow"]).output
    assert "Shadow candidates" in text and "rejected *" in text
    assert "Shadow candidates" not in CliRunner().invoke(cli, ["report", "--store", path]).output


def test_serve_shadow_records_what_the_candidate_decides(tmp_path):
    keys = identities(tmp_path / "s.db", {"bot": TEAM["bot"]})
    loose = tmp_path / "loose.policy"
    text = SERVER_POLICY.read_text(encoding="utf-8")
    assert HIGH in text
    loose.write_text(text.replace('version "2026.11.1"', 'version "2026.12.0"')
                     .replace(HIGH, "category high {\n  allow\n}"), encoding="utf-8")
    for sub in ("schemas",):
        (tmp_path / sub).symlink_to(SERVER_POLICY.parent / sub)
    srv = Server(SERVER_POLICY, tmp_path / "s.db", extra=("--shadow", str(loose)))
    try:
        r = call("POST", srv.url + "/v1/proposals", keys["bot"], BIG_REFUND)
        assert r.status in (200, 201), r
        draft = r.json["id"]
        assert any(line.startswith(f"shadow policy `{loose}`: support-ops 2026.12.0") for line in srv.lines)
    finally:
        srv.stop()
    store = open_store(str(tmp_path / "s.db"))
    try:
        with store.snapshot() as tx:
            rows = [json.loads(e["payload"]) for e in tx.events(draft) if e["kind"] == "shadow"]
    finally:
        store.close()
    assert [x["candidate"]["version"] for x in rows] == ["2026.12.0"]
    assert rows[0]["decision"]["outcome"] == "allow" and r.json["state"] == "drafted"   # recorded, not enforced


def test_serve_refuses_a_candidate_with_errors(tmp_path):
    bad = tmp_path / "bad.policy"
    bad.write_text('policy "x"\ntool t { risk nowhere }\n', encoding="utf-8")
    r = CliRunner().invoke(cli, ["serve", str(SERVER_POLICY), "--store", str(tmp_path / "s.db"),
                                 "--shadow", str(bad)])
    assert r.exit_code == 1
    assert f"shadow policy `{bad}` has errors: nothing is served" in r.output
    assert not (tmp_path / "s.db").exists()


def test_candidates_read_the_live_budgets_and_never_spend_them(tmp_path):
    """Same check names, same ledger: a candidate sees what live executions spent, and spends nothing itself."""
    rec = Recorder()
    same = candidate(HIGH.split("{\n  ")[1].split("\n}")[0], version="2")   # the live rules under a new version
    path = store_path(tmp_path)
    gate = make_gate(path, Clock(), {"issue_refund": rec}, shadow=[same])
    ids = []
    for i in range(11):                      # 11 × 95 > the tenant's 1000 a day: the 11th escalates
        h = gate.propose(refund(95, invoice=f"INV-{i}"))
        ids.append(h.id)
    assert len(rec.calls) == 10 and gate.get(ids[-1]).state == "escalated"
    outcomes = [shadow_rows(gate, i)[0]["payload"]["decision"]["outcome"] for i in ids]
    assert outcomes == ["allow"] * 10 + ["escalate"]
    plain = make_gate(store_path(tmp_path, "plain.db"), Clock(), {"issue_refund": Recorder()})
    for i in range(11):
        plain.propose(refund(95, invoice=f"INV-{i}"))
    spent = "SELECT key, t, amount, action_id FROM ledger ORDER BY id"
    rows = raw(gate.store, spent)
    assert len(rows) == len(raw(plain.store, spent)) == 10 and {r[2] for r in rows} == {95.0}   # live spends only
