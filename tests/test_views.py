"""The read views of engine.live.views that the CLI and the HTTP inbox share: summary, detail, who may act."""
import pytest

from engine import PermissionDenied, draft_detail, draft_summary, may_act
from engine.live.records import load_draft
from workflow_helpers import BY, refund


def draft(gate, aid):
    with gate.store.snapshot() as tx:
        return load_draft(tx, aid)


def detail(gate, aid, now):
    with gate.store.snapshot() as tx:
        return draft_detail(tx, tx.get_action(aid), now.timestamp())


def test_summary_says_what_a_list_needs(env):
    gate, clock, rec = env
    h = gate.propose(refund(300))   # finance_review: quorum 2, 8h
    s = draft_summary(draft(gate, h.id))
    assert s == {"id": h.id, "state": "drafted", "tool": "issue_refund", "tenant": "acme", "hash": h.args_hash,
                 "decision": h.decision, "proposed_at": "2026-11-20T10:00:00Z", "deadline": "2026-11-20T18:00:00Z",
                 "reasons": ["require approval via finance_review"]}


def test_detail_counts_only_what_binds_the_current_arguments_and_the_log_justifies(env):
    gate, clock, rec = env
    h = gate.propose(refund(300))
    gate.approve(h.id, by="fiona")
    d = detail(gate, h.id, clock.now)
    assert [(a["by"], a["counts"]) for a in d["approvals"]] == [("fiona", True)]
    assert d["routes"][0]["approved_by"] == ["fiona"] and d["args"] == d["proposed_args"] == h.args
    assert [e["kind"] for e in d["events"]][:3] == ["proposed", "decided", "notified"]
    clock.advance(minutes=5)
    gate.edit(h.id, by="carl", edits={"amount": 250})
    d = detail(gate, h.id, clock.now)
    assert [(a["by"], a["counts"]) for a in d["approvals"]] == [("fiona", False)]   # for the earlier arguments
    assert d["args"] == {"amount": 250, "invoice_id": "INV-1"} and d["patch"]
    assert d["routes"][0]["approved_by"] == []


def test_detail_does_not_count_an_approval_row_without_its_record(env):
    gate, clock, rec = env
    h = gate.propose(refund(300))
    gate.store._conn.execute(
        "INSERT INTO approvals (action_id, approver, roles, args_hash, at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
        (h.id, "carl", '["cfo"]', h.args_hash, clock.now.timestamp(), clock.now.timestamp() + 3600))
    d = detail(gate, h.id, clock.now)
    assert [(a["by"], a["counts"]) for a in d["approvals"]] == [("carl", False)]
    assert d["routes"][0]["approved_by"] == []


@pytest.mark.parametrize("who, may", [("lea", True), ("bot", False), ("otto", False), ("nora", False),
                                      ("fiona", False)])
def test_may_act_is_the_rule_the_human_acts_enforce(env, who, may):
    gate, clock, rec = env
    h = gate.propose(refund(50, confidence=0.5))   # team_review: team_lead
    assert may_act(draft(gate, h.id), BY[who]) is may
    if not may:
        with pytest.raises(PermissionDenied):
            gate.approve(h.id, by=who)
