"""The approval workflow: outcomes, identities, edits, timeouts, grants, exactly-once, SDK and channels."""
import asyncio
import io
import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from engine.live.channels import ConsoleChannel, MemoryChannel, WebhookChannel
from engine.live.patch import apply_patch
from engine.live.sdk import acting
from engine.live.store import Identity
from engine.live.workflow import (Gate, Handle, InputError, NotFound, Pending, PermissionDenied, StateError, args_hash,
                                  current_execution)
from workflow_helpers import BY, Clock, Recorder, counts, make_gate, policy, refund, store_path, tx_rows


@pytest.fixture
def env(tmp_path):
    clock = Clock()
    rec = Recorder(fail_on=13)
    ch = MemoryChannel()
    gate = make_gate(store_path(tmp_path), clock, {"issue_refund": rec, "delete_record": rec}, [ch])
    yield gate, clock, rec, ch
    gate.store.close()


def kinds(gate, aid):
    with gate.store.snapshot() as tx:
        return [e["kind"] for e in tx.events(aid)]


def record(gate, aid):
    with gate.store.snapshot() as tx:
        return tx.get_action(aid)


# ---------------------------------------------------------------- outcomes

def test_allow_executes_now_and_counts_in_the_ledger(env):
    gate, clock, rec, _ = env
    h = gate.propose(refund(10))
    assert h.state == "executed" and not h.pending
    assert h.result == {"refund_id": "R-1", "amount": 10}
    assert rec.calls == [{"amount": 10, "invoice_id": "INV-1"}]
    assert kinds(gate, h.id) == ["proposed", "decided", "executing", "executed"]
    with gate.store.snapshot() as tx:
        assert tx.ledger_has(h.id)


def test_require_approval_drafts_notifies_and_executes_once_approved(env):
    gate, clock, rec, ch = env
    h = gate.propose(refund(50, confidence=0.5))
    assert isinstance(h, Pending) and h.state == "drafted" and h.pending
    assert h.routes == [{"name": "team_review", "approvers": ["team_lead"], "quorum": 1, "approved_by": []}]
    assert "waiting for approval via team_review" in h.message
    assert rec.calls == []
    assert [n.kind for n in ch.sent] == ["approval_needed"] and ch.sent[0].roles == ["team_lead"]
    done = gate.approve(h.id, by="lea", comment="fine")
    assert done.state == "executed" and rec.calls == [{"amount": 50, "invoice_id": "INV-1"}]
    assert kinds(gate, h.id) == ["proposed", "decided", "notified", "approved", "decided", "executing", "executed"]
    with pytest.raises(StateError, match="is executed, not waiting"):
        gate.approve(h.id, by="lea")
    assert gate.execute(h.id).state == "executed" and len(rec.calls) == 1
    assert gate.resume() == [] and len(rec.calls) == 1


def test_ask_escalate_and_deny_return_handles_saying_why(env):
    gate, clock, rec, ch = env
    asked = gate.propose(refund(10, invoice=None))
    assert asked.state == "asked" and asked.ask == ["Which invoice should be refunded?"]
    denied = gate.propose(refund(900))
    assert denied.state == "denied" and "refund outside 0..500" in denied.reasons
    assert "refund outside 0..500" in denied.message
    unknown = gate.propose({"tool": "wire_money", "agent": {"id": "bot"}, "tenant": {"id": "acme"}})
    assert unknown.state == "denied"
    for _ in range(2):
        gate.propose(refund(450, confidence=0.99))  # high → drafts, reserving nothing
    assert rec.calls == []
    # spend the day's budget with allowed refunds, then the next one escalates
    for _ in range(50):
        gate.propose(refund(20))
    esc = gate.propose(refund(20))
    assert esc.state == "escalated" and esc.escalate_to == "finance_oncall"
    assert "escalated to finance_oncall" in esc.message
    assert ch.sent[-1].kind == "escalated" and ch.sent[-1].to == "finance_oncall"
    assert len(rec.calls) == 50


