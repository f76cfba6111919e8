#!/usr/bin/env python3
"""Lint benchmark: time `signoff lint` on generated policies of 10,000 rules (target ≤ 1 s).

A *rule* is one decision line: a `risk` line, a category outcome line, or a `require`/`budget`
line of a check (as in bench/decide.py). Two shapes, both lint-clean (infos aside) so that the
time is spent analysing, not printing:

  * `plain` — the shape of bench/decide.py: two risk lines per tool, one `require` per check,
    no schemas;
  * `rich` — every analysis at work: schema files, three risk lines per tool, four-line checks
    on two tools each (intervals, sets, presence guards, a quantifier, a budget).

For each it prints the CPU time (`time.process_time`, the AST cache off: every run parses the text)
to parse (loader), to parse and check (checker), to lint in-process (`policy_lang.lint.lint_file`:
read, parse, check and analyse; the analyses alone are the difference) — the target is on that
figure — and, when the command is registered in cli/main.py, the CPU time of `python -m cli lint
FILE --format json` as a subprocess (interpreter start-up, imports and the JSON output included).
`--scaling` also lints the shape at twice the rules and prints the ratio of the two times per rule
(1.0: linear).

    python bench/lint.py                   # both shapes, 10,000 rules, best of 3 runs
    python bench/lint.py --shape plain --runs 1
    python bench/lint.py --scaling         # and at 20,000 rules: linear?
    python bench/lint.py --json out.json   # also write the figures as JSON

Exit status 1 when the first shape run misses the target.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Tuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# from text every time: the AST cache would turn the best of 3 runs into cached loads (forced, and
# inherited by the `signoff lint` subprocess)
os.environ["SIGNOFF_NO_CACHE"] = "1"

from policy_lang.checker import check  # noqa: E402
from policy_lang.lint import lint_file  # noqa: E402
from policy_lang.loader import load_files  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from load import best_cpu  # noqa: E402  (the least CPU time of N runs, as bench/load.py takes it)

TARGET_S = 1.0   # issue 17 (it was 2 s in the lint issue)


SCHEMA = {"type": "object", "required": ["amount"],
          "properties": {"amount": {"type": "number"}, "invoice_id": {"type": "string"},
                         "items": {"type": "array", "items": {"type": "string"}}}}


def make_plain(n_rules: int) -> Tuple[str, Dict[str, int], Dict[str, str]]:
    """The shape of bench/decide.py: per tool `risk medium when args.amount <= K` and `risk high
    otherwise`; about n/20 checks of one `require` line on two tools each; 3 category lines.
    Tools have no schema (so every tool gets the info I100)."""
    n_checks = max(1, n_rules // 20)                      # as bench/decide.py's shape()
    if (n_rules - 3 - n_checks) % 2:
        n_checks += -1 if n_checks > 1 else 1
    n_tools = (n_rules - 3 - n_checks) // 2
    out: List[str] = [f'policy "lint-plain-{n_rules}"', 'version "1"', "",
                      'route team_review {\n  approvers "team_lead"\n  timeout 4h then escalate to "ops_oncall"\n}',
                      'route finance_review {\n  approvers "finance_manager", "cfo"\n  quorum 2\n}', ""]
    for i in range(n_tools):
        out.append(f"tool tool_{i:05d} {{\n  risk medium when args.amount <= {50 + i % 850}\n  risk high otherwise\n}}")
    out += ["category medium {\n  allow when confidence >= 0.9\n  require approval via team_review otherwise\n}",
            "category high {\n  require approval via finance_review\n}"]
    for j in range(n_checks):
        out.append(f"check cap_{j:05d} on tool_{(2 * j) % n_tools:05d}, tool_{(2 * j + 1) % n_tools:05d} {{\n"
                   f'  require args.amount present and args.amount < {200 + j % 790} else escalate to "ops_oncall"\n}}')
    out.append("unknown tools deny")
    counts = {"tools": n_tools, "risk lines": 2 * n_tools, "category lines": 3, "check lines": n_checks}
    counts["rules"] = counts["risk lines"] + counts["category lines"] + counts["check lines"]
    return "\n".join(out) + "\n", counts, {}


def make_rich(n_rules: int) -> Tuple[str, Dict[str, int], Dict[str, str]]:
    """Every analysis at work: per pair of tools, 3 risk lines each (each tool with a schema file)
    and one check of 4 lines (interval and set conditions, a presence guard, a quantifier, a
    budget): 10 rules per pair, plus 7 category lines."""
    pairs = max(1, (n_rules - 7) // 10)
    out: List[str] = [f'policy "lint-rich-{n_rules}"', 'version "1"', "",
                      'const PLANS = ["business", "enterprise"]', "",
                      'route team_review {\n  approvers "team_lead"\n  timeout 4h then escalate to "ops_oncall"\n}',
                      'route finance_review {\n  approvers "finance_manager", "cfo"\n  quorum 2\n}', ""]
    for i in range(2 * pairs):
        lo, hi = 20 + i % 50, 200 + i % 300
        out.append(f"tool tool_{i:05d} {{\n  schema \"schemas/s{i % 10}.json\"\n"
                   f"  risk low when args.amount <= {lo}\n  risk medium when args.amount <= {hi}\n"
                   "  risk high otherwise\n}")
    out += [
        "category low {\n  allow when confidence >= 0.7\n  require approval via team_review otherwise\n}",
        "category medium {\n  allow when confidence >= 0.9 and tenant.plan in PLANS\n"
        "  require approval via team_review otherwise\n}",
        "category high {\n  require approval via finance_review when confidence >= 0.5\n"
        '  escalate to "finance_oncall" otherwise\n}',
    ]
    for j in range(pairs):
        a, b = f"tool_{2 * j:05d}", f"tool_{2 * j + 1:05d}"
        cap = 500 + j % 400
        out.append(
            f"check cap_{j:05d} on {a}, {b} {{\n"
            f'  require args.amount > 0 and args.amount <= {cap} else deny "amount outside 0..{cap}"\n'
            '  require args.invoice_id present else ask "Which invoice?"\n'
            '  require args.items missing or (all s in args.items: s starts_with "SKU-") else deny "unknown item"\n'
            f'  budget sum(args.amount) per tenant per 1d <= {cap * 4} else escalate to "finance_oncall"\n'
            "}")
    out.append("unknown tools deny")
    files = {f"schemas/s{k}.json": json.dumps(dict(SCHEMA, title=f"schema {k}")) for k in range(10)}
    counts = {"tools": 2 * pairs, "risk lines": 6 * pairs, "category lines": 7, "check lines": 4 * pairs}
    counts["rules"] = counts["risk lines"] + counts["category lines"] + counts["check lines"]
    return "\n".join(out) + "\n", counts, files


def child_cpu() -> float:
    """User and system CPU seconds of the finished child processes so far."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def write_shape(tmp: str, text: str, files: Dict[str, str]) -> str:
    """Write a generated policy and its schema files under `tmp`; the policy's path."""
    for rel, content in files.items():
        Path(tmp, rel).parent.mkdir(parents=True, exist_ok=True)
        Path(tmp, rel).write_text(content, encoding="utf-8")
    path = os.path.join(tmp, "bench.policy")
    Path(path).write_text(text, encoding="utf-8")
    return path


