"""The replay's parts: one shared `step`, and report aggregates that merge as one pass counts."""
import json
import tempfile
from functools import reduce
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import load_policy
from engine.decide.ledger import MemoryLedger
from engine.replay.aggregates import Tally
from engine.replay.history import History
from engine.replay.simulate import Simulation
from engine.replay.step import Step, stepper

ROOT = Path(__file__).resolve().parents[1]
POLICY = load_policy(str(ROOT / "examples/support-ops/support.policy"))
TOOLS = ["issue_refund", "send_email", "delete_record", "lookup_order", "crm.update-contact", "close_account"]
T0 = 1793520000  # 2026-11-01T00:00:00Z


def iso(t):
    from datetime import datetime, timezone
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@st.composite
def actions(draw):
    """A support-ops history: refunds against the budgets, humans who approve, edit, reject or let expire,
    some input errors (a confidence out of range, args not an object) and some actions without ids."""
    n = draw(st.integers(1, 80))
    gaps = draw(st.lists(st.sampled_from([0, 20, 60, 600, 3 * 3600, 86400]), min_size=n, max_size=n))
    out, t = [], T0
    for i, gap in enumerate(gaps):
        t += gap
        tool = draw(st.sampled_from(["issue_refund"] * 4 + TOOLS))   # refunds most: they meet the budgets
        a = {"timestamp": iso(t), "tool": tool, "tenant": {"id": draw(st.sampled_from(["acme", "globex"])),
                                                           "plan": draw(st.sampled_from(["business"] * 4 + ["free"]))},
             "agent": {"id": draw(st.sampled_from(["a1", "a2"]))},
             "confidence": draw(st.sampled_from([0.5, 0.8, 0.95, 1.0]))}
        if draw(st.booleans()) or i == 0:
            a["id"] = f"x{i}"
        if tool == "issue_refund":
            a["args"] = {"amount": draw(st.sampled_from([20, 90, 150, 480, 480, 900])), "customer_id": "C1"}
            if draw(st.integers(0, 4)):
                a["args"]["invoice_id"] = "INV-1"
        elif tool == "send_email":
            a["args"] = {"to": draw(st.sampled_from(["x@acme.com", "y@evil.test"]))}
        else:
            a["args"] = {}
        kind = draw(st.sampled_from(["none", "approved", "approved", "approved", "edited", "rejected", "expired", "odd"]))
        if kind == "edited":
            a["human"] = {"verdict": "edited", "by": "maria", "edited_args": {"amount": 300}}
        elif kind == "odd":
            a["human"] = {"verdict": "maybe"}
        elif kind != "none":
            a["human"] = {"verdict": kind, "by": "maria"}
        bad = draw(st.sampled_from([None, None, None, None, "confidence", "args"]))
        if bad == "confidence":
            a["confidence"] = 2
        elif bad == "args":
            a["args"] = [1]
        out.append(a)
    return out


def records(history):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "h.jsonl"
        path.write_text("".join(json.dumps(a) + "\n" for a in history))
        return list(History([str(path)]).records())


def one_pass(recs, assume_approved=False):
    sim = Simulation(POLICY, assume_approved)
    sim.run(recs)
    return sim


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=actions(), data=st.data(), assume_approved=st.booleans())
def test_partitions_merged_report_as_one_pass(history, data, assume_approved):
    recs = records(history)
    whole = one_pass(recs, assume_approved)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(recs)), max_size=4)))
    bounds = [0, *cuts, len(recs)]
    parts, ledger = [], MemoryLedger()
    for lo, hi in zip(bounds, bounds[1:]):
        sim = Simulation(POLICY, assume_approved, ledger=ledger)   # the next partition goes on from this ledger
        sim.run(recs[lo:hi])
        parts.append(sim.tally)
    merged = reduce(lambda a, b: a.merge(b), parts, Tally(POLICY))
    assert merged.report() == whole.report()
    # associative: the last two merged first, then the rest in front of them
    if len(parts) >= 3:
        tail = Tally(POLICY).merge(parts[-2]).merge(parts[-1])
        head = reduce(lambda a, b: a.merge(b), parts[:-2], Tally(POLICY))
        assert head.merge(tail).report() == whole.report()


def test_merge_leaves_the_other_tally_as_it_was():
    recs = records([{"id": f"r{i}", "timestamp": iso(T0 + 60 * i), "tool": "issue_refund",
                     "tenant": {"id": "acme", "plan": "business"}, "agent": {"id": "a1"}, "confidence": 0.95,
                     "args": {"amount": 480, "customer_id": f"C{i}", "invoice_id": "I1"}, "human": {"verdict": "approved"}}
                    for i in range(8)])
    first, second = Simulation(POLICY), Simulation(POLICY)
    first.run(recs[:6])
    second.ledger = first.ledger
    second.run(recs[6:])
    before = second.report()
    merged = Tally(POLICY).merge(first.tally).merge(second.tally)
    merged.merge(second.tally)   # merging again changes the merged tally, never its source
    assert second.report() == before
    assert merged.report()["total"] == 10
    # four approved refunds of 480 fill the day's 2,000; the budget line binds from the fifth on: its first
    # event is the first partition's, its last the second's
    budgets = Tally(POLICY).merge(first.tally).merge(second.tally).report()["budget_exhaustion"]
    assert [b["check"] for b in budgets] == ["refund_budget"]
    assert budgets[0]["first"]["action_id"] == "r4" and budgets[0]["last"]["action_id"] == "r7"


def test_one_step_decides_as_policy_decide():
    """The step every backend shares decides each record as `Policy.decide` does, and executes by the
    replay rules: an approval a human edited is counted with the edited amount."""
    history = [{"id": "e1", "timestamp": iso(T0), "tool": "issue_refund", "tenant": {"id": "acme", "plan": "business"},
                "agent": {"id": "a1"}, "confidence": 0.5, "args": {"amount": 400, "customer_id": "C1", "invoice_id": "I1"},
                "human": {"verdict": "edited", "edited_args": {"amount": 7}}},
               {"id": "r1", "timestamp": iso(T0 + 1), "tool": "issue_refund",
                "tenant": {"id": "acme", "plan": "business"}, "agent": {"id": "a1"}, "confidence": 0.5,
                "args": {"amount": 400, "customer_id": "C1", "invoice_id": "I1"}, "human": {"verdict": "rejected"}}]
    step = stepper(POLICY, decisions=True)
    ledger = MemoryLedger()
    first, second = (Step(*step(r, ledger)) for r in records(history))
    assert first.outcome == "require_approval" and first.executed and first.action["args"]["amount"] == 7
    assert not second.executed
    assert first.decision is not None and first.decision.to_dict() == POLICY.decide(history[0]).to_dict()