def test_proposals_use_the_gates_clock_not_the_agents_timestamp(env):
    gate, clock, rec, _ = env
    for _ in range(50):
        assert gate.propose(refund(20)).state == "executed"
    # a timestamp from long ago would put the action outside every budget window: it decides nothing
    h = gate.propose(refund(20, timestamp="1970-01-01T00:00:00Z"))
    assert h.state == "escalated"
    clock.advance(days=1, seconds=1)
    assert gate.propose(refund(20)).state == "executed"


# ---------------------------------------------------------------- identities

def test_proposer_cannot_approve_its_own_action_even_holding_the_role(env):
    gate, *_ = env
    h = gate.propose(refund(50, confidence=0.5))
    before = counts(gate.store)
    with pytest.raises(PermissionDenied, match="`bot` proposed this action"):
        gate.approve(h.id, by="bot")
    with pytest.raises(PermissionDenied, match="proposed this action"):
        gate.approve(h.id, by=Identity("BOT", {"team_lead"}, "acme"))
    assert counts(gate.store) == before


def test_approver_needs_a_role_of_the_route_and_the_same_tenant(env):
    gate, *_ = env
    h = gate.propose(refund(50, confidence=0.5))
    before = counts(gate.store)
    with pytest.raises(PermissionDenied, match="holds none of the roles"):
        gate.approve(h.id, by="fiona")
    with pytest.raises(PermissionDenied, match="holds none of the roles"):
        gate.reject(h.id, by="nora", reason="no")
    with pytest.raises(PermissionDenied, match="another tenant"):
        gate.approve(h.id, by="otto")
    with pytest.raises(PermissionDenied, match="another tenant"):
        gate.reject(h.id, by=Identity("lea", {"team_lead"}, "globex"), reason="no")
    with pytest.raises(PermissionDenied, match="unknown identity `mallory`"):
        gate.approve(h.id, by="mallory")
    with pytest.raises(NotFound):
        gate.approve("d_nope", by="lea")
    assert counts(gate.store) == before


def test_proposing_as_someone_else_is_refused(env):
    gate, *_ = env
    with pytest.raises(PermissionDenied, match="cannot propose an action as agent `bot`"):
        gate.propose(refund(10), by=BY["lea"])
    with pytest.raises(PermissionDenied, match="another tenant"):
        gate.propose(refund(10, agent="otto"), by=BY["otto"])


def test_quorum_counts_distinct_approvers(env):
    gate, clock, rec, _ = env
    h = gate.propose(refund(300))
    assert h.routes[0]["quorum"] == 2
    assert gate.approve(h.id, by="fiona").state == "drafted"
    again = gate.approve(h.id, by="fiona")
    assert again.state == "drafted" and again.routes[0]["approved_by"] == ["fiona"]
    assert kinds(gate, h.id).count("approved") == 1
    assert gate.approve(h.id, by="carl").state == "executed"
    assert rec.calls == [{"amount": 300, "invoice_id": "INV-1"}]


# ---------------------------------------------------------------- edits

def test_edit_is_decided_again_and_three_records_stay_apart(env):
    gate, clock, rec, _ = env
    h = gate.propose(refund(80, confidence=0.5))
    done = gate.approve(h.id, by="lea", edits={"amount": 60, "note": "partial"}, comment="partial refund")
    assert done.state == "executed"
    r = record(gate, h.id)
    assert r["proposed"]["args"] == {"amount": 80, "invoice_id": "INV-1"}
    assert sorted(r["patch"], key=lambda op: op["path"]) == [{"op": "replace", "path": "/amount", "value": 60},
                          {"op": "add", "path": "/note", "value": "partial"}]
    assert r["executed_args"] == {"amount": 60, "invoice_id": "INV-1", "note": "partial"}
    assert apply_patch(r["proposed"]["args"], r["patch"]) == r["executed_args"]
    assert rec.calls == [r["executed_args"]]
    assert kinds(gate, h.id)[3:6] == ["edited", "decided", "approved"]


