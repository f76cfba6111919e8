"""Decision semantics and fail-closed behaviour of the compiled engine (spec §1, §3, §4.5–4.7)."""
import math
from datetime import datetime, timezone

import pytest

from engine import MemoryLedger
from engine.decide.reference import Interpreter

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)

BASE = '''
policy "t"
version "1"
route team { approvers "lead" }
route finance { approvers "fm", "cfo" quorum 2 timeout 8h then escalate to "oncall" }
tool refund {
  risk medium when args.amount <= 100
  risk high otherwise
}
tool lookup { risk low }
category low { allow }
category medium { allow when confidence >= 0.9; require approval via team otherwise }
category high { require approval via finance }
'''


def both(policy, action, ledger=None):
    """Decide with the compiled graph and the reference interpreter; they must agree."""
    d = policy.decide(action, ledger, NOW)
    r = Interpreter(policy.program).decide(action, ledger, NOW)
    assert d.to_dict() == r.to_dict()
    return d


def test_most_restrictive_outcome_wins_and_all_reasons_are_kept(make_policy):
    p = make_policy(BASE + '''
check a on refund { require args.amount < 50 else ask "why so much?" }
check b on refund { require args.amount < 60 else escalate to "boss" }
check c on refund { require args.amount < 70 else deny "too much" }
''')
    d = both(p, {"tool": "refund", "args": {"amount": 80}, "confidence": 1})
    assert d.outcome == "deny"
    assert [r.rule for r in d.reasons] == ["category medium", "check a", "check b", "check c"]
    assert d.escalate_to is None and d.ask == []  # only set for their own outcome
    d = both(p, {"tool": "refund", "args": {"amount": 65}, "confidence": 1})
    assert (d.outcome, d.escalate_to, d.ask) == ("escalate", "boss", [])
    d = both(p, {"tool": "refund", "args": {"amount": 55}, "confidence": 1})
    assert (d.outcome, d.ask) == ("ask", ["why so much?"])
    d = both(p, {"tool": "refund", "args": {"amount": 45}, "confidence": 1})
    assert (d.outcome, d.ask) == ("allow", [])


def test_route_and_routes_only_for_approval(make_policy):
    p = make_policy(BASE + 'check big on refund { require args.amount < 150 else require approval via team }')
    d = both(p, {"tool": "refund", "args": {"amount": 200}, "confidence": 1})
    assert d.outcome == "require_approval"
    assert d.routes == ["finance", "team"]
    assert d.route == {"name": "finance", "approvers": ["fm", "cfo"], "quorum": 2, "timeout": "8h",
                       "on_timeout": {"outcome": "escalate", "to": "oncall"}}
    d = both(p, {"tool": "lookup"})
    assert d.route is None and d.routes == []


@pytest.mark.parametrize("action,problem", [
    ({"tool": "refund", "args": {}}, "`args.amount` is missing"),
    ({"tool": "refund", "args": {"amount": "ten"}}, "got a string and a number in `args.amount <= 100`"),
    ({"tool": "refund", "args": {"amount": True}}, "got a boolean and a number in `args.amount <= 100`"),
    ({"tool": "refund", "args": {"amount": None}}, "`args.amount` is missing"),
])
def test_evaluation_errors_deny_with_a_reason_naming_the_path(make_policy, action, problem):
    p = make_policy(BASE)
    d = both(p, action)
    assert d.outcome == "deny"
    errors = [r for r in d.reasons if r.rule == "error"]
    assert errors and problem in errors[0].message
    assert errors[0].at == "p.policy:7:3"  # the failing risk line
    assert d.category == "high"           # an error in a risk line gives the highest level


@pytest.mark.parametrize("action", [
    None, 42, "refund", [], {}, {"tool": 3}, {"tool": ""}, {"tool": "lookup", "args": [1]},
    {"tool": "lookup", "confidence": "high"}, {"tool": "lookup", "confidence": True},
    {"tool": "lookup", "confidence": math.nan}, {"tool": "lookup", "timestamp": "yesterday"},
    {"tool": "lookup", "timestamp": 1700000000}, {"tool": "lookup", "tenant": "acme"},
    {"tool": "lookup", "args": {"amount": math.nan}}, {"tool": "lookup", "context": {"x": [1, -math.inf]}},
    {"tool": "lookup", "args": {"n": 10 ** 400}},
])
def test_malformed_actions_are_denied_never_raised(make_policy, action):
    p = make_policy(BASE + "unknown tools allow")
    d = both(p, action)
    assert d.outcome == "deny" and d.category is None
    assert d.reasons[0].rule == "error"


