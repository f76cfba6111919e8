"""Property-based tests (hypothesis) over generated policies and actions; strategies in tests/strategies.py.

1. differential: the compiled engine, the traced graph of `explain` and the reference interpreter
   decide alike, budgets and ledger included; every decision keeps the invariants of spec §1/§3/§4.6;
   advisory checks never change a decision (spec §4.6);
2. round trip: parse(print_module(decls)).decls == decls;
3. fmt: idempotent, keeps every comment, the AST, the decisions and the digest;
4. robustness: parse / load / format raise nothing but PolicyError on arbitrary and mutated text,
   and on nesting of every kind up to the parser's depth limit;
5. fail closed: malformed actions are denied, never raised; a timestamped action's decision does not
   depend on `now`.
Bugs the properties found are kept as regression tests at the end. Deeper hunt:
SIGNOFF_PROPERTY_SCALE=20 (more examples).
"""
from __future__ import annotations

import copy
import dataclasses
import json
import os
import re
import sys
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

sys.path.insert(0, os.path.dirname(__file__))

from strategies import (NOW, HOSTILE_TOKENS, actions, hostile_policy, malformed_actions, messy_layout,  # noqa: E402
                        mutated, policies)

from engine import MemoryLedger, Policy  # noqa: E402
from engine.decide.reference import Interpreter  # noqa: E402
from policy_lang import PolicyError, format_source, parse, print_module  # noqa: E402
from policy_lang import ast as A  # noqa: E402
from policy_lang.checker import load  # noqa: E402
from policy_lang.parser import decode_string, encode_string  # noqa: E402

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SCALE = max(1, int(os.environ.get("SIGNOFF_PROPERTY_SCALE", "1")))


def examples(n: int) -> int:
    return n * SCALE


@pytest.fixture(scope="module")
def policy_path(tmp_path_factory):
    # the file is never written: load(path, text) takes the text; the path only names the file
    return str(tmp_path_factory.mktemp("props") / "gen.policy")


def load_text(path: str, text: str):
    """A generated policy must load: a PolicyError here is a bug in the strategy or the printer."""
    try:
        return load(path, text)
    except PolicyError as e:  # pragma: no cover - reported with the text that failed
        raise AssertionError(f"generated policy does not load:\n{e}\n--- text ---\n{text}") from None


def without_at(d: dict) -> dict:
    """A decision dict minus source positions (they move when the layout changes)."""
    d = copy.deepcopy(d)
    for r in d["reasons"]:
        r.pop("at")
    return d


RANK = {o: i for i, o in enumerate(("allow", "require_approval", "ask", "escalate", "deny"))}
AT = re.compile(r"^.+:[0-9]+:[0-9]+$")


def check_decision_invariants(program, action: dict, d: dict) -> None:
    """What spec §1, §3 and §4.6 say of every decision, whatever the policy."""
    binding = [r for r in d["reasons"] if not r.get("advisory")]
    assert d["outcome"] == max((r["outcome"] for r in binding), key=RANK.get, default="allow")
    if d["outcome"] == "require_approval":
        assert d["route"] is not None and d["routes"] and d["route"]["name"] == d["routes"][0]
        assert set(d["routes"]) <= set(program.routes)
    else:
        assert d["route"] is None and d["routes"] == []
    assert (d["escalate_to"] is not None) == (d["outcome"] == "escalate")
    assert bool(d["ask"]) == (d["outcome"] == "ask")
    if any(r["rule"] == "error" for r in binding):
        assert d["outcome"] == "deny"                          # never fail open
    assert d["mode"] in ("assisted", "guarded", "autonomous")
    if d["mode"] == "assisted":
        assert d["outcome"] != "allow"
    if d["mode"] == "autonomous":
        assert not any(r["rule"].startswith("category ") and r["outcome"] == "require_approval"
                       for r in d["reasons"])
    assert all(AT.match(r["at"]) for r in d["reasons"])
    assert d["policy"] == {"name": program.name, "version": program.version, "digest": program.digest}
    c = action.get("confidence")
    if c is not None and (isinstance(c, bool) or not isinstance(c, (int, float)) or not 0 <= c <= 1):
        # spec §2 (v1.1): a confidence outside [0, 1] is an input error, whatever the policy
        assert d["outcome"] == "deny" and d["category"] is None
        assert [r["rule"] for r in d["reasons"]] == ["error"] and "`confidence`" in d["reasons"][0]["message"]
        return
    if action["tool"] not in program.tools and action["tool"] not in program.aliases:
        assert d["category"] is None and d["reasons"][0]["rule"] == "unknown tools"
    else:
        assert d["category"] is None or d["category"] in program.levels
        assert d["category"] is not None or d["reasons"][0]["rule"].startswith("schema ")


