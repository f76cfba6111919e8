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


def test_a_file_that_does_not_parse_is_not_also_missing_its_name(tmp_path):
    # parse errors found while building the tree (E105, E209) used to add "the policy has no name"
    for body in ('route allow { approvers "a" }\n', 'route r { approvers "a" quorum 1 quorum 1 }\n'):
        p = tmp_path / "p.policy"
        p.write_text('policy "x"\n' + body)
        r = run("check", p, "--action", "-", input='{"tool": "a"}')
        assert r.exit_code == 1 and "E210" not in r.output and "1 error: the policy is not evaluated" in r.output


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


def test_failing_case_shows_the_decision_actually_made(tmp_path):
    (tmp_path / "p.policy").write_text(
        'policy "p"\nroute team { approvers "lead" }\nroute fin { approvers "cfo" }\n'
        'tool pay { risk low }\ncategory low { require approval via team }\n'
        'check big on pay { require args.n < 10 else require approval via fin }\n'
        'advisory check tiny on pay { require args.n > 1 else deny "too small" }\n')
    (tmp_path / "p.test.yaml").write_text(
        "policy: p.policy\ncases:\n  - name: small pay runs\n    action: {tool: pay, args: {n: 1}}\n"
        "    expect: allow\n  - name: fine\n    action: {tool: pay, args: {n: 1}}\n"
        "    expect: require_approval\n")
    r = run("test", tmp_path / "p.test.yaml")
    assert r.exit_code == 1
    lines = r.output.splitlines()
    start = lines.index(f"FAIL  {tmp_path / 'p.test.yaml'} :: small pay runs")
    assert lines[start:start + 8] == [
        f"FAIL  {tmp_path / 'p.test.yaml'} :: small pay runs",
        "      expected outcome `allow`, got `require_approval`",
        "      got:",
        "        outcome:  require_approval",
        "        category: low",
        "        route:    team",
        "        reasons:",
        "          category low (p.policy:5:16): require approval via team",
    ]
    assert lines[start + 8] == "          check tiny (p.policy:7:30, advisory): too small"
    assert lines[-1] == "1 passed, 1 failed"
    # several routes are listed together; a passing case shows no decision
    (tmp_path / "p.test.yaml").write_text(
        "policy: p.policy\ncases:\n  - name: big pay\n    action: {tool: pay, args: {n: 50}}\n"
        "    expect: deny\n")
    r = run("test", tmp_path / "p.test.yaml")
    assert "        routes:   team, fin" in r.output.splitlines()
    assert "route:    team" not in r.output
    assert "          check big (p.policy:6:20): require approval via fin" in r.output.splitlines()


def test_a_case_that_cannot_run_shows_no_decision(tmp_path):
    _write_suite(tmp_path, "{outcom: allow}")
    r = run("test", tmp_path)
    assert r.exit_code == 1 and "unknown key `outcom` in expect" in r.output and "got:" not in r.output


def test_test_file_naming_a_missing_policy_exits_2(tmp_path):
    (tmp_path / "p.test.yaml").write_text("policy: nope.policy\ncases:\n  - {action: {tool: a}, expect: allow}\n")
    r = run("test", tmp_path)
    assert r.exit_code == 2, r.output
    assert f"cannot read policy `{tmp_path / 'nope.policy'}`: no such file or directory" in r.output
    assert "E302" not in r.output and r.output.strip().endswith("0 passed, 1 failed")
    # a policy that reads but has errors stays a failure (exit 1), and so does malformed YAML
    (tmp_path / "nope.policy").write_text('policy "x"\ntool a { risk nope }\n')
    assert run("test", tmp_path).exit_code == 1
    (tmp_path / "p.test.yaml").write_text("policy: nope.policy\ncases: [\n")
    assert run("test", tmp_path).exit_code == 1


def test_unreadable_test_file_exits_2(tmp_path):
    (tmp_path / "p.test.yaml").write_bytes(b"policy: \xff\n")
    r = run("test", tmp_path)
    assert r.exit_code == 2 and "not valid UTF-8" in r.output


