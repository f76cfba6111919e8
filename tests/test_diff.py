"""`signoff diff`: structural changes, the transition table on history, witnesses, proofs, --fail-on."""
import json
from pathlib import Path

from click.testing import CliRunner

from cli.diff_cmd import diff as diff_cmd
from engine import MemoryLedger, load_policy
from engine.diff import diff, direction, structural_diff, witness_search
from engine.diff.records import classify
from engine.diff.witness.smt import LedgerState
from engine.report.diff_markdown import markdown
from engine.replay.history import History

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


def only_witness(entry, direction):
    """The tool's single witness, which must go `direction` (and be the only one)."""
    assert entry["status"] == "witness", entry
    assert [x["direction"] for x in entry["witnesses"]] == [direction], entry
    assert entry[direction] == "witness"
    return entry["witnesses"][0]


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
    r = find(section="tool", name="refund", what="line")[0]
    assert r["at"] == "new.policy:9:3" and r["old_at"] == "old.policy:8:3"   # file lines, not "line 1" of a block
    assert (r["old"], r["new"], r["note"]) == ("risk low when args.amount <= 100", "risk low when args.amount <= 250",
                                               "threshold 100 → 250")
    assert find(section="category", name="low", note="threshold 0.8 → 0.9")
    b = find(section="check", name="daily")[0]
    assert b["note"] == "limit 20 → 50: looser"
    md = markdown(diff(load_policy(str(old)), load_policy(str(new)), witnesses=False))
    assert ("- tool `refund` at `new.policy:9:3`, line: `risk low when args.amount <= 100` → "
            "`risk low when args.amount <= 250`") in md
    assert find(section="route", name="finance", what="quorum")[0]["note"] == "quorum 2 → 1: looser"
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
    assert (by_tool["refund"]["looser"], by_tool["refund"]["stricter"], by_tool["refund"]["witnesses"]) == \
        ("proven", "proven", [])
    assert run(old, new, "--fail-on", "looser").exit_code == 0


def test_witness_for_a_loosened_threshold(tmp_path):
    old = write(tmp_path, "old.policy", BASE)
    new = variant(tmp_path, "new.policy", ("risk low when args.amount <= 100", "risk low when args.amount <= 250"))
    po, pn = load_policy(str(old)), load_policy(str(new))
    entry = {x["tool"]: x for x in witness_search(po, pn)}["refund"]
    w = only_witness(entry, "looser")
    # the whole tool is in the analysed fragment: nothing became stricter, and that is a proof
    assert entry["stricter"] == "proven"
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
    entry = {x["tool"]: x for x in witness_search(po, pn)}["refund"]
    w = only_witness(entry, "stricter")
    assert len(w["history"]) == 5
    # issue 12: the solver covers every ledger state, so a lowered limit is proven never looser
    assert entry["looser"] == "proven"
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
    # issue 12: patterns are translated for the solver: `\d` and `[0-9]` are proven the same (RE2: ASCII)
    assert w["refund"]["status"] == "proven", w["refund"]
    assert w["lookup"]["status"] == "proven"


def test_domain_change_found_by_heuristics(tmp_path):
    old = write(tmp_path, "old.policy", 'policy "m"\nroute r { approvers "x" }\n'
                'tool mail { risk high when domain(args.to) not in ["acme.com"]\n risk low otherwise }\n'
                'category low { allow }\ncategory high { require approval }\n')
    new = write(tmp_path, "new.policy", old.read_text().replace('["acme.com"]', '["acme.com", "acme.io"]'))
    entry = {x["tool"]: x for x in witness_search(load_policy(str(old)), load_policy(str(new)))}["mail"]
    w = only_witness(entry, "looser")
    assert w["action"]["args"]["to"].endswith("@acme.io")     # issue 12: found by the solver
    assert entry["stricter"] == "proven"   # issue 12: `domain(...)` is encoded (a function refined by its values)


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


def test_policy_with_errors_exits_1_and_an_unreadable_one_2(tmp_path):
    bad = write(tmp_path, "bad.policy", 'policy "x"\ntool a { risk nope }\n')
    r = run(bad, bad)
    assert r.exit_code == 1 and "error[E203]" in r.output and "cannot be compared" in r.output
    r = run(tmp_path / "missing.policy", bad)
    assert r.exit_code == 2 and "missing.policy: no such file or directory" in r.output


