"""`matches` is RE2 (spec §4.7, v1.1): linear time, RE2 semantics in both engines, load errors for what RE2 lacks."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import re2

import policy_lang
from engine import Policy
from engine.decide.reference import Interpreter
from policy_lang import PolicyError
from policy_lang.checker import load

ROOT = Path(policy_lang.__file__).resolve().parent.parent   # the code under test, wherever it is


def regex_module():
    """policy_lang.regex, imported per test so the other tests of this file run on code without it."""
    from policy_lang import regex
    return regex


def policy_with(pattern: str, negate: bool = False) -> str:
    cond = f"{'not ' if negate else ''}args.x matches {json.dumps(pattern)}"
    return ('policy "p"\ntool t { risk low }\ncategory low { allow }\n'
            f'check c on t {{ require {cond} else escalate to "false" }}\n')


def both(text: str, value, tmp_path) -> tuple:
    """The compiled engine's and the reference interpreter's outcome for `args.x = value`."""
    program = load(str(tmp_path / "p.policy"), text)
    action = {"tool": "t", "args": {"x": value}}
    return Policy(program).decide(action).outcome, Interpreter(program).decide(action).outcome


# --------------------------------------------------------------------------- linear time
# Each pattern takes exponential (or high polynomial) time in Python's backtracking `re` on its
# near-miss value: over 5 s each before v1.1, (a|a)*$ over 10 s (the finding). The decision runs in
# a child process under a generous timeout, so a regression fails instead of hanging the suite,
# and the child measures the decision alone with time.monotonic: < 1 s is a 10x margin over a
# slow CI machine (RE2 takes microseconds).
BACKTRACKING = [
    ("(a|a)*$", "a" * 28 + "b", True),
    ("(a+)+$", "a" * 28 + "b", False),
    ("^(a+)+$", "a" * 28 + "b", False),
    ("(a*)*b", "a" * 28, False),
    ("(x+x+)+y", "x" * 28, False),
    ("^(.*a){12}$", "a" * 40 + "b", False),
    ("(.*a){12}", "a" * 11 + "b" * 300, False),
    ("^([A-Z0-9]+-?)+$", "A" * 30 + "!", False),
]

_CHILD = textwrap.dedent("""
    import json, sys, time
    from policy_lang.checker import load
    from engine import Policy
    from engine.decide.reference import Interpreter
    pattern, value, path = json.loads(sys.argv[1])
    text = ('policy "p"\\ntool t { risk low }\\ncategory low { allow }\\n'
            'check c on t { require args.x matches ' + json.dumps(pattern) + ' else escalate to "false" }\\n')
    program = load(path, text)
    policy, ref = Policy(program), Interpreter(program)
    action = {"tool": "t", "args": {"x": value}}
    out = {}
    for name, decide in (("compiled", policy.decide), ("reference", ref.decide)):
        t0 = time.monotonic()
        outcome = decide(action).outcome
        out[name] = [outcome, time.monotonic() - t0]
    print(json.dumps(out))
