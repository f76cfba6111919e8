"""Input guard: arbitrary JSON-ish actions never escape the fail-closed guard of any entry point.

Every way an action gets in (Policy.decide, Policy.decide_json, `signoff check`, `signoff test`,
`signoff simulate`, Gate.propose) is fed the values the security review used — integers of
thousands of digits, floats at the edges, lone surrogates in keys and values, nesting thousands of
levels deep, a wrong type at every key — and must: never raise (or raise only its documented input
error), never allow an action that is not valid input (spec §2), and write only strict JSON (no
NaN/Infinity, no lone surrogates). The malformed-action oracle here is written from the spec, not
taken from engine/decide/actions.py.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import re
import sys
from typing import Any, Iterator, Optional

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from cli.main import cli
from engine import InputSyntaxError, MemoryLedger
from engine.live.workflow import InputError

from workflow_helpers import POLICY_PATH, make_gate, policy

# no shrinking: these inputs are large and slow to shrink; a failure prints the example as generated
SETTINGS = settings(max_examples=25, deadline=None, derandomize=True, phases=(Phase.explicit, Phase.generate),
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                           HealthCheck.data_too_large])
CLI_SETTINGS = settings(SETTINGS, max_examples=12)
DOUBLE_LIMIT = 2 ** 1024
VALID_TIMESTAMP = "2026-11-20T10:00:00Z"
OBJECTS = ("args", "tenant", "agent", "context")


# ---------------------------------------------------------------- the spec §2 oracle

def _has_surrogate(s: str) -> bool:
    return any(0xD800 <= ord(ch) <= 0xDFFF for ch in s)


def _bad_leaf(x: Any) -> bool:
    if isinstance(x, bool) or x is None:
        return False
    if isinstance(x, float):
        return math.isnan(x) or math.isinf(x)
    if isinstance(x, int):
        return abs(x) >= DOUBLE_LIMIT
    if isinstance(x, str):
        return _has_surrogate(x)
    return False


def malformed(action: Any) -> Optional[bool]:
    """True if the action is not valid input by spec §2 (so it must be denied), False if it is, None if
    this oracle cannot tell (a timestamp string it does not know)."""
    if not isinstance(action, dict):
        return True
    tool = action.get("tool")
    if not isinstance(tool, str) or not tool:
        return True
    for name in OBJECTS:
        if action.get(name) is not None and not isinstance(action[name], dict):
            return True
    c = action.get("confidence")
    if c is not None:
        if isinstance(c, bool) or not isinstance(c, (int, float)):
            return True
        if isinstance(c, int) and abs(c) >= DOUBLE_LIMIT:
            return True
        if not 0 <= c <= 1:   # false for NaN as well
            return True
    stack = [action]
    while stack:   # no recursion: the actions nest thousands of levels deep
        x = stack.pop()
        if isinstance(x, dict):
            for k, v in x.items():
                if not isinstance(k, str) or _has_surrogate(k):
                    return True
                stack.append(v)
        elif isinstance(x, (list, tuple)):
            stack.extend(x)
        elif _bad_leaf(x):
            return True
    ts = action.get("timestamp")
    if ts is not None and ts != VALID_TIMESTAMP:
        return True if not isinstance(ts, str) else None
    return False


# ---------------------------------------------------------------- strategies

SURROGATES = st.sampled_from(["\ud800", "\udfff", "a\udc00b", "\udbff\udbff", "ok\ud83d"])
HUGE_INTS = st.builds(lambda n, sign: sign * (10 ** n - 1), st.sampled_from([309, 310, 400, 4301, 5000]),
                      st.sampled_from([1, -1]))
EDGE_FLOATS = st.sampled_from([math.nan, math.inf, -math.inf, sys.float_info.max, -sys.float_info.max,
                               sys.float_info.min, 5e-324, -0.0, 1.0000000000000002, 0.9999999999999999])
TEXT = st.text(max_size=6) | SURROGATES
LEAF = (st.none() | st.booleans() | st.integers(-3, 3) | st.integers() | HUGE_INTS | st.floats() | EDGE_FLOATS
        | TEXT | st.just(2 ** 1024) | st.just(2 ** 1024 - 1))


def _deep(depth: int, kind: str) -> Any:
    v: Any = 1
    for _ in range(depth):
        v = [v] if kind == "list" else {"k": v}
    return v


DEEP = st.builds(_deep, st.sampled_from([50, 1200, 3000]), st.sampled_from(["list", "dict"]))
JUNK = st.recursive(LEAF, lambda kids: st.lists(kids, max_size=3) | st.dictionaries(TEXT, kids, max_size=3),
                    max_leaves=6) | DEEP

WELL = {
    "tool": st.sampled_from(["issue_refund", "lookup_order", "delete_record", "no_such_tool"]),
    "args": st.fixed_dictionaries({}, optional={"amount": st.integers(-5, 600) | st.floats(0, 600),
                                                "invoice_id": st.just("INV-1")}),
    "tenant": st.just({"id": "acme", "plan": "enterprise"}),
    "agent": st.just({"id": "bot"}),
    "confidence": st.floats(0, 1) | st.sampled_from([0, 1]),
    "timestamp": st.just(VALID_TIMESTAMP) | st.sampled_from(
        ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "2026-11-20T10:00:60Z", "2026-11-20"]),
    "id": st.text(max_size=5),
}


@st.composite
def actions(draw) -> Any:
    """A mostly well-formed action with a wrong value at some keys, at any depth."""
    if draw(st.integers(0, 19)) == 0:
        return draw(JUNK)
    out = {}
    for key, good in WELL.items():
        choice = draw(st.integers(0, 9))
        if choice == 0:
            continue
        out[key] = draw(JUNK) if choice == 1 else draw(good)
    if isinstance(out.get("args"), dict) and draw(st.booleans()):
        out["args"] = dict(out["args"], **{draw(TEXT): draw(JUNK)})
    if draw(st.integers(0, 5)) == 0:
        out[draw(TEXT)] = draw(JUNK)
    return out


@contextlib.contextmanager
def unlimited_ints() -> Iterator[None]:
    """json.dumps refuses to print integers past 4,300 digits; the inputs here need them."""
    if not hasattr(sys, "set_int_max_str_digits"):   # Python before 3.10.7 has no such limit
        yield
        return
    old = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        yield
    finally:
        sys.set_int_max_str_digits(old)


def as_text(value: Any, ensure_ascii: bool = True) -> str:
    with unlimited_ints():
        try:
            return json.dumps(value, ensure_ascii=ensure_ascii, check_circular=False)
        except RecursionError:  # deeper than json.dumps goes: the raw text of such nesting instead
            return _deep_text(3000)


def _deep_text(depth: int) -> str:
    return '{"tool": "lookup_order", "args": {"x": ' + "[" * depth + "]" * depth + "}}"


RAW_TEXTS = st.sampled_from([
    '{"tool": "lookup_order", "id": 1e999}',
    '{"tool": "lookup_order", "confidence": -1e999}',
    '{"tool": "lookup_order", "confidence": ' + "9" * 400 + "}",
    '{"tool": "lookup_order", "args": {"n": ' + "9" * 5000 + "}}",
    '{"tool": "lookup_order",\n "args": {"n": -' + "1" * 4301 + "}}",
    '{"tool": "lookup_order", "id": "\\udfff"}',
    '{"tool": "lookup_order", "\\ud800": 1}',
    '{"tool": "lookup_order", "args": {"a": 1, "a": 2}}',
    '{"tool": "lookup_order", "args": NaN}',
    "[" * 5000 + "]" * 5000,
    _deep_text(990), _deep_text(5000),
])


def texts() -> st.SearchStrategy:
    return st.one_of(st.builds(as_text, actions(), st.booleans()), RAW_TEXTS)


def strict_json(text: str) -> Any:
    """A strict reader: no NaN/Infinity, and what it reads re-encodes to UTF-8."""
    def refuse(name: str) -> Any:
        raise AssertionError(f"{name} in JSON output")
    value = json.loads(text, parse_constant=refuse)
    json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8")
    return value


def _decision_ok(d, action: Any) -> None:
    text = json.dumps(d.to_dict(), ensure_ascii=False, allow_nan=False)
    strict_json(text)
    if malformed(action):
        assert d.outcome == "deny", (action, d)
        assert d.reasons[0].rule == "error"


# ---------------------------------------------------------------- the engine

@SETTINGS
@given(actions())
@example({"tool": "lookup_order", "confidence": 10 ** 400})      # the review's OverflowError
@example({"tool": "lookup_order", "confidence": 1.5})
@example({"tool": "lookup_order", "confidence": 99})
@example({"tool": "lookup_order", "id": "\udfff", "confidence": 0.9})
@example({"tool": "lookup_order", "args": {"\ud800": 1}, "confidence": 0.9})
def test_decide_never_raises_and_denies_malformed_actions(action):
    pol = policy()
    _decision_ok(pol.decide(action, MemoryLedger()), action)
    decision, trace = pol.explain(action, MemoryLedger())
    _decision_ok(decision, action)
    strict_json(json.dumps(trace, ensure_ascii=False, allow_nan=False, default=str))


@pytest.mark.parametrize("kind", ["list", "dict"])
def test_decide_answers_for_nesting_thousands_deep(kind):
    """(not an @example: hypothesis prints explicit examples with a recursive printer)"""
    pol = policy()
    for bad in ({"tool": "lookup_order", "args": {"x": [_deep(5000, kind), math.nan]}, "confidence": 0.9},
                {"tool": "lookup_order", "args": {"x": _deep(5000, kind)}, "confidence": 1.5}):
        _decision_ok(pol.decide(bad, MemoryLedger()), bad)
        assert pol.decide(bad).outcome == "deny"
    fine = {"tool": "lookup_order", "args": {"x": _deep(5000, kind)}, "confidence": 0.9}
    _decision_ok(pol.decide(fine), fine)


@SETTINGS
@given(texts())
def test_decide_json_raises_only_its_input_error(text):
    pol = policy()
    try:
        d = pol.decide_json(text, MemoryLedger())
    except InputSyntaxError as e:
        assert e.line is not None and e.column is not None and e.message
        return
    strict_json(json.dumps(d.to_dict(), ensure_ascii=False, allow_nan=False))
    try:
        with unlimited_ints():
            value = json.loads(text)
    except (ValueError, RecursionError):
        value = None
    if value is None or malformed(value):
        assert d.outcome == "deny", (text[:200], d)


def test_decide_json_on_text_that_is_not_text():
    d = policy().decide_json(None)   # type: ignore[arg-type]
    assert d.outcome == "deny"


# ---------------------------------------------------------------- signoff check

def _stderr_ok(result, path: str) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output + result.stderr
    if result.exit_code == 2:  # unreadable input, named: on stderr, or as `signoff test` reports a file it cannot read
        assert (result.stderr.startswith("error: ") and path in result.stderr) or \
            f"ERROR {path}\n" in result.stdout or '"error": "' + path in result.stdout, (result.stdout, result.stderr)


@CLI_SETTINGS
@given(texts(), st.sampled_from(["text", "json"]), st.booleans())
@example('{"tool": "lookup_order", "confidence": ' + "9" * 400 + "}", "json", False)
@example('{"tool": "lookup_order", "args": {"n": ' + "9" * 5000 + "}}", "text", False)
@example('{"tool": "lookup_order", "id": "\\udfff", "confidence": 0.9}', "json", True)
@example('{"tool": "lookup_order", "id": 1e999}', "json", False)
def test_check_answers_or_reports_an_input_error(tmp_path, text, fmt, explain):
    path = tmp_path / "action.json"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))   # a raw surrogate is invalid UTF-8: also an input
    args = ["check", str(POLICY_PATH), "--action", str(path), "--format", fmt] + (["--explain"] if explain else [])
    result = CliRunner().invoke(cli, args)
    _stderr_ok(result, str(path))
    assert result.exit_code in (0, 2), result.output
    if result.exit_code == 0 and fmt == "json":
        out = strict_json(result.stdout)
        try:
            with unlimited_ints():
                value = json.loads(text)
        except (ValueError, RecursionError):
            value = None
        if value is None or malformed(value):
            assert out["outcome"] == "deny", out


def test_check_huge_integer_names_line_and_column(tmp_path):
    path = tmp_path / "a.json"
    path.write_text('{"tool": "lookup_order",\n  "args": {"n": ' + "9" * 5000 + "}}")
    result = CliRunner().invoke(cli, ["check", str(POLICY_PATH), "--action", str(path)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {path}:2:17: an integer of 5000 digits is too large"), result.stderr


def test_check_lone_surrogate_id_gives_valid_json(tmp_path):
    path = tmp_path / "a.json"
    path.write_text('{"tool": "lookup_order", "id": "\\udfff", "confidence": 0.9}')
    result = CliRunner().invoke(cli, ["check", str(POLICY_PATH), "--action", str(path), "--format", "json"])
    assert result.exit_code == 0, result.output
    out = strict_json(result.stdout)
    assert out["outcome"] == "deny" and out["action_id"] is None
    assert "`id` holds a lone surrogate" in out["reasons"][0]["message"]


def test_check_infinite_id_is_an_input_error_and_valid_json(tmp_path):
    path = tmp_path / "a.json"
    path.write_text('{"tool": "lookup_order", "id": 1e999, "confidence": 0.9}')
    result = CliRunner().invoke(cli, ["check", str(POLICY_PATH), "--action", str(path), "--format", "json"])
    assert result.exit_code == 0
    out = strict_json(result.stdout)
    assert "Infinity" not in result.stdout
    assert out["outcome"] == "deny" and out["action_id"] is None and out["reasons"][0]["rule"] == "error"


# ---------------------------------------------------------------- signoff test

EXPECT = st.sampled_from(["allow", "deny", "ask"]) | st.fixed_dictionaries(
    {}, optional={"outcome": st.sampled_from(["allow", "deny"]), "category": LEAF, "escalate_to": LEAF,
                  "ask": st.lists(TEXT, max_size=2), "reasons": st.lists(TEXT, max_size=2)})


class _NoAliases(yaml.SafeDumper):
    """Test files refuse anchors and aliases (finding 9): a value used twice is written out twice."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _yaml_text(data: Any) -> str:
    with unlimited_ints():
        return yaml.dump(data, Dumper=_NoAliases, allow_unicode=False, width=10 ** 9)


