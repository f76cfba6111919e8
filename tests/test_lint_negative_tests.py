"""Finding 12: a negative test on a value no schema types gives the looser outcome to values nobody listed.

The reproduction (the airline example allowed a basic economy flight change reported with cabin
`-1e308`), and lint W115, which finds that shape, in every place it can stand."""
import json
from pathlib import Path

from click.testing import CliRunner

from cli.main import cli
from engine import MemoryLedger, load_policy
from policy_lang.lint import lint_file

ROOT = Path(__file__).resolve().parent.parent
AIRLINE = ROOT / "examples" / "airline" / "airline.policy"


def test_airline_cabin_of_another_type_is_not_a_way_around_basic_economy():
    """As reported: `context.reservation.cabin = -1e308` turned `!= "basic_economy"` true: allowed."""
    policy = load_policy(str(AIRLINE))
    action = ('{"tool": "update_reservation_flights", "agent": {"id": "tau-agent"},'
              ' "args": {"reservation_id": "EUJUY6", "cabin": "economy", "payment_id": "credit_card_1234567",'
              ' "flights": [{"flight_number": "HAT003", "date": "2024-05-19"}]},'
              ' "context": {"user_confirmed": true, "flights_changed": true,'
              ' "reservation": {"cabin": -1e308, "flown_segments": 0}}}')
    d = policy.decide_json(action, MemoryLedger())
    assert d.outcome == "deny", d.to_dict()
    assert "basic economy flights cannot be modified" in [r.message for r in d.reasons]
    # the real fare classes still decide as before
    for cabin, outcome in (("basic_economy", "deny"), ("economy", "allow"), ("business", "allow")):
        a = json.loads(action)
        a["context"]["reservation"]["cabin"] = cabin
        assert policy.decide(a, MemoryLedger()).outcome == outcome, cabin


def lint(tmp_path, body, schema='{"type": "object", "properties": {"x": {"type": "string"}}}'):
    text = (f'policy "t"\nroute r {{\n  approvers "a"\n}}\ntool t {{\n  schema {schema}\n  risk low\n}}\n'
            + body)
    path = tmp_path / "p.policy"
    path.write_text(text, encoding="utf-8")
    return [(d.code, d.span.line) for d in lint_file(str(path)) if d.code == "W115"]


CAT = "category low {\n  allow\n}\n"


def test_w115_flags_the_original_airline_line(tmp_path):
    flagged = lint(tmp_path, CAT + "check c on t {\n  require context.r missing or context.r.cabin != \"basic\"\n"
                                   "    or context.changed == false else deny \"no\"\n}\n")
    assert flagged == [("W115", 13)]


def test_w115_where_the_truth_of_a_condition_is_looser(tmp_path):
    check = "check c on t {{\n  require {} else deny\n}}\n"
    # negative tests that let a check pass
    for cond in ('context.a != "x"', 'context.a not in ["x"]', 'not (context.a == "x")',
                 'not (context.a in ["x", "y"])', 'not context.a matches "^x"', 'not (agent.id starts_with "x")',
                 'tenant.plan != "free" or context.b == 1', '(any r in context.list: r != "x")',
                 'args.y != "x"', 'args.x != context.a'):
        assert lint(tmp_path, CAT + check.format(cond)) == [("W115", 13)], cond
    # positive tests, typed values, or a negation that makes the test positive: not flagged
    for cond in ('context.a == "x"', 'context.a in ["x"]', 'not (context.a != "x")', 'args.x != "x"',
                 'args.x not in ["a"]', 'not args.x matches "^a"', 'lower(context.a) != "x"',
                 'len(context.l) != 0', 'confidence != 0.5', 'tool != "t"', 'context.n > 0',
                 'context.a missing or context.a present', '(any r in ["a", "b"]: r != "x")',
                 'lower(args.x) != lower(agent.id)'):
        assert lint(tmp_path, CAT + check.format(cond)) == [], cond
    # a positive test in the same conjunction already holds the value to what was listed (the RE2 way to
    # write a lookahead, E220's help): not flagged; beside another path, or in a disjunction, it is
    for cond in ('context.a matches "^INV-" and not context.a matches "^INV-T"',
                 'context.a in ["x", "y"] and context.a != "y"', 'not (context.a not in ["x"] or context.a == "y")'):
        assert lint(tmp_path, CAT + check.format(cond)) == [], cond
    for cond in ('context.b matches "^INV-" and not context.a matches "^INV-T"',
                 'context.a matches "^INV-" or not context.a matches "^INV-T"'):
        assert lint(tmp_path, CAT + check.format(cond)) == [("W115", 13)], cond
    # an advisory check is never combined into the outcome
    assert lint(tmp_path, CAT + 'advisory check c on t {\n  require context.a != "x" else deny\n}\n') == []
    # a check `on *` applies to unknown tools too: no schema types their arguments
    assert lint(tmp_path, CAT + 'check c on * {\n  require args.x != "x" else deny\n}\n') == [("W115", 13)]