def test_an_edit_that_breaks_a_check_makes_the_stricter_decision_stand(env):
    gate, clock, rec, _ = env
    h = gate.propose(refund(80, confidence=0.5))
    out = gate.approve(h.id, by="lea", edits={"amount": 800})
    assert out.state == "denied" and "refund outside 0..500" in out.message
    assert rec.calls == []
    h2 = gate.propose(refund(80, confidence=0.5))
    out2 = gate.edit(h2.id, by="lea", edits=[{"op": "remove", "path": "/invoice_id"}])
    assert out2.state == "asked" and out2.ask == ["Which invoice should be refunded?"]
    assert record(gate, h2.id)["patch"] == [{"op": "remove", "path": "/invoice_id"}]


def test_an_edit_into_a_stricter_route_needs_that_routes_quorum(env):
    gate, clock, rec, ch = env
    h = gate.propose(refund(80, confidence=0.5))
    out = gate.approve(h.id, by="lea", edits={"amount": 300})
    assert out.state == "drafted"
    assert [r["name"] for r in out.routes] == ["team_review", "finance_review"]
    assert ch.sent[-1].kind == "approval_needed" and ch.sent[-1].roles == ["team_lead", "finance_manager", "cfo"]
    gate.approve(h.id, by="fiona")
    assert gate.approve(h.id, by="carl").state == "executed"
    assert rec.calls == [{"amount": 300, "invoice_id": "INV-1"}]


def test_a_looser_edit_keeps_the_original_approval_requirement(env):
    gate, clock, rec, _ = env
    h = gate.propose(refund(300))
    out = gate.edit(h.id, by="fiona", edits={"amount": 10})   # 10 alone would be allowed
    assert out.state == "drafted" and out.routes[0]["name"] == "finance_review"


def test_approvals_are_bound_to_the_exact_arguments(env):
    gate, clock, rec, _ = env
    h = gate.propose(refund(300))
    gate.approve(h.id, by="fiona")
    out = gate.approve(h.id, by="carl", edits={"amount": 250})
    # fiona approved 300, not 250: her approval does not carry over
    assert out.state == "drafted" and out.routes[0]["approved_by"] == ["carl"]
    with pytest.raises(StateError, match="changed since it was viewed"):
        gate.approve(h.id, by="fiona", expected_hash=args_hash("issue_refund", {"amount": 300, "invoice_id": "INV-1"}))
    assert gate.approve(h.id, by="fiona", expected_hash=out.args_hash).state == "executed"
    assert rec.calls == [{"amount": 250, "invoice_id": "INV-1"}]


def test_approvals_expire(tmp_path):
    clock = Clock()
    rec = Recorder()
    gate = make_gate(store_path(tmp_path), clock, {"issue_refund": rec}, approval_ttl=timedelta(hours=1))
    h = gate.propose(refund(300))
    gate.approve(h.id, by="fiona")
    clock.advance(hours=2)
    out = gate.approve(h.id, by="carl")
    assert out.state == "drafted" and out.routes[0]["approved_by"] == ["carl"]
    assert gate.approve(h.id, by="fiona").state == "executed"


def test_approvals_that_lapse_before_execution_send_the_draft_back(tmp_path):
    clock = Clock()
    rec = Recorder()
    path = store_path(tmp_path)
    reviewer = make_gate(path, clock, {}, approval_ttl=timedelta(hours=1))
    h = reviewer.propose(refund(50, confidence=0.5))
    assert reviewer.approve(h.id, by="lea").state == "approved"     # no executor in this process
    clock.advance(hours=2)
    agent = make_gate(path, clock, {"issue_refund": rec})
    out = agent.resume()
    assert [x.state for x in out] == ["drafted"] and rec.calls == []
    assert "expired" in kinds(agent, h.id)


# ---------------------------------------------------------------- timeouts

def test_timeout_expires_explicitly_then_escalates(env):
    gate, clock, rec, ch = env
    h = gate.propose(refund(50, confidence=0.5))
    clock.advance(hours=3, minutes=59)
    assert gate.expire_due() == []
    clock.advance(minutes=1)
    out = gate.expire_due()
    assert [(x.id, x.state, x.escalate_to) for x in out] == [(h.id, "escalated", "ops_oncall")]
    assert kinds(gate, h.id)[-3:] == ["expired", "escalated", "notified"]
    assert ch.sent[-1].kind == "escalated" and ch.sent[-1].to == "ops_oncall"
    assert gate.expire_due() == []
    with pytest.raises(StateError, match="is escalated"):
        gate.approve(h.id, by="lea")


