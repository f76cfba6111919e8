"""Every example of the spec parses, checks and decides as the spec says."""
import json
import re
from pathlib import Path

import pytest

from engine import MemoryLedger, Policy
from engine.decide.actions import parse_timestamp
from policy_lang import parse
from policy_lang.checker import load

# the checkout has ../shared/ beside it, on developer machines and in CI alike
SPEC = Path(__file__).resolve().parents[2] / "shared" / "spec" / "LANGUAGE.md"


def blocks(lang):
    return [b for l, b in re.findall(r"```(\w*)\n(.*?)```", SPEC.read_text(), re.S) if l == lang]


def test_spec_is_present():
    assert SPEC.exists(), SPEC


def test_every_policy_block_parses():
    policy_blocks = blocks("")
    assert len(policy_blocks) >= 2
    for b in policy_blocks:
        parse(b)


@pytest.fixture
def spec_policy(tmp_path):
    path = tmp_path / "support.policy"
    path.write_text(blocks("")[0])
    return Policy(load(str(path)))


def test_section_3_decision_is_reproduced_exactly(spec_policy):
    expected = json.loads(blocks("json")[2])
    action = json.loads(blocks("json")[0])
    action.update(id="act-000124", args={"invoice_id": "INV-9", "amount": 250.0, "customer_id": "c-1"},
                  confidence=0.99)
    got = spec_policy.decide(action, MemoryLedger()).to_dict()
    expected["policy"]["digest"] = got["policy"]["digest"]
    assert got == expected


def test_section_2_action_example(spec_policy):
    action = json.loads(blocks("json")[0])
    d = spec_policy.decide(action, MemoryLedger())
    # 120 > 100: high; the advisory velocity check needs args.customer_id, which this action lacks
    assert (d.outcome, d.category, d.route["name"]) == ("require_approval", "high", "finance_review")
    assert [(r.rule, r.advisory) for r in d.reasons] == [("category high", False), ("error", True)]


def test_section_5_yaml_cases(spec_policy, tmp_path):
    from cli.inputs import parse_yaml
    doc = parse_yaml(blocks("yaml")[0], "LANGUAGE.md")   # the loader `signoff test` uses
    assert doc["policy"] == "support.policy"
    for case in doc["cases"]:
        d = spec_policy.decide(case["action"], MemoryLedger(), now=parse_timestamp("1970-01-01T00:00:00Z"))
        want = case["expect"] if isinstance(case["expect"], str) else case["expect"]["outcome"]
        assert d.outcome == want, case["name"]


def test_use_block_example_loads_with_the_stdlib_and_override(tmp_path):
    (tmp_path / "shared").mkdir()
    # stdlib.billing brings the stdlib's routes and categories (stdlib/base.policy): a shared file that
    # replaces one of them must say `override`, as spec §4.2 requires of any later definition
    (tmp_path / "shared" / "routes.policy").write_text(
        'override route finance_review { approvers "finance_manager", "cfo" quorum 2 }\n'
        'route ops_review { approvers "ops_lead" }\n')
    text = blocks("")[1]
    assert "use stdlib.billing" in text
    (tmp_path / "p.policy").write_text('policy "uses"\n' + text)
    prog = load(str(tmp_path / "p.policy"))
    assert prog.categories["high"].override is True
    assert prog.routes["finance_review"].quorum == 2 and "ops_review" in prog.routes
    assert "issue_refund" in prog.tools and prog.first_route.name in prog.routes
