"""Files a policy names are read only if they are policy (or schema) files, bounded; no error quotes
anything else (findings 7 and 15 of issue 10)."""
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import cli
from policy_lang import PolicyError
from policy_lang.checker import load

ROOT = Path(__file__).resolve().parent.parent
SECRET = "hunter2-do-not-print"


@pytest.fixture
def secret_env(monkeypatch):
    """A secret in this process's environment, where /proc/self/environ shows it."""
    monkeypatch.setenv("SIGNOFF_TEST_SECRET", SECRET)
    # /proc/self/environ is the environment the process started with: put it first in a child
    return {**os.environ, "SIGNOFF_TEST_SECRET": SECRET}


def _cli(args, cwd: Path, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli", *args], cwd=cwd, env={
        **(env or os.environ), "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "github"])
def test_use_of_proc_environ_is_refused_and_never_quoted(tmp_path, secret_env, fmt):
    (tmp_path / "p.policy").write_text('policy "p"\nuse "/proc/self/environ"\n')
    r = _cli(["lint", "p.policy", "--format", fmt], tmp_path, secret_env)
    assert r.returncode == 1, r.stderr
    out = r.stdout + r.stderr
    assert "E303" in out
    assert SECRET not in out and "SIGNOFF_TEST_SECRET" not in out and "PATH=" not in out


def test_a_policy_named_link_to_a_secret_is_refused(tmp_path, secret_env):
    (tmp_path / "env.policy").symlink_to("/proc/self/environ")
    (tmp_path / "p.policy").write_text('policy "p"\nuse "./env.policy"\n')
    r = _cli(["lint", "p.policy"], tmp_path, secret_env)
    out = r.stdout + r.stderr
    assert r.returncode == 1 and "E303" in out and "is a link" in out
    assert SECRET not in out and "PATH=" not in out


def test_a_test_file_cannot_name_a_non_policy_as_its_policy(tmp_path, secret_env):
    (tmp_path / "t.test.yaml").write_text("policy: /proc/self/environ\ncases: []\n")
    r = _cli(["test", "t.test.yaml"], tmp_path, secret_env)
    out = r.stdout + r.stderr
    assert r.returncode == 2, out
    assert "not a `.policy` file" in out
    assert SECRET not in out and "PATH=" not in out


def test_use_of_other_files_is_e303_without_reading_them(tmp_path):
    (tmp_path / "notes.txt").write_text("policy syntax error here ~~~")
    (tmp_path / "p.policy").write_text('policy "p"\nuse "./notes.txt"\nuse "/etc/passwd"\n')
    with pytest.raises(PolicyError) as info:
        load(str(tmp_path / "p.policy"))
    assert info.value.codes == ["E303", "E303"]
    assert "~~~" not in str(info.value) and "root:" not in str(info.value)


def test_used_fifo_device_and_huge_policy_files_are_unreadable(tmp_path):
    """On the unfixed code a FIFO hung and /dev/zero exhausted memory: run in a bounded child."""
    os.mkfifo(tmp_path / "fifo.policy")
    (tmp_path / "zero.policy").symlink_to("/dev/zero")     # refused by its real name, unread
    with open(tmp_path / "big.policy", "wb") as fh:
        fh.truncate(11 << 20)
    (tmp_path / "p.policy").write_text('policy "p"\nuse "./fifo.policy"\nuse "./zero.policy"\nuse "./big.policy"\n')
    code = ("import resource, sys\n"
            "resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n"
            "from policy_lang import PolicyError\nfrom policy_lang.checker import load\n"
            "try:\n    load(sys.argv[1])\nexcept PolicyError as e:\n    print(e)\n")
    try:
        r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "p.policy")], cwd=ROOT,
                           capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("loading a policy that uses a FIFO hangs")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "error[E302]: cannot read `fifo.policy`: not a regular file" in r.stdout
    assert "error[E303]: `use` takes a policy file: `./zero.policy` is a link" in r.stdout
    assert "error[E302]: cannot read `big.policy`: larger than 10 MiB" in r.stdout


@pytest.mark.parametrize("target", ["fifo", "big", "zero"])
def test_a_root_policy_that_is_no_regular_file_is_unreadable_input(tmp_path, target):
    if target == "fifo":
        os.mkfifo(tmp_path / "p.policy")
    elif target == "big":
        with open(tmp_path / "p.policy", "wb") as fh:
            fh.truncate(11 << 20)
    else:
        (tmp_path / "p.policy").symlink_to("/dev/zero")
    (tmp_path / "a.json").write_text('{"tool": "t"}')
    env = dict(os.environ)
    try:
        r = subprocess.run([sys.executable, "-c",
                            "import resource, sys\n"
                            "resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n"
                            "from cli.main import cli\n"
                            "cli(['check', sys.argv[1], '--action', sys.argv[2]])\n",
                            str(tmp_path / "p.policy"), str(tmp_path / "a.json")],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("reading the policy hangs")
    assert r.returncode == 2, r.stderr[-2000:]
    want = {"fifo": "not a regular file", "big": "larger than 10 MiB", "zero": "a link to a file not named"}[target]
    assert want in r.stderr and "Traceback" not in r.stderr


def test_lint_snippets_come_only_from_policy_files(tmp_path):
    """The text renderer re-reads files for snippets: only `*.policy` ones, with a bounded read."""
    from cli.lint_cmd import _sources
    from policy_lang.errors import Diagnostic
    from policy_lang.ast import Span
    (tmp_path / "x.txt").write_text("secret line\n")
    (tmp_path / "ok.policy").write_text("policy line\n")
    os.mkfifo(tmp_path / "f.policy")
    diags = [Diagnostic("E100", "m", Span(str(tmp_path / n), 1, 1, 1, 2)) for n in ("x.txt", "ok.policy", "f.policy")]
    got = {}
    t = threading.Thread(target=lambda: got.update(_sources(diags)), daemon=True)   # a FIFO hung it
    t.start()
    t.join(10)
    assert not t.is_alive(), "reading a FIFO for a snippet hangs"
    assert got[str(tmp_path / "x.txt")] is None and got[str(tmp_path / "f.policy")] is None
    assert got[str(tmp_path / "ok.policy")] == "policy line\n"


def test_lint_and_check_agree_with_cli_runner(tmp_path):
    """In-process too (CliRunner): the refusal does not depend on how the CLI is started."""
    (tmp_path / "p.policy").write_text('policy "p"\nuse "/proc/self/environ"\n')
    r = CliRunner().invoke(cli, ["lint", str(tmp_path / "p.policy")])
    assert r.exit_code == 1 and "E303" in r.output and "PATH=" not in r.output


@pytest.mark.parametrize("command", [["lint", "."], ["fmt", "--check", "."], ["fmt", "--diff", "."]])
def test_folder_commands_do_not_follow_policy_named_links_to_secrets(tmp_path, secret_env, command):
    """`signoff lint .` in CI over a pull request holding `env.policy -> /proc/self/environ`."""
    (tmp_path / "env.policy").symlink_to("/proc/self/environ")
    (tmp_path / "ok.policy").write_text('policy "ok"\n')
    r = _cli(command, tmp_path, secret_env)
    out = r.stdout + r.stderr
    assert r.returncode == 2, out
    assert "a link to a file not named `*.policy`" in out
    assert SECRET not in out and "PATH=" not in out
