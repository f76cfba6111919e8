"""`signoff recommend`: levers found and moved, the evidence, the written policy, diff's agreement, bad input."""
import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import cli
from engine import History, load_policy, run_diff, run_recommend
from policy_lang import lint_file

ROOT = Path(__file__).resolve().parent.parent

POLICY = """# the refund desk: every refund waits for a person at first
policy "desk"
version "1"

route desk {
  approvers "desk_lead"
  timeout 4h then escalate to "oncall"
}
route finance {
  approvers "cfo", "controller"
  quorum 2
}

tool lookup_order {
  risk low
}
tool issue_refund {
  risk medium when args.amount <= 50  # small refunds
  risk high otherwise
}

category low {
  allow
}
category medium {
  allow when confidence >= 0.95
  require approval via desk otherwise
}
category high {
  require approval via finance
}

check refund_budget on issue_refund {
  budget sum(args.amount) per tenant per 1d <= 100000 else escalate to "finance_oncall"
}
"""
START = datetime(2026, 10, 1, tzinfo=timezone.utc)


def history(n=1500, seed=3, reject_above=90.0, verdicts=True, reject_low_conf=None):
    """Refunds with the verdicts a careful desk gives: amounts above `reject_above` sometimes rejected."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        t = START + timedelta(minutes=45 * i)
        amount = round(rng.uniform(5, 120), 2)
        conf = round(rng.uniform(0.8, 1.0), 3)
        a = {"id": f"r-{i:04d}", "timestamp": t.strftime("%Y-%m-%dT%H:%M:%SZ"), "tool": "issue_refund",
             "confidence": conf, "args": {"amount": amount}, "tenant": {"id": "acme"}, "agent": {"id": "bot"}}
        if verdicts:
            v = "approved"
            if amount > reject_above and rng.random() < 0.3:
                v = "rejected"
            if reject_low_conf is not None and conf < reject_low_conf and amount <= 50:
                v = "rejected"
            a["human"] = {"verdict": v, "by": "lea"}
        out.append(a)
    return out


def write(tmp_path, rows, name="h.jsonl"):
    p = tmp_path / name
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return p


@pytest.fixture
def desk(tmp_path):
    p = tmp_path / "desk.policy"
    p.write_text(POLICY)
    return p


def run(*args):
    res = CliRunner().invoke(cli, list(map(str, args)))
    return res


def test_recommends_the_confidence_and_amount_levers_and_writes_a_policy_that_lints(desk, tmp_path):
    h = write(tmp_path, history())
    out = tmp_path / "desk-2.policy"
    res = run("recommend", desk, "--history", h, "--out", out, "--format", "json", "--max-risk", "0.05")
    assert res.exit_code == 0, res.output + res.stderr
    rep = json.loads(res.stdout)
    # the confidence threshold of category medium: every small refund was approved, so it drops to the
    # lowest confidence seen; the amount bound of `risk medium` rises, but not past a rejected refund
    conf = next(r for r in rep["recommendations"] if r["change"].startswith("confidence >= 0.95"))
    assert conf["at"] == f"{desk.name}:26"
    assert conf["tool"] == "issue_refund" and conf["old"] == 0.95 and conf["new"] <= 0.801
    assert conf["rejected"] == 0 and conf["upper_bound"] <= 0.05
    for r in rep["recommendations"]:
        assert r["rejected"] == 0
        for k in ("tool", "change", "at", "auto_allowed", "rejected", "edited", "upper_bound",
                  "approvals_saved_per_30d"):
            assert k in r
        assert set(r["holdout"]) >= {"auto_allowed", "rejected", "edited", "upper_bound", "approvals_saved_per_30d"}
    amount = [r for r in rep["recommendations"] if r["lever"] == "threshold" and "amount" in r["change"]]

    if amount:
        rejected = [a["args"]["amount"] for a in history()[:rep["history"]["fit"]] if a["human"]["verdict"] == "rejected"]
        assert amount[0]["new"] < min(rejected)
    text = out.read_text()
    assert "# the refund desk: every refund waits for a person at first" in text   # comments kept
    assert "# small refunds" in text
    assert 'version "1+rec.' in text
    assert text.count("# signoff recommend:") == len(rep["recommendations"]) + 1
    assert not [d for d in lint_file(str(out)) if d.severity in ("error", "warning")]
    load_policy(str(out))


def test_diff_on_the_written_policy_counts_exactly_the_actions_recommend_let_through(desk, tmp_path):
    h = write(tmp_path, history())
    out = tmp_path / "desk-2.policy"
    res = run("recommend", desk, "--history", h, "--out", out, "--format", "json", "--max-risk", "0.05")
    rep = json.loads(res.stdout)
    assert rep["recommendations"]
    d = run_diff(load_policy(str(desk)), load_policy(str(out)), History([str(h)]), witnesses=False)
    sem = d["semantic"]
    assert sem["looser"] == rep["total"]["looser"]
    moved = {(t["old"], t["new"]): t["count"] for t in sem["transitions"] if t["old"] != t["new"]}
    assert moved.get(("require_approval", "allow"), 0) == rep["total"]["auto_allowed_whole_history"]
    fit_and_held = sum(r["auto_allowed"] + r["holdout"]["auto_allowed"] for r in rep["recommendations"])
    assert fit_and_held + rep["side_effects"]["auto_allowed"] == rep["total"]["auto_allowed_whole_history"]


def test_a_rejected_action_is_never_let_through_in_the_fit_part(desk, tmp_path):
    # every low-confidence small refund is rejected: the confidence threshold must stay above them
    rows = history(reject_low_conf=0.85)
    h = write(tmp_path, rows)
    pol = load_policy(str(desk))
    s = run_recommend(pol, History([str(h)]), max_risk=0.05)
    cut = s.cut
    for r in s.recommendations:
        assert r.fit_verified.rejected == 0
        if r.lever.subject == "confidence":
            assert r.value > max(a["confidence"] for a in rows[:cut] if a["human"]["verdict"] == "rejected"
                                 and a["args"]["amount"] <= 50)


def test_holdout_lists_held_out_rejections_the_new_policy_would_allow(desk, tmp_path):
    rows = history()
    # late in the history, small refunds start to be rejected: the fit cannot see it, the holdout must
    for a in rows[-100:]:
        if a["args"]["amount"] <= 50 and a["confidence"] < 0.95:
            a["human"]["verdict"] = "rejected"
    h = write(tmp_path, rows)
    res = run("recommend", desk, "--history", h, "--format", "json", "--max-risk", "0.05")
    rep = json.loads(res.stdout)
    conf = next(r for r in rep["recommendations"] if "confidence" in r["change"])
    listed = conf["holdout"]["rejected_or_edited"]
    assert conf["holdout"]["rejected"] == len(listed) > 0
    ids = {x["action_id"] for x in listed}
    assert ids <= {a["id"] for a in rows[-100:]}


# ---------------------------------------------------------------- bad input and faults

def test_no_verdicts_gives_an_explanation_and_no_recommendation(desk, tmp_path):
    h = write(tmp_path, history(verdicts=False))
    out = tmp_path / "x.policy"
    res = run("recommend", desk, "--history", h, "--out", out)
    assert res.exit_code == 1
    assert "no human verdicts" in res.stdout and not out.exists()


def test_too_few_verdicts_say_how_many_are_needed(desk, tmp_path):
    h = write(tmp_path, history(n=60))
    res = run("recommend", desk, "--history", h)
    assert res.exit_code == 1
    assert "No recommendation" in res.stdout and "at least 299 approved unchanged" in res.stdout


def test_verdicts_on_actions_the_policy_does_not_send_to_humans_contradict_it(desk, tmp_path):
    rows = [dict(a, tool="lookup_order", args={}) for a in history(n=50)]
    h = write(tmp_path, rows)
    res = run("recommend", desk, "--history", h, "--format", "json")
    assert res.exit_code == 1
    rep = json.loads(res.stdout)
    assert rep["recommendations"] == [] and "contradict" in rep["explanation"]


def test_malformed_lines_follow_on_error(desk, tmp_path):
    h = tmp_path / "h.jsonl"
    h.write_text("".join(json.dumps(r) + "\n" for r in history(n=50)) + "{not json\n")
    res = run("recommend", desk, "--history", h)
    assert res.exit_code == 2 and "error[bad_history]" in res.stderr and "h.jsonl:51" in res.stderr
    res = run("recommend", desk, "--history", h, "--on-error", "skip")
    assert res.exit_code == 1 and "Traceback" not in res.output


def test_bad_options_and_missing_history_are_usage_errors(desk, tmp_path):
    assert run("recommend", desk).exit_code == 2
    assert run("recommend", desk, "--history", tmp_path / "h.jsonl", "--max-risk", "1.5").exit_code == 2
    res = run("recommend", desk, "--history", "-")
    assert res.exit_code == 2 and "error[stdin_history]" in res.stderr
    res = run("recommend", desk, "--history", tmp_path / "missing.jsonl")
    assert res.exit_code == 2 and "missing.jsonl" in res.stderr and "Traceback" not in res.output


def test_a_policy_that_cannot_be_written_where_asked_is_not_written(desk, tmp_path):
    # a schema file next to the policy: the recommended policy written elsewhere would not load
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "refund.json").write_text('{"type": "object"}')
    desk.write_text(POLICY.replace("tool issue_refund {", 'tool issue_refund {\n  schema "schemas/refund.json"'))
    h = write(tmp_path, history())
    (tmp_path / "elsewhere").mkdir()
    out = tmp_path / "elsewhere" / "desk-2.policy"
    res = run("recommend", desk, "--history", h, "--out", out, "--max-risk", "0.05")
    assert res.exit_code == 3 and "error[recommended_policy_invalid]" in res.stderr
    assert not out.exists()


def test_upper_bound_known_values():
    from engine.recommend.stats import upper_bound
    assert upper_bound(0, 299) < 0.01 < upper_bound(0, 298)      # the rule of three, exactly
    assert abs(upper_bound(1, 10) - 0.3942) < 1e-4                # Clopper–Pearson tables
    assert upper_bound(0, 0) == 1.0 and upper_bound(5, 5) == 1.0


# ---------------------------------------------------------------- real agents: tau-bench airline runs

TAU = ROOT.parent / "shared" / "corpora" / "tau" / "tau_trajectory_calls.jsonl"
DAY_ONE = """policy "airline-day-one"
version "1"
use "examples/airline/airline.policy"
override category medium {
  allow when confidence >= 0.99
  require approval via supervisor otherwise
}
"""


@pytest.mark.skipif(not TAU.exists(), reason="the tau corpus (../shared/corpora/tau) is not in this checkout")
@pytest.mark.parametrize("max_risk", ["0.01", "0.5"])
def test_approvals_stay_on_the_writes_real_gpt4o_runs_got_wrong(tmp_path, max_risk):
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    pol = tmp_path / "day-one.policy"
    pol.write_text(DAY_ONE)
    rows = []
    start = datetime(2026, 11, 1, tzinfo=timezone.utc)
    verdict = {"expected_write": "approved", "unexpected_write": "rejected"}
    for line in TAU.read_text().splitlines():
        r = json.loads(line)
        t = start + timedelta(hours=int(r["task_id"]), minutes=r["trial"] * 10 + r["step"] % 10, seconds=r["step"])
        a = {"id": f"tau/{r['task_id']}/{r['trial']}/{r['step']}", "timestamp": t.strftime("%Y-%m-%dT%H:%M:%SZ"),
             "tool": r["tool"], "args": r["args"], "agent": {"id": "gpt-4o"},
             "tenant": {"id": f"task-{r['task_id']}"}, "context": {"user_confirmed": True}}
        if r["label"] in verdict:
            a["human"] = {"verdict": verdict[r["label"]], "by": "ground-truth"}
        rows.append(a)
    h = write(tmp_path, rows)
    out = tmp_path / "new.policy"
    res = run("recommend", pol, "--history", h, "--format", "json", "--max-risk", max_risk, "--out", out)
    rep = json.loads(res.stdout)
    rejected_writes = sum(p["rejected"] for p in rep["places"])
    assert rejected_writes > 40            # the unexpected writes do reach the supervisor
    for r in rep["recommendations"]:       # and nothing recommended lets one of them through
        assert r["rejected"] == 0
    if out.exists():
        d = run_diff(load_policy(str(pol)), load_policy(str(out)), History([str(h)]), witnesses=False)
        unexpected = {a["id"] for a in rows if a.get("human", {}).get("verdict") == "rejected"}
        for t in d["semantic"]["transitions"]:
            if t["direction"] == "looser":
                assert not set(t["examples"]) & unexpected


def test_html_and_text_reports_show_the_evidence_and_escape_what_the_history_wrote(desk, tmp_path):
    rows = history()
    for a in rows[-100:]:
        if a["args"]["amount"] <= 50 and a["confidence"] < 0.95:
            a["human"]["verdict"] = "rejected"
            a["human"]["by"] = "<b>eve</b>\u202e"
    h = write(tmp_path, rows)
    text = run("recommend", desk, "--history", h, "--max-risk", "0.05").stdout
    assert "confidence >= 0.95 → confidence >= " in text and "held-out rejected:" in text
    assert "\u202e" not in text
    page = run("recommend", desk, "--history", h, "--max-risk", "0.05", "--format", "html").stdout
    assert page.startswith("<!DOCTYPE html>") and "<b>eve</b>" not in page and "&lt;b&gt;eve" in page


# ---------------------------------------------------------------- the quorum lever (store-built histories)

def gate_history(tmp_path, desk, n=40, reject_every=None, edit_every=None):
    """A history exported from a real Gate: `n` refunds over 50 (route finance, quorum 2). Every fourth, of
    51, the CFO rejects at once (so no threshold or risk level can move, and a lower quorum changes
    nothing for it); the others the CFO approves first, then the controller approves, or rejects every
    `reject_every`-th, or edits every `edit_every`-th while approving."""
    from engine.decide.evaluator import Policy
    from engine.live.opening import open_store
    from engine.live.store import Identity
    from engine.live.workflow import Gate
    clock = [START]
    gate = Gate(Policy(load_policy(str(desk)).program), open_store(str(tmp_path / "desk.db")),
                executors={"issue_refund": lambda args, ctx: {"ok": True}}, clock=lambda: clock[0],
                identities=[Identity("cfo1", {"cfo"}, "acme"), Identity("ctl", {"controller"}, "acme")])
    for i in range(n):
        clock[0] = START + timedelta(hours=6 * i)
        h = gate.propose({"tool": "issue_refund", "args": {"amount": 51 if i % 4 == 0 else 60 + i},
                          "confidence": 0.99, "tenant": {"id": "acme"}, "agent": {"id": "bot"}})
        assert h.state == "drafted"
        if i % 4 == 0:
            gate.reject(h.id, "cfo1", "too early")
            continue
        gate.approve(h.id, "cfo1")
        clock[0] += timedelta(minutes=20)
        if reject_every and i % reject_every == reject_every - 1:
            gate.reject(h.id, "ctl", "not this one")
        elif edit_every and i % edit_every == edit_every - 1:
            gate.approve(h.id, "ctl", edits=[{"op": "replace", "path": "/amount", "value": 50 + i}])
        else:
            gate.approve(h.id, "ctl")
    rows = list(gate.history())
    gate.store.close()
    return write(tmp_path, rows, "exported.jsonl")


def test_export_writes_the_order_of_the_human_acts(desk, tmp_path):
    h = gate_history(tmp_path, desk, n=3, reject_every=3)
    first, second, third = [json.loads(x) for x in h.read_text().splitlines()]
    assert [(a["act"], a["by"]) for a in first["human"]["acts"]] == [("rejected", "cfo1")]
    assert [(a["act"], a["by"]) for a in second["human"]["acts"]] == [("approved", "cfo1"), ("approved", "ctl")]
    assert [(a["act"], a["by"]) for a in third["human"]["acts"]] == [("approved", "cfo1"), ("rejected", "ctl")]
    assert third["human"]["acts"][1]["at"] == "2026-10-01T12:20:00Z" and third["human"]["verdict"] == "rejected"


def test_quorum_is_lowered_when_every_second_approval_came_unchanged(desk, tmp_path):
    h = gate_history(tmp_path, desk)
    out = tmp_path / "desk-q.policy"
    res = run("recommend", desk, "--history", h, "--out", out, "--format", "json", "--max-risk", "0.15")
    assert res.exit_code == 0, res.output + res.stderr
    rep = json.loads(res.stdout)
    q = [r for r in rep["recommendations"] if r["lever"] == "quorum"]
    assert len(q) == 1
    q = q[0]
    assert q["change"] == "route finance quorum 2 → 1" and q["at"] == f"{desk.name}:11"
    assert rep["history"]["fit"] == 28 and len(rep["recommendations"]) == 1   # no threshold or level moves
    # the 21 of the fit part's 28 drafts the CFO approved; the 7 the CFO rejected first are no evidence
    assert (q["auto_allowed"], q["approved"], q["rejected"], q["edited"]) == (21, 21, 0, 0)
    assert (q["holdout"]["auto_allowed"], q["holdout"]["approved"]) == (9, 9)
    assert q["upper_bound"] <= 0.15 and q["tool"] == "issue_refund"
    # 21 drafts over the fit part's 6.75 days, one approval each
    assert q["approvals_saved_per_30d"] == pytest.approx(21 / (27 * 6 / 24) * 30, abs=0.1)
    assert rep["total"]["approvals_saved_by_quorum_per_30d"] == q["approvals_saved_per_30d"]
    text = out.read_text()
    assert "\n  quorum 1\n" in text and "\n  quorum 2\n" not in text
    assert "# signoff recommend: route finance quorum 2 → 1: 21 drafts in the fit part reached 1 of 2 approvals" in text
    assert not [d for d in lint_file(str(out)) if d.severity in ("error", "warning")]
    assert load_policy(str(out)).program.routes["finance"].quorum == 1
    # a quorum changes no decision: diff replays no change, and shows the route's quorum structurally
    res = run("diff", desk, out, "--history", h, "--format", "json")
    d = json.loads(res.stdout)
    assert [(x["section"], x["name"], x["what"], x["old"], x["new"]) for x in d["structural"]
            if x["section"] == "route"] == [("route", "finance", "quorum", 2, 1)]
    assert d["semantic"]["changed"] == 0 and d["semantic"]["looser"] == rep["total"]["looser"] == 0
    text = run("recommend", desk, "--history", h, "--max-risk", "0.15").stdout
    assert "21 reached 1 of 2 approvals, then 21 approved unchanged" in text
    assert "Lower quorums: 21 fewer approvals in the fit part" in text and "Together:" not in text


def test_quorum_is_not_lowered_when_a_second_approver_rejected(desk, tmp_path):
    h = gate_history(tmp_path, desk, reject_every=10)
    res = run("recommend", desk, "--history", h, "--format", "json", "--max-risk", "0.15")
    rep = json.loads(res.stdout)
    assert not [r for r in rep["recommendations"] if r["lever"] == "quorum"]
    c = next(c for c in rep["considered"] if c["kind"] == "quorum")
    assert c["rejected"] == 2 and "rejected after their first 1 approvals" in c["reason"]
    assert "no quorum lowered" in rep["explanation"]


def test_quorum_edits_after_the_first_approval_count_as_changed(desk, tmp_path):
    h = gate_history(tmp_path, desk, edit_every=5)
    res = run("recommend", desk, "--history", h, "--format", "json", "--max-risk", "0.15")
    rep = json.loads(res.stdout)
    assert not [r for r in rep["recommendations"] if r["lever"] == "quorum"]
    c = next(c for c in rep["considered"] if c["kind"] == "quorum")
    assert c["edited"] == 3 and c["rejected"] == 0 and "upper bound" in c["reason"]


def test_a_history_without_human_acts_gives_the_quorum_lever_no_evidence(desk, tmp_path):
    h = write(tmp_path, history(n=300))
    res = run("recommend", desk, "--history", h, "--format", "json")
    rep = json.loads(res.stdout)
    assert not [r for r in rep["recommendations"] if r["lever"] == "quorum"]
    c = next(c for c in rep["considered"] if c["kind"] == "quorum")
    assert "have no `human.acts`" in c["reason"] and "no evidence" in c["reason"]


def test_under_lower_quorum_follows_the_order_of_the_acts():
    from engine.recommend.quorum import NOT_AFFECTED, under_lower_quorum

    def acts(*xs):
        return [{"act": a, "by": b, "at": "2026-10-01T00:00:00Z"} for a, b in xs]
    assert under_lower_quorum(acts(("approved", "a"), ("approved", "b")), "approved", 1) == "approved"
    assert under_lower_quorum(acts(("approved", "a"), ("rejected", "b")), "rejected", 1) == "rejected"
    assert under_lower_quorum(acts(("rejected", "b")), "rejected", 1) == NOT_AFFECTED
    assert under_lower_quorum(acts(("edited", "b"), ("approved", "a"), ("approved", "b")), "edited", 1) == NOT_AFFECTED
    assert under_lower_quorum(acts(("approved", "a"), ("edited", "b"), ("approved", "b")), "edited", 1) == "edited"
    assert under_lower_quorum(acts(("approved", "a")), "expired", 1) == "expired"
    assert under_lower_quorum(acts(("approved", "a")), None, 1) is None
    # the same approver twice is one approval: a quorum of 2 is not met by it
    assert under_lower_quorum(acts(("approved", "a"), ("approved", "a"), ("rejected", "c")), "rejected", 2) == NOT_AFFECTED
    assert under_lower_quorum(acts(("approved", "a"), ("approved", "b"), ("rejected", "c")), "rejected", 2) == "rejected"


def test_quorum_of_a_route_waited_on_with_another_route_is_not_evaluated(tmp_path):
    desk = tmp_path / "desk.policy"
    desk.write_text(POLICY + "\ncheck big on issue_refund {\n  require args.amount <= 70 else require approval via desk\n}\n")
    h = gate_history(tmp_path, desk)
    res = run("recommend", desk, "--history", h, "--format", "json", "--max-risk", "0.15")
    rep = json.loads(res.stdout)
    assert not [r for r in rep["recommendations"] if r["lever"] == "quorum"]
    c = next(c for c in rep["considered"] if c["kind"] == "quorum")
    assert "together with another route" in c["reason"] and c["lever"] == "route finance quorum 2"


# ---------------------------------------------------------------- the standing-grant lever

GRANT_POLICY = """# every refund waits for the desk; wires wait on a route that forbids standing grants
policy "grants-desk"
version "1"