@CLI_SETTINGS
@given(st.lists(st.tuples(actions().filter(lambda a: _depth(a) < 200), EXPECT, LEAF | TEXT,
                          st.lists(actions().filter(lambda a: _depth(a) < 200), max_size=2)),
                min_size=1, max_size=3),
       st.sampled_from(["text", "json"]), st.sampled_from([0, 0, 1, 2]))
def test_signoff_test_never_tracebacks(tmp_path, cases, fmt, deep):
    body = {"policy": str(POLICY_PATH),
            "cases": [{"name": name, "action": a, "expect": exp, "history": h} for a, exp, name, h in cases]}
    text = _yaml_text(body)
    if deep == 1:   # nesting YAML's own composer cannot follow
        text += "extra: " + "[" * 700 + "]" * 700 + "\n"
    elif deep == 2:
        text = text.replace("cases:", "cases_:", 1) + "cases: [{name: x, action: {tool: lookup_order, args: " \
            + "[" * 700 + "]" * 700 + "}, expect: allow}]\n"
    path = tmp_path / "gen.test.yaml"
    path.write_text(text)
    result = CliRunner().invoke(cli, ["test", str(path), "--format", fmt])
    _stderr_ok(result, str(path))
    assert result.exit_code in (0, 1, 2), result.output
    if fmt == "json":
        out = strict_json(result.stdout)
        (f,) = out["files"]
        if f["error"] is None and len(f["cases"]) == len(cases):   # one result per case, in order
            for (action, *_), got in zip(cases, (c["got"] for c in f["cases"])):
                if got is not None and malformed(action):
                    assert got["outcome"] == "deny", (action, got)