def test_duplicate_keys_and_nan_in_action_json_are_denied(make_policy):
    p = make_policy(BASE)
    assert p.decide_json('{"tool": "lookup", "tool": "refund"}', now=NOW).outcome == "deny"
    assert p.decide_json('{"tool": "lookup", "confidence": NaN}', now=NOW).outcome == "deny"
    assert p.decide_json('{"tool": "lookup", "confidence": 1}', now=NOW).outcome == "allow"


def test_internal_errors_fail_closed(make_policy, monkeypatch):
    p = make_policy(BASE)
    def boom(*a):
        raise RuntimeError("bug")
    p._index["lookup"] = (boom, p._index["lookup"][1])
    d = p.decide({"tool": "lookup"}, now=NOW)
    assert d.outcome == "deny" and "internal error" in d.reasons[0].message


def test_short_circuit_avoids_errors_on_missing_paths(make_policy):
    p = make_policy(BASE.replace("risk medium when args.amount <= 100",
                                 "risk medium when args.amount present and args.amount <= 100"))
    d = both(p, {"tool": "refund", "args": {}, "confidence": 1})
    assert d.outcome == "require_approval" and d.category == "high"
    assert not [r for r in d.reasons if r.rule == "error"]


def test_missing_confidence_counts_as_zero(make_policy):
    p = make_policy(BASE)
    d = both(p, {"tool": "refund", "args": {"amount": 5}})
    assert (d.outcome, d.route["name"]) == ("require_approval", "team")


def test_confidence_presence_looks_at_the_action(make_policy):
    p = make_policy(BASE + 'check conf on lookup { require confidence present else ask "how sure are you?" }')
    assert both(p, {"tool": "lookup"}).ask == ["how sure are you?"]
    assert both(p, {"tool": "lookup", "confidence": 0}).outcome == "allow"


def test_schema_failure_ends_evaluation_with_category_null(make_policy):
    p = make_policy(BASE.replace("tool refund {", 'tool refund {\n  schema "s/refund.json"')
                    + 'check c on refund { require false else escalate to "x" }',
                    files={"s/refund.json": '{"type": "object", "required": ["amount"], '
                                            '"properties": {"amount": {"type": "number"}}}'})
    d = both(p, {"tool": "refund", "args": {"amount": "x"}})
    assert d.outcome == "deny" and d.category is None
    assert [r.rule for r in d.reasons] == ["schema refund"]
    assert "args.amount" in d.reasons[0].message


def test_unknown_tools_default_deny_and_checks_still_apply(make_policy):
    p = make_policy(BASE + 'check ghost_rule on ghost { require false else escalate to "ops" }\n'
                           'check every_action on * { require tool != "banned" else deny "banned" }')
    d = both(p, {"tool": "ghost"})
    assert d.outcome == "deny" and d.category is None
    assert [r.rule for r in d.reasons] == ["unknown tools", "check ghost_rule"]
    p2 = make_policy(BASE + 'unknown tools require approval via team\n'
                            'check ghost_rule on ghost { require false else escalate to "ops" }')
    d = both(p2, {"tool": "ghost"})
    assert (d.outcome, d.escalate_to) == ("escalate", "ops")
    d = both(p2, {"tool": "other"})
    assert (d.outcome, d.route["name"]) == ("require_approval", "team")


def test_assisted_mode_turns_allow_into_approval_via_first_route(make_policy):
    p = make_policy(BASE.replace('version "1"', 'version "1"\nmode assisted'))
    d = both(p, {"tool": "lookup"})
    assert d.outcome == "require_approval" and d.mode == "assisted"
    assert d.route["name"] == "team"
    assert d.reasons[-1].to_dict() == {"rule": "mode assisted", "outcome": "require_approval",
                                       "message": "require approval via team", "at": "p.policy:4:1"}


def test_assisted_mode_applies_to_tools_with_check_lines_too(make_policy):
    # a tool with check lines is decided by another branch of its closure than one without
    p = make_policy(BASE.replace('version "1"', 'version "1"\nmode assisted')
                    + 'check fine on lookup { require confidence >= 0 else deny "no" }')
    d = both(p, {"tool": "lookup"})
    assert d.outcome == "require_approval" and d.reasons[-1].rule == "mode assisted"


