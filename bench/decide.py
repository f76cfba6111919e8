#!/usr/bin/env python3
"""Decision benchmark: compiled engine vs reference interpreter vs a hand-written baseline.

For policies of 10, 100, 1,000 and 10,000 rules (a *rule* is one decision line: a `risk`
line, a category outcome line, or a `require` line of a check; see bench/README.md) this
prints, in one run:

  * load time (Lark parse alone, and parse + check + digest), compile time (`Policy(program)`);
  * median and p99 µs per decision and decisions per second for the compiled engine
    (`Policy.decide`, full Decision object), the reference interpreter
    (`engine.decide.reference.Interpreter.decide`) and a hand-written dict-indexed Python function;
  * the ratios compiled/baseline, reference/compiled and 10k-vs-100;
  * a PASS/MISS line per target of the issue.

Before timing it checks, on every benchmark action, that the compiled engine and the
reference interpreter return identical decisions (and that the baseline agrees with them
on outcome and category); any difference aborts the run with exit status 2.

    python bench/decide.py                 # full run (about 40 s)
    python bench/decide.py --quick         # CI smoke run, < 20 s
    python bench/decide.py --json out.json # also write every figure as JSON
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import statistics
import sys
import time
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

# load figures are from text: the parsed-AST cache (policy_lang/astcache.py) stays out of them
os.environ.setdefault("SIGNOFF_NO_CACHE", "1")

from policy_lang.checker import load  # noqa: E402
from policy_lang.parser import parse  # noqa: E402
from engine.decide.evaluator import Policy  # noqa: E402
from engine.decide.reference import Interpreter  # noqa: E402

SIZES = (10, 100, 1_000, 10_000)
NOW = datetime(2026, 11, 20, 14, 3, tzinfo=timezone.utc)   # passed as `now=`: no clock read per decision
CONFIDENCE_THRESHOLD = 0.80

# targets: issue 17 ("Performance at every scale") for decisions; the first engine issue for compiling
TARGET_MEDIAN_US_100 = 2.0
TARGET_MEDIAN_US_10K = 2.6
TARGET_SCALE_10K_VS_100 = 1.3
TARGET_COMPILE_10K_S = 1.0

perf_ns = time.perf_counter_ns


# --------------------------------------------------------------------------- the policies
class Spec:
    """A generated policy: its text and, per tool, what the hand-written baseline needs."""

    def __init__(self, n_rules: int, text: str, table: Dict[str, Tuple[float, Optional[float]]],
                 n_tools: int, n_checks: int, counts: Dict[str, int]):
        self.n_rules = n_rules
        self.text = text
        self.table = table            # tool -> (medium limit K, check limit L or None)
        self.n_tools = n_tools
        self.n_checks = n_checks
        self.counts = counts          # rule kind -> how many lines of that kind


def shape(n_rules: int) -> Tuple[int, int]:
    """(tools, checks) such that 2*tools + 3 category lines + checks == n_rules, checks ~ n/20."""
    checks = max(1, n_rules // 20)
    if (n_rules - 3 - checks) % 2:
        checks -= 1 if checks > 1 else -1
    tools = (n_rules - 3 - checks) // 2
    assert tools >= 2 and 2 * tools + 3 + checks == n_rules, (n_rules, tools, checks)
    return tools, checks


def make_policy(n_rules: int, seed: int) -> Spec:
    rng = random.Random(f"policy-{n_rules}-{seed}")
    n_tools, n_checks = shape(n_rules)
    names = [f"tool_{i:05d}" for i in range(n_tools)]
    limits = {name: rng.randint(50, 900) for name in names}          # risk medium when amount <= K
    out: List[str] = [
        f'policy "bench-{n_rules}"',
        'version "1"',
        "mode guarded",
        "",
        'route team_review {\n  approvers "team_lead"\n  quorum 1\n  timeout 4h then escalate to "ops_oncall"\n}',
        'route finance_review {\n  approvers "finance_manager", "cfo"\n  quorum 2\n'
        '  timeout 8h then escalate to "finance_oncall"\n}',
        "",
    ]
    for name in names:
        out.append(f"tool {name} {{\n  risk medium when args.amount <= {limits[name]}\n  risk high otherwise\n}}")
    out.append("")
    out.append("category medium {\n"
               f"  allow when confidence >= {CONFIDENCE_THRESHOLD:.2f}\n"
               "  require approval via team_review otherwise\n}")
    out.append("category high {\n  require approval via finance_review\n}")
    out.append("")
    # each check covers two tools, spread evenly over the tool list
    checked: Dict[str, float] = {}
    step = max(1, n_tools // n_checks)
    for j in range(n_checks):
        a, b = names[(j * step) % n_tools], names[(j * step + 1) % n_tools]
        limit = rng.randint(200, 990)
        targets = [t for t in (a, b) if t not in checked]
        assert targets, "checks must cover distinct tools"
        for t in targets:
            checked[t] = limit
        out.append(f"check amount_cap_{j:04d} on {', '.join(targets)} {{\n"
                   f'  require args.amount < {limit} else escalate to "ops_oncall"\n}}')
    out.append("")
    out.append("unknown tools deny")
    text = "\n".join(out) + "\n"
    table = {name: (float(limits[name]), (float(checked[name]) if name in checked else None)) for name in names}
    counts = {"risk lines": 2 * n_tools, "category lines": 3, "check lines": n_checks}
    assert sum(counts.values()) == n_rules
    return Spec(n_rules, text, table, n_tools, n_checks, counts)


# --------------------------------------------------------------------------- the actions
BRANCHES = ("medium-confident", "medium-unsure", "high", "over-cap", "unknown-tool")


def make_actions(spec: Spec, count: int, seed: int) -> List[Dict[str, Any]]:
    """A fixed, seeded mix over the tools whose amounts and confidences hit every branch."""
    rng = random.Random(f"actions-{spec.n_rules}-{seed}")
    names = list(spec.table)
    capped = [n for n in names if spec.table[n][1] is not None]
    actions = []
    for i in range(count):
        branch = rng.choices(BRANCHES, weights=(35, 25, 25, 10, 5))[0]
        tool = rng.choice(capped if branch == "over-cap" else names)
        k, cap = spec.table[tool]
        if branch == "unknown-tool":
            tool, amount, conf = f"not_declared_{i % 7}", 10.0, 0.99
        elif branch == "over-cap":
            amount = float(rng.randint(int(cap), int(cap) + 50))
            conf = round(rng.uniform(0.5, 1.0), 3)
        elif branch == "high":
            amount = float(rng.randint(int(k) + 1, int(k) + 500))
            conf = round(rng.uniform(0.5, 1.0), 3)
        else:
            # amounts at or under K, the boundary itself included; an int now and then
            amount = k if rng.random() < 0.1 else round(rng.uniform(0, k), 2)
            if rng.random() < 0.2:
                amount = int(amount)
            if branch == "medium-confident":
                conf = CONFIDENCE_THRESHOLD if rng.random() < 0.1 else round(rng.uniform(0.8, 1.0), 3)
            else:
                conf = round(rng.uniform(0.3, 0.799), 3)
        actions.append({
            "id": f"act-{i:06d}",
            "tenant": {"id": f"tenant-{i % 13}", "plan": "enterprise"},
            "agent": {"id": f"agent-{i % 5}", "role": "support"},
            "tool": tool,
            "args": {"amount": amount, "invoice_id": f"INV-{i}"},
            "confidence": conf,
        })
    return actions


# --------------------------------------------------------------------------- the baseline
def make_baseline(table: Dict[str, Tuple[float, Optional[float]]]) -> Callable[[dict], Tuple[str, Optional[str]]]:
    """The hand-written, dict-indexed decision of the same shape: tool dispatch, an amount
    comparison, a confidence threshold, a most-restrictive combine. Returns (outcome, category)."""
    get = table.get
    names = ("allow", "require_approval", "ask", "escalate", "deny")   # ranks 0..4

    def decide(action: dict, ledger: Any = None, now: Any = None) -> Tuple[str, Optional[str]]:
        # same call signature as the engines, so every contender is timed by the same loop
        entry = get(action["tool"])
        if entry is None:
            return ("deny", None)
        k, cap = entry
        amount = action["args"]["amount"]
        if amount <= k:
            category = "medium"
            c = action.get("confidence")
            rank = 0 if c is not None and c >= CONFIDENCE_THRESHOLD else 1
        else:
            category = "high"
            rank = 1
        if cap is not None and not amount < cap and rank < 3:
            rank = 3
        return (names[rank], category)

    return decide


# --------------------------------------------------------------------------- measuring
def pin_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        try:
            cpus = sorted(os.sched_getaffinity(0))
            os.sched_setaffinity(0, {cpus[0]})
            return f"pinned to CPU {cpus[0]} (of {len(cpus)} available)"
        except OSError as e:
            return f"not pinned ({e})"
    return "not pinned (no sched_setaffinity on this platform)"


def timer_overhead_ns(n: int = 20000) -> float:
    samples = []
    for _ in range(n):
        t0 = perf_ns()
        t1 = perf_ns()
        samples.append(t1 - t0)
    return statistics.median(samples)


def pct(sorted_values: Sequence[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, max(0, int(round(q * (len(sorted_values) - 1)))))
    return sorted_values[i]


class Series:
    """Timings of one contender on one policy, gathered over several rounds."""

    def __init__(self, fn: Callable[..., Any], actions: List[dict]):
        self.fn = fn
        self.actions = actions
        self.means: List[float] = []      # µs per decision, one per timed batch
        self.calls: List[float] = []      # ns per individually timed call, timer cost subtracted
        self.pos = 0

    def block(self, batches: int, batch: int, per_call: int, overhead_ns: float) -> None:
        """One steady-state block: a warm-up pass over every action, `batches` timed batches of
        `batch` decisions (perf_counter_ns around the whole batch), then `per_call` individually
        timed decisions."""
        fn, actions = self.fn, self.actions
        for a in actions:                               # warm-up: caches hold this policy again
            fn(a, None, NOW)
        gc.collect()
        m = len(actions)
        means = self.means
        for _ in range(batches):
            if self.pos + batch > m:
                self.pos = 0
            chunk = actions[self.pos:self.pos + batch]
            self.pos += batch
            t0 = perf_ns()
            for a in chunk:
                fn(a, None, NOW)
            t1 = perf_ns()
            means.append((t1 - t0) / batch / 1000.0)
        calls = self.calls
        start = len(calls)
        for i in range(per_call):
            a = actions[(start + i) % m]
            t0 = perf_ns()
            fn(a, None, NOW)
            t1 = perf_ns()
            calls.append(t1 - t0 - overhead_ns)

    def figures(self) -> Dict[str, float]:
        means = sorted(self.means)
        calls = sorted(self.calls)
        median = statistics.median(means)
        return {
            "median_us": median,
            "p99_us": pct(calls, 0.99) / 1000.0,
            "per_call_median_us": pct(calls, 0.5) / 1000.0,
            "batch_mean_min_us": means[0],
            "batch_mean_max_us": means[-1],
            "decisions_per_s": 1e6 / median,
            "timed_batches": len(means),
            "timed_calls": len(calls),
        }


def timed(fn: Callable[[], Any], reps: int, gc_off: bool = False) -> Tuple[float, Any]:
    """Median wall time in seconds of `reps` runs, and the last result. With gc_off the cyclic
    garbage collector is disabled while timing (to show how much of a load step it takes)."""
    times = []
    result = None
    for _ in range(reps):
        result = None
        gc.collect()
        if gc_off:
            gc.disable()
        try:
            t0 = perf_ns()
            result = fn()
            times.append((perf_ns() - t0) / 1e9)
        finally:
            gc.enable()
    return statistics.median(times), result


# --------------------------------------------------------------------------- correctness
def verify(spec: Spec, policy: Policy, interp: Interpreter, baseline: Callable, actions: List[dict]) -> Dict[str, int]:
    seen: Dict[str, int] = {}
    for a in actions:
        dc = policy.decide(a, None, NOW).to_dict()
        dr = interp.decide(a, None, NOW).to_dict()
        if dc != dr:
            die(f"compiled engine and reference interpreter disagree ({spec.n_rules} rules) on\n"
                f"  action:    {json.dumps(a)}\n  compiled:  {json.dumps(dc)}\n  reference: {json.dumps(dr)}")
        b = baseline(a)
        if b != (dc["outcome"], dc["category"]):
            die(f"the hand-written baseline disagrees with the engine ({spec.n_rules} rules) on\n"
                f"  action:   {json.dumps(a)}\n  baseline: {b}\n  engine:   {dc['outcome']}, {dc['category']}")
        key = f"{dc['outcome']}/{dc['category']}"
        seen[key] = seen.get(key, 0) + 1
    needed = {"allow/medium", "require_approval/medium", "require_approval/high", "deny/None"}
    if not needed <= set(seen) or not any(k.startswith("escalate/") for k in seen):
        die(f"the benchmark actions miss a branch ({spec.n_rules} rules): saw {sorted(seen)}")
    return dict(sorted(seen.items()))


def die(message: str) -> None:
    bar = "!" * 78
    print(f"\n{bar}\nBENCHMARK ABORTED: {message}\n{bar}", file=sys.stderr, flush=True)
    sys.exit(2)


# --------------------------------------------------------------------------- main
def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def fmt_us(x: float) -> str:
    return f"{x:8.2f}" if x < 1000 else f"{x:8.0f}"


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small repetition counts (CI smoke run, < 20 s)")
    ap.add_argument("--json", metavar="FILE", help="write every figure to FILE as JSON")
    ap.add_argument("--sizes", default=",".join(map(str, SIZES)),
                    help="comma-separated rule counts (default: 10,100,1000,10000)")
    ap.add_argument("--seed", type=int, default=1, help="seed for the policies and actions (default 1)")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = ap.parse_args(argv)
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]

    # per round and size: `batches` timed batches of `batch` decisions (reference: `ref_batches`)
    # and `per_call` individually timed decisions, for each contender
    if args.quick:
        n_actions, rounds, batches, ref_batches, batch, per_call, load_reps = 500, 2, 20, 5, 100, 500, 1
    else:
        n_actions, rounds, batches, ref_batches, batch, per_call, load_reps = 2000, 5, 60, 20, 200, 2000, 5

    pinned = pin_one_core()
    overhead = timer_overhead_ns()
    env = {
        "python": sys.version.split()[0], "implementation": platform.python_implementation(),
        "platform": platform.platform(), "cpu": cpu_model(), "affinity": pinned,
        "timer_overhead_ns": overhead, "quick": args.quick, "seed": args.seed,
        "actions_per_size": n_actions, "rounds": rounds, "batches_per_round": batches, "batch_size": batch,
        "reference_batches_per_round": ref_batches, "per_call_per_round": per_call, "load_reps": load_reps,
        "gc": "enabled (collected before each timed series)",
    }
    print(f"signoff decision benchmark — Python {env['python']} on {env['cpu']}")
    print(f"{pinned}; timer overhead {overhead:.0f} ns (subtracted from per-call samples only)")
    print(f"{'--quick' if args.quick else 'full run'}: {n_actions} actions/size; {rounds} rounds × "
          f"({batches} batches of {batch} decisions, reference {ref_batches}, + {per_call} single-timed) "
          f"per size and contender; load/compile median of {load_reps}")
    print("rule = one decision line: a `risk` line, a category outcome line, or a check's `require` line\n")

    # untimed warm-up: first-use costs (lazy imports, Lark's first parse) stay out of the figures
    warm = make_policy(10, args.seed)
    Interpreter(Policy(load("bench-warmup.policy", warm.text)).program)

    t_start = time.perf_counter()
    # ---- phase 1, per size: load and compile times, then check the engines agree
    built: Dict[int, Dict[str, Any]] = {}
    for n in sizes:
        spec = make_policy(n, args.seed)
        path = f"bench-{n}.policy"
        t_parse, _ = timed(lambda: parse(spec.text, path), load_reps)
        t_load, program = timed(lambda: load(path, spec.text), load_reps)
        t_compile, policy = timed(lambda: Policy(program), load_reps)
        # the same steps with the cyclic GC off: how much of load/compile is collector passes
        t_parse_nogc, _ = timed(lambda: parse(spec.text, path), load_reps, gc_off=True)
        t_load_nogc, _ = timed(lambda: load(path, spec.text), load_reps, gc_off=True)
        t_compile_nogc, _ = timed(lambda: Policy(program), load_reps, gc_off=True)
        _ = None
        interp = Interpreter(program)
        baseline = make_baseline(spec.table)
        actions = make_actions(spec, n_actions, args.seed)
        mix = verify(spec, policy, interp, baseline, actions)
        built[n] = {
            "spec": spec, "actions": actions, "mix": mix, "policy": policy, "interp": interp,
            "series": {"compiled": Series(policy.decide, actions), "reference": Series(interp.decide, actions),
                       "baseline": Series(baseline, actions)},
            "load": {"parse_s": t_parse, "load_s": t_load, "check_s": max(0.0, t_load - t_parse),
                     "compile_s": t_compile,
                     "gc_off": {"parse_s": t_parse_nogc, "load_s": t_load_nogc, "compile_s": t_compile_nogc}},
        }
        print(f"loaded {n:,} rules: parse {t_parse * 1e3:.1f} ms, parse+check {t_load * 1e3:.1f} ms, "
              f"compile {t_compile * 1e3:.1f} ms; {len(actions)} actions verified", flush=True)
    # locality probe: the 10k-rule policy, with traffic over only as many tools as the 100-rule
    # policy has. Same engine, same dispatch index; only the number of tools the traffic touches differs.
    probe: Optional[Series] = None
    if 100 in built and 10_000 in built:
        big = built[10_000]["spec"]
        few = list(big.table)[:built[100]["spec"].n_tools]
        sub = Spec(big.n_rules, big.text, {k: big.table[k] for k in few}, len(few), 0, big.counts)
        probe_actions = make_actions(sub, n_actions, args.seed)
        policy_10k, interp_10k = built[10_000]["policy"], built[10_000]["interp"]
        verify(big, policy_10k, interp_10k, make_baseline(sub.table), probe_actions)
        probe = Series(policy_10k.decide, probe_actions)
    gc.collect()

    # ---- phase 2: decisions, in rounds; each round runs one steady-state block per size and
    # contender, so slow drift of the machine touches every size alike
    for _round in range(rounds):
        for n in sizes:
            for who, series in built[n]["series"].items():
                series.block(ref_batches if who == "reference" else batches, batch, per_call, overhead)
            if n == 10_000 and probe is not None:
                probe.block(batches, batch, per_call, overhead)
    print()

    results: Dict[int, Dict[str, Any]] = {}
    for n in sizes:
        b_ = built[n]
        spec, mix, ld = b_["spec"], b_["mix"], b_["load"]
        compiled, reference, base = (b_["series"][k].figures() for k in ("compiled", "reference", "baseline"))
        r = {
            "rules": n, "rule_counts": spec.counts, "tools": spec.n_tools, "checks": spec.n_checks,
            "policy_bytes": len(spec.text.encode()), "decision_mix": mix, **ld,
            "compiled": compiled, "reference": reference, "baseline": base,
            "compiled_vs_baseline": compiled["median_us"] / base["median_us"],
            "reference_vs_compiled": reference["median_us"] / compiled["median_us"],
        }
        results[n] = r
        g = ld["gc_off"]
        print(f"== {n:,} rules: {spec.n_tools:,} tools × 2 risk lines + 3 category lines + "
              f"{spec.n_checks:,} check lines ({r['policy_bytes']:,} bytes)")
        print(f"   load: parse {ld['parse_s'] * 1e3:9.1f} ms   parse+check {ld['load_s'] * 1e3:9.1f} ms   "
              f"compile {ld['compile_s'] * 1e3:9.1f} ms")
        print(f"   GC off:     {g['parse_s'] * 1e3:9.1f} ms               {g['load_s'] * 1e3:9.1f} ms           "
              f"{g['compile_s'] * 1e3:9.1f} ms")
        print(f"   verified {len(b_['actions'])} actions: compiled == reference, baseline agrees; mix "
              + ", ".join(f"{k} {v}" for k, v in mix.items()))
        print(f"   {'':22s}{'median µs':>10s}{'p99 µs':>10s}{'decisions/s':>14s}")
        for label, m in (("compiled engine", compiled), ("reference interpreter", reference),
                         ("hand-written baseline", base)):
            print(f"   {label:22s}{fmt_us(m['median_us']):>10s}{fmt_us(m['p99_us']):>10s}"
                  f"{m['decisions_per_s']:14,.0f}")
        print(f"   compiled/baseline {r['compiled_vs_baseline']:.1f}×   "
              f"reference/compiled {r['reference_vs_compiled']:.1f}×\n", flush=True)

    # ---- summary and targets
    summary: Dict[str, Any] = {}
    print(f"{'rules':>8s}{'parse ms':>10s}{'p+check ms':>12s}{'compile ms':>12s}{'compiled µs':>13s}"
          f"{'reference µs':>14s}{'baseline µs':>13s}{'comp/base':>11s}{'ref/comp':>10s}")
    for n, r in results.items():
        print(f"{n:8,d}{r['parse_s'] * 1e3:10.1f}{r['load_s'] * 1e3:12.1f}{r['compile_s'] * 1e3:12.1f}"
              f"{r['compiled']['median_us']:13.2f}{r['reference']['median_us']:14.2f}"
              f"{r['baseline']['median_us']:13.3f}{r['compiled_vs_baseline']:10.1f}×"
              f"{r['reference_vs_compiled']:9.1f}×")
    if 100 in results and 10_000 in results:
        scale = results[10_000]["compiled"]["median_us"] / results[100]["compiled"]["median_us"]
        summary["compiled_10k_vs_100"] = scale
        summary["reference_10k_vs_100"] = (results[10_000]["reference"]["median_us"]
                                           / results[100]["reference"]["median_us"])
        summary["baseline_10k_vs_100"] = (results[10_000]["baseline"]["median_us"]
                                          / results[100]["baseline"]["median_us"])
        print(f"10k-vs-100 median decision: compiled {scale:.2f}×, reference "
              f"{summary['reference_10k_vs_100']:.2f}×, baseline {summary['baseline_10k_vs_100']:.2f}×")
    if probe is not None:
        pf = probe.figures()
        summary["locality_probe"] = pf
        summary["locality_probe_vs_100"] = pf["median_us"] / results[100]["compiled"]["median_us"]
        print(f"locality probe: the 10,000-rule policy with traffic over only {results[100]['tools']} of its "
              f"tools: compiled median {pf['median_us']:.2f} µs = {summary['locality_probe_vs_100']:.2f}× "
              f"the 100-rule policy")
    print()

    targets = []

    def target(name: str, value: Optional[float], limit: float, unit: str) -> None:
        if value is None:
            targets.append({"target": name, "value": None, "limit": limit, "result": "n/a"})
            print(f"N/A   {name} (size not run)")
            return
        ok = value <= limit
        targets.append({"target": name, "value": value, "limit": limit, "result": "PASS" if ok else "MISS"})
        print(f"{'PASS' if ok else 'MISS'}  {name}: {value:.3g}{unit} (target ≤ {limit:g}{unit})")

    target("median compiled decision, 100 rules, no schema, full Decision object",
           results[100]["compiled"]["median_us"] if 100 in results else None, TARGET_MEDIAN_US_100, " µs")
    target("median compiled decision, 10,000 rules, no schema, full Decision object",
           results[10_000]["compiled"]["median_us"] if 10_000 in results else None, TARGET_MEDIAN_US_10K, " µs")
    target("median compiled decision, 10,000 rules vs 100 rules",
           summary.get("compiled_10k_vs_100"), TARGET_SCALE_10K_VS_100, "×")
    target("compiling 10,000 rules (Policy(program), after parse+check)",
           results[10_000]["compile_s"] if 10_000 in results else None, TARGET_COMPILE_10K_S, " s")
    if 10_000 in results:
        # the stricter reading of "compiling": from policy text to a ready Policy. Reported, and
        # listed in the JSON, but not counted by --strict (the issue's target is the compile step).
        r = results[10_000]
        total = r["load_s"] + r["compile_s"]
        summary["load_and_compile_10k_s"] = total
        ok = total <= TARGET_COMPILE_10K_S
        targets.append({"target": "stricter reading: 10,000 rules from text to a ready Policy",
                        "value": total, "limit": TARGET_COMPILE_10K_S, "result": "PASS" if ok else "MISS",
                        "counted": False})
        print(f"{'PASS' if ok else 'MISS'}  (stricter reading, not counted) 10,000 rules from text to a ready "
              f"Policy: {total:.2f} s = parse {r['parse_s']:.2f} + check {r['check_s']:.2f} + compile "
              f"{r['compile_s']:.2f} (target ≤ {TARGET_COMPILE_10K_S:g} s)")
    elapsed = time.perf_counter() - t_start
    print(f"(benchmark ran {elapsed:.1f} s)")

    if args.json:
        doc = {"env": env, "sizes": {str(n): r for n, r in results.items()}, "summary": summary,
               "targets": targets, "elapsed_s": elapsed}
        with open(args.json, "w") as fh:
            json.dump(doc, fh, indent=2)
            fh.write("\n")
        print(f"wrote {args.json}")
    missed = any(t["result"] == "MISS" and t.get("counted", True) for t in targets)
    return 1 if (missed and args.strict) else 0


if __name__ == "__main__":
    sys.exit(main())