# --------------------------------------------------------------------------- 1. differential
@settings(max_examples=examples(100), **SETTINGS)
@given(gp=policies(), data=st.data())
def test_compiled_engine_matches_reference_interpreter(policy_path, gp, data):
    program = load_text(policy_path, print_module(gp.decls))
    policy, interp = Policy(program), Interpreter(program)
    now = data.draw(st.sampled_from([NOW, NOW + timedelta(hours=7, minutes=13)]), label="now")
    # two ledgers built identically: one for each side, so neither can see the other's writes
    mine, theirs = MemoryLedger(), MemoryLedger()
    history = data.draw(st.lists(actions(gp), max_size=8), label="history")
    for h in history:
        assert policy.record(h, mine, now) == policy.record(h, theirs, now)
    for a in data.draw(st.lists(actions(gp), min_size=1, max_size=6), label="actions"):
        got = policy.decide(a, mine, now).to_dict()
        want = interp.decide(a, theirs, now).to_dict()
        assert got == want, a
        check_decision_invariants(program, a, got)
        assert policy.decide(a, None, now).to_dict() == interp.decide(a, None, now).to_dict(), a
        traced, _ = policy.explain(a, mine, now)      # the traced graph (--explain) decides alike too
        assert traced.to_dict() == got, a
        if got["outcome"] == "allow" or data.draw(st.integers(0, 3), label="execute anyway") == 0:
            policy.record(a, mine, now)          # it executed: later budgets see it
            policy.record(a, theirs, now)
        assert len(mine) == len(theirs)


def without_advisory_checks(decls):
    """The policy minus every check whose effective (last) definition is advisory."""
    last = {}
    for d in decls:
        if isinstance(d, A.Check):
            last[d.name] = d
    gone = {name for name, d in last.items() if d.advisory}
    return tuple(d for d in decls if not (isinstance(d, A.Check) and d.name in gone))


@settings(max_examples=examples(40), **SETTINGS)
@given(gp=policies(max_tools=3), data=st.data())
def test_advisory_checks_never_change_the_decision(policy_path, gp, data):
    """Spec §4.6: advisory checks are reported, never combined into the outcome."""
    with_adv = Policy(load_text(policy_path, print_module(gp.decls)))
    without = Policy(load_text(policy_path, print_module(without_advisory_checks(gp.decls))))
    for a in data.draw(st.lists(actions(gp), min_size=1, max_size=5), label="actions"):
        d1 = without_at(with_adv.decide(a, None, NOW).to_dict())
        d2 = without_at(without.decide(a, None, NOW).to_dict())
        d1["reasons"] = [r for r in d1["reasons"] if not r.get("advisory")]
        del d1["policy"], d2["policy"]
        assert d1 == d2, a


# --------------------------------------------------------------------------- 2. round trip
@settings(max_examples=examples(100), **SETTINGS)
@given(gp=policies())
def test_printed_ast_parses_back_to_the_same_ast(gp):
    text = print_module(gp.decls)
    got = parse(text).decls
    for mine, back in zip(gp.decls, got):      # name the first declaration that differs
        assert back == mine, f"\n{print_module([mine])}\ngenerated: {mine!r}\nparsed:    {back!r}"
    assert got == gp.decls
    assert print_module(parse(text).decls) == text       # printing is a function of the AST alone
    assert format_source(text) == text                    # and its output is already formatted


# --------------------------------------------------------------------------- 3. fmt
@settings(max_examples=examples(50), **SETTINGS)
@given(gp=policies(max_tools=3), data=st.data())
def test_fmt_is_idempotent_and_keeps_meaning(policy_path, gp, data):
    messy = data.draw(messy_layout(print_module(gp.decls)), label="messy")
    once = format_source(messy)
    assert format_source(once) == once
    before, after = parse(messy), parse(once)
    assert after.decls == before.decls
    assert [c.text for c in after.comments] == [c.text for c in before.comments]   # every comment kept, in order
    original, formatted = load_text(policy_path, messy), load_text(policy_path, once)
    assert formatted.digest == original.digest
    p1, p2 = Policy(original), Policy(formatted)
    for a in data.draw(st.lists(actions(gp), min_size=1, max_size=5), label="actions"):
        assert without_at(p2.decide(a, None, NOW).to_dict()) == without_at(p1.decide(a, None, NOW).to_dict())


