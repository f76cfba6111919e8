"""`signoff import-tools`: from an MCP server (the test upstream, over stdio) and from an OpenAI tools file,
the policy written loads, lints clean even strict, is formatted, and decides by the annotations' risk."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import cli
from engine import MemoryLedger, load_policy
from policy_lang import format_source

ROOT = Path(__file__).resolve().parent.parent
UPSTREAM = ROOT / "tests" / "data" / "mcp_upstream.py"


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], prog_name="signoff")


def decide(policy, tool, args=None):
    return policy.decide({"tool": tool, "args": args or {}, "agent": {"id": "bot"}}, MemoryLedger()).outcome


def lints_clean(path):
    r = run("lint", "--strict", path)
    assert r.exit_code == 0 and r.output.strip() == "1 file checked: no problems", r.output


def test_from_mcp_writes_tool_blocks_schemas_and_risk_from_annotations(tmp_path):
    pytest.importorskip("mcp", reason="the mcp extra (signoff[mcp]) is not installed")
    out = tmp_path / "shop"
    r = subprocess.run([sys.executable, "-m", "cli", "import-tools", "--from", "mcp", "--dir", str(out),
                        "--name", "shop", "--", sys.executable, str(UPSTREAM)],
                       capture_output=True, text=True, cwd=str(ROOT), env=dict(os.environ, PYTHONPATH=str(ROOT)),
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert "wrote " + (out / "shop.policy").as_posix() in r.stdout
    text = (out / "shop.policy").read_text()
    assert format_source(text) == text                       # printed by the project's formatter
    lints_clean(out / "shop.policy")
    assert json.loads((out / "schemas" / "lookup_order.json").read_text()) == {
        "type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}
    assert "tool lookup_order {\n  schema \"schemas/lookup_order.json\"\n  risk low\n}" in text
    assert "tool delete_repo {\n  schema \"schemas/delete_repo.json\"\n  risk high\n}" in text
    assert "tool issue_refund {\n  schema \"schemas/issue_refund.json\"\n  risk medium\n}" in text
    assert "# Delete a repository. This cannot be undone." in text   # the description, on one line
    policy = load_policy(str(out / "shop.policy"))
    assert decide(policy, "lookup_order", {"order_id": "A1"}) == "allow"            # read-only: low
    assert decide(policy, "issue_refund", {"amount": 5}) == "require_approval"      # no hints: medium
    assert decide(policy, "delete_repo", {"name": "x"}) == "require_approval"       # destructive: high
    assert decide(policy, "lookup_order", {"order_id": 5}) == "deny"               # the upstream's schema
    assert decide(policy, "not_imported") == "deny"


OPENAI = [
    {"type": "function", "function": {"name": "get_weather", "description": "Weather for a city.",
                                      "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                     "required": ["city"], "additionalProperties": False}}},
    {"type": "function", "name": "crm.update-contact", "description": "Responses API shape.",
     "parameters": {"type": "object", "properties": {"id": {"type": "string"}}}},
    {"type": "function", "function": {"name": "deny", "parameters": {"$ref": "https://example.com/s.json"}}},
    {"type": "function", "function": {"name": "no_params"}},
]


def test_from_openai_writes_a_policy_that_loads_and_lints_clean(tmp_path):
    src = tmp_path / "tools.json"
    src.write_text(json.dumps(OPENAI))
    r = run("import-tools", "--from", "openai", "--dir", tmp_path / "out", src)
    assert r.exit_code == 0, r.output
    # a schema the policy could not load (a remote $ref) is replaced, and the note says so
    assert "the schema of `deny` was replaced by a plain object schema" in r.output
    text = (tmp_path / "out" / "tools.policy").read_text()
    assert format_source(text) == text
    lints_clean(tmp_path / "out" / "tools.policy")
    assert 'tool "crm.update-contact" {' in text and 'tool "deny" {' in text   # not plain names: quoted
    assert json.loads((tmp_path / "out" / "schemas" / "deny.json").read_text()) == {"type": "object"}
    assert json.loads((tmp_path / "out" / "schemas" / "no_params.json").read_text()) == {"type": "object"}
    policy = load_policy(str(tmp_path / "out" / "tools.policy"))
    # no annotations in OpenAI definitions: every tool starts at medium and waits for a person
    assert decide(policy, "get_weather", {"city": "Oslo"}) == "require_approval"
    assert decide(policy, "get_weather", {"city": "Oslo", "extra": 1}) == "deny"     # the schema holds
    assert decide(policy, "crm.update-contact", {"id": "c1"}) == "require_approval"


def test_an_object_with_a_tools_list_is_read_too(tmp_path):
    src = tmp_path / "tools.json"
    src.write_text(json.dumps({"tools": OPENAI[:1]}))
    r = run("import-tools", "--from", "openai", "--dir", tmp_path, "--name", "weather", src)
    assert r.exit_code == 0, r.output
    assert "tool get_weather {" in (tmp_path / "weather.policy").read_text()


@pytest.mark.parametrize("content, message", [
    ("{not json", "not json"),
    ('[{"type": "function", "function": {"name": "a", "parameters": {"maximum": NaN}}}]', "`nan` is not a json value"),
    ('{"tools": 3}', "expected a json list of tool definitions"),
    ('[{"type": "web_search"}]', "only function tools import"),
    ('[{"type": "function", "function": {"description": "no name"}}]', "has no `name`"),
    ('[{"type": "function", "function": {"name": "a"}}, {"type": "function", "function": {"name": "a"}}]',
     "defined twice"),
    ('[{"type": "function", "function": {"name": "bad\\nname"}}]', "cannot be a tool name"),
    ('[]', "no tools to import"),
])
def test_bad_definitions_write_nothing(tmp_path, content, message):
    src = tmp_path / "tools.json"
    src.write_text(content)
    r = run("import-tools", "--from", "openai", "--dir", tmp_path / "out", src)
    assert r.exit_code == 2 and message in r.output.lower(), r.output
    assert r.output.startswith("error: ") and "Traceback" not in r.output
    assert not (tmp_path / "out").exists()


def test_existing_files_are_never_overwritten(tmp_path):
    src = tmp_path / "tools.json"
    src.write_text(json.dumps(OPENAI[:1]))
    (tmp_path / "tools.policy").write_text("# mine\n")
    r = run("import-tools", "--from", "openai", "--dir", tmp_path, src)
    assert r.exit_code == 2 and "already exists" in r.output and "nothing was written" in r.output
    assert (tmp_path / "tools.policy").read_text() == "# mine\n"
    assert not (tmp_path / "schemas").exists()


def test_an_mcp_server_that_does_not_start_is_a_clear_error(tmp_path):
    pytest.importorskip("mcp", reason="the mcp extra (signoff[mcp]) is not installed")
    r = subprocess.run([sys.executable, "-m", "cli", "import-tools", "--from", "mcp", "--dir", str(tmp_path),
                        "--", sys.executable, str(UPSTREAM), "--fail-start"],
                       capture_output=True, text=True, cwd=str(ROOT), env=dict(os.environ, PYTHONPATH=str(ROOT)),
                       timeout=300)
    assert r.returncode == 2 and r.stderr.startswith("error: ") and "did not start" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    assert list(tmp_path.iterdir()) == []