def test_a_late_approval_expires_the_draft_instead(env):
    gate, clock, rec, _ = env
    h = gate.propose(refund(50, confidence=0.5))
    clock.advance(hours=5)
    with pytest.raises(StateError, match="expired at"):
        gate.approve(h.id, by="lea")
    assert gate.get(h.id).state == "escalated" and rec.calls == []


def test_a_route_without_escalation_expires(env):
    gate, clock, rec, _ = env
    h = gate.propose({"tool": "delete_record", "args": {"id": 7}, "confidence": 0.9, "agent": {"id": "bot"},
                      "tenant": {"id": "acme"}})
    assert h.state == "drafted" and h.routes[0]["name"] == "security_review"
    clock.advance(hours=1)
    (out,) = gate.expire_due()
    assert out.state == "expired" and "nobody approved within 1h" in out.message


# ---------------------------------------------------------------- execution-time decision

def test_execution_decides_again_with_the_current_ledger(env):
    gate, clock, rec, _ = env
    drafts = [gate.propose(refund(450, confidence=0.99)) for _ in range(3)]
    for d in drafts:
        gate.approve(d.id, by="fiona")
    assert [gate.approve(d.id, by="carl").state for d in drafts] == ["executed", "executed", "escalated"]
    assert len(rec.calls) == 2
    last = gate.get(drafts[2].id)
    assert last.escalate_to == "finance_oncall"
    assert kinds(gate, drafts[2].id)[-2:] == ["decided", "notified"]


def test_executor_failure_is_recorded_and_never_retried(env):
    gate, clock, rec, _ = env
    h = gate.propose(refund(13))
    assert h.state == "failed" and "payment provider is down" in h.error
    assert isinstance(h.exception, RuntimeError)
    clock.advance(hours=1)
    assert gate.resume() == [] and len(rec.calls) == 1
    assert kinds(gate, h.id)[-1] == "failed"


def test_approved_drafts_wait_for_a_process_with_the_executor(tmp_path):
    clock = Clock()
    path = store_path(tmp_path)
    reviewer = make_gate(path, clock, {})
    h = reviewer.propose(refund(10))
    assert h.state == "approved" and h.pending
    rec = Recorder()
    agent = make_gate(path, clock, {"issue_refund": rec})
    out = agent.resume()
    assert [x.state for x in out] == ["executed"] and len(rec.calls) == 1
    assert agent.resume() == [] and len(rec.calls) == 1


def test_an_interrupted_execution_is_rerun_only_when_idempotent(tmp_path):
    clock = Clock()
    path = store_path(tmp_path)
    gate = make_gate(path, clock, {})
    gate.register("issue_refund", lambda a, c: (_ for _ in ()).throw(SystemExit()))

    def dies(key):
        with pytest.raises(SystemExit):   # the process "dies" inside the executor
            gate.propose(refund(10, id=key))
        with gate.store.snapshot() as tx:
            rec = tx.find_action("acme", key)
        assert rec["state"] == "executing"
        return rec["id"]

    a = dies("a-1")
    plain = make_gate(path, clock, {"issue_refund": Recorder()})
    assert plain.resume() == []                       # the lease has not run out: maybe still running
    clock.advance(minutes=16)
    (out,) = plain.resume()
    assert out.id == a and out.state == "failed" and "interrupted" in out.error
    b = dies("b-1")
    clock.advance(minutes=16)
    keys = []
    idem = make_gate(path, clock, {})
    idem.register("issue_refund", lambda a, c: keys.append((c.idempotency_key, c.attempt)) or "ok", idempotent=True)
    (out,) = idem.resume()
    assert out.id == b and out.state == "executed" and keys == [("b-1", 2)]
    assert kinds(idem, b).count("executing") == 2
    with idem.store.snapshot() as tx:   # the budget counted it once
        assert tx_rows(tx, "SELECT COUNT(*) FROM ledger WHERE action_id = ?", (b,))[0][0] == 1


# ---------------------------------------------------------------- standing grants

