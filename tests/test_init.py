"""`signoff init`: the scaffold loads, lints clean, passes its own tests and is formatted; it never
overwrites a file; `signoff completion` prints click's completion script, which completes commands."""
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import cli

TOOLS = ["send_email", "issue_refund", "gmail.users.messages.send", "tool", "Überweisung"]


def run(*args, **kw):
    return CliRunner().invoke(cli, [str(a) for a in args], prog_name="signoff", **kw)


@pytest.fixture()
def made(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = run("init", *TOOLS, "--dir", "shop")
    assert r.exit_code == 0, r.output
    return tmp_path / "shop"


def test_the_scaffold_names_its_files(made):
    assert sorted(str(p.relative_to(made)) for p in made.rglob("*") if p.is_file()) == sorted(
        ["shop.policy", "shop.test.yaml", "schemas/send_email.json", "schemas/issue_refund.json",
         "schemas/gmail.users.messages.send.json", "schemas/tool.json", "schemas/_berweisung.json"])
    assert json.loads((made / "schemas" / "send_email.json").read_text())["type"] == "object"


def test_the_scaffold_lints_clean_even_strict(made):
    r = run("lint", "--strict", made / "shop.policy")
    assert r.exit_code == 0 and r.output.strip() == "1 file checked: no problems", r.output


def test_the_scaffold_passes_its_tests(made):
    r = run("test", made / "shop.test.yaml", "-v")
    assert r.exit_code == 0, r.output
    assert r.output.strip().endswith(f"{len(TOOLS) + 1} passed, 0 failed")


def test_the_scaffold_is_formatted(made):
    assert run("fmt", "--check", made).exit_code == 0


@pytest.mark.parametrize("tool", TOOLS)
def test_every_tool_waits_for_a_human_and_others_are_denied(made, tool):
    action = made / "a.json"
    action.write_text(json.dumps({"tool": tool, "args": {}}))
    r = run("check", made / "shop.policy", "--action", action, "--format", "json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert (d["outcome"], d["category"], d["route"]["name"]) == ("require_approval", "high", "review")
    action.write_text(json.dumps({"tool": tool + "_other", "args": {}}))
    assert json.loads(run("check", made / "shop.policy", "--action", action, "--format", "json").output)[
        "outcome"] == "deny"


def test_it_never_overwrites_and_writes_nothing_then(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "schemas").mkdir()
    mine = tmp_path / "schemas" / "b.json"
    mine.write_text("mine")
    r = run("init", "a", "b", "--name", "p")
    assert r.exit_code == 2
    assert "`schemas/b.json` already exists: nothing was written" in r.output
    assert mine.read_text() == "mine"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["b.json", "schemas"]


def test_the_name_comes_from_the_folder_or_is_policy(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run("init", "a", "--dir", "billing-agent").exit_code == 0
    assert (tmp_path / "billing-agent" / "billing-agent.policy").read_text().count('policy "billing-agent"') == 1
    assert run("init", "a", "--dir", "two words").exit_code == 0
    assert (tmp_path / "two words" / "policy.policy").is_file()


@pytest.mark.parametrize("args, message", [
    (["a", "a"], "tool `a` is named twice"),
    (["bad\x1bname"], "`bad\\x1bname` cannot be a tool name"),
    ([" padded"], "cannot be a tool name"),
    (["a", "--name", "../up"], "`../up` cannot name a policy file"),
])
def test_names_it_cannot_use_are_usage_errors(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    r = run("init", *args)
    assert r.exit_code == 2 and message in r.output, r.output
    assert list(tmp_path.iterdir()) == []


def test_completion_prints_clicks_script_for_each_shell(monkeypatch):
    r = run("completion", "bash")
    assert r.exit_code == 0 and "_SIGNOFF_COMPLETE=bash_complete" in r.output
    same = run(env={"_SIGNOFF_COMPLETE": "bash_source"})
    assert same.output.strip() == r.output.strip()
    for shell in ("zsh", "fish"):
        assert run("completion", shell).exit_code == 0
    assert run("completion", "tcsh").exit_code == 2


def test_the_completion_completes_commands_and_options():
    r = run(env={"_SIGNOFF_COMPLETE": "bash_complete", "COMP_WORDS": "signoff in", "COMP_CWORD": "1"})
    assert r.output.split() == ["plain,init"]
    r = run(env={"_SIGNOFF_COMPLETE": "bash_complete", "COMP_WORDS": "signoff lint --for", "COMP_CWORD": "2"})
    assert r.output.split() == ["plain,--format"]


def test_the_policy_shown_in_cli_md_is_what_init_writes():
    from policy_lang import scaffold
    text = (Path(__file__).resolve().parent.parent / "docs" / "cli.md").read_text(encoding="utf-8")
    shown = text.split("```policy file=shop/shop.policy\n", 1)[1].split("```", 1)[0]
    assert shown == scaffold(["send_email", "issue_refund"], "shop").files["shop.policy"]
