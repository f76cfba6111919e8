#!/usr/bin/env python3
"""Instructions per decision, this tree against another commit, counted by valgrind (not timed).

A shared or loaded machine makes µs figures noisy; instruction counts are not. For each tree
(the working tree and a checkout of `--against`, by default `main`'s first parent... any git ref)
this runs one workload twice under `valgrind --tool=callgrind` — once deciding 0 actions and once
N — and prints the difference divided by N: the instructions one decision costs, with policy
loading, interpreter start-up and imports subtracted out. Workloads: bench/decide.py's generated
100-rule policy and its actions, and the support-ops example with the first actions of its history
(schema validation included); and replay: `signoff simulate --decisions` over the first records of the
support-ops history through each tree's own CLI, per record replayed (reading, deciding, the report's
aggregates, the decisions file). Then the ratio new/old per workload, measured in this one run.

    python bench/instructions.py --against b7864ac            # needs valgrind (Debian's package)
    python bench/instructions.py --against HEAD~5 --decisions 4000
"""
from __future__ import annotations

import argparse
import gzip
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# the workload, run inside the tree being measured (its own packages first on sys.path)
WORKLOAD = r'''
import json, sys
sys.path.insert(0, ".")
sys.path.insert(0, "bench")
from datetime import datetime, timezone
try:
    from engine.decide.evaluator import Policy
except ImportError:      # a tree from before engine/ was cut into subpackages
    from engine.evaluator import Policy
from policy_lang.checker import load
which, n = sys.argv[1], int(sys.argv[2])
now = datetime(2026, 11, 20, 14, 3, tzinfo=timezone.utc)
if which in ("load10k", "cached10k", "anchors"):
    # loads, not decisions: n loads of one policy text (the AST cache off, or warm for cached10k)
    import os, tempfile
    import decide as b
    tmp = tempfile.mkdtemp()
    if which == "anchors":
        import load as bl
        text = bl.make_anchors()
    else:
        text = b.make_policy(10000, 1).text
    path = os.path.join(tmp, "big.policy")
    with open(path, "w") as f:
        f.write(text)
    load("warm.policy", b.make_policy(10, 1).text)
    if which == "cached10k":
        os.environ["SIGNOFF_CACHE_DIR"] = os.path.join(tmp, "cache")
        load(path)
    else:
        os.environ["SIGNOFF_NO_CACHE"] = "1"
    for i in range(n):
        load(path)
    sys.exit(0)
if which == "bench100":
    import decide as b
    spec = b.make_policy(100, 7)
    policy = Policy(load("bench100.policy", spec.text))
    actions = b.make_actions(spec, 500, 7)
else:
    policy = Policy(load("examples/support-ops/support.policy"))
    with open("examples/support-ops/history.jsonl") as f:
        actions = [json.loads(line) for line, _ in zip(f, range(500))]
for a in actions[:50]:   # warm caches the same way in both runs
    policy.decide(a, now=now)
if len(sys.argv) > 3 and sys.argv[3] == "freeze":
    # what is loaded stays out of the collector's scans (as a server does after start-up): a tree that
    # imports more modules then pays nothing for it in full collections during the decisions
    import gc
    gc.collect()
    gc.freeze()
for i in range(n):
    policy.decide(actions[i % len(actions)], now=now)
'''


FREEZE = False   # --freeze


def callgrind(tree: str, out: str, script_text: str, args: list, check: bool = True) -> int:
    """Run a script (its text written into `out`) with `args` under callgrind in `tree`: total instructions."""
    script = os.path.join(out, "workload.py")
    with open(script, "w") as f:
        f.write(script_text)
    cg = os.path.join(out, "cg.out")
    subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={cg}", sys.executable, script, *args],
                   cwd=tree, check=check, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env={**os.environ, "PYTHONHASHSEED": "0"})
    with open(cg) as f:
        m = re.search(r"^(?:summary|totals): (\d+)", f.read(), re.M)
    if not m:
        raise SystemExit("callgrind wrote no totals")
    return int(m.group(1))


