#!/usr/bin/env python3
"""Load benchmark: from policy text to a checked Program (and to a ready Policy), fresh and cached.

Issue 17's targets: 10,000 rules from text ≤ 0.4 s, the 1 MB shape ≤ 1.5 s, a cached load ≤ 0.1 s,
and linear scaling (20,000 tools or 100,000 terms cost twice what 10,000 do, not four times).

Shapes (all generated, seeded):

  * `decide`  — bench/decide.py's 10,000-rule policy (4,749 tools of two risk lines, 499 checks), 435 KB;
  * `anchors` — a 1 MB policy of the density the cross-engine comparison in issue 17 used (its
    generator is not in the repository; this stands in for it at the same size): 1,340 tools with
    inline schemas and three risk lines, and 1,340 checks of four lines (intervals, sets, `matches`,
    a quantifier, a budget);
  * `wide`    — bench/decide.py's shape at 42,110 rules: 20,001 tools, for the scaling ratio;
  * `terms`   — 10,000 checks whose `require` has 10 terms each: 100,000 terms.

For each it prints the best of `--runs` CPU times (`time.process_time`, so waiting for a core on a
shared machine is not counted) of `load` (read, parse, check, digest) with the AST cache off, of
the same with the cache warm, and of `Policy(program)`. `--scaling` prints the per-rule cost of
`wide` against `decide`, and of `terms` against a 10,000-term version of itself.

    python bench/load.py                      # every shape, best of 3
    python bench/load.py --shape decide --runs 5
    python bench/load.py --json out.json
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from decide import make_policy  # noqa: E402
from policy_lang.checker import load  # noqa: E402

try:
    from engine.decide.evaluator import Policy  # noqa: E402
except ImportError:  # pragma: no cover - a tree without the engine
    Policy = None  # type: ignore[assignment,misc]

TARGETS = {"decide": 0.4, "anchors": 1.5}
CACHED_TARGET = 0.1


def make_anchors(n_tools: int = 1340, seed: int = 17) -> str:
    """About 1 MB: tools with inline schemas and three risk lines, checks of four lines each."""
    rng = random.Random(seed)
    out: List[str] = ['policy "anchors"', 'version "1"', "",
                      'const PLANS = ["business", "enterprise", "team"]',
                      'route team_review {\n  approvers "team_lead"\n  timeout 4h then escalate to "ops_oncall"\n}',
                      'route finance_review {\n  approvers "finance_manager", "cfo"\n  quorum 2\n}', ""]
    for i in range(n_tools):
        lo, hi = rng.randint(10, 90), rng.randint(100, 900)
        out.append(
            f"tool tool_{i:05d} {{\n"
            '  schema {"type": "object", "required": ["amount", "customer"], "properties": {'
            '"amount": {"type": "number", "minimum": 0}, "customer": {"type": "string", "maxLength": 64}, '
            '"items": {"type": "array", "items": {"type": "string"}}}}\n'
            f"  risk low when args.amount <= {lo} and tenant.plan in PLANS\n"
            f"  risk medium when args.amount <= {hi}\n"
            "  risk high otherwise\n}")
    out += ["category low {\n  allow when confidence >= 0.7\n  require approval via team_review otherwise\n}",
            "category medium {\n  allow when confidence >= 0.9 and tenant.plan in PLANS\n"
            "  require approval via team_review otherwise\n}",
            'category high {\n  require approval via finance_review when confidence >= 0.5\n'
            '  escalate to "finance_oncall" otherwise\n}']
    for j in range(n_tools):
        cap = rng.randint(500, 5000)
        out.append(
            f"check cap_{j:05d} on tool_{j:05d} {{\n"
            f'  require args.amount > 0 and args.amount <= {cap} else deny "amount outside 0..{cap}"\n'
            f'  require args.customer matches "^C-[0-9]{{{4 + j % 4}}}$" else ask "Which customer?"\n'
            '  require args.items missing or (all s in args.items: s starts_with "SKU-") else deny "unknown item"\n'
            f'  budget sum(args.amount) per tenant per 1d <= {cap * 4} else escalate to "finance_oncall"\n'
            "}")
    out.append("unknown tools deny")
    return "\n".join(out) + "\n"


def make_terms(n_checks: int = 10_000, terms: int = 10) -> str:
    """`n_checks` checks on 100 tools, each a `require` of `terms` comparisons joined by `and`."""
    out: List[str] = ['policy "terms"', 'route r { approvers "a" }']
    for i in range(100):
        out.append(f"tool t{i:03d} {{ risk low }}")
    out.append("category low { allow }")
    for j in range(n_checks):
        cond = " and ".join(f"args.f{k} <= {j + k}" for k in range(terms))
        out.append(f'check c{j:05d} on t{j % 100:03d} {{ require {cond} else deny "too much" }}')
    return "\n".join(out) + "\n"


SHAPES: Dict[str, Callable[[], str]] = {
    "decide": lambda: make_policy(10_000, 1).text,
    "anchors": make_anchors,
    "wide": lambda: make_policy(42_110, 1).text,
    "terms": make_terms,
}


def best_cpu(runs: int, fn: Callable[[], Any]) -> Tuple[float, Any]:
    """The least CPU time of `runs` calls, and the last call's value."""
    best, value = float("inf"), None
    for _ in range(runs):
        t = time.process_time()
        value = fn()
        best = min(best, time.process_time() - t)
    return best, value


