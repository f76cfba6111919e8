"""The fast LALR loop (policy_lang/lalr.py) against Lark's stock loop: the same AST, spans included,
and the same errors, on every policy file of the repository, on mutations of them (mostly invalid),
on generated policies and on arbitrary text.

Both loops run the same grammar, tables and reductions; what differs is the lexer loop, the token
objects, the stack and how spans are found, so every comparison here is of types and spans too
(the AST's own equality leaves spans out)."""
from __future__ import annotations

import dataclasses
import os
import random
import sys
from pathlib import Path
from typing import Any, List, Tuple

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

sys.path.insert(0, os.path.dirname(__file__))

from strategies import hostile_policy, messy_layout, policies  # noqa: E402

from policy_lang import PolicyError, print_module  # noqa: E402
from policy_lang import parser as P  # noqa: E402
from policy_lang.lalr import Stop  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CORPUS = sorted(p for d in ("examples", "stdlib_policies", "tests", "docs") for p in (ROOT / d).rglob("*.policy"))
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def examples(n: int) -> int:
    return int(os.environ.get("SIGNOFF_HYPOTHESIS_EXAMPLES", n))


def same(a: Any, b: Any, where: str = "") -> None:
    """`a` and `b` alike in type and every field, spans and AST-equality-excluded fields included."""
    assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
    if dataclasses.is_dataclass(a):
        for f in dataclasses.fields(a):
            same(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    elif isinstance(a, (tuple, list)):
        assert len(a) == len(b), f"{where}: {len(a)} items != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            same(x, y, f"{where}[{i}]")
    elif isinstance(a, dict):
        assert list(a) == list(b), f"{where}: keys {list(a)} != {list(b)}"
        for k in a:
            same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, float) and a != a:
        assert b != b, where
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def outcome(text: str, fast: Any) -> Tuple[str, Any]:
    """What parsing gives: ("ok", module), ("error", (diagnostics, rendering)) or, for the fast loop
    alone, ("stopped", None) where it hands the text back."""
    try:
        return ("ok", P._parse(text, "t.policy", fast))
    except PolicyError as e:
        return ("error", (e.diagnostics, str(e)))
    except Exception:  # noqa: BLE001 - the fast loop alone stops on what it does not parse
        if fast is not True:
            raise
        return ("stopped", None)


def agree(text: str) -> str:
    """Assert that `parse` (fast loop, stock fallback) and the fast loop alone agree with the stock loop."""
    stock = outcome(text, False)
    same(outcome(text, None), stock, "parse")
    fast = outcome(text, True)
    if stock[0] == "ok":
        assert fast[0] == "ok", "the fast loop stopped on a text that parses"
        same(fast, stock, "fast")
    elif fast[0] != "stopped":
        same(fast, stock, "fast")     # it parsed; the error is one found after (reserved words, nesting)
    return stock[0]


def test_the_corpus_is_there():
    assert len(CORPUS) > 100


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_policy_file_parses_alike(path):
    agree(path.read_text(encoding="utf-8"))


def test_valid_files_take_the_fast_loop():
    """The stock loop stays as the fallback only: a text that parses never needs it."""
    valid = 0
    for path in CORPUS:
        text = path.read_text(encoding="utf-8")
        if outcome(text, False)[0] == "ok":
            assert outcome(text, True)[0] == "ok", path
            valid += 1
    assert valid > 50


PIECES = list('{}()[],.:;"#\n\t -+*/<=>!\\') + ["when", "and", "not", "in", "risk", "tool", "1", "1.5", "5m",
                                                  "\"x\"", "args", "allow", "deny", "any", "::", "e5", "null"]


def mutations(text: str, rng: random.Random, n: int) -> List[str]:
    """`n` texts one small edit away from `text`: deletions, insertions, swaps, truncations."""
    out = []
    for _ in range(n):
        i = rng.randrange(len(text) + 1)
        j = min(len(text), i + rng.randint(1, 12))
        kind = rng.randrange(5)
        if kind == 0:
            out.append(text[:i] + text[j:])
        elif kind == 1:
            out.append(text[:i] + rng.choice(PIECES) + text[i:])
        elif kind == 2:
            out.append(text[:i] + rng.choice(PIECES) + text[j:])
        elif kind == 3:
            out.append(text[:i])
        else:
            out.append(text[:i] + text[j:j + 8] + text[i:j] + text[j + 8:])
    return out


