"""README's two commands stay true: a virtual environment first, the main job installs only the `sim`
extra, and the test command is the one `.ci/run` runs."""
import re
import ast
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def sh_blocks():
    return re.findall(r"^```sh\n(.*?)^```", README, re.M | re.S)


def extra(name):
    """An extra's requirements, read from pyproject.toml's one-line list (tomllib is Python 3.11+)."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    m = re.search(rf"^{name} = (\[.*\])$", text, re.M)
    assert m, name
    return ast.literal_eval(m.group(1))


def test_a_virtual_environment_comes_first():
    blocks = sh_blocks()
    assert blocks[0].strip() == "python3 -m venv .venv && . .venv/bin/activate"


def test_the_main_job_installs_only_what_simulating_needs():
    main = sh_blocks()[1].strip()
    m = re.fullmatch(r"pip install -e '\.\[(\w+)\]' && signoff simulate (\S+) --history (\S+)", main)
    assert m, main
    name, policy, history = m.groups()
    assert name == "sim"
    names = {re.split(r"[<>=\[ ]", d)[0] for d in extra(name)}
    assert names == {"orjson", "pyarrow", "numpy", "rich", "jsonschema-rs"}   # no test tooling (playwright, pytest)
    assert (ROOT / policy).is_file() and (ROOT / history).is_file()


def test_the_test_command_is_what_ci_runs():
    test = sh_blocks()[2].strip()
    assert "pip install -e '.[dev]'" in test and "python -m pytest" in test
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert test in ci, "README's test command and .ci/run disagree"


def test_install_browser_says_what_it_does():
    r = subprocess.run(["sh", str(ROOT / "tests" / "install-browser.sh")], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stderr.startswith("install-browser: chromium is already installed (")


def test_the_wheel_ships_every_package():
    """pyproject lists the packages by name (no discovery, so nothing stray is shipped): a package added under
    the four top-level ones must be listed too, or an installed signoff cannot import it."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    listed = set(ast.literal_eval(re.search(r"^packages = (\[.*\])$", text, re.M).group(1)))
    found = {p.parent.relative_to(ROOT).as_posix().replace("/", ".")
             for top in ("policy_lang", "engine", "stdlib_policies", "cli") for p in (ROOT / top).rglob("__init__.py")}
    assert found == listed


def test_an_installed_signoff_imports_and_runs(tmp_path):
    """Built and installed as a user installs it (no editable path, no source tree on sys.path), the package
    imports and its command runs: what a missing package or package-data entry breaks."""
    import os
    import sys
    wheel_dir, target = tmp_path / "wheel", tmp_path / "site"
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                        "-w", str(wheel_dir), str(ROOT)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    [whl] = wheel_dir.glob("signoff-*.whl")
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(whl)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    env = dict(os.environ, PYTHONPATH=str(target))
    code = ("import engine, engine.service, engine.adapters, engine.recommend, cli.main, policy_lang, stdlib_policies; "
            "from cli.main import cli; from click.testing import CliRunner; "
            "r = CliRunner().invoke(cli, ['check', 'stdlib.publishing', '--help']); "
            "import engine.service.inbox as i, os; assert os.path.isfile(os.path.join(os.path.dirname(i.__file__), "
            "'templates', 'login.html')); print(engine.__file__)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=str(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip().startswith(str(target))