def test_a_standing_grant_approves_actions_like_this_within_its_cap(env):
    gate, clock, rec, _ = env
    gid = gate.grant("lea", "team_review", "issue_refund", clock.now + timedelta(days=7),
                     constraints={"amount": {"max": 100}, "invoice_id": {"in": ["INV-1", "INV-2"]}},
                     spend_cap=150, spend_path="amount", comment="small refunds")
    a = gate.propose(refund(60, confidence=0.5))
    b = gate.propose(refund(60, confidence=0.5))
    assert a.state == b.state == "executed"
    c = gate.propose(refund(60, confidence=0.5))              # 180 > 150
    assert c.state == "drafted"
    d = gate.propose(refund(20, confidence=0.5, invoice="INV-9"))   # outside the constraints
    assert d.state == "drafted"
    assert kinds(gate, a.id)[:3] == ["proposed", "decided", "approved"]
    with gate.store.snapshot() as tx:
        g = tx.get_grant(gid)
        assert g["spent"] == 120
        granted = [e for e in tx.events() if e["kind"] == "granted"]
    assert len(granted) == 1 and granted[0]["actor"] == "lea" and json.loads(granted[0]["payload"])["id"] == gid
    clock.advance(days=8)
    assert gate.propose(refund(10, confidence=0.5)).state == "drafted"   # expired


def test_grants_are_refused_for_grants_never_routes_and_without_the_role(env):
    gate, clock, rec, _ = env
    before = counts(gate.store)
    exp = clock.now + timedelta(days=1)
    with pytest.raises(PermissionDenied, match="forbids standing grants"):
        gate.grant("sam", "security_review", "delete_record", exp)
    with pytest.raises(PermissionDenied, match="holds none of the roles of route `team_review`"):
        gate.grant("fiona", "team_review", "issue_refund", exp)
    with pytest.raises(InputError, match="not declared"):
        gate.grant("lea", "nope", "issue_refund", exp)
    with pytest.raises(InputError, match="not in the future"):
        gate.grant("lea", "team_review", "issue_refund", clock.now)
    with pytest.raises(InputError, match="unknown grant condition `lt`"):
        gate.grant("lea", "team_review", "issue_refund", exp, constraints={"amount": {"lt": 3}})
    with pytest.raises(InputError, match="needs `spend_path`"):
        gate.grant("lea", "team_review", "issue_refund", exp, spend_cap=100)
    assert counts(gate.store) == before


def test_a_grant_counts_as_one_approver_and_never_for_its_grantors_own_actions(env):
    gate, clock, rec, _ = env
    exp = clock.now + timedelta(days=1)
    gate.grant("fiona", "finance_review", "issue_refund", exp)
    h = gate.propose(refund(300))
    assert h.state == "drafted"                               # quorum 2: one grant is one approver
    gate.grant("carl", "finance_review", "issue_refund", exp)
    assert gate.propose(refund(300)).state == "executed"
    gate.grant("lea", "team_review", "issue_refund", exp)
    own = gate.propose(refund(50, confidence=0.5, agent="lea"))
    assert own.state == "drafted"


# ---------------------------------------------------------------- idempotency

def test_a_retried_proposal_runs_once(env):
    gate, clock, rec, _ = env
    a = gate.propose(refund(10, id="act-1"))
    b = gate.propose(refund(10, id="act-1"))
    assert a.id == b.id and b.state == "executed" and b.result == a.result and len(rec.calls) == 1
    before = counts(gate.store)
    with pytest.raises(InputError, match="idempotency key `act-1` was already used"):
        gate.propose(refund(11, id="act-1"))
    assert counts(gate.store) == before
    # the same key in another tenant is another action
    other = gate.propose(refund(10, id="act-1", tenant="globex", agent="bot2"))
    assert other.id != a.id


# ---------------------------------------------------------------- malformed input