def test_mutated_files_fail_or_parse_alike():
    rng = random.Random(17)
    kinds = {"ok": 0, "error": 0}
    for path in CORPUS:
        text = path.read_text(encoding="utf-8")
        if len(text) > 20_000:
            continue
        for mutated in mutations(text, rng, 12):
            kinds[agree(mutated)] += 1
    assert kinds["error"] > 500 and kinds["ok"] > 100, kinds


@pytest.mark.parametrize("text", [
    "", "   \n\t ", "# only a comment", 'policy "p" # trailing', "policy", '"', 'policy "p\n"',
    'policy "p"\ntool t { risk low when ' + "(" * 3000 + "true" + ")" * 3000 + " }",
    'policy "p"\ntool t { risk low when ' + "not " * 3000 + "true }",
    'policy "p"\nconst X = ' + "[" * 3000 + "]" * 3000,
    "(" * 5000,
    'policy "p"\ntool t { schema {"a": {"b": [1, -2, 3.5e1, null, true, "x"]}} risk low }',
    'policy "p"\nroute allow { approvers "a" }',            # a reserved word as a name: E105
    'policy "p"\ntool t { risk low when args.mode == args.tool.policy }',
    'policy "p"\ncheck c on t { budget sum(args.a) per tenant, args.b per 5 d <= 3 else deny }',
    'policy "p"\ncheck c on t { budget sum(args.a) per tenant per 5y <= 3 else deny }',
    'policy "p"\ntool t { risk low when args.x > 1e-400 }',    # a literal error inside the fast loop
    'policy "p"\ntool t { risk low when 5m > 3 } tool t { schema {"a": 1, "a": 2} }',
    'policy "p";;;tool t as u; tool "x y" as t',
    'policy "p"\r\ntool t {\r\n  risk low # c\r\n}\r\n',
    'policy "p"\x0ctool t { risk\x0clow }',
])
def test_edge_texts_parse_alike(text):
    agree(text)


@settings(max_examples=examples(60), **SETTINGS)
@given(gp=policies(max_tools=3), data=st.data())
def test_generated_policies_parse_alike(gp, data):
    text = print_module(gp.decls)
    assert agree(text) == "ok"
    agree(data.draw(messy_layout(text), label="messy"))


@settings(max_examples=examples(200), **SETTINGS)
@given(text=st.one_of(st.text(max_size=200), hostile_policy()))
@example(text='policy "p" tool t { risk low when args.x == 1e999 }')
def test_arbitrary_text_parses_alike(text):
    agree(text)


def test_stop_is_what_the_fast_loop_raises_on_a_syntax_error():
    with pytest.raises(Stop):
        P._parse('policy "p" tool {', "t.policy", True)


def reference_height(value: Any) -> int:
    """How deep a value nests, as the parser measured it before (a recursive walk): 0 for a leaf."""
    t = type(value)
    if t in P._LEAVES:
        return 0
    if t is tuple or t is list:
        items = list(value)
    elif t is dict:
        items = list(value.values())
    elif t in P._FIELDS:
        items = list(P._FIELDS[t](value))
    else:
        return 0
    return max((reference_height(i) + 1 for i in items), default=0)


def test_the_nesting_walk_measures_as_the_recursive_one():
    texts = [p.read_text(encoding="utf-8") for p in CORPUS]
    texts += ['policy "p"\ntool t { risk low when ' + "not " * n + "true }" for n in (97, 98, 99, 100, 150)]
    texts += ['policy "p"\nconst X = ' + "[" * n + "]" * n for n in (98, 99, 100, 101)]
    texts += ['policy "p"\ntool t { schema ' + '{"a": ' * n + "1" + "}" * n + " risk low }" for n in (96, 99, 101)]
    seen = 0
    for text in texts:
        kind, module = outcome(text, False)
        decls = module.decls if kind == "ok" else []
        if kind == "error" and "E104" in [d.code for d in module[0]]:
            continue   # measured below through the parser
        for d in decls:
            h = reference_height(d)
            for limit in {0, 1, h - 1, h, h + 1, P.MAX_DEPTH}:
                if limit >= 0:
                    assert P._deeper(d, limit) == (h > limit), (d, limit, h)
            seen += 1
    assert seen > 500
    # through the parser: just over the limit is E104, at the limit is not
    for n, code in ((P.MAX_DEPTH - 4, "ok"), (P.MAX_DEPTH + 1, "error")):
        text = 'policy "p"\ntool t { risk low when ' + "not " * n + "true }"
        assert outcome(text, None)[0] == code, n