# --------------------------------------------------------------------------- 4. robustness
def parse_or_policy_error(text: str):
    try:
        return parse(text, "fuzz.policy")
    except PolicyError:
        return None


def strings_in(node):
    """Every str inside an AST node (dataclass fields, tuples, inline JSON)."""
    if isinstance(node, str):
        yield node
    elif dataclasses.is_dataclass(node):
        for f in dataclasses.fields(node):
            yield from strings_in(getattr(node, f.name))
    elif isinstance(node, (tuple, list)):
        for x in node:
            yield from strings_in(x)
    elif isinstance(node, dict):
        for k, v in node.items():
            yield k
            yield from strings_in(v)


def hits_backslash_bug(module) -> bool:
    """True when a string of the module does not survive the printer (the known encode_string bug)."""
    return any(decode_string(encode_string(s)) != s for s in strings_in(module.decls))


def check_robust(path: str, text: str) -> None:
    module = parse_or_policy_error(text)      # anything else than PolicyError propagates and fails
    try:
        load(path, text)
    except PolicyError:
        pass
    if module is not None and not hits_backslash_bug(module):
        # what parses can be formatted, and formats to the same AST
        formatted = format_source(text)
        assert parse(formatted).decls == module.decls
        assert format_source(formatted) == formatted


@settings(max_examples=examples(300), **SETTINGS)
@given(text=st.text(max_size=200))
@example(text="(" * 5000)
@example(text='policy "p" tool t { risk low when ' + "(" * 3000 + "true" + ")" * 3000 + " }")
@example(text='policy "p" tool t { risk low when ' + "not " * 3000 + "true }")
@example(text='policy "p" const X = ' + "[" * 3000 + "]" * 3000)
@example(text='policy "p" tool t { risk low when args.x == 1e999 }')
@example(text='policy "p" tool t { schema {"a": 1e999} }')
@example(text='policy "p"\nuse "./nope.policy"\nuse stdlib.nope')
def test_arbitrary_text_only_raises_policy_error(policy_path, text):
    check_robust(policy_path, text)


@settings(max_examples=examples(200), **SETTINGS)
@given(text=hostile_policy())
@example(text='policy "p"\ntool t { risk low when args.x > ' + "9" * 4301 + ' }\ncategory low { allow }\n')
@example(text='policy "p"\ntool t { risk low }\ncategory low { allow }\n'
              'check c on t { require args.x matches "a{4294967296}" else deny }\n')
@example(text='policy "\\uD800"\ntool t { risk low }\ncategory low { deny "\\uD800" }\n')
def test_hostile_literals_only_raise_policy_error(policy_path, text):
    """Literals Python's conversions refuse (finding 13) in every literal position: a PolicyError whose
    rendering is valid UTF-8, or a policy that loads and decides."""
    check_robust(policy_path, text)
    try:
        program = load(policy_path, text)
    except PolicyError as e:
        assert e.diagnostics and all(d.code for d in e.diagnostics)
        str(e).encode("utf-8")
        return
    d = Policy(program).decide({"tool": "t", "tenant": {"id": "a"}, "args": {"x": "a"}}, MemoryLedger(), NOW)
    json.dumps(d.to_dict(), ensure_ascii=False).encode("utf-8")   # what the policy put in it prints as UTF-8


@settings(max_examples=examples(100), **SETTINGS)
@given(gp=policies(max_tools=2), data=st.data())
def test_policies_with_hostile_tokens_only_raise_policy_error(policy_path, gp, data):
    """A generated policy with one hostile literal inserted anywhere."""
    text = print_module(gp.decls)
    i = data.draw(st.integers(0, len(text)), label="at")
    check_robust(policy_path, text[:i] + " " + data.draw(HOSTILE_TOKENS, label="token") + " " + text[i:])


@settings(max_examples=examples(150), **SETTINGS)
@given(gp=policies(max_tools=2), data=st.data())
def test_mutated_policies_only_raise_policy_error(policy_path, gp, data):
    text = data.draw(mutated(print_module(gp.decls)), label="mutated")
    check_robust(policy_path, text)