@pytest.mark.parametrize("action, message", [
    ([], "must be an object"),
    ({"args": {}}, "has no `tool`"),
    ({"tool": 3}, "`tool` must be a non-empty string"),
    ({"tool": "issue_refund", "args": [1]}, "`args` must be an object"),
    ({"tool": "issue_refund", "args": {"amount": float("nan")}}, "not a finite number"),
    ({"tool": "issue_refund", "args": {"when": object()}}, "is not a JSON value"),
    ({"tool": "issue_refund", "args": {1: 2}}, "key that is not a string"),
    ({"tool": "issue_refund", "confidence": "high"}, "`confidence` must be a number"),
    ({"tool": "issue_refund", "timestamp": "yesterday"}, "not an RFC 3339 timestamp"),
    ({"tool": "issue_refund", "tenant": {"id": 5}}, "`tenant.id` must be a non-empty string"),
    ({"tool": "issue_refund"}, "names no proposer"),
    ({"tool": "issue_refund", "agent": {"id": "bot"}, "id": ["x"]}, "idempotency key"),
])
def test_malformed_proposals_are_rejected_and_change_nothing(env, action, message):
    gate, *_ = env
    before = counts(gate.store)
    with pytest.raises(InputError, match=message):
        gate.propose(action)
    assert counts(gate.store) == before


@pytest.mark.parametrize("edits, message", [
    ("amount=5", "must be an object"),
    ([{"op": "jump", "path": "/amount"}], "operation 'jump'"),
    ([{"op": "replace", "path": "/nope", "value": 1}], "non-existent object"),
    ([{"op": "replace", "path": "", "value": [1]}], "must be an object"),
    ({"amount": float("inf")}, "not a finite number"),
    ([{"op": "test", "path": "/amount", "value": 1}], "is not equal to tested value"),
])
def test_malformed_edits_are_rejected_and_change_nothing(env, edits, message):
    gate, *_ = env
    h = gate.propose(refund(50, confidence=0.5))
    before = counts(gate.store)
    with pytest.raises(InputError, match=message):
        gate.approve(h.id, by="lea", edits=edits)
    assert counts(gate.store) == before
    assert gate.get(h.id).state == "drafted"


def test_malformed_human_input_is_rejected(env):
    gate, *_ = env
    h = gate.propose(refund(50, confidence=0.5))
    before = counts(gate.store)
    for call, message in [(lambda: gate.reject(h.id, by="lea", reason="  "), "needs a reason"),
                          (lambda: gate.approve(h.id, by=42), "`by` must be"),
                          (lambda: gate.approve(None, by="lea"), "draft id"),
                          (lambda: gate.approve(h.id, by="lea", comment=5), "comment"),
                          (lambda: gate.edit(h.id, by="lea", edits=None), "needs `edits`")]:
        with pytest.raises(InputError, match=message):
            call()
    assert counts(gate.store) == before


# ---------------------------------------------------------------- rejection

def test_reject_closes_the_draft_for_good(env):
    gate, clock, rec, _ = env
    h = gate.propose(refund(300))
    gate.approve(h.id, by="fiona")
    out = gate.reject(h.id, by="carl", reason="duplicate of INV-1 refund")
    assert out.state == "rejected" and out.message == "rejected by carl: duplicate of INV-1 refund"
    with pytest.raises(StateError):
        gate.approve(h.id, by="carl")
    assert gate.execute(h.id).state == "rejected" and rec.calls == []


# ---------------------------------------------------------------- SDK

def test_sdk_sync_tool_runs_or_returns_a_pending_handle(tmp_path):
    clock = Clock()
    gate = make_gate(store_path(tmp_path), clock, {}, defaults={"tenant": {"id": "acme", "plan": "enterprise"}})
    seen = []

    @gate.tool("issue_refund")
    def issue_refund(amount, invoice_id=None, **extra):
        seen.append((amount, invoice_id, extra, current_execution().tool))
        if amount == 13:
            raise ValueError("unlucky")
        return f"refunded {amount}"

    with acting(agent={"id": "bot"}, confidence=0.95):
        assert issue_refund(10, invoice_id="INV-1") == "refunded 10"
        with pytest.raises(ValueError, match="unlucky"):
            issue_refund(13, invoice_id="INV-1")
        assert issue_refund(50, invoice_id="INV-1", reason="late") == "refunded 50"
    with acting(agent={"id": "bot"}, confidence=0.2):
        pending = issue_refund(amount=30, invoice_id="INV-1")
    assert isinstance(pending, Pending)
    done = gate.approve(pending.id, by="lea")
    assert done.state == "executed" and done.result == "refunded 30"
    with acting(agent={"id": "bot"}):
        no = issue_refund(10)      # no invoice: the agent must ask
    assert isinstance(no, Handle) and not isinstance(no, Pending) and no.ask
    assert [s[:3] for s in seen] == [(10, "INV-1", {}), (13, "INV-1", {}), (50, "INV-1", {"reason": "late"}),
                                     (30, "INV-1", {})]
    assert {s[3] for s in seen} == {"issue_refund"}
    with pytest.raises(TypeError, match="positional-only"):
        gate.tool("x")(lambda a, /: a)