def lint_seconds(maker, n_rules: int, runs: int) -> Tuple[float, int]:
    """The best CPU time of `lint_file` on the shape at `n_rules`, and its number of rules."""
    text, counts, files = maker(n_rules)
    with tempfile.TemporaryDirectory() as tmp:
        path = write_shape(tmp, text, files)
        t, _ = best_cpu(runs, lambda: lint_file(path))
    return t, counts["rules"]


def run_shape(name: str, maker, n_rules: int, runs: int, scaling: bool = False) -> Dict[str, object]:
    text, counts, files = maker(n_rules)
    with tempfile.TemporaryDirectory() as tmp:
        path = write_shape(tmp, text, files)
        t_parse, loaded = best_cpu(runs, lambda: load_files(path))
        t_check, _ = best_cpu(runs, lambda: check(load_files(path)))
        t_lint, diags = best_cpu(runs, lambda: lint_file(path))
        noisy = [d for d in diags if d.severity != "info"]
        if noisy:
            raise SystemExit(f"unexpected diagnostics in the generated policy, first: {noisy[0]}")
        t_cli = None
        probe = subprocess.run([sys.executable, "-m", "cli", "lint", "--help"], cwd=ROOT,
                               capture_output=True, text=True)
        if probe.returncode == 0:
            t0 = child_cpu()
            done = subprocess.run([sys.executable, "-m", "cli", "lint", path, "--format", "json"], cwd=ROOT,
                                  capture_output=True, text=True)
            t_cli = child_cpu() - t0
            if done.returncode != 0:
                raise SystemExit(done.stderr)
    print(f"{name}: {counts['rules']} rules ({counts['tools']} tools, {counts['risk lines']} risk lines, "
          f"{counts['category lines']} category lines, {counts['check lines']} check lines), "
          f"{len(text.splitlines())} lines")
    print(f"  parse (loader):             {t_parse:6.3f} s")
    print(f"  parse + check (checker):    {t_check:6.3f} s")
    print(f"  lint (load + analyses):     {t_lint:6.3f} s   (analyses alone ≈ {max(t_lint - t_check, 0):.3f} s)")
    if t_cli is not None:
        print(f"  `signoff lint` subprocess:  {t_cli:6.3f} s   (CPU; interpreter start-up, imports, JSON output included)")
    ratio = None
    if scaling:
        t2, rules2 = lint_seconds(maker, 2 * n_rules, runs)
        ratio = (t2 / rules2) / (t_lint / counts["rules"])
        print(f"  lint at {rules2} rules:       {t2:6.3f} s   (per rule {ratio:.2f}× the {counts['rules']}-rule "
              "figure; 1.0 is linear)")
    ok = t_lint <= TARGET_S
    print(f"  {'PASS' if ok else 'MISS'}: lint in {t_lint:.2f} s (target ≤ {TARGET_S:g} s)")
    return {"shape": name, "rules": counts["rules"], "parse_s": t_parse, "check_s": t_check,
            "lint_s": t_lint, "analyses_s": max(t_lint - t_check, 0), "cli_cpu_s": t_cli,
            "scaling_ratio": ratio, "pass": ok}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rules", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=3, help="best of this many runs (default 3)")
    ap.add_argument("--shape", choices=["plain", "rich", "both"], default="both")
    ap.add_argument("--scaling", action="store_true", help="also lint at twice the rules: per-rule ratio")
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args(argv)
    print(f"python bench/lint.py --rules {args.rules} --runs {args.runs} --shape {args.shape}"
          + (" --scaling" if args.scaling else ""))
    shapes = [("plain", make_plain), ("rich", make_rich)]
    figures = [run_shape(n, m, args.rules, args.runs, args.scaling) for n, m in shapes if args.shape in (n, "both")]
    if args.json:
        Path(args.json).write_text(json.dumps({"target_s": TARGET_S, "shapes": figures}, indent=2))
    return 0 if figures[0]["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
