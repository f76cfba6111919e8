"""`signoff diff`: structural changes, the transition table on history, witnesses, proofs, --fail-on."""
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.diff_cmd import diff as diff_cmd
from engine import MemoryLedger, load_policy
from engine.diff import diff, markdown, structural_diff, witness_search
from engine.history import History

ROOT = Path(__file__).resolve().parent.parent
SUPPORT = ROOT / "examples" / "support-ops" / "support.policy"

BASE = """
policy "shop"
version "1"
const PLANS = ["business", "enterprise"]
route team { approvers "lead" }
route finance { approvers "cfo", "controller" quorum 2 }
tool refund {
  risk low when args.amount <= 100
  risk high otherwise
}
tool lookup { risk low }
category low {
  allow when confidence >= 0.8
  require approval via team otherwise
}
category high { require approval via finance }
check plan on refund {
  require tenant.plan in PLANS else deny "plan"
}
check range on refund {
  require args.amount > 0 and args.amount <= 1000 else deny "range"
}
check daily on refund {
  budget count() per tenant per 1d <= 20 else escalate to "ops"
}
"""


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def variant(tmp_path, name, *edits):
    text = BASE
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    return write(tmp_path, name, text)


def run(*args):
    return CliRunner().invoke(diff_cmd, [str(a) for a in args])


def test_structural_changes_in_policy_terms(tmp_path):
    old = write(tmp_path, "old.policy", BASE)
    new = variant(tmp_path, "new.policy",
                  ('version "1"', 'version "2"'),
                  ('const PLANS = ["business", "enterprise"]', 'const PLANS = ["team", "business", "enterprise"]'),
                  ('route finance { approvers "cfo", "controller" quorum 2 }',
                   'route finance { approvers "cfo", "controller" quorum 1 }\nroute legal { approvers "counsel" }'),
                  ("risk low when args.amount <= 100", "risk low when args.amount <= 250"),
                  ("tool lookup { risk low }", "tool lookup { risk low }\ntool export { risk high }"),
                  ("allow when confidence >= 0.8", "allow when confidence >= 0.9"),
                  ("budget count() per tenant per 1d <= 20", "budget count() per tenant per 1d <= 50"),
                  ('check range on refund {\n  require args.amount > 0 and args.amount <= 1000 else deny "range"\n}', ""))
    changes = [c.to_dict() for c in structural_diff(load_policy(str(old)).program, load_policy(str(new)).program)]

    def find(**kw):
        return [c for c in changes if all(c.get(k) == v for k, v in kw.items())]
    assert find(section="policy", what="version", old="1", new="2")
    assert find(section="const", name="PLANS", old='["business", "enterprise"]', new='["team", "business", "enterprise"]')
    assert find(section="route", name="finance", what="quorum", old=2, new=1)
    assert find(section="route", name="legal", op="added")
    assert find(section="tool", name="export", op="added")
    assert find(section="check", name="range", op="removed")
    r = find(section="tool", name="refund", what="line 1")[0]
    assert (r["old"], r["new"], r["note"]) == ("risk low when args.amount <= 100", "risk low when args.amount <= 250",
                                               "threshold 100 → 250")
    assert find(section="category", name="low", note="threshold 0.8 → 0.9")
    b = find(section="check", name="daily")[0]
    assert b["note"] == "limit 20 → 50: looser"
    md = markdown(diff(load_policy(str(old)), load_policy(str(new)), witnesses=False))
    assert "- tool `refund`, line 1: `risk low when args.amount <= 100` → `risk low when args.amount <= 250`" in md
    assert "- removed: check `range`" in md


def test_no_changes_and_proven_equivalent(tmp_path):
    old = write(tmp_path, "old.policy", BASE)
    # the same rules written differently: arithmetic by constants, a negation, reordered `and`
    new = variant(tmp_path, "new.policy",
                  ("risk low when args.amount <= 100", "risk low when not (args.amount * 2 > 200)"),
                  ("require args.amount > 0 and args.amount <= 1000", "require args.amount - 1000 <= 0 and args.amount > 0"))
    d = diff(load_policy(str(old)), load_policy(str(new)))
    by_tool = {w["tool"]: w for w in d["witnesses"]}
    assert by_tool["refund"]["status"] == "proven", by_tool["refund"]
    assert by_tool["lookup"]["status"] == "proven"
    assert not d["summary"]["looser"] and not d["summary"]["stricter"]
    assert run(old, new, "--fail-on", "looser").exit_code == 0


def test_witness_for_a_loosened_threshold(tmp_path):
    old = write(tmp_path, "old.policy", BASE)
    new = variant(tmp_path, "new.policy", ("risk low when args.amount <= 100", "risk low when args.amount <= 250"))
    po, pn = load_policy(str(old)), load_policy(str(new))
    w = {x["tool"]: x for x in witness_search(po, pn)}["refund"]
    assert w["status"] == "witness" and w["direction"] == "looser"
    action = w["action"]
    assert 100 < action["args"]["amount"] <= 250
    # the witness is real: both versions decide it as reported, and it is ready to be a test case
    assert po.decide(action, MemoryLedger()).outcome == w["old"]["outcome"] == "require_approval"
    assert pn.decide(action, MemoryLedger()).outcome == w["new"]["outcome"] == "allow"
    assert w["test_case"]["expect"]["outcome"] == "allow" and w["test_case"]["action"] == action