def run_shape(name: str, text: str, runs: int, tmp: str) -> Dict[str, Any]:
    path = os.path.join(tmp, f"{name}.policy")
    Path(path).write_text(text, encoding="utf-8")
    cache = os.path.join(tmp, "cache")
    os.environ["SIGNOFF_NO_CACHE"] = "1"
    t_load, program = best_cpu(runs, lambda: load(path))
    os.environ.pop("SIGNOFF_NO_CACHE")
    os.environ["SIGNOFF_CACHE_DIR"] = cache
    try:
        load(path)                                     # writes the entry (if this tree has the cache)
        t_cached, cached_program = best_cpu(runs, lambda: load(path))
    finally:
        os.environ.pop("SIGNOFF_CACHE_DIR")
    if cached_program.digest != program.digest:
        raise SystemExit(f"{name}: the cached load gave another digest")
    t_compile = best_cpu(runs, lambda: Policy(program))[0] if Policy is not None else None
    rules = text.count("\n  risk ") + text.count("\n  require ") + text.count(" require ") + text.count("\n  budget ")
    return {"shape": name, "bytes": len(text.encode("utf-8")), "lines": text.count("\n"), "load_s": t_load,
            "cached_load_s": t_cached, "compile_s": t_compile, "tools": text.count("\ntool "),
            "rules_approx": rules}


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", choices=[*SHAPES, "all"], default="all")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args(argv)
    names = list(SHAPES) if args.shape == "all" else [args.shape]
    load_warm = make_policy(10, 1).text
    figures: List[Dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "warm.policy").write_text(load_warm)
        load(os.path.join(tmp, "warm.policy"))          # imports and Lark's first parse stay out
        print(f"python bench/load.py --runs {args.runs}  (CPU seconds, best of {args.runs}; tree {ROOT})")
        print(f"{'shape':8} {'size':>9} {'tools':>7} {'load s':>8} {'cached s':>9} {'compile s':>10}")
        for name in names:
            f = run_shape(name, SHAPES[name](), args.runs, tmp)
            figures.append(f)
            comp = f"{f['compile_s']:10.3f}" if f["compile_s"] is not None else f"{'–':>10}"
            print(f"{name:8} {f['bytes'] / 1e6:7.2f}MB {f['tools']:7d} {f['load_s']:8.3f} "
                  f"{f['cached_load_s']:9.3f} {comp}", flush=True)
        by = {f["shape"]: f for f in figures}
        if "terms" in names:
            small = run_shape("terms10k", make_terms(1000), args.runs, tmp)
            by["terms10k"] = small
            figures.append(small)
        print()
        for shape, limit in TARGETS.items():
            if shape in by:
                v = by[shape]["load_s"]
                print(f"{'PASS' if v <= limit else 'MISS'}  {shape}: load from text {v:.3f} s (target ≤ {limit} s)")
        if "decide" in by:
            v = by["decide"]["cached_load_s"]
            print(f"{'PASS' if v <= CACHED_TARGET else 'MISS'}  decide: cached load {v:.3f} s (target ≤ {CACHED_TARGET} s)")
        if "wide" in by and "decide" in by:
            r = by["wide"]["load_s"] / by["decide"]["load_s"] / 4.211
            print(f"{'PASS' if r <= 1.15 else 'MISS'}  scaling: 42,110 rules (20,001 tools) against 10,000: {r:.2f}× "
                  "the load time per rule (linear: ≤ 1.15×)")
        if "terms" in by:
            r = by["terms"]["load_s"] / by["terms10k"]["load_s"]
            print(f"{'PASS' if r <= 11.5 else 'MISS'}  scaling: 100,000 terms / 10,000 terms = {r:.2f}× the load time "
                  "for 10× the terms (linear: ≤ 11.5×)")
    if args.json:
        Path(args.json).write_text(json.dumps({"figures": figures}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
