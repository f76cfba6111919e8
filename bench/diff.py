#!/usr/bin/env python3
"""Diff benchmark: `signoff diff OLD NEW` without history on two generated 1,000-rule policies
(target ≤ 10 s, issue 12): the structural diff and the solver's witness search over every tool.

A *rule* is one decision line (a `risk` line, a category outcome line, a `require`/`budget` line of
a check), as in bench/decide.py and bench/lint.py. The policy: 300 tools with two risk lines each
(`args.amount` thresholds), three category blocks (5 lines), 100 checks of four lines on three tools
each (an amount bound, a `matches` on the customer id, a plan list, a daily count budget). The new
version loosens one tool's threshold in 50, raises one budget in 25 and tightens one plan list in 25.

    python bench/diff.py                 # in-process time of engine.diff.diff, then the command's wall time
    python bench/diff.py --runs 3 --json out.json

Prints the times; exit status 1 when the in-process time misses the target.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.decide.evaluator import load_policy  # noqa: E402
from engine.diff import diff  # noqa: E402

TARGET_S = 10.0
N_TOOLS, N_CHECKS = 300, 100


def make(version: int) -> str:
    """The policy text; version 2 carries the changes."""
    out: List[str] = ['policy "bench-diff"', f'version "{version}"', "",
                      'route team_review {\n  approvers "team_lead"\n}',
                      'route finance_review {\n  approvers "finance_manager", "cfo"\n  quorum 2\n}', ""]
    for t in range(N_TOOLS):
        k = 100 + t
        if version == 2 and t % 50 == 0:
            k += 50                                   # loosened: more actions count as medium
        out.append(f"tool tool_{t} {{\n  risk medium when args.amount <= {k}\n  risk high otherwise\n}}")
    out += ["category low {\n  allow when confidence >= 0.8\n  require approval via team_review otherwise\n}",
            "category medium {\n  allow when confidence >= 0.9\n  require approval via team_review otherwise\n}",
            "category high {\n  require approval via finance_review\n}"]
    for c in range(N_CHECKS):
        tools = ", ".join(f"tool_{(3 * c + i) % N_TOOLS}" for i in range(3))
        limit = 20 + c
        if version == 2 and c % 25 == 0:
            limit += 10                               # raised budget
        plans = '["business", "enterprise"]'
        if version == 2 and c % 25 == 1:
            plans = '["enterprise"]'                  # tightened
        out.append(f"check check_{c} on {tools} {{\n"
                   f"  require args.amount <= {1000 + c} else deny \"amount\"\n"
                   f"  require args.customer_id matches \"^C[0-9]+$\" else deny \"customer id\"\n"
                   f"  require tenant.plan in {plans} else deny \"plan\"\n"
                   f"  budget count() per tenant per 1d <= {limit} else escalate to \"ops\"\n}}")
    return "\n".join(out) + "\n"


def rules(text: str) -> int:
    """Decision lines in a generated policy."""
    return sum(1 for ln in text.splitlines()
               if ln.strip().startswith(("risk ", "allow ", "require ", "budget ")))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--json", help="also write the figures here")
    ap.add_argument("--no-cli", action="store_true", help="skip the subprocess run of the command")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        old, new = Path(d) / "old.policy", Path(d) / "new.policy"
        old.write_text(make(1))
        new.write_text(make(2))
        n = rules(old.read_text())
        po, pn = load_policy(str(old)), load_policy(str(new))
        best = float("inf")
        report = None
        for _ in range(args.runs):
            t0 = time.perf_counter()
            report = diff(po, pn)
            best = min(best, time.perf_counter() - t0)
        assert report is not None
        tools = report["witnesses"]
        looser = sum(1 for w in tools if w["looser"] == "witness")
        stricter = sum(1 for w in tools if w["stricter"] == "witness")
        unknown = sum(1 for w in tools if "unknown" in (w["looser"], w["stricter"]))
        print(f"{n:,} rules per policy, {len(tools):,} tools searched: {looser} looser, {stricter} stricter, "
              f"{unknown} unknown")
        print(f"diff (structural + witness search), in-process: {best:.2f} s "
              f"({'met' if best <= TARGET_S else 'MISSED'}: target {TARGET_S:g} s)")
        wall = None
        if not args.no_cli:
            t0 = time.perf_counter()
            p = subprocess.run([sys.executable, "-m", "cli", "diff", str(old), str(new), "--fail-on", "looser"],
                               cwd=str(ROOT), env={**os.environ, "PYTHONPATH": str(ROOT)},
                               capture_output=True, text=True)
            wall = time.perf_counter() - t0
            print(f"`signoff diff OLD NEW --fail-on looser`, wall time: {wall:.2f} s (exit {p.returncode})")
        if args.json:
            Path(args.json).write_text(json.dumps({"rules": n, "tools": len(tools), "in_process_s": best,
                                                   "command_s": wall}, indent=2))
    return 0 if best <= TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
