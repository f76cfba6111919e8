"""Done-when of issue 6: an agent loop through every outcome, humans at the terminal, then verify and export."""
import json
from datetime import timedelta

from click.testing import CliRunner

from cli.approvals_cmd import approvals
from cli.audit_cmd import audit
from cli.inputs import read_history
from engine import MemoryLedger
from engine.decide.actions import format_timestamp, parse_timestamp
from engine.live.channels import MemoryChannel
from engine.live.sdk import Handle, Pending, acting
from workflow_helpers import POLICY_PATH, Clock, make_gate, policy, store_path


def cli(group, *args):
    r = CliRunner().invoke(group, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    return r.output


def simulate(path):
    """Spec §4.5 replay of a history: an action counts as executed when its simulated outcome is allow, or
    require_approval and a human approved or edited it (then with the edited arguments)."""
    pol, ledger, out = policy(), MemoryLedger(), []
    for _, a in read_history(path):
        d = pol.decide(a, ledger)
        human = (a.get("human") or {}).get("verdict")
        if d.outcome == "allow" or (d.outcome == "require_approval" and human in ("approved", "edited")):
            ran = dict(a, args=a["human"]["edited_args"]) if human == "edited" else a
            pol.record(ran, ledger, parse_timestamp(a["timestamp"]))
            out.append((d.outcome, True))
        else:
            out.append((d.outcome, False))
    return out


def test_an_agent_loop_through_every_outcome(tmp_path):
    clock = Clock()
    path = store_path(tmp_path)
    inbox = MemoryChannel()
    gate = make_gate(path, clock, {}, channels=[inbox],
                     defaults={"tenant": {"id": "acme", "plan": "enterprise"}, "agent": {"id": "bot"}})
    refunds = []

    @gate.tool("issue_refund")
    def issue_refund(amount, invoice_id=None):
        refunds.append(amount)
        return f"refunded {amount} on {invoice_id}"

    def agent(calls):
        """The agent: calls its tool, reports a result or what it waits for."""
        said = []
        for confidence, kwargs in calls:
            with acting(confidence=confidence):
                r = issue_refund(**kwargs)
            said.append(r if not isinstance(r, Handle) else (r.state, r.message))
            clock.advance(minutes=1)
        return said

    def human(*args):
        return cli(approvals, *args, "--store", path, "--now", format_timestamp(clock.now))

    # 1 allow, 2 approval (to be edited), 3 approval (to be rejected), 4 approval (to time out), 5 ask, 6 deny
    said = agent([(0.95, dict(amount=10, invoice_id="INV-1")),
                  (0.5, dict(amount=80, invoice_id="INV-2")),
                  (0.99, dict(amount=300, invoice_id="INV-3")),
                  (0.5, dict(amount=70, invoice_id="INV-4")),
                  (0.95, dict(amount=15)),
                  (0.95, dict(amount=900, invoice_id="INV-6"))])
    assert said[0] == "refunded 10 on INV-1"
    assert [s[0] for s in said[1:]] == ["drafted", "drafted", "drafted", "asked", "denied"]
    assert said[4][1] == "needs information: Which invoice should be refunded?"
    assert said[5][1] == "denied: refund outside 0..500"
    assert [n.kind for n in inbox.sent] == ["approval_needed"] * 3

    listing = human("list").splitlines()
    assert len(listing) == 4 and "INV-2" in listing[1] and "INV-3" in listing[2] and "INV-4" in listing[3]
    ids = [p.id for p in gate.pending()]

    # the team lead lowers the refund and approves; the agent's process runs it on its next resume
    out = human("edit", ids[0], "--by", "lea", "--policy", POLICY_PATH, "--set", "amount=60", "--approve",
                "--comment", "partial: one item was kept")
    assert "approved; waiting to execute" in out
    assert '+  "amount": 60,' in human("show", ids[0])
    assert [h.result for h in gate.resume()] == ["refunded 60 on INV-2"]
    # finance rejects the large one
    assert "rejected by carl" in human("reject", ids[1], "--by", "carl", "--reason", "invoice already credited")
    # nobody looks at the third: after 4h it escalates
    clock.advance(hours=4)
    (late,) = gate.expire_due()
    assert late.id == ids[2] and late.state == "escalated" and late.escalate_to == "ops_oncall"
    assert inbox.sent[-1].kind == "escalated"

    # approval fatigue: a standing grant for small refunds; the next one runs without a human
    gate.grant("lea", "team_review", "issue_refund", clock.now + timedelta(days=7),
               constraints={"amount": {"max": 50}}, spend_cap=200, spend_path="amount")
    said = agent([(0.5, dict(amount=30, invoice_id="INV-7")), (0.5, dict(amount=90, invoice_id="INV-8"))])
    assert said[0] == "refunded 30 on INV-7" and said[1][0] == "drafted"
    assert refunds == [10, 60, 30]
    assert not isinstance(gate.get(ids[0]), Pending) and gate.get(ids[0]).state == "executed"

    # the record: intact, and a history the simulator reads with the human verdicts in it
    assert cli(audit, "verify", "--store", path).startswith("ok: ")
    export = tmp_path / "history.jsonl"
    cli(audit, "export", "--store", path, "--output", export)
    lines = [json.loads(x) for x in export.read_text().splitlines()]
    assert len(lines) == 8
    assert [(x.get("human") or {}).get("verdict") for x in lines] == [
        None, "edited", "rejected", "expired", None, None, "approved", None]
    assert lines[1]["human"]["by"] == "lea"
    assert lines[1]["human"]["edited_args"] == {"amount": 60, "invoice_id": "INV-2"}
    assert lines[1]["args"] == {"amount": 80, "invoice_id": "INV-2"}       # what the agent proposed
    assert lines[1]["signoff"]["executed_args"] == {"amount": 60, "invoice_id": "INV-2"}
    assert lines[2]["human"]["by"] == "carl"
    assert lines[6]["human"]["by"] == "lea" and lines[6]["signoff"]["grants"]
    assert [x["executed"] for x in lines] == [True, True, False, False, False, False, True, False]
    assert [x["signoff"]["state"] for x in lines] == [
        "executed", "executed", "rejected", "escalated", "asked", "denied", "executed", "drafted"]
    sim = simulate(str(export))
    assert [o for o, _ in sim] == ["allow", "require_approval", "require_approval", "require_approval", "ask",
                                   "deny", "require_approval", "require_approval"]
    # what the simulation executes is what really executed
    assert [ran for _, ran in sim] == [x["executed"] for x in lines]


def test_the_exported_history_runs_through_signoff_simulate(tmp_path):
    """`audit export` writes a history `signoff simulate` reads as it is, human verdicts included."""
    import test_workflow_e2e as me
    captured = {}
    original = me.simulate

    def keep(path):
        captured["path"] = path
        captured["sim"] = original(path)
        return captured["sim"]
    me.simulate = keep
    try:
        test_an_agent_loop_through_every_outcome(tmp_path)
    finally:
        me.simulate = original
    from cli.simulate_cmd import simulate as simulate_cmd
    decisions = tmp_path / "decisions.jsonl"
    r = CliRunner().invoke(simulate_cmd, [str(POLICY_PATH), "--history", captured["path"], "--format", "json",
                                          "--decisions", str(decisions)])
    assert r.exit_code == 0, r.output
    report = json.loads(r.output)
    expected = [o for o, _ in captured["sim"]]
    assert report["total"] == len(expected) == 8
    assert {k: v for k, v in report["outcomes"].items() if v} == {
        o: expected.count(o) for o in set(expected)}
    assert [json.loads(x)["outcome"] for x in decisions.read_text().splitlines()] == expected