def _depth(v: Any) -> int:
    depth, level = 0, [v]
    while level:
        depth += 1
        level = [y for x in level if isinstance(x, (list, dict)) for y in (x.values() if isinstance(x, dict) else x)]
    return depth


def test_signoff_test_names_with_surrogates_and_nan_expectations_stay_valid_json(tmp_path):
    path = tmp_path / "s.test.yaml"
    path.write_text(f'policy: {POLICY_PATH}\ncases:\n'
                    '  - name: "bad \\udfff name"\n    action: {tool: lookup_order, confidence: 0.9}\n'
                    '    expect: {outcome: allow, category: .nan}\n'
                    '  - name: ok\n    action: {tool: lookup_order, id: "\\ud800", confidence: .inf}\n'
                    '    expect: deny\n')
    for fmt in ("json", "text"):
        result = CliRunner().invoke(cli, ["test", str(path), "--format", fmt])
        _stderr_ok(result, str(path))
        assert result.exit_code == 1, result.output
        if fmt == "json":
            out = strict_json(result.stdout)
            first, second = out["files"][0]["cases"]
            assert not first["passed"] and "lone surrogate" in first["message"], first
            assert second["passed"] and second["got"]["action_id"] is None


# ---------------------------------------------------------------- signoff simulate

@CLI_SETTINGS
@given(st.lists(texts().filter(lambda t: "\n" not in t), min_size=1, max_size=6), st.sampled_from(["skip", "fail"]))
def test_simulate_reports_line_errors_and_writes_strict_json(tmp_path, lines, on_error):
    hist = tmp_path / "h.jsonl"
    hist.write_bytes("\n".join(lines).encode("utf-8", "surrogatepass") + b"\n")
    dec = tmp_path / "d.jsonl"
    result = CliRunner().invoke(cli, ["simulate", str(POLICY_PATH), "--history", str(hist), "--format", "json",
                                      "--decisions", str(dec), "--on-error", on_error])
    _stderr_ok(result, str(hist))
    assert result.exit_code in (0, 2), result.output
    if result.exit_code == 2:
        assert re.match(rf"error: {re.escape(str(hist))}:\d+", result.stderr), result.stderr
        return
    strict_json(result.stdout)
    for raw in dec.read_bytes().decode("utf-8").splitlines():
        d = strict_json(raw)
        n = int(d["source"].rsplit(":", 1)[1])
        try:
            with unlimited_ints():
                value = json.loads(lines[n - 1])
        except (ValueError, RecursionError):
            continue
        if malformed(value):
            assert d["outcome"] == "deny", (lines[n - 1][:200], d)


