"""The action walk (LANGUAGE.md §2): orjson's proof of cleanness answers exactly what the Python walk does."""
from __future__ import annotations

import collections
import math
from types import MappingProxyType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.decide import actions as A

BIG = [2 ** 53 - 1, 2 ** 53, -(2 ** 53), 2 ** 63 - 1, 2 ** 63, 2 ** 64, -(2 ** 64) - 1, 2 ** 1023, 2 ** 1024,
       -(2 ** 1024), 10 ** 400]
FLOATS = [0.0, -0.0, 1.5, 1e308, float("nan"), float("inf"), float("-inf"), 5e-324]


class Text(str):
    """A str subclass: the walk checks it by the same rules."""


class Number(float):
    """A float subclass, which orjson refuses and the walk checks."""


class Seq(list):
    """A list subclass: both walks descend into it."""


scalars = st.one_of(
    st.none(), st.booleans(), st.sampled_from(BIG), st.integers(), st.sampled_from(FLOATS),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(alphabet=st.characters(), max_size=6),
    st.sampled_from(["null", "nullable", "\ud800", "a\udfffb", "é", "\u2028"]),
    st.builds(Text, st.sampled_from(["ok", "\udc00", "null"])),
    st.builds(Number, st.sampled_from([1.0, float("nan")])),
)
keys = st.one_of(st.text(max_size=4), st.sampled_from(["null", "\ud800", "k"]), st.integers(-2, 2),
                 st.booleans(), st.none(), st.builds(Text, st.sampled_from(["k", "\udfff"])))


def _containers(children):
    return st.one_of(
        st.lists(children, max_size=4),
        st.lists(children, max_size=3).map(tuple),
        st.lists(children, max_size=3).map(Seq),
        st.dictionaries(keys, children, max_size=4),
        st.dictionaries(st.text(max_size=3), children, max_size=3).map(collections.OrderedDict),
        st.dictionaries(st.text(max_size=3), children, max_size=3).map(MappingProxyType),
    )


values = st.recursive(scalars, _containers, max_leaves=12)
actions = st.dictionaries(st.sampled_from(["tool", "args", "context", "id", "x", "null"]), values, max_size=5)


@settings(max_examples=600, deadline=None)
@given(actions)
def test_the_orjson_proof_and_the_python_walk_agree(action):
    assert A._any_bad(action) == A._walk_bad(action)


@settings(max_examples=300, deadline=None)
@given(values)
def test_nested_anywhere(value):
    action = {"tool": "t", "args": {"deep": [value]}, "context": {"x": {"y": value}}}
    assert A._any_bad(action) == A._walk_bad(action)


@pytest.mark.parametrize("bad", [
    float("nan"), float("inf"), -math.inf, 2 ** 1024, "\ud800", {1: "x"}, {"\udfff": 1}, {None: 1},
    Number("nan"), [float("nan")], Seq([float("nan")]), Seq([{2: 1}]), (float("inf"),), MappingProxyType({"a": float("nan")}),
])
def test_what_must_be_found_is_found(bad):
    action = {"tool": "t", "args": {"v": bad}}
    assert A._any_bad(action) and A._walk_bad(action)
    with pytest.raises(A.ActionError):
        A.check_action(action)


def test_a_clean_action_is_proven_clean_without_the_walk(monkeypatch):
    """The fast path is taken: a wrong implementation that always walks (or never proves) fails here."""
    def walk(action):
        raise AssertionError("walked")
    monkeypatch.setattr(A, "_walk_bad", walk)
    clean = {"tool": "t", "args": {"amount": 2 ** 53 - 1, "ref": "é", "l": [1.5, True, {"k": "v"}]},
             "confidence": 0.5}
    assert A._any_bad(clean) is False
    assert A.check_action(clean)[0] is clean   # check_action has the same step inline
    with pytest.raises(AssertionError, match="walked"):   # `null` anywhere is walked in Python
        A._any_bad({"tool": "t", "args": {"gone": None}})
    with pytest.raises(AssertionError, match="walked"):
        A.check_action({"tool": "t", "args": {"gone": None}})


def test_without_orjson_the_walk_decides_alone(monkeypatch):
    monkeypatch.setattr(A, "_orjson_dumps", None)
    assert A._any_bad({"tool": "t", "args": {"v": float("nan")}})
    assert not A._any_bad({"tool": "t", "args": {"v": 1.0}})