def test_witness_for_a_tightened_budget_needs_a_history(tmp_path):
    old = write(tmp_path, "old.policy", BASE)
    new = variant(tmp_path, "new.policy", ("<= 20 else escalate", "<= 5 else escalate"))
    po, pn = load_policy(str(old)), load_policy(str(new))
    w = {x["tool"]: x for x in witness_search(po, pn)}["refund"]
    assert w["status"] == "witness" and w["direction"] == "stricter" and len(w["history"]) == 5
    led_o, led_n = MemoryLedger(), MemoryLedger()
    for h in w["history"]:
        po.record(h, led_o)
        pn.record(h, led_n)
    assert pn.decide(w["action"], led_n).outcome == "escalate"
    assert po.decide(w["action"], led_o).outcome != "escalate"


def test_regex_change_is_not_proven(tmp_path):
    text = BASE.replace('check plan on refund {', 'check inv on refund {\n  require args.invoice matches "^INV-\\\\d+$" else deny "inv"\n}\ncheck plan on refund {')
    old = write(tmp_path, "old.policy", text)
    new = write(tmp_path, "new.policy", text.replace('"^INV-\\\\d+$"', '"^INV-[0-9]+$"'))
    w = {x["tool"]: x for x in witness_search(load_policy(str(old)), load_policy(str(new)))}
    assert w["refund"]["status"] == "not proven"
    assert any("matches" in why for why in w["refund"]["why"])
    assert w["lookup"]["status"] == "proven"


def test_domain_change_found_by_heuristics(tmp_path):
    old = write(tmp_path, "old.policy", 'policy "m"\nroute r { approvers "x" }\n'
                'tool mail { risk high when domain(args.to) not in ["acme.com"]\n risk low otherwise }\n'
                'category low { allow }\ncategory high { require approval }\n')
    new = write(tmp_path, "new.policy", old.read_text().replace('["acme.com"]', '["acme.com", "acme.io"]'))
    w = {x["tool"]: x for x in witness_search(load_policy(str(old)), load_policy(str(new)))}["mail"]
    assert w["status"] == "witness" and w["direction"] == "looser" and w["action"]["args"]["to"] == "user@acme.io"


def test_transition_table_on_history(tmp_path):
    old = write(tmp_path, "old.policy", BASE)
    new = variant(tmp_path, "new.policy", ("risk low when args.amount <= 100", "risk low when args.amount <= 250"),
                  ('require tenant.plan in PLANS else deny "plan"', 'require tenant.plan in ["enterprise"] else deny "plan"'))
    acts = []
    for i, (amount, plan) in enumerate([(50, "business"), (150, "business"), (200, "enterprise"), (500, "enterprise"),
                                        (60, "enterprise"), (170, "free")]):
        acts.append({"id": f"a{i}", "timestamp": f"2026-11-01T10:0{i}:00Z", "tool": "refund",
                     "args": {"amount": amount}, "tenant": {"id": "t", "plan": plan}, "confidence": 0.95})
    hist = tmp_path / "h.jsonl"
    hist.write_text("".join(json.dumps(a) + "\n" for a in acts))
    d = diff(load_policy(str(old)), load_policy(str(new)), History([str(hist)]), witnesses=False)
    rows = {(r["old"], r["new"]): r for r in d["semantic"]["transitions"]}
    assert rows[("allow", "deny")]["count"] == 1 and rows[("allow", "deny")]["examples"] == ["a0"]
    assert rows[("allow", "deny")]["direction"] == "stricter"
    assert rows[("require_approval", "deny")]["examples"] == ["a1"]
    assert rows[("require_approval", "allow")]["examples"] == ["a2"] and rows[("require_approval", "allow")]["direction"] == "looser"
    assert rows[("require_approval", "require_approval")]["count"] == 1
    assert rows[("allow", "allow")]["count"] == 1 and rows[("deny", "deny")]["count"] == 1
    assert d["semantic"]["looser"] == 1 and d["semantic"]["stricter"] == 2
    md = markdown(d)
    assert "| require_approval | allow | 1 | looser | `a2` |" in md


def test_fail_on_gates_ci(tmp_path):
    old = write(tmp_path, "old.policy", BASE)
    looser = variant(tmp_path, "looser.policy", ("risk low when args.amount <= 100", "risk low when args.amount <= 250"))
    stricter = variant(tmp_path, "stricter.policy", ("allow when confidence >= 0.8", "allow when confidence >= 0.95"))
    r = run(old, looser, "--fail-on", "looser", "--format", "markdown")
    assert r.exit_code == 1 and "Verdict: **looser**" in r.output
    assert run(old, stricter, "--fail-on", "looser").exit_code == 0
    assert run(old, stricter, "--fail-on", "stricter").exit_code == 1
    assert run(old, stricter, "--fail-on", "any").exit_code == 1
    assert run(old, old, "--fail-on", "any").exit_code == 0
    out = json.loads(run(old, looser, "--format", "json").output)
    assert out["summary"]["looser"] and {"structural", "witnesses", "summary"} <= set(out)


def test_support_example_with_history(tmp_path):
    new = tmp_path / "support.policy"
    new.write_text(SUPPORT.read_text().replace("risk medium when args.amount <= 100", "risk medium when args.amount <= 200"))
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "refund.json").write_text((SUPPORT.parent / "schemas" / "refund.json").read_text())
    hist = tmp_path / "h.jsonl"
    import sys
    sys.path.insert(0, str(ROOT / "examples"))
    import generate_history
    hist.write_text("".join(json.dumps(a) + "\n" for a in generate_history.generate(3000, 2)))
    r = run(SUPPORT, new, "--history", hist, "--fail-on", "looser")
    assert r.exit_code == 1
    assert "| require_approval | allow |" in r.output and "looser" in r.output
    assert "`issue_refund`: **looser**" in r.output


def test_unloadable_policy_is_a_usage_error(tmp_path):
    bad = write(tmp_path, "bad.policy", 'policy "x"\ntool a { risk nope }\n')
    assert run(bad, bad).exit_code == 2