def test_simulate_huge_integer_is_a_line_error(tmp_path):
    hist = tmp_path / "h.jsonl"
    hist.write_text('{"tool": "lookup_order"}\n{"tool": "lookup_order", "args": {"n": ' + "9" * 5000 + "}}\n")
    result = CliRunner().invoke(cli, ["simulate", str(POLICY_PATH), "--history", str(hist)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {hist}:2:40: an integer of 5000 digits is too large"), result.stderr


def test_simulate_csv_cells_with_huge_integers_surrogates_and_deep_nesting_are_input_errors(tmp_path):
    hist = tmp_path / "h.csv"
    hist.write_text("tool,args,confidence,id\n"
                    'lookup_order,"{""n"": ' + "9" * 5000 + '}",0.5,a\n'
                    'lookup_order,"{""n"": ""\\udfff""}",0.5,b\n'
                    'lookup_order,"{""x"": ' + "[" * 3000 + "]" * 3000 + '}",0.5,c\n'
                    'lookup_order,"{}",1.5,d\n')
    dec = tmp_path / "d.jsonl"
    result = CliRunner().invoke(cli, ["simulate", str(POLICY_PATH), "--history", str(hist), "--format", "json",
                                      "--decisions", str(dec)])
    assert result.exit_code == 0, result.output
    out = strict_json(result.stdout)
    assert out["errors"]["input"] == 4
    where = {e["where"]: e["message"] for e in out["errors"]["lines"]}
    assert "an integer of 5000 digits is too large to read" in where[f"{hist}:2"]
    decisions = [strict_json(line) for line in dec.read_text().splitlines()]
    assert [d["outcome"] for d in decisions] == ["deny"] * 4


def test_simulate_timestamp_before_year_one_is_an_input_error(tmp_path):
    hist = tmp_path / "h.jsonl"
    hist.write_text('{"tool": "lookup_order", "timestamp": "0001-01-01T00:00:00+01:00"}\n')
    result = CliRunner().invoke(cli, ["simulate", str(POLICY_PATH), "--history", str(hist), "--format", "json"])
    assert result.exit_code == 0, result.output
    out = strict_json(result.stdout)
    assert out["errors"]["input"] == 1


# ---------------------------------------------------------------- Gate.propose

@pytest.fixture(scope="module")
def gate(tmp_path_factory):
    return make_gate(os.path.join(str(tmp_path_factory.mktemp("gate")), "signoff.db"))


@SETTINGS
@given(actions())
def test_gate_propose_raises_only_its_input_error(gate, action):
    try:
        h = gate.propose(action)
    except InputError as e:
        assert str(e) and "Error" not in str(e)
        json.dumps(str(e), ensure_ascii=False).encode("utf-8")
        return
    assert not malformed(action), (action, h)


@pytest.mark.parametrize("action", [
    {"tool": "lookup_order", "agent": {"id": "bot"}, "id": "\udfff"},
    {"tool": "lookup_order", "agent": {"id": "bot"}, "args": {"\ud800": 1}},
    {"tool": "lookup_order", "agent": {"id": "bot"}, "args": {"x": _deep(5000, "list")}},
    {"tool": "lookup_order", "agent": {"id": "bot"}, "args": {"x": _deep(5000, "dict")}},
    {"tool": "lookup_order", "agent": {"id": "bot"}, "confidence": 10 ** 400},
    {"tool": "lookup_order", "agent": {"id": "bot"}, "confidence": 1.5},
])
def test_gate_propose_refuses_what_the_store_cannot_hold(gate, action):
    with pytest.raises(InputError):
        gate.propose(action)


def test_output_error_for_what_json_cannot_hold():
    from engine.decide.jsonout import OutputError, dumps
    for bad in (math.nan, "\udfff", {"k": math.inf}, object(), _deep(5000, "list")):
        with pytest.raises(OutputError):
            dumps(bad)


def test_a_schema_that_refers_to_itself_without_end_is_a_deny_never_a_crash(tmp_path):
    """`{"not": {"$ref": "#"}}` recurses for every instance; Python's limit can be hit inside a Rust extension
    under jsonschema (rpds), whose panic is a BaseException that `except Exception` guards miss. The engine and
    the replay deny (the reference interpreter, a test oracle, has no fail-closed guard: it raises)."""
    from engine import History, load_policy, run_simulation
    from engine.decide.reference import Interpreter
    (tmp_path / "p.policy").write_text('policy "c"\nversion "1"\n\ntool t {\n  schema {"not": {"$ref": "#"}}\n'
                                       '  risk low\n}\n\ncategory low {\n  allow\n}\n\nunknown tools deny\n')
    pol = load_policy(str(tmp_path / "p.policy"))
    for args in ({"a": 1}, {}, {"deep": [[[1]]]}):
        d = pol.decide({"tool": "t", "args": args})
        assert d.outcome == "deny" and d.reasons[0].rule == "error", d
        with pytest.raises(RecursionError):   # the panic comes back as the RecursionError it began as
            Interpreter(pol.program).decide({"tool": "t", "args": args})
    (tmp_path / "h.jsonl").write_text('{"id": "x1", "tool": "t", "args": {"a": 1}, '
                                      '"timestamp": "2026-11-20T10:00:00Z"}\n')
    report = run_simulation(pol, History([str(tmp_path / "h.jsonl")]), decisions=str(tmp_path / "d.jsonl"))
    assert report["total"] == 1
    [line] = (tmp_path / "d.jsonl").read_text().splitlines()
    assert json.loads(line)["outcome"] == "deny"