# ---------------------------------------------------------------- looser and stricter at once

REFUND_OLD = """
policy "refunds"
version "1"
route team_review { approvers "team_lead" }
tool issue_refund {
  schema {
    "type": "object",
    "required": ["amount"],
    "properties": {"amount": {"type": "number"}, "currency": {"type": "string"}}
  }
  risk low when args.amount <= 50
  risk high otherwise
}
category low {
  allow when confidence >= 0.7
  require approval via team_review otherwise
}
category high { require approval via team_review }
"""
REFUND_MIXED = REFUND_OLD.replace('version "1"', 'version "2"').replace("<= 50", "<= 80") + """
check euro_only on issue_refund {
  require args.currency missing or args.currency == "EUR" else deny "x"
}
"""


def assert_witnesses_are_real(po, pn, entry):
    """Every witness, run through the loaded policies (after its history), is decided as reported."""
    for w in entry["witnesses"]:
        if w["history"] is None:    # a ledger state no short history reproduces: decided in that state
            led_o = led_n = LedgerState.from_list(w["ledger"])
        else:
            led_o, led_n = MemoryLedger(), MemoryLedger()
            for h in w["history"]:
                po.record(h, led_o)
                pn.record(h, led_n)
        o, n = po.decide(w["action"], led_o), pn.decide(w["action"], led_n)
        assert (o.outcome, n.outcome) == (w["old"]["outcome"], w["new"]["outcome"]), w
        assert w["direction"] in classify(o, n, po.program, pn.program), w
        assert w["test_case"]["action"] == w["action"] and w["test_case"]["expect"]["outcome"] == n.outcome
        assert w["test_case"].get("history", []) == (w["history"] or [])


def test_looser_and_stricter_on_one_tool_are_both_reported(tmp_path):
    # A reviewer's repro: the search stopped at the first difference (a stricter one), so the verdict
    # was "stricter" and `--fail-on looser` exited 0, although this refund goes from approval to allow.
    old, new = write(tmp_path, "old.policy", REFUND_OLD), write(tmp_path, "new.policy", REFUND_MIXED)
    po, pn = load_policy(str(old)), load_policy(str(new))
    loosened = {"tool": "issue_refund", "args": {"amount": 65}, "confidence": 0.8}
    assert po.decide(loosened, MemoryLedger()).outcome == "require_approval"
    assert pn.decide(loosened, MemoryLedger()).outcome == "allow"

    entry = {x["tool"]: x for x in witness_search(po, pn)}["issue_refund"]
    assert (entry["status"], entry["looser"], entry["stricter"]) == ("witness", "witness", "witness")
    assert [w["direction"] for w in entry["witnesses"]] == ["looser", "stricter"]
    assert_witnesses_are_real(po, pn, entry)
    looser, stricter = entry["witnesses"]
    assert 50 < looser["action"]["args"]["amount"] <= 80 and looser["new"]["outcome"] == "allow"
    assert stricter["new"]["outcome"] == "deny" and stricter["action"]["args"]["currency"] != "EUR"

    r = run(old, new, "--fail-on", "looser")
    assert r.exit_code == 1, r.output
    assert "Verdict: **looser** and **stricter**." in r.output
    assert "- `issue_refund`: **looser**: outcome require_approval → allow" in r.output
    assert "- `issue_refund`: **stricter**: outcome " in r.output and "→ deny" in r.output
    assert "decided `" not in r.output   # never "deny before, deny now": only what changed
    assert "the new policy is looser (--fail-on looser)" in r.output
    assert run(old, new, "--fail-on", "stricter").exit_code == 1
    assert run(old, new, "--fail-on", "any").exit_code == 1
    out = json.loads(run(old, new, "--format", "json").output)
    assert out["summary"]["looser"] and out["summary"]["stricter"] and out["summary"]["witnesses"] == 2
    tool = {w["tool"]: w for w in out["witnesses"]}["issue_refund"]
    assert [w["direction"] for w in tool["witnesses"]] == ["looser", "stricter"]
    # the markdown shows each witness action as JSON: both are there
    # (issue 12: solver models may differ between runs in one process, so count them rather than match)
    assert r.output.count("```json") == out["summary"]["witnesses"] == 2
    # and back again: version 2 → version 1 is mixed too
    assert run(new, old, "--fail-on", "looser").exit_code == 1
    assert run(new, old, "--fail-on", "stricter").exit_code == 1