""")


def decide_in_child(tmp_path, pattern: str, value: str) -> dict:
    """{engine: [outcome, seconds]} from a child process, or a failure after 20 s (a hang)."""
    try:
        r = subprocess.run([sys.executable, "-c", _CHILD, json.dumps([pattern, value, str(tmp_path / "p.policy")])],
                           cwd=ROOT, capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail(f"`{pattern}` on a {len(value)}-character value did not decide within 20 s")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.mark.parametrize("pattern,value,found", BACKTRACKING, ids=[p for p, _, _ in BACKTRACKING])
def test_backtracking_patterns_decide_in_linear_time(tmp_path, pattern, value, found):
    out = decide_in_child(tmp_path, pattern, value)
    want = "allow" if found else "escalate"
    for engine, (outcome, seconds) in out.items():
        assert outcome == want, (engine, out)
        assert seconds < 1.0, (engine, pattern, seconds)


@pytest.mark.parametrize("pattern", ["(x+x+)+y", "^(x|x)*$", "^(.*x){12}$", "(\\w+\\s?)*$!"])
def test_the_longest_value_is_linear_too(tmp_path, pattern):
    """10,000 characters (the limit) on the worst patterns: still well under a second, in both engines."""
    out = decide_in_child(tmp_path, pattern, "x" * 9_999 + "!")
    for engine, (outcome, seconds) in out.items():
        assert outcome == "escalate" and seconds < 1.0, (engine, pattern, out)


def test_a_value_over_10000_characters_is_an_error_in_both_engines(tmp_path):
    assert both(policy_with("a"), "a" * 10_001, tmp_path) == ("deny", "deny")
    assert both(policy_with("a"), "a" * 10_000, tmp_path) == ("allow", "allow")


# --------------------------------------------------------------------------- RE2 semantics
SEMANTICS = [
    # pattern, value, RE2's answer (Python's re gave the other one for every row but the last few)
    (r"^\d+$", "١٢٣", False),          # \d is ASCII
    (r"^\w$", "é", False),              # \w is ASCII
    (r"a\sb", "a\u00a0b", False),       # \s is ASCII: no no-break space
    (r"a\sb", "a\x0bb", False),         # \s is [\t\n\f\r ] in RE2, no vertical tab
    (r"^[a-z]+$", "abc\n", False),      # $ is the end of the text, a final newline does not pass
    (r"\bé", "xé", True),               # \b is an ASCII word boundary: é is not a word character
    (r"^\pL$", "é", True),
    (r"(?i)^straße$", "STRASSE", False),  # simple case folding only
    (r"(?i)^É$", "é", True),
    (r"(?m)^b$", "a\nb", True),
    (r"(?s)a.b", "a\nb", True),
    (r"a.b", "a\nb", False),
    (r"^.$", "😀", True),               # `.` is one character, not one UTF-16 unit or byte
    (r"\Qa.b\E", "a.b", True),
    (r"[[:digit:]]", "7", True),
    (r"x{01}", "x{01}", True),          # RE2: a count with a leading zero is literal text
    (r"^(?P<y>\d{4})-(?<m>\d{2})$", "2026-11", True),
    (r"", "", True),
]


@pytest.mark.parametrize("pattern,value,want", SEMANTICS, ids=[f"{p}~{v!r}" for p, v, _ in SEMANTICS])
def test_both_engines_have_re2_semantics(tmp_path, pattern, value, want):
    outcome = "allow" if want else "escalate"
    assert both(policy_with(pattern), value, tmp_path) == (outcome, outcome)


@pytest.mark.parametrize("pattern,value,want", SEMANTICS)
def test_the_engines_direct_search_agrees_with_the_public_api(pattern, value, want):
    """engine/decide/exprs.py calls the compiled RE2 object directly (fast path); the reference uses re2.search."""
    rx = regex_module()
    assert rx.searcher(pattern)(value) is want
    assert (re2.search(pattern, value, options=rx.options()) is not None) is want


def test_no_stdlib_re_while_compiling_or_deciding(tmp_path, monkeypatch):
    """The engine only ever runs RE2: Python's `re` module functions are a tripwire while compiling
    the policy and deciding (module-level patterns compiled at import are not matched against policy text)."""
    program = load(str(tmp_path / "p.policy"), policy_with(r"^INV-\d+$"))

    def tripwire(*args, **kwargs):
        raise AssertionError(f"stdlib re called with {args[:1]}")
    for name in ("compile", "search", "match", "fullmatch", "findall", "finditer"):
        monkeypatch.setattr(re, name, tripwire)
    action = {"tool": "t", "args": {"x": "INV-42"}}
    assert Policy(program).decide(action).outcome == "allow"
    assert Interpreter(program).decide(action).outcome == "allow"


def test_options_are_set_explicitly():
    rx = regex_module()
    o = rx.options()
    assert o.encoding == re2.Options.Encoding.UTF8 and o.posix_syntax is False and o.longest_match is False
    assert o.never_capture is True and o.log_errors is False and o.case_sensitive is True
    assert o.dot_nl is False and o.never_nl is False and o.literal is False and o.max_mem == rx.MAX_MEM


def test_a_bad_pattern_prints_nothing_on_stderr(tmp_path, capfd):
    """RE2 logs compile errors on stderr (fd 2) unless `log_errors` is off: the diagnostic is enough."""
    with pytest.raises(PolicyError):
        load(str(tmp_path / "p.policy"), policy_with("(?=a)"))
    with pytest.raises(PolicyError):
        load(str(tmp_path / "p.policy"), policy_with("(a"))
    assert capfd.readouterr().err == ""


def test_a_lone_surrogate_in_the_value_is_an_error_not_a_crash(tmp_path):
    assert both(policy_with("a"), "a\udfff", tmp_path) == ("deny", "deny")


# --------------------------------------------------------------------------- load errors
REFUSED = [
    # pattern, code, words in the message, words in the help
    ("^(?!TEST-)INV-\\d+$", "E220", "negative lookahead", "and not x matches"),
    ("(?=.*\\d)", "E220", "lookahead", "positively"),
    ("(?<=\\$)\\d+", "E220", "lookbehind", "two conditions"),
    ("(?<!\\.)env", "E220", "negative lookbehind", "two conditions"),
    ("(a)\\1", "E220", "backreference `\\1`", "list the forms"),
    ("(?P<q>a)(?P=q)", "E220", "backreference `(?P=name)`", "list the forms"),
    ("(?<q>a)\\k<q>", "E220", "backreference `\\k<name>`", "list the forms"),
    ("(?>a+)b", "E220", "atomic group", "(?:…)"),
    ("a++b", "E220", "possessive", "drop the last `+`"),
    ("(a)?(?(1)b|c)", "E220", "conditional", "|"),
    ("a\\Z", "E220", "`\\Z`", "`\\z`"),
    ("\\C", "E220", "single byte", "`.`"),
    ("a{4294967296}", "E213", "repeat count `{4294967296}` is larger than 1000", "len(…)"),
    ("a{0,99999999999999999999}", "E213", "larger than 1000", "len(…)"),
    ("a{1001}", "E213", "larger than 1000", "len(…)"),
    ("(a{100}){100}", "E213", "nested repeats", "1000"),
    ("\\pL{1000}", "E213", "more than 8 MiB", "split it"),
    ("(ab", "E213", "missing )", None),
    ("[z-a]", "E213", "invalid character class range", None),
]


@pytest.mark.parametrize("pattern,code,words,help", REFUSED, ids=[p for p, *_ in REFUSED])
def test_what_re2_cannot_run_is_a_load_error_with_help(tmp_path, pattern, code, words, help):
    with pytest.raises(PolicyError) as info:
        load(str(tmp_path / "p.policy"), policy_with(pattern))
    (d,) = info.value.diagnostics
    assert d.code == code and words in d.message, d
    assert d.span.line == 4 and d.span.column > 1
    if help is not None:
        assert d.help and help in d.help, d.help
    assert d.message[0].islower() or d.message[0] in "`R", d.message   # "RE2 has no …" names the engine


def test_a_repeat_count_of_ten_digits_is_not_read_as_literal_text():
    """RE2 alone would accept `a{4294967296}` as the literal text `a{4294967296}` — the checker refuses it."""
    problem = regex_module().problem
    assert re2.compile("a{4294967296}", regex_module().options()).search("a{4294967296}") is not None
    assert problem("a{4294967296}").code == "E213"
    assert problem("[a{4294967296}]") is None      # inside a class: literal characters
    assert problem("\\{4294967296}") is None       # escaped brace
    assert problem("\\Qa{4294967296}\\E") is None  # quoted


def test_shipped_policies_use_no_construct_re2_lacks():
    """Every `matches` pattern of the stdlib and the examples compiles under RE2 (they all load)."""
    from policy_lang.loader import expand_paths
    for path in expand_paths([str(ROOT / "stdlib_policies"), str(ROOT / "examples")]):
        text = Path(path).read_text(encoding="utf-8")
        if not re.search(r"^policy ", text, re.M):
            continue   # a module: loaded through its importer
        load(path)
