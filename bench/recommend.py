"""Benchmark `recommend`: a 1,000,000-action history with human verdicts through bench/simulate.py's 100-rule policy, one core."""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from simulate import actions, pin, policy_text  # noqa: E402  (bench/simulate.py: the same policy and actions)


def write_history(path: str, n: int) -> None:
    """bench/simulate.py's actions, each with the verdict a reviewer gave: every action was reviewed (the
    old process), approved unless its amount is large and it was unlucky (rejected), or edited now and then."""
    rng = random.Random(5)
    with open(path, "w") as fh:
        for a in actions(n):
            amount = a["args"]["amount"]
            r = rng.random()
            if amount > 400 and r < 0.2:
                v = "rejected"
            elif amount > 250 and r < 0.03:
                v = "edited"
            else:
                v = "approved"
            a["human"] = {"verdict": v, "by": "reviewer"}
            fh.write(json.dumps(a, separators=(",", ":")))
            fh.write("\n")


def child(policy: str, history: str) -> None:
    """One measured run in a fresh process: load, replay, choose, verify, print the policy text."""
    pin()
    from engine import History, load_policy, recommend_report, recommended_policy, run_recommend
    t0 = time.perf_counter()
    c0 = time.process_time()
    pol = load_policy(policy)
    s = run_recommend(pol, History([history]))
    rep = recommend_report(s)
    if s.recommendations:
        recommended_policy(s)
    el = time.perf_counter() - t0
    cpu = time.process_time() - c0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"n": rep["history"]["actions"], "seconds": el, "cpu_seconds": cpu, "max_rss_mib": rss / 1024,
                      "waited": rep["history"]["waited_for_humans"], "levers": len(s.levers),
                      "recommendations": [r["change"] for r in rep["recommendations"]],
                      "saved_fit": rep["total"]["auto_allowed"]}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--actions", type=int, default=1_000_000)
    ap.add_argument("--child", nargs=2, metavar=("POLICY", "HISTORY"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    where = pin()
    with tempfile.TemporaryDirectory() as d:
        pol = os.path.join(d, "bench.policy")
        Path(pol).write_text(policy_text())
        hist = os.path.join(d, "history.jsonl")
        t = time.perf_counter()
        write_history(hist, args.actions)
        print(f"signoff recommend benchmark ({where}; Python {sys.version.split()[0]})")
        print(f"history: {args.actions:,} actions with verdicts, {os.path.getsize(hist) / 2 ** 20:.0f} MiB "
              f"(written in {time.perf_counter() - t:.1f} s)")
        out = subprocess.run([sys.executable, __file__, "--child", pol, hist], check=True, capture_output=True,
                             text=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        sim = subprocess.run([sys.executable, str(ROOT / "bench" / "simulate.py"), "--child", "--policy", pol,
                              "--history", hist], check=True, capture_output=True, text=True).stdout
        s = json.loads(sim.strip().splitlines()[-1])
        print(f"recommend: {r['n']:,} actions in {r['seconds']:.1f} s, {r['cpu_seconds']:.1f} s of CPU "
              f"({r['n'] / r['cpu_seconds']:,.0f} actions per CPU second), "
              f"peak RSS {r['max_rss_mib']:.0f} MiB; {r['waited']:,} waited for humans; {r['levers']} levers")
        print(f"recommendations: {r['recommendations']}; approvals saved in the fit part: {r['saved_fit']:,}")
        print(f"one simulate replay of the same history: {s['seconds']:.1f} s; recommend / simulate: "
              f"{r['seconds'] / s['seconds']:.1f}x")
        print(f"target 60 s: {'met' if r['seconds'] <= 60 else 'NOT met'} (wall clock), "
              f"{'met' if r['cpu_seconds'] <= 60 else 'NOT met'} (CPU)")


if __name__ == "__main__":
    main()