def test_w115_category_and_risk_lines_by_what_follows(tmp_path):
    def cat(lines):
        return "category low {\n" + lines + "}\n"
    # allow before something stricter: flagged; deny when …: the test makes it stricter, not flagged
    assert lint(tmp_path, cat('  allow when context.a != "x"\n  require approval via r otherwise\n')) == [("W115", 10)]
    assert lint(tmp_path, cat('  deny when context.a != "x"\n  allow otherwise\n')) == []
    assert lint(tmp_path, cat('  require approval via r when context.a != "x"\n  deny otherwise\n')) == [("W115", 10)]
    # the last line of a block with no closing line: an action matching no line is denied
    assert lint(tmp_path, cat('  allow when context.a != "x"\n')) == [("W115", 10)]
    # the lines cover every case: the last one has no stricter alternative (the same as `allow otherwise`)
    assert lint(tmp_path, cat('  deny when context.a == "x"\n  allow when context.a != "x"\n')) == []
    risk = ('policy "t"\ntool t {{\n  risk low when {}\n  risk high otherwise\n}}\n'
            'category low {{\n  allow\n}}\ncategory high {{\n  deny\n}}\n')
    path = tmp_path / "r.policy"
    path.write_text(risk.format('context.env != "prod"'), encoding="utf-8")
    assert [d.code for d in lint_file(str(path)) if d.code == "W115"] == ["W115"]
    path.write_text(risk.format('context.env == "dev"'), encoding="utf-8")
    assert [d.code for d in lint_file(str(path)) if d.code == "W115"] == []
    # a higher level first: its truth is the stricter side
    path.write_text(risk.format('context.env == "dev"').replace("risk low when", "risk high when")
                    .replace("risk high otherwise", "risk low otherwise"), encoding="utf-8")
    assert [d.code for d in lint_file(str(path)) if d.code == "W115"] == []


def test_w115_schema_typing_through_combinators(tmp_path):
    check = CAT + 'check c on t {\n  require args.x != "a" else deny\n}\n'
    typed = '{"type": "object", "properties": {"x": {"enum": ["a", "b"]}}, "anyOf": [{"required": ["x"]}]}'
    assert lint(tmp_path, check, typed) == []
    typed = '{"allOf": [{"properties": {"x": {"type": "string"}}}]}'
    assert lint(tmp_path, check, typed) == []
    both = '{"anyOf": [{"properties": {"x": {"type": "string"}}}, {"properties": {"x": {"const": "a"}}}]}'
    assert lint(tmp_path, check, both) == []
    one = '{"anyOf": [{"properties": {"x": {"type": "string"}}}, {"properties": {"y": {"type": "string"}}}]}'
    assert lint(tmp_path, check, one) == [("W115", 13)]
    two_kinds = '{"type": "object", "properties": {"x": {"type": ["string", "number"]}}}'
    assert lint(tmp_path, check, two_kinds) == [("W115", 13)]
    nullable = '{"type": "object", "properties": {"x": {"type": ["string", "null"]}}}'
    assert lint(tmp_path, check, nullable) == []


def test_every_shipped_policy_lints_clean_with_strict():
    r = CliRunner().invoke(cli, ["lint", "--strict", str(ROOT / "examples"), str(ROOT / "stdlib_policies")])
    assert r.exit_code == 0, r.output