# --------------------------------------------------------------------------- 5. fail closed
@settings(max_examples=examples(70), **SETTINGS)
@given(gp=policies(max_tools=2), data=st.data())
def test_malformed_actions_are_denied_never_raised(policy_path, gp, data):
    program = load_text(policy_path, print_module(gp.decls))
    policy = Policy(program)
    ledger = MemoryLedger()
    for a in data.draw(st.lists(malformed_actions(gp), min_size=1, max_size=4), label="malformed"):
        for led in (None, ledger):
            d = policy.decide(a, led, NOW)
            assert d.outcome == "deny", a
            assert d.category is None and any(r.rule == "error" for r in d.reasons), a
            assert d.to_dict()["outcome"] == "deny"
        assert policy.record(a, ledger, NOW) == 0


@settings(max_examples=examples(40), **SETTINGS)
@given(gp=policies(max_tools=2), data=st.data())
def test_timestamped_actions_do_not_depend_on_now(policy_path, gp, data):
    """With every action carrying its timestamp, `now` (the clock) may not matter at all."""
    policy = Policy(load_text(policy_path, print_module(gp.decls)))
    for a in data.draw(st.lists(actions(gp, with_timestamp=True), min_size=1, max_size=4), label="actions"):
        d1 = policy.decide(a, MemoryLedger(), NOW).to_dict()
        d2 = policy.decide(a, MemoryLedger(), NOW + timedelta(days=400)).to_dict()
        assert d1 == d2
        assert d1["outcome"] in ("allow", "require_approval", "ask", "escalate", "deny")


# --------------------------------------------------------------------------- the ledger
@settings(max_examples=examples(150), **SETTINGS)
@given(entries=st.lists(st.tuples(st.sampled_from("ab"), st.integers(0, 40), st.integers(-5, 10**20)), max_size=25),
       queries=st.lists(st.tuples(st.sampled_from("ab"), st.integers(-5, 45), st.integers(0, 50)), min_size=1,
                        max_size=8),
       cut=st.one_of(st.none(), st.integers(-1, 41)))
def test_memory_ledger_sums_its_window_exactly_for_integer_amounts(entries, queries, cut):
    """total(key, start, end) is the sum over start < t <= end, whatever order the entries came in."""
    ledger = MemoryLedger()
    for k, t, amount in entries:                 # times in any order: out-of-order inserts rebuild sums
        ledger.add(k, float(t), amount)
    assert len(ledger) == len(entries)
    if cut is not None:                          # a replay prunes what no window can reach any more
        ledger.prune(float(cut))
        entries = [e for e in entries if e[1] > cut]
    for k, start, width in queries:
        if cut is not None and start < cut:
            start = cut
        want = sum(a for kk, t, a in entries if kk == k and start < t <= start + width)
        assert ledger.total(k, float(start), float(start + width)) == want


# --------------------------------------------------------------------------- regressions
# Minimal reproductions of bugs the properties above found, all fixed; each test asserts the fix.

BUG_BASE = '''policy "p"
route r { approvers "a" }
tool t { risk low when args.x == 9007199254740993 }
category low { allow }
category high { deny }
'''


def test_big_int_equality_matches_reference(policy_path):
    """Found by the differential property (fixed upstream in 813e509): ints past 2**53 compare as doubles."""
    program = load(policy_path, BUG_BASE)
    a = {"tool": "t", "args": {"x": 9007199254740992.0}}
    got = Policy(program).decide(a, None, NOW).to_dict()
    assert got == Interpreter(program).decide(a, None, NOW).to_dict()
    assert got["category"] == "low"


def test_bug_check_listing_a_tool_twice_runs_twice(policy_path):
    program = load(policy_path, BUG_BASE + 'check c on t, t { require false else ask "q" }\n')
    a = {"tool": "t", "args": {"x": 1}}
    got = Policy(program).decide(a, None, NOW).to_dict()
    assert [r["rule"] for r in got["reasons"]] == ["category high", "check c"]
    assert got == Interpreter(program).decide(a, None, NOW).to_dict()


def test_bug_timestamp_overflow_escapes_decide(policy_path):
    policy = Policy(load(policy_path, BUG_BASE))
    d = policy.decide({"tool": "t", "timestamp": "9999-12-31T23:59:60Z"}, None, NOW)
    assert d.outcome == "deny"


def test_bug_format_changes_a_string_with_backslash_before_an_escape():
    src = 'policy "p"\nroute r { approvers "a" }\ntool t { risk low }\ncategory low { deny "\\\\\\n" }\n'
    assert parse(src).decls[-1].lines[0].outcome.text == "\\\n"
    assert parse(format_source(src)).decls == parse(src).decls


