"""Benchmark `simulate --engine columnar` against the row engine: bench/simulate.py's policy and history
(1,000,000 actions by default) as Parquet and as JSON Lines, each replay in a fresh process on one core."""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

COLUMNS = ["agent.id", "args.amount", "args.kind", "args.ref", "confidence", "id", "tenant.id", "tenant.plan",
           "timestamp", "tool"]


def write_parquet(path: str, n: int) -> None:
    """bench/simulate.py's actions as Parquet with one column per field (`args.amount`, `tenant.id`…)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from simulate import actions
    numbers = {"args.amount", "confidence"}
    schema = pa.schema([(c, pa.float64() if c in numbers else pa.string()) for c in COLUMNS])
    writer = pq.ParquetWriter(path, schema)
    rows = []

    def flush() -> None:
        writer.write_table(pa.table({c: pa.array([r.get(c) for r in rows], schema.field(c).type) for c in COLUMNS},
                                    schema=schema))
        rows.clear()

    for a in actions(n):
        rows.append({"agent.id": a["agent"]["id"], "args.amount": a["args"]["amount"], "args.kind": a["args"].get("kind"),
                     "args.ref": a["args"].get("ref"), "confidence": a["confidence"], "id": a["id"],
                     "tenant.id": a["tenant"]["id"], "tenant.plan": a["tenant"]["plan"], "timestamp": a["timestamp"],
                     "tool": a["tool"]})
        if len(rows) == 100_000:
            flush()
    if rows:
        flush()
    writer.close()


def child(args: argparse.Namespace) -> None:
    """One measured replay in a fresh process (imports done before the clock starts)."""
    from simulate import pin
    pin()
    t = time.perf_counter()
    import numpy  # noqa: F401
    import pyarrow
    pyarrow.array([1])      # pyarrow's first conversion imports its pandas shim: a second, once per process
    imports = time.perf_counter() - t
    from engine import History, load_policy, run_simulation, simulate_columnar
    pol = load_policy(args.policy)
    run = simulate_columnar if args.engine == "columnar" else run_simulation
    history = History([args.history])
    import resource
    s0 = resource.getrusage(resource.RUSAGE_SELF).ru_stime
    w, c = time.perf_counter(), time.process_time()
    report = run(pol, history, decisions=args.decisions or None)
    wall, cpu = time.perf_counter() - w, time.process_time() - c
    kernel = resource.getrusage(resource.RUSAGE_SELF).ru_stime - s0
    digest = hashlib.sha256(json.dumps(report).encode()).hexdigest()[:16]
    if args.decisions:
        digest += "/" + hashlib.sha256(Path(args.decisions).read_bytes()).hexdigest()[:16]
    print(json.dumps({"n": report["total"], "wall": wall, "cpu": cpu, "kernel": kernel, "digest": digest,
                      "imports": imports}))


def measure(engine: str, policy: str, history: str, decisions: str = "") -> dict:
    cmd = [sys.executable, __file__, "--child", "--engine", engine, "--policy", policy, "--history", history]
    if decisions:
        cmd += ["--decisions", decisions]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--actions", type=int, default=1_000_000)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--engine", help=argparse.SUPPRESS)
    ap.add_argument("--policy", help=argparse.SUPPRESS)
    ap.add_argument("--history", help=argparse.SUPPRESS)
    ap.add_argument("--decisions", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    from simulate import pin, policy_text, write_history
    where = pin()
    with tempfile.TemporaryDirectory() as d:
        pol = os.path.join(d, "bench.policy")
        Path(pol).write_text(policy_text())
        pq_path, jl_path = os.path.join(d, "h.parquet"), os.path.join(d, "h.jsonl")
        write_parquet(pq_path, args.actions)
        write_history(jl_path, args.actions)
        print(f"simulate --engine columnar benchmark ({where}; Python {sys.version.split()[0]})")
        print(f"history: {args.actions:,} actions, Parquet {os.path.getsize(pq_path) / 2 ** 20:.0f} MiB, "
              f"JSON Lines {os.path.getsize(jl_path) / 2 ** 20:.0f} MiB; policy: bench/simulate.py's 100 rules")
        runs = {
            ("row", "parquet"): measure("row", pol, pq_path),
            ("columnar", "parquet"): measure("columnar", pol, pq_path),
            ("row", "jsonl"): measure("row", pol, jl_path),
            ("columnar", "jsonl"): measure("columnar", pol, jl_path),
        }
        with_decisions = {e: measure(e, pol, pq_path, os.path.join(d, f"{e}.decisions.jsonl"))
                          for e in ("row", "columnar")}
        print(f"imports before the clock (numpy, pyarrow and its pandas shim): {runs['columnar', 'parquet']['imports']:.2f} s")
        print()
        print("replay, reading included, one core (wall clock; CPU time of the process beside it):")
        for (engine, fmt), r in runs.items():
            print(f"  {engine:<9} {fmt:<8} {r['n'] / r['wall']:>10,.0f} actions/s  ({r['n'] / r['cpu']:>10,.0f}/s CPU,"
                  f" {r['kernel']:.2f} s of it in the kernel)  report {r['digest']}")
        for engine, r in with_decisions.items():
            print(f"  {engine:<9} parquet  {r['n'] / r['wall']:>10,.0f} actions/s  ({r['n'] / r['cpu']:>10,.0f}/s CPU)"
                  f"  with --decisions, report/decisions {r['digest']}")
        print()
        row, col = runs["row", "parquet"], runs["columnar", "parquet"]
        print(f"columnar / row, Parquet: {row['wall'] / col['wall']:.1f}x wall, {row['cpu'] / col['cpu']:.1f}x CPU")
        rj, cj = runs["row", "jsonl"], runs["columnar", "jsonl"]
        print(f"columnar / row, JSON Lines: {rj['wall'] / cj['wall']:.1f}x wall (the columnar engine hands JSON Lines "
              "to the row engine)")
        rd, cd = with_decisions["row"], with_decisions["columnar"]
        print(f"columnar / row, Parquet with --decisions: {rd['wall'] / cd['wall']:.1f}x wall")
        same = row["digest"] == col["digest"] and rj["digest"] == cj["digest"] and rd["digest"] == cd["digest"]
        print(f"reports identical across engines: {'yes' if same else 'NO'}")
        for name, r, target in (("Parquet", col, 1_000_000), ("JSON Lines", cj, 400_000)):
            rate = r["n"] / r["wall"]
            print(f"target {target:,} actions/s from {name}: "
                  + ("met" if rate >= target else f"NOT met ({rate / target:.0%} of it)"))


if __name__ == "__main__":
    main()
