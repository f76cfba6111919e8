"""The bundled examples: each folder lints clean and is formatted, each bundled history replays with no
malformed line and no evaluation error and tells its story (risk, friction, budgets), and the history
generator is seeded, writes valid actions and rewrites the bundled files byte for byte.

The examples' own `*.test.yaml` run through `signoff test` in tests/test_conformance.py."""
import gzip
import itertools
import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import cli
from cli.testrunner import run_file
from engine import load_policy
from engine.decide.actions import check_action, loads_action
from engine.replay.history import History
from engine.replay.simulate import simulate
from policy_lang.lint import lint_paths

ROOT = Path(__file__).resolve().parent.parent
EX = ROOT / "examples"
sys.path.insert(0, str(EX))
import generate_history  # noqa: E402

FOLDERS = sorted(p for p in EX.iterdir() if p.is_dir() and any(p.glob("*.policy")))
NAMES = [p.name for p in FOLDERS]
POLICY = {"support-ops": "support.policy", "sales-ops": "sales.policy", "finance-backoffice": "finance.policy"}
# share of actions allowed without a human: guarded examples keep people on the risky part, the
# autonomous one only on what its checks hold back
AUTOMATION = {"support-ops": (0.50, 0.65), "sales-ops": (0.75, 0.90), "finance-backoffice": (0.85, 0.95)}
VERDICTS = {"approved", "edited", "rejected", "expired"}


def test_every_example_is_covered():
    assert {"support-ops", "sales-ops", "finance-backoffice", "airline", "retail"} <= set(NAMES)
    assert set(POLICY) == set(generate_history.EXAMPLES)
    for name in POLICY:
        assert (EX / name / "history-30d.jsonl.gz").exists(), name


@pytest.mark.parametrize("folder", FOLDERS, ids=NAMES)
def test_example_lints_clean(folder):
    found = lint_paths([str(folder)])
    assert not [d for d in found if d.severity != "info"], found
    if folder.name != "support-ops":
        # support.policy is the spec's §4 policy word for word: its lookup tools have no schema (I100)
        assert not found, found


@pytest.mark.parametrize("folder", FOLDERS, ids=NAMES)
def test_example_is_formatted(folder):
    r = CliRunner().invoke(cli, ["fmt", "--check", str(folder)])
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("folder", FOLDERS, ids=NAMES)
def test_example_has_enough_test_cases(folder):
    suites = sorted(folder.glob("*.test.yaml"))
    assert suites, folder
    cases = sum(len(run_file(str(s)).cases) for s in suites)
    assert cases >= (10 if folder.name == "support-ops" else 20), cases


@pytest.mark.parametrize("name", sorted(POLICY))
def test_bundled_history_replays_cleanly(name):
    policy = load_policy(str(EX / name / POLICY[name]))
    rep = simulate(policy, History([str(EX / name / "history-30d.jsonl.gz")]))
    assert rep["total"] >= 100_000
    assert rep["period"]["days"] == 30
    errors = rep["errors"]
    assert errors["malformed"] == 0 and errors["input"] == 0 and errors["evaluation"] == 0, errors["by_message"][:3]
    lo, hi = AUTOMATION[name]
    assert lo <= rep["automation_rate"] <= hi, rep["automation_rate"]
    # the report has a story to tell: approvals people always granted, allows people rejected, budgets
    assert rep["human_verdicts"] > 10_000 and rep["friction"] and rep["risk"] and rep["budget_exhaustion"]
    assert all(o > 0 for o in rep["outcomes"].values()), rep["outcomes"]


@pytest.mark.parametrize("name", sorted(POLICY))
def test_generator_is_seeded(name):
    a = [json.dumps(x) for x in generate_history.generate(300, 5, name)]
    b = [json.dumps(x) for x in generate_history.generate(300, 5, name)]
    c = [json.dumps(x) for x in generate_history.generate(300, 6, name)]
    assert a == b and a != c


@pytest.mark.parametrize("name", sorted(POLICY))
def test_generator_writes_valid_actions(name):
    policy = load_policy(str(EX / name / POLICY[name]))
    actions = list(generate_history.generate(600, 11, name))
    assert len(actions) == 600 and len({a["id"] for a in actions}) == 600
    last = None
    schema_failures = 0
    for a in actions:
        text = json.dumps(a, separators=(",", ":"))
        action, when = check_action(loads_action(text))      # strict JSON: no duplicate keys, NaN, …
        assert when is not None and (last is None or when >= last), a["id"]
        last = when
        assert isinstance(a["tenant"]["id"], str) and isinstance(a["agent"]["id"], str) and isinstance(a["args"], dict)
        assert "confidence" not in a or 0 < a["confidence"] < 1
        assert isinstance(a["executed"], bool)
        human = a.get("human")
        if human is not None:
            assert human["verdict"] in VERDICTS and human["by"] and human["at"] > a["timestamp"]
            assert a["executed"] == (human["verdict"] in ("approved", "edited"))
            assert ("edited_args" in human) <= (human["verdict"] == "edited")
        d = policy.decide(action)
        assert not [r for r in d.reasons if r.rule == "error"], (a, d.to_dict())
        schema_failures += any(r.rule.startswith("schema ") for r in d.reasons)
    # the generators write a schema failure only on purpose, and rarely
    assert schema_failures <= 3, schema_failures


@pytest.mark.parametrize("name", sorted(POLICY))
def test_bundled_file_is_the_generators_output(name):
    """The bundled file is what `python examples/generate_history.py --example NAME --out FILE.gz` writes
    (checked here on its first 2,000 actions: the whole file takes seconds to generate; `cmp` it by hand
    after changing the generator), gzip-compressed with no name and no time in the header."""
    path = EX / name / "history-30d.jsonl.gz"
    raw = path.read_bytes()
    assert raw[:4] == b"\x1f\x8b\x08\x00" and raw[4:8] == b"\0\0\0\0"   # deflate, no FNAME, mtime 0
    seed = generate_history.EXAMPLES[name][1]
    want = [json.dumps(a, separators=(",", ":"))
            for a in itertools.islice(generate_history.generate(100_000, seed, name), 2000)]
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        got = [next(fh).rstrip("\n") for _ in range(2000)]
    assert got == want
