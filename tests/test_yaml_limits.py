"""Test files: YAML anchors and aliases refused, a size cap, errors naming file and line (finding 9)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.inputs import MAX_YAML_BYTES, InputError, RefusedInput, parse_yaml
from cli.main import cli

ROOT = Path(__file__).resolve().parent.parent
POLICY = 'policy "p"\ntool t { risk high }\ncategory high { allow }\n'


def billion_laughs(levels: int = 9) -> str:
    """The classic: each level is nine aliases of the one before; level 9 names 9**9 strings."""
    lines = ["policy: p.policy", 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    prev = "a"
    for name in "bcdefghijklmnop"[:levels - 1]:
        lines.append(f"{name}: &{name} [" + ",".join(f"*{prev}" for _ in range(9)) + "]")
        prev = name
    lines.append(f"cases: [{{name: boom, action: {{tool: t, args: {{x: *{prev}}}}}, expect: allow}}]")
    return "\n".join(lines) + "\n"


def test_billion_laughs_fails_fast_in_small_memory(tmp_path):
    """On the unfixed code this reached 4.6 GB: here in a child capped at 512 MiB and 60 s."""
    (tmp_path / "p.policy").write_text(POLICY)
    (tmp_path / "laughs.test.yaml").write_text(billion_laughs(9))
    code = ("import resource, sys\n"
            "resource.setrlimit(resource.RLIMIT_AS, (512 << 20, 512 << 20))\n"
            "from cli.main import cli\n"
            "cli(['test', sys.argv[1]])\n")
    try:
        r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "laughs.test.yaml")], cwd=ROOT,
                           capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("the billion laughs test file is still expanding after 60 s")
    out = r.stdout + r.stderr
    assert r.returncode == 2, out[-2000:]
    assert "laughs.test.yaml:2:4: invalid YAML: an anchor (`&a`): anchors and aliases are not allowed" in out
    assert "Traceback" not in out and "MemoryError" not in out


def test_an_alias_alone_is_refused_with_its_line_and_column():
    text = "policy: p.policy\ncases:\n  - name: x\n    action: {tool: t}\n    expect: *e\n"
    with pytest.raises(RefusedInput) as info:
        parse_yaml(text, "t.test.yaml")
    assert info.value.where == "t.test.yaml:5:13"
    assert "an alias (`*e`)" in info.value.message


def test_merge_keys_need_aliases_so_they_are_refused_too():
    with pytest.raises(InputError):
        parse_yaml("base: &b {tool: t}\nother:\n  <<: *b\n", "t.test.yaml")


def test_plain_yaml_still_loads():
    assert parse_yaml("policy: p.policy\ncases: [{name: a, action: {tool: t}, expect: allow}]\n", "t") == {
        "policy": "p.policy", "cases": [{"name": "a", "action": {"tool": "t"}, "expect": "allow"}]}
    # `&` and `*` inside strings are text, not YAML syntax
    assert parse_yaml('a: "&x *y"\nb: a&b*c\n', "t") == {"a": "&x *y", "b": "a&b*c"}


def test_a_test_file_over_the_cap_is_unreadable(tmp_path):
    (tmp_path / "p.policy").write_text(POLICY)
    big = tmp_path / "big.test.yaml"
    with open(big, "wb") as fh:
        fh.write(b"policy: p.policy\n# ")
        fh.truncate(MAX_YAML_BYTES + 1)     # a comment of NUL bytes, past the cap (sparse on disk)
    r = CliRunner().invoke(cli, ["test", str(big)])
    assert r.exit_code == 2, r.output
    assert f"{big}: larger than 16 MiB" in r.output


def test_a_fifo_test_file_is_not_waited_on(tmp_path):
    os.mkfifo(tmp_path / "fifo.test.yaml")
    try:
        r = subprocess.run([sys.executable, "-m", "cli", "test", str(tmp_path / "fifo.test.yaml")], cwd=ROOT,
                           capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("reading a FIFO test file hangs")
    assert r.returncode == 2 and "not a regular file" in r.stdout + r.stderr


def test_deep_nesting_is_an_input_error_not_a_traceback():
    with pytest.raises(InputError) as info:
        parse_yaml("a: " + "[" * 5000 + "]" * 5000 + "\n", "deep.test.yaml")
    assert "deep.test.yaml" in info.value.where


# ---------------------------------------------------------------- fuzz (bounded)

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_YAML_BITS = st.sampled_from(["a", ": ", "- ", "\n", "  ", "&x ", "*x", "<<: ", "[", "]", "{", "}", ",", '"',
                              "'", "!!str ", "!!python/object ", "?", "#", "|", ">", "1", "null", "\t", "%YAML 1.1\n",
                              "---\n", "...\n", "\\u0000", "\x85", "\ufeff"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(_YAML_BITS, st.text(max_size=4)), max_size=40).map("".join))
def test_any_text_is_yaml_or_an_input_error(text):
    """Whatever a test file holds, the loader returns data or an InputError naming the file; an
    anchor or alias never gets through."""
    try:
        value = parse_yaml(text, "f.test.yaml")
    except InputError as e:
        assert e.where.startswith("f.test.yaml")
        return
    # only the safe constructors ran: plain data, nothing built from a tag like `!!python/object`
    safe = (dict, list, set, str, bytes, int, float, bool, type(None))
    assert isinstance(value, safe) or value.__class__.__module__ == "datetime"
