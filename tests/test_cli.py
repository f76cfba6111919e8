"""The `signoff check` and `signoff test` commands, as users run them."""
import json
from pathlib import Path

from click.testing import CliRunner

from cli.main import cli

ROOT = Path(__file__).resolve().parent.parent
EX = ROOT / "examples" / "support-ops"


def run(*args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input)


def test_check_text_output_names_rule_and_position():
    r = run("check", EX / "support.policy", "--action", EX / "refund.json")
    assert r.exit_code == 0, r.output
    assert "outcome:  require_approval" in r.output
    assert "support.policy:49:3  category high → require_approval" in r.output
    assert "route:    finance_review (finance_manager, cfo; quorum 2, timeout 8h then escalate to finance_oncall)" in r.output


def test_check_json_is_the_spec_decision():
    r = run("check", EX / "support.policy", "--action", EX / "refund.json", "--format", "json")
    d = json.loads(r.output)
    assert set(d) == {"action_id", "outcome", "category", "route", "routes", "escalate_to", "ask", "reasons",
                      "mode", "policy"}
    assert d["action_id"] == "act-000124" and d["routes"] == ["finance_review"]
    assert d["policy"]["name"] == "support-ops" and d["policy"]["digest"].startswith("sha256:")


def test_check_with_history_applies_budgets():
    r = run("check", EX / "support.policy", "--action", EX / "refund.json", "--history", EX / "history.jsonl",
            "--format", "json")
    d = json.loads(r.output)
    # 900 + 880 earlier that day, + 250 now > 2000
    assert d["outcome"] == "escalate" and d["escalate_to"] == "finance_oncall"
    assert "check refund_budget" in [x["rule"] for x in d["reasons"]]


def test_check_explain_shows_each_sub_condition():
    r = run("check", EX / "support.policy", "--action", EX / "refund.json", "--explain")
    assert "risk medium: false" in r.output
    assert "args.amount <= 100  →  false" in r.output
    assert "tenant.plan in [\"business\", \"enterprise\"]  →  true" in r.output
    assert "total 1 <= 20  →  true" in r.output


def test_check_reads_stdin():
    r = run("check", EX / "support.policy", "--action", "-", "--format", "json",
            input='{"tool": "lookup_order", "confidence": 0.9}')
    assert json.loads(r.output)["outcome"] == "allow"


def test_malformed_action_json_exits_2_with_position():
    r = run("check", EX / "support.policy", "--action", "-", input='{"tool": "lookup_order",\n  "args": }')
    assert r.exit_code == 2
    assert "<stdin>:2:11: invalid JSON" in r.output


def test_duplicate_keys_in_action_are_denied_not_crashed():
    r = run("check", EX / "support.policy", "--action", "-", "--format", "json",
            input='{"tool": "lookup_order", "tool": "delete_record"}')
    assert r.exit_code == 0
    d = json.loads(r.output)
    assert d["outcome"] == "deny" and "duplicate key `tool`" in d["reasons"][0]["message"]


def test_malformed_history_line_names_file_and_line(tmp_path):
    h = tmp_path / "h.jsonl"
    h.write_text('{"tool": "issue_refund"}\n{oops\n')
    r = run("check", EX / "support.policy", "--action", EX / "refund.json", "--history", h)
    assert r.exit_code == 2 and f"{h}:2:2" in r.output


def test_policy_with_errors_is_never_evaluated(tmp_path):
    p = tmp_path / "bad.policy"
    p.write_text('policy "x"\ntool a { risk high }\n')
    r = run("check", p, "--action", "-", input='{"tool": "a"}')
    assert r.exit_code == 1
    assert "bad.policy:2:10: error[E204]" in r.output and "outcome" not in r.output


def test_missing_action_file_is_a_usage_error():
    r = run("check", EX / "support.policy", "--action", "/nonexistent.json")
    assert r.exit_code == 2 and "no such file" in r.output


def test_test_command_passes_on_example_and_prints_summary():
    r = run("test", EX)
    assert r.exit_code == 0, r.output
    assert r.output.strip().splitlines()[-1] == "11 passed, 0 failed"


