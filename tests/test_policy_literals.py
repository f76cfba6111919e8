"""No policy text makes the loader raise anything but a PolicyError with a code and a span (finding 13):
literals that Python's conversions refuse (int over 4,300 digits, lone surrogates, huge repeat counts,
numbers no double holds, durations no datetime holds) are load errors at the literal."""
from __future__ import annotations

import pytest

from engine import Policy
from policy_lang import PolicyError, format_source, parse
from policy_lang.checker import load

BIG = "9" * 4301          # over Python's 4,300-digit limit for int(str)


def _tool(cond: str = "") -> str:
    return f'tool t {{ risk low{" when " + cond if cond else ""} }}\n'


CASES = {
    # name: (policy text, code, line, column)
    "integer literal over 4300 digits": ('policy "p"\n' + _tool(f"args.x > {BIG}") + "category low { allow }\n",
                                         "E102", 2, 33),
    "negative integer const over 4300 digits": (f'policy "p"\nconst N = -{BIG}\n' + _tool() + "category low { allow }\n",
                                                "E102", 2, 12),
    "integer in inline JSON over 4300 digits": ('policy "p"\ntool t { schema {"maximum": ' + BIG + '} risk low }\n'
                                                "category low { allow }\n", "E102", 2, 29),
    "budget limit over 4300 digits": ('policy "p"\n' + _tool() + "category low { allow }\n"
                                      f"check b on t {{ budget count() per tenant per 1h <= {BIG} else deny }}\n",
                                      "E102", 4, 52),
    "list index over 4300 digits": ('policy "p"\n' + _tool(f"args.x[{BIG}] == 1") + "category low { allow }\n",
                                    "E102", 2, 31),
    "quorum over 4300 digits": (f'policy "p"\nroute r {{ approvers "a" quorum {BIG} }}\n' + _tool()
                                + "category low { require approval via r }\n", "E102", 2, 32),
    "duration over 4300 digits": (f'policy "p"\nroute r {{ approvers "a" timeout {BIG}h }}\n' + _tool()
                                  + "category low { require approval via r }\n", "E102", 2, 33),
    "budget window no float holds": ('policy "p"\n' + _tool() + "category low { allow }\n"
                                     f"check b on t {{ budget count() per tenant per {'9' * 400}w <= 3 else deny }}\n",
                                     "E102", 4, 46),
    "integer just below 2**1024 (no double holds it)": ('policy "p"\n' + _tool(f"args.x > {2 ** 1024 - 1}")
                                                        + "category low { allow }\n", "E102", 2, 33),
    "decimal that rounds to zero": ('policy "p"\n' + _tool("args.x > 1e-400") + "category low { allow }\n",
                                    "E102", 2, 33),
    "regex repeat count over RE2's limit": ('policy "p"\n' + _tool() + "category low { allow }\n"
                                            'check c on t { require args.x matches "a{4294967296}" else deny }\n',
                                            "E213", 4, 39),
    "lone surrogate in a quoted tool name": ('policy "p"\ntool "a\\uD800" { risk low }\ncategory low { allow }\n',
                                             "E101", 2, 6),
    "lone surrogate in the policy name": ('policy "\\uD800"\n' + _tool() + "category low { allow }\n", "E101", 1, 8),
    "lone surrogate in a deny message": ('policy "p"\n' + _tool() + 'category low { deny "\\uD800" }\n',
                                         "E101", 3, 21),
    "lone surrogate in an ask message": ('policy "p"\n' + _tool() + 'category low { ask "why \\uDFFF" }\n',
                                         "E101", 3, 20),
    "lone surrogate in an escalation target": ('policy "p"\n' + _tool() + 'category low { escalate to "\\uDBFF" }\n',
                                               "E101", 3, 28),
    "lone surrogate in a string const": ('policy "p"\nconst S = "\\uD800"\n' + _tool("args.x == S")
                                         + "category low { allow }\n", "E101", 2, 11),
    "lone surrogate in a pattern": ('policy "p"\n' + _tool() + "category low { allow }\n"
                                    'check c on t { require args.x matches "\\uD800" else deny }\n', "E101", 4, 39),
    "lone surrogate in an inline JSON key": ('policy "p"\ntool t { schema {"\\uD800": 1} risk low }\n'
                                             "category low { allow }\n", "E101", 2, 18),
    "lone surrogate in a use path": ('policy "p"\nuse "\\uD800.policy"\n', "E101", 2, 5),
    "lone surrogate in a schema path": ('policy "p"\ntool t { schema "\\uD800.json" risk low }\n'
                                        "category low { allow }\n", "E101", 2, 17),
    "lone surrogate in an approver": ('policy "p"\nroute r { approvers "\\uD800" }\n' + _tool()
                                      + "category low { require approval via r }\n", "E101", 2, 21),
    "NUL in a use path": ('policy "p"\nuse "a\\u0000.policy"\n', "E300", 2, 1),
    "file name too long in a use path": ('policy "p"\nuse "' + "a" * 5000 + '.policy"\n', "E300", 2, 1),
    "stdlib module name too long": ('policy "p"\nuse stdlib.' + "a" * 5000 + "\n", "E300", 2, 1),
    "NUL in a schema path": ('policy "p"\ntool t { schema "a\\u0000.json" risk low }\ncategory low { allow }\n',
                             "E400", 2, 10),
    "high surrogate followed by a non-surrogate escape": ('policy "p"\n' + _tool('args.x == "\\uD83D\\u0041"')
                                                          + "category low { allow }\n", "E101", 2, 34),
    "raw lone surrogate in the text (Python API)": ('policy "p"\n' + _tool('args.x == "\ud800"')
                                                    + "category low { allow }\n", "E101", 2, 35),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_literal_python_cannot_convert_is_a_policy_error_at_the_literal(tmp_path, name):
    text, code, line, column = CASES[name]
    with pytest.raises(PolicyError) as info:
        load(str(tmp_path / "p.policy"), text)
    (d,) = info.value.diagnostics
    assert (d.code, d.span.line, d.span.column) == (code, line, column), d
    rendered = str(info.value)
    rendered.encode("utf-8")          # printable: no lone surrogate reaches a terminal or a JSON report
    assert len(rendered.splitlines()[0]) < 200   # a 4,301-digit literal is cut in the message
    if code in ("E101", "E102"):
        with pytest.raises(PolicyError):
            format_source(text)        # `signoff fmt` parses alike


def test_a_surrogate_pair_escape_is_one_character(tmp_path):
    text = 'policy "p"\n' + _tool('args.x == "\\uD83D\\uDE00"') + "category low { allow }\ncategory high { deny }\n"
    module = parse(text)
    assert module.decls[1].risks[0].when.right.value == "\U0001F600"
    program = load(str(tmp_path / "p.policy"), text)
    assert Policy(program).decide({"tool": "t", "args": {"x": "😀"}}).outcome == "allow"


def test_the_largest_numbers_and_durations_still_load(tmp_path):
    text = ('policy "p"\nroute r { approvers "a" timeout 36500d }\n'
            + _tool(f"args.x < {10 ** 308} and args.y > -1.7e308 and args.z != 5e-324")
            + "category low { require approval via r }\n"
            "check b on t { budget count() per tenant per 5214w <= 999999999999999999 else deny }\n")
    program = load(str(tmp_path / "p.policy"), text)
    d = Policy(program).decide({"tool": "t", "tenant": {"id": "a"}, "args": {"x": 1, "y": 1, "z": 1}})
    assert d.outcome == "require_approval"
    with pytest.raises(PolicyError) as info:
        load(str(tmp_path / "p.policy"), text.replace("36500d", "36501d"))
    assert info.value.codes == ["E102"]


@pytest.mark.parametrize("content,words", [
    ('{"type": "object", "properties": {"n": {"maximum": ' + "9" * 5000 + '}}}', "more than 4,300 digits"),
    ('{"type": "object", "properties": {"\\ud800": {"type": "string"}}}', "lone surrogate"),
    ('{"type": "object", "enum": ["\\udfff"]}', "lone surrogate"),
], ids=["huge integer", "surrogate key", "surrogate value"])
def test_a_schema_file_python_cannot_convert_is_e401(tmp_path, content, words):
    """A schema file is policy input too: Python's int() limit and lone surrogates are E401, not a traceback."""
    (tmp_path / "s.json").write_text(content, encoding="utf-8")
    with pytest.raises(PolicyError) as info:
        load(str(tmp_path / "p.policy"), 'policy "p"\ntool t { schema "s.json" risk low }\ncategory low { allow }\n')
    (d,) = info.value.diagnostics
    assert d.code == "E401" and words in d.message and "sys.set_int_max_str_digits" not in d.message, d
    str(info.value).encode("utf-8")
