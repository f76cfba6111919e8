"""jsonschema-rs in front of jsonschema: the verdict is always jsonschema's (a differential property
over generated schemas and instances), the messages are jsonschema's, the dialect gaps fall back."""
import json
from pathlib import Path

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from policy_lang.checker import load
from policy_lang.fastschema import DualValidator, faster, regex_kind, rs_eligible, rs_schema
from policy_lang.schemas import Guarded

jsonschema_rs = pytest.importorskip("jsonschema_rs", reason="the `sim` extra brings jsonschema-rs")
ROOT = Path(__file__).resolve().parent.parent

# the patterns the examples use, and the places where the two regex dialects part
PATTERNS = ["^L-[0-9]{4}$", "^[A-Z]{2}$", "^20[0-9]{2}-(0[1-9]|1[0-2])$", "^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$",
            "^a$", "a.c", "^\\d+$", "^\\D$", "\\w", "^\\s*$", "[^a-c]", "(?i)ab", "a|b", "^x{2,3}$", "[]a]",
            "^$", "\\.", "é", "(?:ab)+", "a{", "\\bx", "[\\d]", "^[^.]+$", "^\\S+$", "^[\\w.]+$", "\\W",
            "^[^\\d\\s]$", "^\\\\s$", "^[\\\\s]+$", "a$\\n", "^\\w+$", "(a|b$)", "[\\S]$", "\\Z"]
STRINGS = ["", "a", "a\n", "abc", "a\rc", "a\u2028c", "L-1234", "L-1234\n", "AB", "ab", "AB\n", "2026-12", "x@y.z",
           "x@y.z\n", "١٢", "٣", "\U00011f50", " ", "\t", "xx", "xxx", "é", "ab" * 3, "]", "a]", "-", "\u00a0",
           "\x1c", "\x1f", "\x85", "\ufeff", "\u2000", "\u3000", "_", "e\u0301", "\u0301", "²", "x@y\x1c.z",
           "\\s", "\\", "a\n\n", "\ud800", "a\udfff"]
KEYS = ["a", "b", "amount", "x"]

numbers = st.one_of(st.integers(-5, 5), st.sampled_from([0.1, 0.3, 0.5, 1.0, -0.0, 1e300, 2 ** 64, 10 ** 30, 7.5]),
                    st.floats(-100, 100, allow_nan=False, allow_infinity=False))
leaves = st.one_of(st.none(), st.booleans(), numbers, st.sampled_from(STRINGS))
instances = st.recursive(leaves, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEYS + STRINGS[:6]), inner, max_size=4)),
    max_leaves=10)


def _schemas(depth: int):
    simple = st.one_of(
        st.booleans(),
        st.builds(lambda t: {"type": t}, st.sampled_from(["string", "integer", "number", "object", "array",
                                                          "boolean", "null", ["integer", "string"]])),
        st.builds(lambda v: {"enum": v}, st.lists(leaves, min_size=1, max_size=3)),
        st.builds(lambda v: {"const": v}, leaves),
        st.builds(lambda k, v: {k: v}, st.sampled_from(["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"]),
                  numbers),
        st.builds(lambda v: {"multipleOf": v}, st.sampled_from([1, 2, 5, 0.1, 0.5, 2.5])),
        st.builds(lambda k, v: {k: v}, st.sampled_from(["minLength", "maxLength", "minItems", "maxItems",
                                                        "minProperties", "maxProperties"]), st.integers(0, 3)),
        st.builds(lambda p: {"pattern": p}, st.sampled_from(PATTERNS)),
        st.builds(lambda f: {"format": f}, st.sampled_from(["email", "date", "date-time", "uri", "ipv4"])),
        st.builds(lambda r: {"required": r}, st.lists(st.sampled_from(KEYS), unique=True, max_size=2)),
        st.just({"uniqueItems": True}),
        st.builds(lambda k: {"dependentRequired": {k: ["b"]}}, st.sampled_from(KEYS)),
    )
    if depth == 0:
        return simple
    sub = _schemas(depth - 1)
    return st.one_of(
        simple, simple,
        st.builds(lambda a, b: {**a, **b} if isinstance(a, dict) and isinstance(b, dict) else a, sub, sub),
        st.builds(lambda m, ap: {"type": "object", "properties": m, "additionalProperties": ap},
                  st.dictionaries(st.sampled_from(KEYS), sub, max_size=2), st.one_of(st.just(True), sub)),
        st.builds(lambda s: {"items": s}, sub),
        st.builds(lambda s: {"prefixItems": [s]}, sub),
        st.builds(lambda s, lo, hi: {"contains": s, **lo, **hi}, sub, st.sampled_from([{}, {"minContains": 2}]),
                  st.sampled_from([{}, {"maxContains": 1}])),
        st.builds(lambda k, xs: {k: xs}, st.sampled_from(["allOf", "anyOf", "oneOf"]), st.lists(sub, min_size=1, max_size=3)),
        st.builds(lambda s: {"not": s}, sub),
        st.builds(lambda i, t, e: {"if": i, "then": t, "else": e}, sub, sub, sub),
        st.builds(lambda s: {"propertyNames": s}, sub),
        st.builds(lambda p, s: {"patternProperties": {p: s}, "additionalProperties": False},
                  st.sampled_from(PATTERNS), sub),
        st.builds(lambda d, wrap: {"$defs": {"d": d}, **wrap}, sub,
                  st.sampled_from([{"$ref": "#/$defs/d"}, {"not": {"$ref": "#/$defs/d"}},
                                   {"items": {"$ref": "#/$defs/d"}}, {"oneOf": [{"$ref": "#/$defs/d"}, True]}])),
        st.builds(lambda k, s: {"dependentSchemas": {k: s}}, st.sampled_from(KEYS), sub),
    )


