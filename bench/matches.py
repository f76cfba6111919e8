#!/usr/bin/env python3
"""`matches` micro-benchmark: RE2 (the engine's path) vs Python's `re`, per call and per decision.

    python bench/matches.py          # about 20 s

Per call: the engine's RE2 search (policy_lang.regex.searcher: UTF-8 encode plus one RE2 match) and
`re.search` on the same pattern and value, the best of several rounds in ns. Per decision: a policy
with two `matches` lines against the same policy with `starts_with`/`contains` in their place, the
median of several rounds in µs (the difference, halved, is what one `matches` adds to a decision).
Python's `re` is timed only where it finishes: the backtracking row is RE2 alone.
"""
from __future__ import annotations

import os
import re
import statistics
import sys
import tempfile
import time
import timeit

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from engine.decide.evaluator import Policy  # noqa: E402
from policy_lang.checker import load  # noqa: E402
from policy_lang.regex import searcher  # noqa: E402

CASES = [  # label, pattern, value
    ("anchored id, match", r"^INV-\d+$", "INV-123456"),
    ("anchored id, miss", r"^INV-\d+$", "ORDER-123456"),
    ("terms (?i)\\b…\\b, 60-char miss", r"(?i)\b(lawsuit|subpoena|attorney|gdpr|hipaa|settlement (agreement|offer))\b",
     "Thanks for your order, it ships on Monday and arrives soon."),
    ("terms, 2,000-char miss", r"(?i)\b(lawsuit|subpoena|attorney|gdpr|hipaa|settlement (agreement|offer))\b",
     "Thanks for your order, it ships on Monday and arrives soon. " * 33),
    ("file extension, non-ASCII value", r"\.(exe|msi|bat|sh)$", "rapport-trimestriel-é" * 3 + ".pdf"),
]
BACKTRACKING = ("(a|a)*$ on 'a'*28+'b' (re: > 10 s)", "(a|a)*$", "a" * 28 + "b")

TWO_MATCHES = '''policy "m"
tool t { risk low }
category low { allow }
check c on t {
  require args.id matches "^INV-[0-9]{4,12}$" else deny "bad id"
  require not args.note matches "(?i)\\\\b(lawsuit|subpoena|attorney|gdpr|hipaa|settlement (agreement|offer))\\\\b" else deny "legal"
}
'''
NO_MATCHES = '''policy "m"
tool t { risk low }
category low { allow }
check c on t {
  require args.id starts_with "INV-" else deny "bad id"
  require not args.note contains "lawsuit" else deny "legal"
}
'''


def per_call_ns(fn, value, number=50_000, repeat=7) -> float:
    return min(timeit.repeat(lambda: fn(value), number=number, repeat=repeat)) / number * 1e9


def per_decision_us(text: str, n: int = 20_000, rounds: int = 7) -> float:
    path = os.path.join(tempfile.mkdtemp(), "m.policy")
    policy = Policy(load(path, text))
    action = {"tool": "t", "args": {"id": "INV-12345678",
                                     "note": "Thanks for your order, it ships on Monday and arrives soon."}}
    assert policy.decide(action).outcome == "allow"
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(n):
            policy.decide(action)
        times.append((time.perf_counter() - t0) / n * 1e6)
    return statistics.median(times)


def main() -> None:
    print(f"{'case':40} {'RE2 ns':>9} {'re ns':>9} {'RE2/re':>7}")
    for label, pattern, value in CASES:
        ours = searcher(pattern)
        theirs = re.compile(pattern)
        assert ours(value) == (theirs.search(value) is not None), label
        a = per_call_ns(ours, value)
        b = per_call_ns(lambda v: theirs.search(v) is not None, value)
        print(f"{label:40} {a:9.0f} {b:9.0f} {a / b:6.2f}×")
    label, pattern, value = BACKTRACKING
    print(f"{label:40} {per_call_ns(searcher(pattern), value):9.0f} {'—':>9}")
    two, none = per_decision_us(TWO_MATCHES), per_decision_us(NO_MATCHES)
    print(f"decision with 2 matches {two:.2f} µs, with starts_with/contains instead {none:.2f} µs: "
          f"{(two - none) / 2:.2f} µs per matches")


if __name__ == "__main__":
    main()
