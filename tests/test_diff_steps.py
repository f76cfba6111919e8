"""The witness search's steps one at a time, and the seam another search plugs into."""
from engine import load_policy
from engine.diff import ToolResult, find_witness, search_tool, search_tools, witness_search
from engine.diff.witness.search import (STEPS, Search, base_action, count_combinations, ledger_states,
                                        read_rules, read_schemas, split_budgets, verdict)

OLD = """
policy "shop"
version "1"
route team { approvers "lead" }
tool refund {
  schema {"type": "object", "required": ["amount"], "properties": {"amount": {"type": "number", "maximum": 900}}}
  risk low when args.amount <= 100
  risk high otherwise
}
category low { allow when confidence >= 0.8 }
category high { require approval via team }
check daily on refund {
  budget count() per tenant per 1d <= 20 else escalate to "ops"
}
"""
NEW = OLD.replace("confidence >= 0.8", "confidence >= 0.7").replace("<= 20 else", "<= 30 else")


def policies():
    return load_policy("shop.policy", OLD), load_policy("shop.policy", NEW)


def started(*steps):
    st = Search.start(*policies(), "refund")
    for step in steps:
        step(st)
    return st


def test_steps_in_order_are_the_search():
    po, pn = policies()
    st = Search.start(po, pn, "refund")
    for step in STEPS:
        step(st)
    assert verdict(st) == search_tool(po, pn, "refund")


def test_read_rules_finds_the_variables_and_their_constants():
    st = started(read_rules)
    v = st.an.vars
    assert v[("args", "amount")].numbers == {100}
    assert v[("confidence",)].numbers == {0.8, 0.7}
    assert ("tenant", "id") in v                      # the budget's key
    assert [b.check for b in st.budgets["old"]] == ["daily"]
    assert st.an.decidable


def test_read_schemas_gives_an_example_and_bounds():
    st = started(read_rules, read_schemas)
    assert st.base_args == {"amount": 0}
    assert 900 in st.an.vars[("args", "amount")].numbers


def test_split_budgets_a_changed_limit_differs_and_rules_out_a_proof():
    st = started(read_rules, read_schemas, split_budgets)
    assert st.shared == [] and st.differing == [("daily", 0)]
    assert not st.an.decidable
    same = Search.start(load_policy("shop.policy", OLD), load_policy("shop.policy", OLD), "refund")
    for step in (read_rules, read_schemas, split_budgets):
        step(same)
    assert same.shared == [("daily", 0)] and same.differing == []


def test_base_action_and_ledgers_and_count():
    st = Search.start(load_policy("shop.policy", OLD), load_policy("shop.policy", OLD), "refund")
    for step in (read_rules, read_schemas, split_budgets, base_action, ledger_states, count_combinations):
        step(st)
    assert st.fixed == {"tool": "refund", "timestamp": "2026-01-07T12:00:00Z"}
    assert st.ledgers == [set(), {("daily", 0)}]
    assert st.exhaustive and st.total > 0


def test_one_direction_through_the_seam():
    po, pn = policies()
    looser = find_witness(po, pn, "refund", "looser")
    assert looser.status == "witness" and looser.witness.direction == "looser"
    assert find_witness(po, po, "refund", "stricter").status == "proven"


def test_another_search_plugs_in():
    seen = []

    def unknown(old, new, tool, seed):
        seen.append(tool)
        return ToolResult(tool or "?", "not proven", "not proven", "not proven", "smt", 0, 0, ["stub"], [])
    po, pn = policies()
    results = search_tools(po, pn, search=unknown)
    assert seen == ["refund", None] and {r.method for r in results} == {"smt"}
    assert [w["tool"] for w in witness_search(po, pn)] == ["refund", "tool_neither_version_declares"]
