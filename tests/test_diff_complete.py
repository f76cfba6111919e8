"""Issue 12: the complete witness search. On the telecom pair and one pair per construct (tests/diff/),
`--fail-on looser` without history fails with a verified witness; equivalent rewrites are proven and pass;
a stricter-only change passes `--fail-on looser` and fails `--fail-on stricter`; an answer the solver
cannot give exits 3 (unless `--allow-unknown`), also without z3 or past the solver's time limit."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.diff_cmd import diff as diff_cmd
from engine import MemoryLedger, load_policy
from engine.diff.records import classify
from engine.diff.witness.smt import LedgerState, regex_to_z3

HERE = Path(__file__).resolve().parent
PAIRS = HERE / "diff"
ROOT = HERE.parent
LOOSER_PAIRS = ["widened_regex", "widened_in_list", "raised_budget", "removed_check", "category_move",
                "lowered_threshold", "widened_domain_list", "raised_amount_threshold", "lowered_quorum"]
TELECOM = (PAIRS / "telecom" / "v1" / "telecom.policy", PAIRS / "telecom" / "v2" / "telecom.policy")


def run(*args):
    return CliRunner().invoke(diff_cmd, [str(a) for a in args])


def pair(name):
    if name == "telecom":
        return TELECOM
    return PAIRS / name / "old.policy", PAIRS / name / "new.policy"


def decide_both(po, pn, w):
    """Decide a reported witness again, after its history or in its ledger state."""
    if w["history"] is None:
        led_o = led_n = LedgerState.from_list(w["ledger"])
    else:
        led_o, led_n = MemoryLedger(), MemoryLedger()
        for h in w["history"]:
            po.record(h, led_o)
            pn.record(h, led_n)
    return po.decide(w["action"], led_o), pn.decide(w["action"], led_n)


def verified(po, pn, report, kind):
    """Every `kind` witness of the JSON report, each checked to decide as it claims."""
    out = []
    for tool in report["witnesses"]:
        for w in tool["witnesses"]:
            do, dn = decide_both(po, pn, w)
            assert (do.outcome, dn.outcome) == (w["old"]["outcome"], w["new"]["outcome"]), w
            assert w["direction"] in classify(do, dn, po.program, pn.program), w
            if w["direction"] == kind:
                out.append(w)
    return out


@pytest.mark.parametrize("name", LOOSER_PAIRS + ["telecom"])
def test_fail_on_looser_fails_with_a_verified_witness(name):
    old, new = pair(name)
    # a generous solver limit: the test is about what the solver finds, and a loaded CI machine (load
    # average 10+) ran out of the default 10 s on `widened_domain_list`, which then fell back to search
    r = run(old, new, "--fail-on", "looser", "--format", "json", "--solver-timeout", "120")
    assert r.exit_code == 1, r.output
    report = json.loads(r.output)
    po, pn = load_policy(str(old)), load_policy(str(new))
    looser = verified(po, pn, report, "looser")
    assert looser, report["witnesses"]           # not only a structural note: an action that shows it
    assert all(w["method"] == "smt" for w in looser)
    # each structural change that loosens is paired with a witness
    assert any(c.get("witnesses") for c in report["structural"]), report["structural"]


def test_the_telecom_pair_reads_as_a_reviewer_needs():
    old, new = TELECOM
    r = run(old, new, "--fail-on", "looser")
    assert r.exit_code == 1
    out = r.output
    # file lines of the changed lines, not "line 1" of a block
    assert "tool `resume_line` at `telecom.policy:28:3`, line: `risk high` → `risk medium`" in out
    assert "category `low` at `telecom.policy:43:3`" in out and "(threshold 0.9 → 0.7)" in out
    assert "before" not in out                   # never "decided `deny` before, `deny` now"
    assert "- `resume_line`: **looser**: outcome require_approval → allow; category high → medium" in out
    assert "witness: `resume_line looser`" in out
    report = json.loads(run(old, new, "--format", "json").output)
    po, pn = load_policy(str(old)), load_policy(str(new))
    by_tool = {w["tool"]: w for w in report["witnesses"]}
    refuel = [w for w in verified(po, pn, report, "looser") if w["tool"] == "refuel_data"][0]
    # the witnesses pass the `args.customer_id matches "^C[0-9]+$"` checks the old search never got past
    assert refuel["action"]["args"]["customer_id"][0] == "C" and refuel["action"]["args"]["line_id"][0] == "L"
    assert 2 < refuel["action"]["args"]["gb_amount"] <= 5 or refuel["action"]["confidence"] < 0.9
    assert all(by_tool[t]["stricter"] == "proven" for t in by_tool)
    assert by_tool["resume_line"]["covered"]["stricter"].startswith("every action and ledger state")


def test_a_raised_budget_comes_with_its_ledger_state():
    old, new = pair("raised_budget")
    report = json.loads(run(old, new, "--format", "json").output)
    po, pn = load_policy(str(old)), load_policy(str(new))
    w = [w for w in verified(po, pn, report, "looser") if w["tool"] == "refund"][0]
    spent = w["ledger"][0]
    assert spent["check"] == "daily" and 20 <= spent["total"] + 1 <= 50
    assert w["history"] is None or len(w["history"]) == spent["total"]   # a history that produces it, if short
    assert w["changes"][0] == "outcome escalate → " + w["new"]["outcome"]


def test_a_lowered_quorum_is_looser_approval():
    old, new = pair("lowered_quorum")
    report = json.loads(run(old, new, "--format", "json").output)
    route = [c for c in report["structural"] if c["section"] == "route"][0]
    assert route["note"] == "quorum 2 → 1: looser" and route["witnesses"]
    po, pn = load_policy(str(old)), load_policy(str(new))
    w = verified(po, pn, report, "looser")[0]
    assert w["old"]["outcome"] == w["new"]["outcome"] == "require_approval"
    assert "quorum 2 → 1" in w["changes"]


def test_a_category_move_with_the_same_outcome_is_looser():
    old, new = pair("category_move")
    report = json.loads(run(old, new, "--format", "json").output)
    po, pn = load_policy(str(old)), load_policy(str(new))
    w = [w for w in verified(po, pn, report, "looser") if w["tool"] == "export"][0]
    assert (w["old"]["category"], w["new"]["category"]) == ("high", "medium")
    assert w["old"]["outcome"] == w["new"]["outcome"]


def test_equivalent_rewrites_are_proven_and_pass():
    old, new = pair("equivalent")
    report = json.loads(run(old, new, "--format", "json").output)
    assert all(w["status"] == "proven" for w in report["witnesses"]), report["witnesses"]
    assert not report["summary"]["looser"] and not report["summary"]["stricter"]
    assert run(old, new, "--fail-on", "looser").exit_code == 0
    assert run(old, new, "--fail-on", "stricter").exit_code == 0


def test_a_stricter_only_change_passes_looser_and_fails_stricter():
    old, new = pair("stricter_only")
    r = run(old, new, "--fail-on", "looser")
    assert r.exit_code == 0, r.output
    assert "refund`: looser: proven none" in r.output
    assert run(old, new, "--fail-on", "stricter").exit_code == 1
    assert run(new, old, "--fail-on", "looser").exit_code == 1     # and back again it loosens


HOURS = """policy "h"
route r { approvers "x" }
tool t { risk low }
category low { allow }
check office on t { require %s else deny "out of hours" }
"""


def test_unknown_exits_3_unless_allowed(tmp_path):
    old, new = tmp_path / "old.policy", tmp_path / "new.policy"
    old.write_text(HOURS % "hour(timestamp) < 20")
    new.write_text(HOURS % "hour(timestamp) < 20 and hour(timestamp) >= 0")   # the same, as hours go
    # `hour` is over-approximated (any value): the added test can only tighten, so that is proven,
    # but whether it does tighten the solver cannot say: unknown, and a gate on it exits 3
    assert run(old, new, "--fail-on", "looser").exit_code == 0
    r = run(old, new, "--fail-on", "stricter")
    assert r.exit_code == 3, r.output
    assert "- `t`: stricter: **unknown** (stricter: the solver's candidate did not decide as claimed (`hour`))" \
        in r.output
    assert "whether the new policy is stricter is unknown for `t`" in r.output
    assert run(old, new, "--fail-on", "stricter", "--allow-unknown").exit_code == 0
    assert run(new, old, "--fail-on", "looser").exit_code == 3                # back again: looser unknown
    assert run(old, new, "--fail-on", "any").exit_code == 1      # the text changed: that is a change
    summary = json.loads(run(old, new, "--format", "json").output)["summary"]
    assert summary["unknown"] == ["t"] and summary["undecided"] == {"looser": False, "stricter": True}
    # without a witness search nothing rules a loosening out
    same = tmp_path / "same.policy"
    same.write_text(old.read_text())
    assert run(old, same, "--fail-on", "looser", "--no-witness").exit_code == 3
    assert run(old, same, "--fail-on", "looser").exit_code == 0


def test_the_solver_time_limit_is_unknown_never_a_pass(tmp_path):
    # a hostile pair: patterns whose equivalence takes the solver far longer than the limit
    old, new = tmp_path / "old.policy", tmp_path / "new.policy"
    pat_a = "^(a|b)*a(a|b){24}$"
    pat_b = "^(a|b)*a(a|b){23}(a|b)$"
    body = HOURS.replace("check office on t { require %s else deny \"out of hours\" }",
                         "check p on t { require args.x matches \"%s\" else deny \"p\" }")
    old.write_text(body % pat_a)
    new.write_text(body % pat_b + "check q on t { require args.y matches \"^(a|b)*b(a|b){22}$\" or args.y missing"
                   " else deny \"q\" }\n")
    r = run(old, new, "--fail-on", "looser", "--solver-timeout", "0.05", "--format", "json")
    report = json.loads(r.output)
    t = {w["tool"]: w for w in report["witnesses"]}["t"]
    if t["looser"] == "unknown":
        assert r.exit_code == 3 and any("time limit (0.05 s)" in y for y in t["why"]), t
    else:   # the solver was fast enough after all: then its answer is a real one
        assert t["looser"] in ("proven", "witness") and r.exit_code in (0, 1)


def test_without_z3_every_direction_is_unknown():
    old, new = pair("equivalent")
    code = ("import sys; sys.modules['z3'] = None; sys.argv = ['signoff', 'diff', %r, %r, '--fail-on', "
            "'looser']; from cli.main import main; main()" % (str(old), str(new)))
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(ROOT),
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert p.returncode == 3, p.stdout + p.stderr
    assert "the z3-solver package is not installed" in p.stdout


@pytest.mark.parametrize("pattern,yes,no", [
    ("^C[0-9]+$", ["C1", "C0042"], ["C", "c1", "C1x", "xC1"]),
    ("INV-\\d{2,3}", ["INV-12", "x INV-123 y"], ["INV-1", "INV-ab"]),
    ("^(INV|CRN)-[^x]$", ["INV-a", "CRN-y"], ["INV-x", "ABC-a"]),
    ("^a.b$", ["acb"], ["a\nb", "ab"]),
    ("^\\w+@\\w+\\.example$", ["eve@evil.example"], ["eve@evil.example.com", "@x.example"]),
])
def test_patterns_translate_with_re2_meaning(pattern, yes, no):
    import z3
    r = regex_to_z3(pattern)
    for s in yes:
        assert z3.is_true(z3.simplify(z3.InRe(z3.StringVal(s), r))), s
    for s in no:
        assert z3.is_false(z3.simplify(z3.InRe(z3.StringVal(s), r))), s