def test_one_direction_proven_while_the_other_has_a_witness(tmp_path):
    old = write(tmp_path, "old.policy", BASE)
    new = variant(tmp_path, "new.policy", ("allow when confidence >= 0.8", "allow when confidence >= 0.95"))
    po, pn = load_policy(str(old)), load_policy(str(new))
    entry = {x["tool"]: x for x in witness_search(po, pn)}["refund"]
    only_witness(entry, "stricter")
    assert entry["looser"] == "proven" and entry["why"] == []
    assert_witnesses_are_real(po, pn, entry)
    assert run(old, new, "--fail-on", "looser").exit_code == 0


def test_a_budget_line_both_looser_and_stricter_gives_two_histories(tmp_path):
    # a lower limit (stricter) over a shorter window (looser): each way has its own history
    old = write(tmp_path, "old.policy", BASE)
    new = variant(tmp_path, "new.policy", ("budget count() per tenant per 1d <= 20", "budget count() per tenant per 1h <= 5"))
    po, pn = load_policy(str(old)), load_policy(str(new))
    entry = {x["tool"]: x for x in witness_search(po, pn)}["refund"]
    assert [w["direction"] for w in entry["witnesses"]] == ["looser", "stricter"], entry
    # issue 12: found by the solver, with the ledger state (totals already spent) that shows it
    assert all(w["method"] == "smt" and w["ledger"] for w in entry["witnesses"])
    assert_witnesses_are_real(po, pn, entry)


def test_the_history_counts_looser_and_stricter_transitions_both(tmp_path):
    old, new = write(tmp_path, "old.policy", REFUND_OLD), write(tmp_path, "new.policy", REFUND_MIXED)
    acts = [{"id": "up", "timestamp": "2026-11-01T10:00:00Z", "tool": "issue_refund", "args": {"amount": 65},
             "tenant": {"id": "t"}, "confidence": 0.8},
            {"id": "down", "timestamp": "2026-11-01T10:01:00Z", "tool": "issue_refund",
             "args": {"amount": 20, "currency": "USD"}, "tenant": {"id": "t"}, "confidence": 0.8}]
    hist = write(tmp_path, "h.jsonl", "".join(json.dumps(a) + "\n" for a in acts))
    d = diff(load_policy(str(old)), load_policy(str(new)), History([str(hist)]), witnesses=False)
    assert (d["semantic"]["looser"], d["semantic"]["stricter"]) == (1, 1)
    for flag in ("looser", "stricter"):
        assert run(old, new, "--history", hist, "--no-witness", "--fail-on", flag).exit_code == 1


# ---------------------------------------------------------------- property: the gate never lets a change through

from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

PROPERTY_POLICY = """
policy "p"
route r {{ approvers "lead" }}
tool pay {{
  schema {{"type": "object", "properties": {{"amount": {{"type": "number"}}, "currency": {{"type": "string"}}}}}}
  risk low when args.amount <= {low}
  risk high otherwise
}}
category low {{
  allow when confidence >= {conf}
  require approval via r otherwise
}}
category high {{ require approval via r }}
{checks}
"""

versions = st.fixed_dictionaries({
    "low": st.integers(0, 100),
    "conf": st.sampled_from([0.5, 0.7, 0.8, 0.9]),
    "cap": st.none() | st.integers(0, 150),
    "currency": st.none() | st.sampled_from(["EUR", "USD"]),
})


def property_policy(v):
    checks = []
    if v["cap"] is not None:
        checks.append(f'check cap on pay {{ require args.amount <= {v["cap"]} else deny "cap" }}')
    if v["currency"] is not None:
        checks.append(f'check cur on pay {{ require args.currency missing or args.currency == "{v["currency"]}" '
                      f'else deny "cur" }}')
    return PROPERTY_POLICY.format(low=v["low"], conf=v["conf"], checks="\n".join(checks))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(old_v=versions, new_v=versions, data=st.data())