def test_bug_ledger_overflows_on_huge_int_amounts(policy_path):
    program = load(policy_path, '''policy "p"
tool t { risk low }
category low { allow }
check b on t { budget sum(args.amount) per tenant per 1d <= 10 else escalate to "ops" }
''')
    policy, ledger = Policy(program), MemoryLedger()
    big = {"tool": "t", "tenant": {"id": "a"}, "args": {"amount": 10**308}}
    policy.record(big, ledger, NOW)
    policy.record(big, ledger, NOW)
    small = {"tool": "t", "tenant": {"id": "a"}, "args": {"amount": 1.0}}
    d = policy.decide(small, ledger, NOW)
    assert [r.rule for r in d.reasons] == ["category low", "check b"]    # over budget, not an internal error
    policy.record(small, ledger, NOW)                                     # raises OverflowError


# Deep nesting: the parser accepts expressions a few hundred levels deep (and rejects deeper ones
# with E104), but later stages recurse more per level. Every depth must either be refused with a
# PolicyError or work all the way: load, compile, decide, format.
_HEAD = 'policy "p"\nroute r0 { approvers "a" }\n'
_TAIL = 'category low { allow }\ncategory high { deny }\n'


def _risk(e: str) -> str:
    return _HEAD + "tool t { risk low when " + e + " }\n" + _TAIL


NESTING = {
    "parens": lambda n: _risk("(" * n + "true" + ")" * n),
    "const_list": lambda n: _HEAD + "const X = " + "[" * n + "]" * n + "\ntool t { risk low when X == [] }\n" + _TAIL,
    "schema_object": lambda n: _HEAD + "tool t { schema " + '{"not": ' * n + "{}" + "}" * n + " risk low }\n" + _TAIL,
    "not": lambda n: _risk("not " * n + "true"),
    "and": lambda n: _risk(" and ".join(["true"] * n)),
    "or": lambda n: _risk(" or ".join(["false"] * n)),
    "plus": lambda n: _risk(" + ".join(["1"] * n) + " == 1"),
    "unary_minus": lambda n: _risk("-" * n + "args.x == 1"),
    "compare": lambda n: _risk("(" * n + "1" + " == 1)" * n),
    "list": lambda n: _risk("[" * n + "]" * n + " == 1"),
    "call": lambda n: _risk("len(" * n + '"x"' + ")" * n + " == 1"),
    "schema_array": lambda n: _HEAD + 'tool t { schema {"enum": ' + "[" * n + "]" * n + "} risk low }\n" + _TAIL,
}


@pytest.mark.parametrize("kind", list(NESTING))
def test_deep_nesting_is_refused_or_works(policy_path, kind):
    stage = "parse"
    try:
        for n in range(50, 700, 25):                 # the parser refuses most kinds from ~490 levels
            text = NESTING[kind](n)
            stage = "parse"
            if parse_or_policy_error(text) is None:
                return                               # refused at parse: fine from here on
            try:
                stage = "load"
                program = load(policy_path, text)
            except PolicyError:
                continue
            stage = "compile"
            policy = Policy(program)
            stage = "decide"
            d = policy.decide({"tool": "t", "args": {"x": 1}}, None, NOW)
            assert "internal error" not in d.reasons[0].message, (n, d)
            stage = "format"
            format_source(text)
    except RecursionError:
        failure = f"RecursionError in {stage} at {n} levels of {kind}"
    else:
        return
    # failed outside the `except`: pytest would spend seconds rendering the 1000-frame traceback
    pytest.fail(failure, pytrace=False)


def test_bug_ledger_loses_small_amounts_after_a_large_one(policy_path):
    program = load(policy_path, '''policy "p"
tool t { risk low }
category low { allow }
check b on t { budget sum(args.amount) per tenant per 1d <= 3 else escalate to "ops" }
''')
    policy, ledger = Policy(program), MemoryLedger()
    policy.record({"tool": "t", "tenant": {"id": "a"}, "args": {"amount": 1e17}}, ledger, NOW - timedelta(days=2))
    for i in range(5):
        policy.record({"tool": "t", "tenant": {"id": "a"}, "args": {"amount": 1.0}}, ledger,
                      NOW - timedelta(minutes=i))
    d = policy.decide({"tool": "t", "tenant": {"id": "a"}, "args": {"amount": 1.0}}, ledger, NOW)
    assert d.outcome == "escalate"           # 5 + 1 > 3 in the last day; the ledger says 0 + 1
