"""The parsed-AST cache: entries give back the very AST (spans included), and nothing else is trusted."""
import dataclasses
import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from policy_lang import PolicyError, ast as A
from policy_lang import astcache
from policy_lang.checker import load
from policy_lang.parser import parse
from policy_lang.printer import format_module

ROOT = Path(__file__).resolve().parent.parent
POLICIES = sorted(p for p in (ROOT / "examples").glob("*/*.policy")) + sorted((ROOT / "stdlib_policies").glob("*.policy"))


def spans(v):
    """Every node as (class, span) in walk order, so that two ASTs with one span apart differ."""
    out = []
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        out.append((type(v).__name__, getattr(v, "span", None)))
        for f in dataclasses.fields(v):
            out.extend(spans(getattr(v, f.name)))
    elif isinstance(v, (list, tuple)):
        for x in v:
            out.extend(spans(x))
    elif isinstance(v, dict):
        for x in v.values():
            out.extend(spans(x))
    return out


@pytest.mark.parametrize("path", POLICIES, ids=[p.stem for p in POLICIES])
def test_an_entry_gives_back_the_same_ast_spans_and_comments_under_the_new_file_name(path, tmp_path):
    text = path.read_text()
    first, formatted = astcache.parse_cached(text, "a.policy", root=tmp_path)
    assert formatted == format_module(first)
    assert len(list(tmp_path.rglob("*.json"))) == 1
    again, formatted2 = astcache.parse_cached(text, "b.policy", root=tmp_path)   # from the entry
    fresh = parse(text, "b.policy")
    assert again == fresh and again.file == "b.policy"
    assert spans(again.decls) == spans(fresh.decls)            # span equality is off in ==: compared here
    assert again.comments == fresh.comments and formatted2 == format_module(fresh)
    assert all(s is None or s.file in ("b.policy", A.NO_SPAN.file) for _, s in spans(again.decls))


def _entry(tmp_path):
    (entry,) = tmp_path.rglob("*.json")
    return entry


SMALL = 'policy "p"\nroute r { approvers "a"  quorum 1 }\ntool t { risk low when args.x <= 10000000000000000000000 }\n' \
        'category low { require approval via r }\n'


def test_large_integers_and_route_item_spans_survive(tmp_path):
    astcache.parse_cached(SMALL, "p.policy", root=tmp_path)
    module, _ = astcache.parse_cached(SMALL, "p.policy", root=tmp_path)
    assert module.decls[2].risks[0].when.right.value == 10 ** 22
    assert module.decls[1].item_spans == parse(SMALL, "p.policy").decls[1].item_spans


def _table(body, name):
    """The table of class `name` in an entry's body, and the row its first node has."""
    row = 0
    for t in body["classes"]:
        if t[0] == name:
            return t, row
        row += t[1]
    raise KeyError(name)


def _column(body, name, field):
    table, _ = _table(body, name)
    return table[3 + [f.name for f in dataclasses.fields(getattr(A, name))].index(field)]