def test_autonomous_mode_relaxes_only_category_approvals(make_policy):
    p = make_policy(BASE.replace('version "1"', 'version "1"\nmode autonomous')
                    + 'check big on refund { require args.amount < 500 else require approval via team }')
    d = both(p, {"tool": "refund", "args": {"amount": 200}})
    assert d.outcome == "allow" and d.mode == "autonomous"
    assert d.reasons[0].rule == "category high" and d.reasons[0].outcome == "allow"
    d = both(p, {"tool": "refund", "args": {"amount": 700}})
    assert d.outcome == "require_approval" and d.routes == ["team"]


def test_per_tool_mode_overrides_policy_mode(make_policy):
    p = make_policy(BASE.replace("tool lookup { risk low }", "tool lookup { risk low mode assisted }"))
    assert both(p, {"tool": "lookup"}).outcome == "require_approval"
    assert both(p, {"tool": "refund", "args": {"amount": 1}, "confidence": 1}).mode == "guarded"


def test_advisory_checks_report_but_never_decide(make_policy):
    p = make_policy(BASE + 'advisory check soon on lookup { require false else deny "no" '
                           'require args.x > 1 else deny }')
    d = both(p, {"tool": "lookup"})
    assert d.outcome == "allow"
    assert [(r.rule, r.advisory) for r in d.reasons] == [("category low", False), ("check soon", True),
                                                         ("error", True)]
    assert d.to_dict()["reasons"][1]["advisory"] is True


def test_budget_window_is_half_open_and_keyed(make_policy):
    p = make_policy(BASE + 'check daily on refund { budget sum(args.amount) per tenant per 1d <= 100 '
                           'else escalate to "fin" }')
    ledger = MemoryLedger()
    day_before = datetime(2026, 11, 19, 12, 0, tzinfo=timezone.utc)  # exactly 1d earlier: outside (t-1d, t]
    p.record({"tool": "refund", "args": {"amount": 90}, "tenant": {"id": "a"}}, ledger, now=day_before)
    p.record({"tool": "refund", "args": {"amount": 50}, "tenant": {"id": "b"}}, ledger, now=NOW)
    p.record({"tool": "lookup", "args": {"amount": 500}, "tenant": {"id": "a"}}, ledger, now=NOW)
    act = {"tool": "refund", "args": {"amount": 60}, "tenant": {"id": "a"}, "confidence": 1}
    assert both(p, act, ledger).outcome == "allow"
    p.record({"tool": "refund", "args": {"amount": 41}, "tenant": {"id": "a"}}, ledger,
             now=datetime(2026, 11, 19, 12, 0, 1, tzinfo=timezone.utc))
    d = both(p, act, ledger)
    assert (d.outcome, d.escalate_to) == ("escalate", "fin")
    assert both(p, {**act, "tenant": {}}, ledger).outcome == "deny"  # missing key is an error


def test_no_matching_category_line_is_deny(make_policy):
    p = make_policy(BASE.replace("category low { allow }", "category low { allow when confidence > 0.5 }"))
    d = both(p, {"tool": "lookup", "confidence": 0.1})
    assert d.outcome == "deny" and d.reasons[0].rule == "category low"


@pytest.mark.parametrize("cond,expected", [
    ("0.70 == 0.7", True), ("1 == true", False), ('"1" == 1', False), ("[1, 2] == [1.0, 2]", True),
    ('"b" > "a"', True), ("2 + 3 * 4 == 14", True), ("(2 + 3) * 4 == 20", True), ("-2 * -3 == 6", True),
    ('"ab" + "c" == "abc"', True), ("not 1 > 2 and true", True), ("true or 1 / 0 > 1", True),
    ('"x" in ["x", "y"]', True), ("1 not in [2, 3]", True), ('"abc" contains "b"', True),
    ("[1, 2] contains 2", True), ('"abc" starts_with "ab"', True), ('"abc" ends_with "bc"', True),
    ('"INV-42" matches "^INV-\\d+$"', True), ('"xINV-42" matches "INV"', True),
    ('len("abc") == 3', True), ('lower("AbC") == "abc"', True), ('upper("a") == "A"', True),
    ('domain("Jo@Mail.Example.COM") == "mail.example.com"', True),
    ('domain("https://Acme.com/x?y") == "acme.com"', True),
    ('hour("2026-11-20T23:30:00Z", "Europe/Berlin") == 0', True),
    ('weekday("2026-11-20T23:30:00Z", "Europe/Berlin") == "sat"', True),
    ('hour("2026-11-20T23:30:00") == 23', True),
    ("any r in [1, 5]: r > 3", True), ("all r in []: r > 3", True), ("any r in []: r > 3", False),
    ("1h == 3600", True),
])
def test_expression_semantics(make_policy, cond, expected):
    p = make_policy(f'policy "e"\ntool t {{ risk high when {cond}; risk low }}\n'
                    'category high { escalate to "yes" }\ncategory low { deny "no" }')
    d = both(p, {"tool": "t"})
    assert d.outcome == ("escalate" if expected else "deny"), d.reasons