schemas = _schemas(3)
drafts = st.sampled_from([None, "https://json-schema.org/draft/2020-12/schema", "http://json-schema.org/draft-07/schema#"])


def _reference(schema):
    return jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)(schema)


@settings(max_examples=1500, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(schemas, drafts, st.lists(instances, min_size=1, max_size=6))
def test_verdicts_and_messages_are_jsonschemas(schema, draft, items):
    if draft is not None and isinstance(schema, dict):
        schema = {"$schema": draft, **schema}
    try:
        jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator).check_schema(schema)
    except jsonschema.SchemaError:
        return
    slow = Guarded(_reference(schema))     # a `$ref` cycle's RecursionError can surface as a Rust panic: one kind
    dual = faster(_reference(schema), schema)
    for instance in items:
        try:
            verdict = slow.is_valid(instance)
            # every error, not only the first: a keyword is_valid never reached can hold the bad `$ref`
            messages = [e.message for e in slow.iter_errors(instance)]
        except jsonschema.exceptions._WrappedReferencingError:
            return                  # a `$ref` to nowhere: the checker refuses such schemas at load
        except RecursionError:      # a `$ref` cycle: jsonschema's own limit (a deny when deciding)
            assert not isinstance(dual, DualValidator), schema
            return
        assert dual.is_valid(instance) == verdict, (schema, instance)
        assert [e.message for e in dual.iter_errors(instance)] == messages


@settings(max_examples=600, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(schemas, st.lists(instances, min_size=1, max_size=6))
def test_where_rs_is_used_it_never_accepts_what_jsonschema_refuses(schema, items):
    """The property the front relies on, asserted on rs itself (not through the fallback), given the
    schema as `rs_schema` prints it."""
    printed = rs_schema(schema)
    if printed is None:
        return
    try:
        _reference(schema).check_schema(schema)
        fast = jsonschema_rs.validator_for(printed, validate_formats=False)
    except Exception:
        return
    slow = _reference(schema)
    for instance in items:
        try:
            said_valid = fast.is_valid(instance)
        except UnicodeEncodeError:      # a lone surrogate: DualValidator asks jsonschema
            continue
        if said_valid:
            assert slow.is_valid(instance), (schema, printed, instance)


@pytest.mark.parametrize("pattern,kind", [
    ("^L-[0-9]{4}$", "exact"), ("^[A-Z]{2}", "exact"), ("a|b(c)", "exact"), ("a.c", "exact"),
    ("^\\d+$", "exact"), ("\\D", "exact"), ("[^@\\s]+", "exact"), ("(?i)a", None), ("[]a]", "exact"),
    ("a{", "exact"), ("é", "exact"), ("\\.", "exact"), ("x{2,3}", "exact"), ("(?:ab)+", "exact"),
    ("(?P<n>a)", "exact"), ("\\1", None), ("(a)\\1", None), ("a$b", "stricter"), ("(a$)+", "stricter"),
    ("\\bx", None), ("(?=a)", None), ("(?s).", None), ("a{1001}", None), ("\\ud800", None), ("[", None)])
def test_regexes_are_sorted_by_whether_the_dialects_agree(pattern, kind):
    assert regex_kind(pattern) == kind


@pytest.mark.parametrize("schema", [
    {"not": {"pattern": "a$\\n"}},                                 # stricter under `not`: looser overall
    {"oneOf": [{"pattern": "a$\\n"}, {"type": "integer"}]},
    {"if": {"pattern": "^a$\\n"}, "then": False},
    {"contains": {"pattern": "a$\\n"}, "maxContains": 1},
    {"$defs": {"d": {"pattern": "a$\\n"}}, "not": {"$ref": "#/$defs/d"}},
    {"multipleOf": 0.1}, {"unevaluatedProperties": False}, {"$ref": "other.json"},
    {"properties": {"a": {"$id": "x", "type": "string"}}}, {"patternProperties": {"a$\\n": True}},
    {"pattern": "(?i)a"}, {"pattern": "\\bx"}, {"patternProperties": {"a": True, "[a]": False}},
])
def test_schemas_where_rs_could_be_looser_stay_with_jsonschema(schema):
    assert not rs_eligible(schema)
    assert not isinstance(faster(_reference(schema), schema), DualValidator)


def test_a_trailing_newline_is_still_jsonschemas_verdict():
    schema = {"type": "object", "properties": {"id": {"type": "string", "pattern": "^L-[0-9]{4}$"}}}
    dual = faster(_reference(schema), schema)
    assert isinstance(dual, DualValidator)
    assert dual.is_valid({"id": "L-1234\n"})            # Python's `$` matches before a final newline
    assert not dual.is_valid({"id": "L-12345"})
    (error,) = dual.iter_errors({"id": "L-12x"})
    assert error.message == "'L-12x' does not match '^L-[0-9]{4}$'"


def test_the_bundled_schemas_mostly_use_rs_and_off_means_off(monkeypatch):
    used = total = 0
    for policy in sorted(ROOT.glob("examples/*/*.policy")):
        for s in load(str(policy)).schemas.values():
            total += 1
            used += isinstance(s.validator().inner, DualValidator)
    assert total > 30 and used >= total * 0.8, (used, total)
    monkeypatch.setenv("SIGNOFF_JSONSCHEMA_RS", "0")
    s = next(iter(load(str(ROOT / "examples/finance-backoffice/finance.policy")).schemas.values()))
    assert not isinstance(s.validator().inner, DualValidator)
    assert json.dumps(s.value)                                      # a plain JSON schema