DAMAGES = ["truncate", "garbage", "other-tag", "other-text", "foreign-class", "bad-span", "span-count", "span-text",
           "span-backwards",
           "bool-span", "not-a-decl", "cycle", "shared-child", "decl-is-a-child", "out-of-range", "negative-row",
           "bool-row", "too-high", "short-column", "wrong-columns", "nan", "node-in-scalar"]


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_damaged_or_foreign_entry_is_ignored_and_written_anew(tmp_path, damage):
    astcache.parse_cached(SMALL, "p.policy", root=tmp_path)
    entry = _entry(tmp_path)
    raw = entry.read_bytes()
    body = json.loads(raw)
    compare, compare_row = _table(body, "Compare")
    if damage == "truncate":
        entry.write_bytes(raw[: len(raw) // 2])
    elif damage == "garbage":
        entry.write_bytes(b"\x80\x00not json")
    elif damage == "other-tag":
        entry.write_text(json.dumps(dict(body, tag="signoff-ast/0/old")))
    elif damage == "other-text":        # an entry made for another text, copied under this one's name
        other = SMALL.replace("10000000000000000000000", "5")
        entry.write_bytes(astcache.encode(parse(other, "p.policy"), other, "x"))
    elif damage == "foreign-class":
        body["classes"].append(["Popen", 1, [0], ["rm -rf /"]])
    elif damage == "bad-span":
        body["spans"][1] = 0
    elif damage == "span-count":        # not four numbers a span
        body["spans"].append(1)
    elif damage == "span-text":
        body["spans"][0] = "1"
    elif damage == "span-backwards":    # ends on the line before it starts
        body["spans"][0], body["spans"][2] = 2, 1
    elif damage == "bool-span":
        _column(body, "Compare", "span")[0] = True
    elif damage == "not-a-decl":
        body["decls"] = [_table(body, "Literal")[1]]
    elif damage == "cycle":             # a comparison whose left side is itself
        _column(body, "Compare", "left")[0] = compare_row
    elif damage == "shared-child":      # both sides one node: a graph, not a tree
        _column(body, "Compare", "right")[0] = _column(body, "Compare", "left")[0]
    elif damage == "decl-is-a-child":
        body["decls"].append(_table(body, "Outcome")[1])
    elif damage == "out-of-range":
        _column(body, "Compare", "left")[0] = 10 ** 6
    elif damage == "negative-row":      # -1 is None; -2 would be the last node if rows were not checked
        _column(body, "Compare", "left")[0] = -2
    elif damage == "bool-row":
        _column(body, "Compare", "left")[0] = True
    elif damage == "too-high":
        compare[2][0] = astcache.MAX_HEIGHT + 1
    elif damage == "short-column":
        _column(body, "Compare", "op").clear()
    elif damage == "wrong-columns":
        compare.pop()
    elif damage == "nan":               # NaN is no JSON; a reader that took it would make a float of it
        raw = json.dumps(body).replace('"<="', "NaN")
        entry.write_text(raw)
    elif damage == "node-in-scalar":
        _column(body, "Compare", "op")[0] = ["Literal", 1, None, ["Z"]]
    if damage not in ("truncate", "garbage", "other-tag", "other-text", "nan"):
        entry.write_text(json.dumps(body))
    assert astcache.decode(entry.read_bytes(), SMALL, "p.policy") is None
    module, _ = astcache.parse_cached(SMALL, "p.policy", root=tmp_path)
    fresh = parse(SMALL, "p.policy")
    assert module == fresh and spans(module.decls) == spans(fresh.decls)
    assert astcache.decode(_entry(tmp_path).read_bytes(), SMALL, "p.policy") is not None   # written anew


def test_the_json_fallback_refuses_what_orjson_refuses(monkeypatch):
    import builtins
    real = builtins.__import__

    def no_orjson(name, *args, **kwargs):
        if name == "orjson":
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_orjson)
    data = astcache.encode(parse(SMALL, "p.policy"), SMALL, "x")
    assert astcache.decode(data, SMALL, "p.policy")[0] == parse(SMALL, "p.policy")
    assert astcache.decode(data.replace(b'"<="', b"NaN"), SMALL, "p.policy") is None


def test_an_entry_others_may_write_is_not_read(tmp_path):
    astcache.parse_cached(SMALL, "p.policy", root=tmp_path)
    entry = _entry(tmp_path)
    body = json.loads(entry.read_bytes())
    _column(body, "Route", "name")[0] = "planted"   # the route renamed: a load through it would show it
    entry.write_text(json.dumps(body))
    os.chmod(entry, 0o666)
    module, _ = astcache.parse_cached(SMALL, "p.policy", root=tmp_path)
    assert module.decls[1].name == "r"


def test_the_checker_still_runs_on_a_cached_load_and_reports_the_same_spans(tmp_path, monkeypatch):
    monkeypatch.setenv("SIGNOFF_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(astcache, "MIN_CACHED", 0)
    path = tmp_path / "bad.policy"
    path.write_text(SMALL.replace("via r", "via nowhere"))
    messages = []
    for _ in range(2):
        with pytest.raises(PolicyError) as info:
            load(str(path))
        messages.append(str(info.value))
    assert list((tmp_path / "cache").rglob("*.json"))          # the second load came from the entry
    assert messages[0] == messages[1] and "bad.policy:4:" in messages[0] and "nowhere" in messages[0]


def test_a_cached_load_has_the_same_digest(tmp_path, monkeypatch):
    monkeypatch.setenv("SIGNOFF_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(astcache, "MIN_CACHED", 0)
    path = ROOT / "examples" / "support-ops" / "support.policy"
    first, second = load(str(path)), load(str(path))
    monkeypatch.setenv("SIGNOFF_NO_CACHE", "1")
    assert first.digest == second.digest == load(str(path)).digest


def test_the_cache_can_be_turned_off_and_lives_where_the_environment_says(tmp_path, monkeypatch):
    monkeypatch.delenv("SIGNOFF_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("SIGNOFF_NO_CACHE", raising=False)
    assert astcache.cache_dir() == tmp_path / "xdg" / "signoff" / "ast"
    monkeypatch.setenv("SIGNOFF_CACHE_DIR", str(tmp_path / "mine"))
    assert astcache.cache_dir() == tmp_path / "mine" / "ast"
    monkeypatch.setenv("SIGNOFF_NO_CACHE", "1")
    assert astcache.cache_dir() is None
    monkeypatch.setattr(astcache, "MIN_CACHED", 0)
    path = tmp_path / "p.policy"
    path.write_text(SMALL)
    load(str(path))
    assert not (tmp_path / "mine").exists()


def test_an_unwritable_cache_is_no_error(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("")                     # a file where the folder would go
    module, _ = astcache.parse_cached(SMALL, "p.policy", root=blocked / "ast")
    assert module == parse(SMALL, "p.policy")


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_no_edit_of_an_entry_makes_decoding_raise(data):
    text = (ROOT / "examples" / "support-ops" / "support.policy").read_text()
    raw = bytearray(astcache.encode(parse(text, "s.policy"), text, "x"))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.sampled_from(b'[]{}",:0123456789-eEtfnSZdli \x00\xff'))
    got = astcache.decode(bytes(raw), text, "s.policy")
    assert got is None or isinstance(got[0], A.Module)


def _load_both(tmp_path, name, text, monkeypatch):
    """(program or the PolicyError's text) of an uncached load, of the load that writes the entry, and
    of the load that reads it, for `text` as file `name`."""
    path = tmp_path / name
    path.write_text(text)
    return _three_loads(path, tmp_path / "c", monkeypatch)


def _three_loads(path, cache, monkeypatch):
    """The loads of `path` without the cache, writing its entry under `cache`, and reading it back."""
    monkeypatch.setattr(astcache, "MIN_CACHED", 0)
    out = []
    for env in ({"SIGNOFF_NO_CACHE": "1"}, {"SIGNOFF_CACHE_DIR": str(cache)}, {"SIGNOFF_CACHE_DIR": str(cache)}):
        with monkeypatch.context() as m:
            m.delenv("SIGNOFF_NO_CACHE", raising=False)
            for k, v in env.items():
                m.setenv(k, v)
            try:
                out.append(load(str(path)))
            except PolicyError as e:
                out.append(str(e))
    return out


def _same_load(results):
    fresh, written, read = results
    if isinstance(fresh, str):                     # the same diagnostics, spans and texts, byte for byte
        assert fresh == written == read
        return
    for got in (written, read):
        assert got.digest == fresh.digest
        for a, b in zip(got.files, fresh.files, strict=True):
            assert a.module == b.module and a.module.file == b.module.file
            assert spans(a.module.decls) == spans(b.module.decls)
            assert a.module.comments == b.module.comments


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_a_cached_load_of_a_generated_policy_is_the_uncached_one(tmp_path_factory, monkeypatch, data):
    import sys
    sys.path.insert(0, str(ROOT / "tests"))
    from strategies import hostile_policy, messy_layout, policies
    from policy_lang import print_module
    kind = data.draw(st.sampled_from(["printed", "messy", "hostile"]), label="kind")
    if kind == "hostile":            # texts that often fail to parse or to check: the same errors either way
        text = data.draw(hostile_policy(), label="text")
    else:
        text = print_module(data.draw(policies(max_tools=3), label="policy").decls)
        if kind == "messy":          # comments, odd spacing: other spans, and comments to keep
            text = data.draw(messy_layout(text), label="messy")
    tmp = tmp_path_factory.mktemp("gen")
    _same_load(_load_both(tmp, "gen.policy", text, monkeypatch))
    try:
        parse(text, "gen.policy")
    except PolicyError:
        return
    assert list((tmp / "c").rglob("*.json"))       # it parsed: the third load came from the entry


@pytest.mark.parametrize("path", POLICIES, ids=[p.stem for p in POLICIES])
def test_a_cached_load_of_each_example_is_the_uncached_one(path, tmp_path, monkeypatch):
    # loaded in place, so that its `use`s and schema files resolve
    out = _three_loads(path, tmp_path / "c", monkeypatch)
    assert list((tmp_path / "c").rglob("*.json"))   # entries were written, so the third load read them
    _same_load(out)