@pytest.mark.parametrize("cond", [
    "1 < \"a\"", "true > false", "1 / 0 > 0", "-\"a\" == 1", "1 in 2", "len(3) > 1",
    "lower(1) == \"a\"", "\"a\" + 1 == 2", "any r in 3: r", "1", "args.x",
    'hour("not a time") == 1',
])
def test_type_errors_are_evaluation_errors(make_policy, cond):
    p = make_policy(f'policy "e"\ntool t {{ risk high when {cond}; risk low }}\n'
                    'category high { allow }\ncategory low { allow }')
    d = both(p, {"tool": "t", "args": {"x": 1}})
    assert d.outcome == "deny" and d.reasons[0].rule == "error"


def test_matches_refuses_very_long_values(make_policy):
    p = make_policy('policy "e"\ntool t { risk high when args.s matches "a+$"; risk low }\n'
                    'category high { allow }\ncategory low { allow }')
    assert both(p, {"tool": "t", "args": {"s": "a" * 10_000}}).outcome == "allow"
    assert both(p, {"tool": "t", "args": {"s": "a" * 10_001}}).outcome == "deny"


def test_quantifier_reaches_into_objects(make_policy):
    p = make_policy('policy "e"\nconst INTERNAL = ["acme.com"]\n'
                    'tool mail { risk high when (any r in args.to: domain(r.email) not in INTERNAL) '
                    'or args.bcc present; risk low }\ncategory high { deny }\ncategory low { allow }')
    ok = {"tool": "mail", "args": {"to": [{"email": "a@acme.com"}]}}
    assert both(p, ok).outcome == "allow"
    assert both(p, {"tool": "mail", "args": {"to": [{"email": "a@acme.com"}, {"email": "b@x.io"}]}}).outcome == "deny"
    assert both(p, {"tool": "mail", "args": {"to": [], "bcc": "x"}}).outcome == "deny"


def test_digest_ignores_formatting_but_not_meaning(make_policy, tmp_path):
    a = make_policy(BASE, "a.policy")
    b = make_policy("# a comment changes the formatted text\n" + BASE, "a.policy")
    c = make_policy("\n\n" + BASE.replace("  risk", "risk"), "a.policy")
    d = make_policy(BASE.replace("<= 100", "<= 101"), "a.policy")
    assert a.digest != b.digest  # comments are part of the formatted text
    assert a.digest == c.digest  # layout is not
    assert a.digest != d.digest
    assert a.digest.startswith("sha256:") and len(a.digest) == 7 + 64


def test_explain_of_a_budget_whose_total_is_too_large_for_a_double(tmp_path):
    """A budget total past the double range (huge integer amounts) is traced, not an internal error."""
    from engine import load_policy
    p = tmp_path / "p.policy"
    p.write_text('policy "p"\ntool pay { risk low }\ncategory low { allow }\n'
                 'check cap on pay { budget sum(args.amount) per tenant per 1d <= 100 else deny "cap" }\n')
    pol = load_policy(str(p))
    led = MemoryLedger()
    huge = 10 ** 308  # a double still; three of them are not
    for _ in range(2):
        pol.record({"tool": "pay", "args": {"amount": huge}, "tenant": {"id": "t"},
                    "timestamp": "2026-11-20T10:00:00Z"}, led)
    a = {"tool": "pay", "args": {"amount": huge}, "tenant": {"id": "t"}, "timestamp": "2026-11-20T11:00:00Z"}
    d, trace = pol.explain(a, led)
    assert d.to_dict() == pol.decide(a, led).to_dict()
    assert d.outcome == "deny" and [r.rule for r in d.reasons if r.outcome == "deny"] == ["check cap"]
    assert any("total " + str(3 * huge) in c["expr"] for e in trace for c in e["conditions"])