def test_sdk_async_tool(tmp_path):
    gate = make_gate(store_path(tmp_path), Clock(), {}, defaults={"tenant": {"id": "acme", "plan": "enterprise"},
                                                                 "agent": {"id": "bot"}, "confidence": 0.95})

    @gate.tool("issue_refund", idempotent=True)
    async def issue_refund(amount, invoice_id):
        await asyncio.sleep(0)
        return {"ok": amount}

    async def agent():
        first = await issue_refund(10, "INV-1")
        with acting(confidence=0.2):
            later = await issue_refund(amount=80, invoice_id="INV-1")
        return first, later

    first, later = asyncio.run(agent())
    assert first == {"ok": 10} and isinstance(later, Pending)
    # approved from sync code outside any loop: the coroutine runs to completion here
    assert gate.approve(later.id, by="lea").result == {"ok": 80}


# ---------------------------------------------------------------- channels

class _Hook(BaseHTTPRequestHandler):
    got = []

    def do_POST(self):
        n = int(self.headers["Content-Length"])
        body = json.loads(self.rfile.read(n))
        if self.path == "/bounce":
            self.send_response(307)
            self.send_header("Location", "http://example.com/steal")
            self.end_headers()
            return
        _Hook.got.append(body)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *a):
        pass


def test_webhook_channel_posts_to_loopback_and_failures_are_recorded(tmp_path):
    _Hook.got.clear()   # the test runs once per store
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        hook = WebhookChannel(f"http://127.0.0.1:{server.server_port}/signoff")
        dead = WebhookChannel("http://127.0.0.1:9/nothing", timeout=0.5)
        bounce = WebhookChannel(f"http://127.0.0.1:{server.server_port}/bounce")
        out = io.StringIO()
        gate = make_gate(store_path(tmp_path), Clock(), {}, channels=[hook, dead, bounce, ConsoleChannel(out)])
        h = gate.propose(refund(50, confidence=0.5))
        assert h.state == "drafted"
        assert _Hook.got[-1]["action_id"] == h.id and _Hook.got[-1]["roles"] == ["team_lead"]
        assert "approval needed from team_lead via team_review: issue_refund" in out.getvalue()
        with gate.store.snapshot() as tx:
            notes = [json.loads(e["payload"]) for e in tx.events(h.id) if e["kind"] == "notified"]
        assert [(n["channel"], n["ok"]) for n in notes] == [("webhook", True), ("webhook", False), ("webhook", False),
                                                             ("console", True)]
        assert "307" in notes[2]["error"] and len(_Hook.got) == 1
    finally:
        server.shutdown()
    for bad in ("http://example.com/hook", "ftp://127.0.0.1/x", "http://10.0.0.1/x"):
        with pytest.raises(ValueError, match="loopback"):
            WebhookChannel(bad)


def test_a_gate_without_policy_reviews_but_never_decides(tmp_path):
    clock = Clock()
    path = store_path(tmp_path)
    agent = make_gate(path, clock, {})
    h = agent.propose(refund(50, confidence=0.5))
    reviewer = Gate(None, agent.store, clock=clock)
    with pytest.raises(StateError, match="needs the policy"):
        reviewer.edit(h.id, by="lea", edits={"amount": 1})
    with pytest.raises(StateError, match="needs the policy"):
        reviewer.propose(refund(1))
    assert reviewer.approve(h.id, by="lea").state == "approved"
    with agent.store.snapshot() as tx:
        assert {e["policy"] for e in tx.events(h.id)} == {policy().digest}
