"""Python `re` patterns printed for jsonschema-rs's Rust engine (policy_lang.rsregex): every class over
every code point, and generated patterns of `\\s \\S \\d \\D \\w \\W`, classes and anchors against edge text."""
import array
import re

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from policy_lang.rsregex import category, complement, translate

jsonschema_rs = pytest.importorskip("jsonschema_rs", reason="the `sim` extra brings jsonschema-rs")

# every code point a Rust string can hold
ALL = (array.array("I", range(0xD800)).tobytes().decode("utf-32-le")
       + array.array("I", range(0xE000, 0x110000)).tobytes().decode("utf-32-le"))


def _rs(pattern: str):
    return jsonschema_rs.validator_for({"pattern": pattern}, validate_formats=False)


@pytest.mark.parametrize("pattern", [
    "\\s", "\\S", "\\d", "\\D", "\\w", "\\W", ".", "[^@\\s]", "[\\s\\d]", "[^\\w\\s]", "[^a]", "[\\S\\d]",
    "[^\\D]", "[a-z\\W]", "[\\\\s]", "[]x]", "[\\x00-\\U0010ffff]", "[^\\x1c-\\x1f\\d]"])
def test_a_class_matches_exactly_pythons_code_points(pattern):
    """Two calls cover all 1,112,064 code points: rs's class consumes every one `re` matches, and
    finds none in the string of all the others."""
    rx = re.compile(pattern)
    members = "".join(c for c in ALL if rx.match(c))
    others = "".join(c for c in ALL if not rx.match(c))
    printed = translate(pattern)
    assert printed is not None and printed.exact
    assert _rs(f"^(?:{printed.text})*\\z").is_valid(members)
    assert not others or not _rs(printed.text).is_valid(others)


def test_pythons_space_is_not_unicode_white_space():
    spaces = {chr(c) for lo, hi in category("s") for c in range(lo, hi + 1)}
    assert {"\x1c", "\x1d", "\x1e", "\x1f", "\x85"} <= spaces and "\ufeff" not in spaces
    assert spaces == {c for c in ALL if c.isspace()}
    assert complement(complement(category("w"))) == category("w")


# the characters where the dialects part: Python's whitespace (with \x1c-\x1f and U+0085, without
# U+FEFF), ECMA's extra space, Unicode digits, digits that are not decimal, `_`, combining marks
# (in Rust's \w, not Python's), line ends `.` and `$` treat apart, regex punctuation, a backslash
EDGE = sorted({chr(c) for lo, hi in category("s") for c in range(lo, hi + 1)} | set(
    "\ufeff\u180e\u200b٣०𝟘²½_\u0301\u0300éß中aZ09\n\r\u2028\u2029@.-]^[\\$()|*+?{}ab"))
LITERALS = [c for c in EDGE if c.isascii() and c.isalnum()] + [
    "\\" + c for c in ".^$*+?()[]{}|\\-"] + ["@", "-", "_", "é", "\\n", "\\t", "\\x1c", "\\u0085", "\\u00e9"]
ESCAPES = ["\\s", "\\S", "\\d", "\\D", "\\w", "\\W"]
IN_CLASS = ESCAPES + ["a", "z", "0", "_", "@", ".", "\\\\", "\\]", "\\-", "-", "a-z", "0-9", "\\x00-\\x1f",
                      "\\u2000-\\u200a", "é", "^", "$", "\\n"]


def _class(items, negate):
    return "[" + ("^" if negate else "") + "".join(items) + "]"


atoms = st.one_of(
    st.sampled_from(LITERALS), st.sampled_from(ESCAPES), st.just("."),
    st.builds(_class, st.lists(st.sampled_from(IN_CLASS), min_size=1, max_size=4), st.booleans()),
    st.sampled_from(["\\b", "(?=a)", "(?i)", "\\1", "(?s)", "a++"]),       # refused, or not compiled
)


def _patterns(depth):
    if depth == 0:
        return atoms
    sub = _patterns(depth - 1)
    return st.one_of(
        atoms,
        st.builds(lambda xs: "".join(xs), st.lists(sub, min_size=1, max_size=4)),
        st.builds(lambda x, q: f"(?:{x}){q}", sub, st.sampled_from(["*", "+", "?", "{2}", "{1,3}", "*?", "{0,}"])),
        st.builds(lambda x, q: f"({x}){q}", sub, st.sampled_from(["", "+", "?"])),
        st.builds(lambda a, b: f"{a}|{b}", sub, sub),
    )


patterns = st.builds(lambda pre, body, post: pre + body + post,
                     st.sampled_from(["", "^", "\\A"]), _patterns(2), st.sampled_from(["", "$", "\\Z", "$\\n", "$a"]))
texts = st.lists(st.sampled_from(EDGE), max_size=6).map("".join)


@pytest.mark.filterwarnings("ignore::FutureWarning")     # `re` on `--` in a class: jsonschema's to warn about
@settings(max_examples=2500, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(patterns, st.lists(texts, min_size=1, max_size=8))
def test_generated_patterns_match_as_pythons_re_search(pattern, strings):
    try:
        rx = re.compile(pattern)
    except re.error:
        assert translate(pattern) is None
        return
    printed = translate(pattern)
    if printed is None:
        return
    rs = _rs(printed.text)
    for s in strings + [s + "\n" for s in strings]:
        python = rx.search(s) is not None
        if printed.exact:
            assert rs.is_valid(s) == python, (pattern, printed.text, s)
        else:           # stricter: rs may refuse more, never accept more
            assert not rs.is_valid(s) or python, (pattern, printed.text, s)


def test_what_has_no_exact_translation():
    assert translate("(?i)a") is None and translate("\\bx") is None and translate("(?=a)") is None
    assert translate("(a)\\1") is None and translate("a++") is None and translate("(?>a)") is None
    assert translate("[") is None and translate("\\ud800") is None and translate("[^\\s\\S]") is None
    assert translate("a{1001}") is None and translate("(?a)\\w") is None and translate("(?x) a") is None
    assert not translate("a$b").exact and translate("a$").exact and translate("(?:x|a$)").exact
    assert not translate("(?:a$)+").exact and translate("(?:a$)?").exact