def test_every_command_exits_2_for_an_unreadable_policy_and_1_for_one_with_errors(tmp_path):
    """One rule (cli.inputs.load_or_exit): the root policy is input; unreadable → 2, load errors → 1."""
    action = tmp_path / "a.json"
    action.write_text('{"tool": "a"}')
    history = tmp_path / "h.jsonl"
    history.write_text('{"tool": "a"}\n')
    good = tmp_path / "good.policy"
    good.write_text('policy "g"\ntool a { risk low }\ncategory low { allow }\n')
    broken = tmp_path / "broken.policy"
    broken.write_text('policy "x"\ntool a { risk nope }\n')
    latin1 = tmp_path / "latin1.policy"
    latin1.write_bytes('policy "Grüß"\n'.encode("latin-1"))
    missing = tmp_path / "missing.policy"
    commands = {
        "check": lambda p: ["check", p, "--action", action],
        "graph": lambda p: ["graph", p],
        "simulate": lambda p: ["simulate", p, "--history", history],
        "diff old": lambda p: ["diff", p, good],
        "diff new": lambda p: ["diff", good, p],
        "lint": lambda p: ["lint", p],
    }
    for name, args in commands.items():
        for unreadable, reason in ((missing, "no such file or directory"), (latin1, "not valid UTF-8")):
            if name == "lint" and unreadable is missing:
                continue  # lint takes folders too: a missing path is click's usage error (also 2)
            r = run(*args(unreadable))
            assert r.exit_code == 2, (name, unreadable, r.output)
            assert f"error: {unreadable}: {reason}" in r.output, (name, r.output)
            assert "E302" not in r.output
        r = run(*args(broken))
        assert r.exit_code == 1, (name, r.output)
        assert "error[E203]" in r.output
    r = run("lint", missing)
    assert r.exit_code == 2


def test_a_used_file_that_cannot_be_read_is_a_load_error(tmp_path):
    """Only the root policy is input: a file it `use`s is part of the policy (E302, exit 1)."""
    (tmp_path / "lib.policy").write_bytes('const A = "Grüß"\n'.encode("latin-1"))
    root = tmp_path / "root.policy"
    root.write_text('policy "r"\nuse "./lib.policy"\ntool a { risk low }\ncategory low { allow }\n')
    r = run("check", root, "--action", "-", input='{"tool": "a"}')
    assert r.exit_code == 1 and "error[E302]" in r.output


def test_every_option_of_every_command_has_help():
    import click

    def walk(cmd, path):
        if isinstance(cmd, click.Group):
            for name, sub in cmd.commands.items():
                yield from walk(sub, path + [name])
        for p in cmd.params:
            if isinstance(p, click.Option) and not p.hidden:
                yield " ".join(path), p

    found = list(walk(cli, ["signoff"]))
    assert len(found) > 40
    missing = [f"{cmd} {'/'.join(p.opts + p.secondary_opts)}" for cmd, p in found if not (p.help or "").strip()]
    assert missing == []


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


def test_a_report_that_cannot_be_written_is_a_usage_error_naming_the_file(tmp_path):
    """`simulate --out` and `report --out` share one writer: a file that cannot be written is exit 2 with the
    file and the OS's reason, and no report on stdout."""
    ex = Path(__file__).resolve().parent.parent / "examples" / "support-ops"
    out = tmp_path / "no-such-folder" / "r.txt"
    for args in (["simulate", ex / "support.policy", "--history", ex / "history.jsonl", "--out", out],
                 ["report", "--history", ex / "history.jsonl", "--policy", ex / "support.policy", "--out", out]):
        r = run(*args)
        assert r.exit_code == 2, r.output
        assert "error: " in r.output and "r.txt" in r.output and "no such file or directory" in r.output
        assert "Traceback" not in r.output and not out.exists()
    ok = tmp_path / "r.txt"
    r = run("report", "--history", ex / "history.jsonl", "--policy", ex / "support.policy", "--out", ok)
    assert r.exit_code == 0 and ok.read_text().startswith("signoff report") and "report written to" in r.output