def _write_suite(tmp_path, expect):
    (tmp_path / "p.policy").write_text('policy "p"\ntool a { risk low }\ncategory low { allow }\n'
                                       'tool b { risk low when args.x > 1; risk high }\ncategory high { deny }\n')
    (tmp_path / "p.test.yaml").write_text(
        "policy: p.policy\ncases:\n  - name: a runs\n    action: {tool: a}\n    expect: " + expect + "\n")


def test_failing_case_shows_expected_and_got_and_exits_1(tmp_path):
    _write_suite(tmp_path, "{outcome: deny, category: high}")
    r = run("test", tmp_path)
    assert r.exit_code == 1
    assert "expected outcome `deny`, got `allow`; expected category `high`, got `low`" in r.output
    assert r.output.strip().endswith("0 passed, 1 failed")


def test_test_json_format(tmp_path):
    _write_suite(tmp_path, "allow")
    r = run("test", tmp_path, "--format", "json")
    out = json.loads(r.output)
    assert out["passed"] == 1 and out["failed"] == 0
    assert out["files"][0]["cases"][0]["got"]["outcome"] == "allow"


def test_coverage_lists_rules_no_case_fired(tmp_path):
    _write_suite(tmp_path, "allow")
    r = run("test", tmp_path, "--coverage", "--format", "json")
    cov = json.loads(r.output)["coverage"]
    not_fired = sorted(u["at"] for u in cov["uncovered"])
    # tool b's two risk lines and category high never fired; tool a's risk line and category low did
    assert not_fired == ["p.policy:4:10", "p.policy:4:36", "p.policy:5:17"]
    assert cov["rules"] == 5 and cov["fired"] == 2


def test_unknown_expect_keys_and_bad_yaml_are_reported(tmp_path):
    _write_suite(tmp_path, "{outcom: allow}")
    r = run("test", tmp_path)
    assert r.exit_code == 1 and "unknown key `outcom` in expect" in r.output
    (tmp_path / "p.test.yaml").write_text("policy: p.policy\ncases:\n  - name: x\n    name: y\n")
    r = run("test", tmp_path)
    assert r.exit_code == 1 and "p.test.yaml:4:5: invalid YAML: duplicate key `name`" in r.output


def test_case_history_and_default_timestamps(tmp_path):
    (tmp_path / "p.policy").write_text(
        'policy "p"\ntool pay { risk low }\ncategory low { allow }\n'
        'check cap on pay { budget sum(args.n) per tenant per 1h <= 10 else deny "cap" }\n')
    (tmp_path / "p.test.yaml").write_text("""policy: p.policy
cases:
  - name: history inside the window counts (action takes the latest history time)
    history:
      - {tool: pay, args: {n: 6}, tenant: {id: t}, timestamp: 2026-01-01T10:00:00Z}
    action: {tool: pay, args: {n: 5}, tenant: {id: t}}
    expect: {outcome: deny, reasons: [check cap]}
  - name: cases never share state
    action: {tool: pay, args: {n: 5}, tenant: {id: t}}
    expect: allow
  - name: an hour later the window has moved on
    history:
      - {tool: pay, args: {n: 6}, tenant: {id: t}, timestamp: 2026-01-01T10:00:00Z}
    action: {tool: pay, args: {n: 5}, tenant: {id: t}, timestamp: 2026-01-01T11:00:00Z}
    expect: allow
""")
    r = run("test", tmp_path)
    assert r.exit_code == 0, r.output


def test_expect_load_error_extension(tmp_path):
    (tmp_path / "p.policy").write_text('policy "p"\ntool a { risk low }\n')
    (tmp_path / "p.test.yaml").write_text("policy: p.policy\nexpect_load_error: E204\n")
    assert run("test", tmp_path).exit_code == 0
    (tmp_path / "p.test.yaml").write_text("policy: p.policy\nexpect_load_error: E202\n")
    assert run("test", tmp_path).exit_code == 1