route desk {
  approvers "desk_lead"
}
route locked {
  approvers "desk_lead"
  grants never
}

tool issue_refund {
  risk medium
}
tool wire {
  risk high
}

category medium {
  require approval via desk
}
category high {
  require approval via locked
}
"""


def grant_history(tmp_path, n=120, quorum=1):
    """A history exported from a real Gate: refunds of 5..104 (lea approves them, but rejects one in three
    above 70 and edits the one of 66), and wires lea always approves, on a `grants never` route."""
    from engine.decide.evaluator import Policy
    from engine.live.opening import open_store
    from engine.live.store import Identity
    from engine.live.workflow import Gate
    pol = tmp_path / "grants.policy"
    pol.write_text(GRANT_POLICY.replace('approvers "desk_lead"\n}', f'approvers "desk_lead", "desk_deputy"\n  quorum {quorum}\n}}', 1))
    clock = [START]
    store = str(tmp_path / "grants.db")
    gate = Gate(Policy(load_policy(str(pol)).program), open_store(store), executors={}, clock=lambda: clock[0],
                identities=[Identity("lea", {"desk_lead"}, "acme"), Identity("max", {"desk_lead"}, "acme")])
    for i in range(n):
        clock[0] = START + timedelta(hours=3 * i)
        amount = 5 + (i * 37) % 100
        h = gate.propose({"tool": "issue_refund", "args": {"amount": amount}, "confidence": 0.99,
                          "tenant": {"id": "acme"}, "agent": {"id": "bot"}})
        assert h.state == "drafted"
        if amount > 70 and i % 3 == 0:
            gate.reject(h.id, "lea", "too much")
        elif amount == 66:
            gate.approve(h.id, "lea", edits={"amount": 60})
            if quorum == 2:
                gate.approve(h.id, "max")
        else:
            gate.approve(h.id, "max" if i % 5 == 0 else "lea")
            if quorum == 2:
                gate.approve(h.id, "lea" if i % 5 == 0 else "max")
        w = gate.propose({"tool": "wire", "args": {"amount": amount}, "confidence": 0.99,
                          "tenant": {"id": "acme"}, "agent": {"id": "bot"}})
        gate.approve(w.id, "lea")
    rows = list(gate.history())
    gate.store.close()
    return pol, write(tmp_path, rows, "grants.jsonl"), store, rows


def test_a_standing_grant_is_recommended_below_the_first_rejected_or_edited_amount(tmp_path):
    pol, h, store, rows = grant_history(tmp_path)
    out = tmp_path / "new.policy"
    res = run("recommend", pol, "--history", h, "--format", "json", "--max-risk", "0.1", "--out", out)
    assert res.exit_code == 0, res.output + res.stderr
    rep = json.loads(res.stdout)
    assert rep["recommendations"] == []           # no policy lever moves: the grant is not a policy change
    assert not out.exists()                       # … so `--out` writes nothing for it
    (g,) = rep["grants"]                          # none on the `grants never` route
    # a plain implementation: the fit part's refunds in amount order, cut before the first rejected or edited
    fit = [r for r in rows[:rep["history"]["fit"]] if r["tool"] == "issue_refund"]
    first_bad = min(r["args"]["amount"] for r in fit if r["human"].get("verdict") in ("rejected", "edited"))
    ok = [r for r in fit if r["args"]["amount"] < first_bad]
    assert first_bad == 66 and g["max"] == max(r["args"]["amount"] for r in ok) == 65
    assert (g["tool"], g["route"], g["arg"], g["lever"]) == ("issue_refund", "desk", "amount", "grant")
    assert (g["auto_allowed"], g["approved"], g["rejected"], g["edited"]) == (len(ok), len(ok), 0, 0)
    assert g["upper_bound"] == pytest.approx(1 - 0.05 ** (1 / len(ok))) and g["upper_bound"] <= 0.1
    assert g["by"] == "lea"                       # who approved most of them
    assert g["command"] == ("signoff approvals grant desk issue_refund --by lea --for 30d --max amount=65 "
                            "--policy grants.policy --store STORE")
    held = [r for r in rows[rep["history"]["fit"]:] if r["tool"] == "issue_refund" and r["args"]["amount"] <= 65]
    assert g["holdout"]["auto_allowed"] == len(held) > 0
    assert g["holdout"]["rejected"] == sum(r["human"]["verdict"] == "rejected" for r in held)
    assert g["approvals_saved_per_30d"] > 0 and "approvals_saved_per_30d" in g["holdout"]
    res = run("recommend", pol, "--history", h, "--max-risk", "0.1", "--out", out)
    assert res.exit_code == 0 and not out.exists()
    assert res.stderr == f"no policy change recommended: `{out}` not written\n"
    text = res.stdout
    assert "No policy change recommended: " in text and "No recommendation" not in text
    assert "Standing grants (1; records in the store, not policy changes):" in text
    assert "    $ signoff approvals grant desk issue_refund --by lea --for 30d --max amount=65" in text
    # the command, given on the store, approves such a refund and lets a larger one wait
    from engine.decide.evaluator import Policy
    from engine.live.opening import open_store
    from engine.live.workflow import Gate
    words = g["command"].split()[1:]
    words[words.index("STORE")] = store
    words[words.index("grants.policy")] = str(pol)
    now = datetime(2026, 11, 1, tzinfo=timezone.utc)
    res = run(*words, "--now", now.strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert res.exit_code == 0, res.output
    gate = Gate(Policy(load_policy(str(pol)).program), open_store(store), executors={}, clock=lambda: now)
    small = {"tool": "issue_refund", "args": {"amount": 65}, "tenant": {"id": "acme"}, "agent": {"id": "bot"}}
    assert gate.propose(small).state == "approved"
    assert gate.propose({**small, "args": {"amount": 66}}).state == "drafted"
    gate.store.close()


def test_no_grant_is_recommended_on_too_few_verdicts(tmp_path):
    pol, h, _, _ = grant_history(tmp_path, n=30)
    rep = json.loads(run("recommend", pol, "--history", h, "--format", "json", "--max-risk", "0.1").stdout)
    assert rep["grants"] == []
    assert [c["kind"] for c in rep["considered"]] == ["grant"]
    assert "upper bound" in rep["considered"][0]["reason"]


def test_no_grant_is_recommended_for_a_route_whose_quorum_one_grant_cannot_meet(tmp_path):
    pol, h, _, _ = grant_history(tmp_path, quorum=2)
    rep = json.loads(run("recommend", pol, "--history", h, "--format", "json", "--max-risk", "0.1").stdout)
    assert rep["history"]["human_verdicts"] > 100   # the same verdicts: with quorum 1 a grant is recommended
    assert rep["grants"] == [] and not [c for c in rep["considered"] if c["kind"] == "grant"]