def test_property_every_concrete_change_is_caught_and_every_proof_holds(tmp_path, old_v, new_v, data):
    """Within what the analysis handles (here: every condition), for any two versions: when some concrete
    action is looser (stricter), `--fail-on looser` (`stricter`) exits 1 with a witness of that
    direction; a direction reported `proven` has no such action; every witness decides as reported."""
    old = write(tmp_path, "old.policy", property_policy(old_v))
    new = write(tmp_path, "new.policy", property_policy(new_v))
    po, pn = load_policy(str(old)), load_policy(str(new))
    edges = sorted({x for v in (old_v, new_v) for x in (v["low"], v["cap"]) if x is not None})
    amounts = st.sampled_from([e + d for e in edges for d in (-1, -0.5, 0, 0.5, 1)]) | st.floats(-5, 160)
    action = st.builds(
        lambda amount, currency, conf: {"tool": "pay", "args": {"amount": amount, **currency}, **conf},
        amounts,
        st.sampled_from([{}, {"currency": "EUR"}, {"currency": "USD"}, {"currency": "GBP"}]),
        st.sampled_from([{}, {"confidence": 0.4}, {"confidence": 0.5}, {"confidence": 0.75},
                         {"confidence": 0.8}, {"confidence": 0.85}, {"confidence": 0.9}, {"confidence": 1.0}]))
    seen = set()
    for a in data.draw(st.lists(action, min_size=20, max_size=40)):
        k = direction(po.decide(a, MemoryLedger()).outcome, pn.decide(a, MemoryLedger()).outcome)
        if k:
            seen.add(k)

    r = run(old, new, "--fail-on", "looser", "--format", "json")
    report = json.loads(r.output)
    entry = {w["tool"]: w for w in report["witnesses"]}["pay"]
    assert_witnesses_are_real(po, pn, entry)
    for k in ("looser", "stricter"):
        # every condition is in the fragment: each direction is decided, never left open
        assert entry[k] in ("witness", "proven"), entry
        if k in seen:
            assert entry[k] == "witness", (k, entry)
        assert report["summary"][k] == (entry[k] == "witness")
    assert r.exit_code == (1 if "looser" in seen or entry["looser"] == "witness" else 0)
    if "looser" in seen:
        assert r.exit_code == 1
    assert run(old, new, "--fail-on", "stricter").exit_code == (1 if entry["stricter"] == "witness" else 0)


def test_an_added_alias_is_a_structural_change_and_a_looser_witness(tmp_path):
    base = ('policy "mail"\nroute team_review { approvers "lead" }\n'
            'tool send_email {\n  schema {"type": "object", "properties": {"to": {"type": "string"}}}\n'
            '  risk low when args.to ends_with "@acme.com"\n  risk high otherwise\n}\n'
            'category low { allow when confidence >= 0.9; require approval otherwise }\n'
            'category high { require approval }\n')
    (tmp_path / "old.policy").write_text(base)
    (tmp_path / "new.policy").write_text(base + "tool gmail_send as send_email\n")
    old, new = load_policy(str(tmp_path / "old.policy")), load_policy(str(tmp_path / "new.policy"))
    d = diff(old, new)
    assert {"section": "alias", "name": "gmail_send", "op": "added", "at": "new.policy:10:1",
            "witnesses": ["gmail_send looser"]} in d["structural"]
    w = next(x for x in d["witnesses"] if x["tool"] == "gmail_send")
    assert w["looser"] == "witness"
    action = next(x["action"] for x in w["witnesses"] if x["direction"] == "looser")
    assert action["tool"] == "gmail_send"
    assert old.decide(action, MemoryLedger()).outcome == "deny"           # an unknown tool before
    assert new.decide(action, MemoryLedger()).outcome != "deny"           # decided as send_email now
    r = CliRunner().invoke(diff_cmd, [str(tmp_path / "old.policy"), str(tmp_path / "new.policy"),
                                      "--fail-on", "looser"])
    assert r.exit_code == 1 and "alias `gmail_send`" in r.output