def instructions(tree: str, which: str, n: int) -> int:
    """Instructions of the decision workload `which` with `n` decisions, in `tree`."""
    with tempfile.TemporaryDirectory() as out:
        return callgrind(tree, out, WORKLOAD, [which, str(n)] + (["freeze"] if FREEZE else []))


# the replay workload: `simulate --decisions` over the first N records of the support-ops history, run
# through each tree's own CLI (the command line has not changed, the module paths have)
REPLAY = r'''
import runpy, sys
sys.path.insert(0, ".")
sys.argv = ["signoff", "simulate", "examples/support-ops/support.policy", "--history", sys.argv[1],
            "--decisions", sys.argv[2], "--format", "json", "--out", sys.argv[3]]
runpy.run_module("cli", run_name="__main__")
'''
REPLAY_BASE = 200   # records replayed in the baseline run (a history must not be empty)


def replay_instructions(tree: str, n: int) -> int:
    with tempfile.TemporaryDirectory() as out:
        hist = os.path.join(out, "history.jsonl")
        with gzip.open(os.path.join(ROOT, "examples/support-ops/history-30d.jsonl.gz"), "rt", encoding="utf-8") as src, \
                open(hist, "w", encoding="utf-8") as dst:
            for line, _ in zip(src, range(n)):
                dst.write(line)
        return callgrind(tree, out, REPLAY, [hist, os.path.join(out, "decisions.jsonl"),
                                             os.path.join(out, "report.json")], check=False)


def per_decision(tree: str, which: str, n: int) -> float:
    if which == "replay":
        return (replay_instructions(tree, REPLAY_BASE + n) - replay_instructions(tree, REPLAY_BASE)) / n
    return (instructions(tree, which, n) - instructions(tree, which, 0)) / n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--against", default="HEAD", help="the git ref to compare the working tree with")
    ap.add_argument("--decisions", type=int, default=2000, help="decisions counted per workload")
    ap.add_argument("--only", choices=("bench100", "support", "replay", "load10k", "cached10k", "anchors"),
                    action="append",
                    help="measure only these workloads (repeatable; default: the three decision workloads); "
                         "load10k, cached10k and anchors count one load of bench/load.py's shapes instead "
                         "(use --decisions 1)")
    ap.add_argument("--old-tree", metavar="DIR",
                    help="an existing checkout to compare with, instead of a git worktree of --against")
    ap.add_argument("--freeze", action="store_true",
                    help="gc.freeze() after loading, so full collections do not scan what was imported")
    args = ap.parse_args()
    global FREEZE
    FREEZE = args.freeze
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        old = args.old_tree or os.path.join(tmp, "old")
        if not args.old_tree:
            subprocess.run(["git", "worktree", "add", "--detach", "-q", old, args.against], cwd=ROOT, check=True)
        try:
            print(f"instructions per decision (callgrind), {args.decisions} decisions, working tree vs "
                  f"{args.old_tree or args.against}" + (", gc.freeze() after loading" if args.freeze else ""))
            print(f"{'workload':<34}{'old':>16}{'new':>16}{'new/old':>10}")
            for which, label in (("bench100", "bench/decide.py, 100 rules"),
                                 ("support", "support-ops, history actions"),
                                 ("replay", "replay: simulate --decisions"),
                                 ("load10k", "load: 10,000 rules, no cache"),
                                 ("cached10k", "load: 10,000 rules, cache warm"),
                                 ("anchors", "load: the 1 MB shape, no cache")):
                if (args.only and which not in args.only) or (not args.only and which.startswith(("load", "cac", "anc"))):
                    continue
                o = per_decision(old, which, args.decisions)
                w = per_decision(ROOT, which, args.decisions)
                print(f"{label:<34}{o:>16,.0f}{w:>16,.0f}{w / o:>9.3f}×")
        finally:
            if not args.old_tree:
                subprocess.run(["git", "worktree", "remove", "--force", old], cwd=ROOT, check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
