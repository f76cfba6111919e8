"""Benchmark `simulate`: 1,000,000 actions through a 100-rule policy with budgets, on one core."""
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
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

N_TOOLS = 23
PLANS = ["free", "team", "business", "enterprise"]


def policy_text() -> str:
    """100 rule lines: 23 tools with a conditional risk line, a closing one, a `require` line and a
    budget (12 sums per tenant per day, 11 counts per agent per hour), 6 category lines, 2 checks `on *`.
    As in a real policy, an action only meets its own tool's rules: here 5 to 8 lines per action."""
    out = ['policy "bench"', 'version "1"',
           'route team { approvers "lead" quorum 1 timeout 4h then escalate to "oncall" }',
           'route finance { approvers "cfo", "controller" quorum 2 }',
           'const PAID = ["business", "enterprise"]']
    for i in range(N_TOOLS):
        out.append(f"tool t{i} {{\n  risk low when args.amount <= {10 * (i + 1)} and args.kind missing\n"
                   f"  risk high otherwise\n}}")
    out.append("category low {\n  allow when confidence >= 0.6\n  require approval via team otherwise\n}")
    out.append("category medium {\n  allow when confidence >= 0.9 and tenant.plan in PAID\n"
               "  require approval via team otherwise\n}")
    out.append('category high {\n  require approval via finance when args.amount <= 100000\n'
               '  deny "too large" otherwise\n}')
    for i in range(N_TOOLS):
        out.append(f"check range_t{i} on t{i} {{\n  require args.amount >= 0 and args.ref present else deny \"bad\"\n}}")
        if i % 2 == 0:
            out.append(f"check spend_t{i} on t{i} {{\n  budget sum(args.amount) per tenant per 1d <= {5000 * (i + 1)}"
                       f" else escalate to \"finance_oncall\"\n}}")
        else:
            out.append(f"check rate_t{i} on t{i} {{\n  budget count() per agent per 1h <= 40 else escalate to \"ops\"\n}}")
    out.append('check plan on * {\n  require tenant.plan present else ask "Which plan?"\n}')
    out.append('check forbidden_tools on * {\n  require tool != "drop_database" else deny "never"\n}')
    out.append('unknown tools require approval via team')
    return "\n".join(out) + "\n"


def count_rules(text: str) -> int:
    from policy_lang.checker import load
    d = tempfile.mkdtemp()
    p = Path(d) / "bench.policy"
    p.write_text(text)
    prog = load(str(p))
    n = sum(len(t.risks) for t in prog.tools.values()) + sum(len(c.lines) for c in prog.categories.values())
    n += sum(len(c.lines) for c in prog.checks.values())
    return n


def actions(n: int, seed: int = 1):
    rng = random.Random(seed)
    start = datetime(2026, 11, 1, tzinfo=timezone.utc)
    step = 30 * 86400 / n
    tenants = [(f"tenant-{k}", PLANS[k % 4]) for k in range(200)]
    for i in range(n):
        t = start + timedelta(seconds=i * step)
        ten, plan = rng.choice(tenants)
        tool = f"t{rng.randrange(N_TOOLS)}" if rng.random() > 0.01 else "unlisted"
        args = {"amount": round(rng.expovariate(1 / 120), 2), "ref": f"R-{rng.randrange(10 ** 6)}"}
        if rng.random() < 0.03:
            del args["ref"]
        if rng.random() < 0.1:
            args["kind"] = "bulk"
        yield {"id": f"a{i}", "timestamp": t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z",
               "tenant": {"id": ten, "plan": plan}, "agent": {"id": f"bot-{rng.randrange(50)}"}, "tool": tool,
               "args": args, "confidence": round(rng.random(), 3)}


def write_history(path: str, n: int) -> None:
    with open(path, "w") as fh:
        for a in actions(n):
            fh.write(json.dumps(a, separators=(",", ":")))
            fh.write("\n")


def pin() -> str:
    try:
        cpu = sorted(os.sched_getaffinity(0))[-1]
        os.sched_setaffinity(0, {cpu})
        return f"cpu {cpu}"
    except (AttributeError, OSError):
        return "not pinned"


def peak_kib() -> float:
    """This process's own peak resident memory, KiB: VmHWM, the high-water mark of its address space.

    Not `ru_maxrss`: Linux carries a process's peak over `fork` and `exec` (the new program's
    figure starts at its parent's peak), so a child started by a parent that had read 200,000 lines
    reported the parent's 129 MiB. VmHWM belongs to the address space `exec` made, so it is the
    child's own. `ru_maxrss` only where there is no /proc (not Linux)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return float(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child(args) -> None:
    """One measured run in a fresh process, so its peak memory is its own."""
    pin()
    from engine import load_policy
    from engine.replay.history import History
    from engine.replay.simulate import Simulation
    pol = load_policy(args.policy)
    sim = Simulation(pol)
    if args.reference:
        from engine.decide.reference import Interpreter
        interp = Interpreter(pol.program)

        class Ref:
            def __getattr__(self, name):
                return getattr(pol, name)
            decide = staticmethod(interp.decide)
        sim.policy = Ref()
    h = History([args.history], use_orjson=not args.no_orjson)
    batches = h.batches()
    if args.reference:  # records not marked checked: every action through the interpreter's decide
        batches = ([r[:6] + (False,) for r in b] for b in batches)
    t0 = time.perf_counter()
    sim.run_batches(batches)
    el = time.perf_counter() - t0
    rss = peak_kib()
    print(json.dumps({"n": sim.n, "seconds": el, "rate": sim.n / el, "max_rss_mib": rss / 1024,
                      "ledger_entries": len(sim.ledger), "outcomes": dict(zip(
                          ["allow", "require_approval", "ask", "escalate", "deny"], sim.outcomes))}))


def measure(policy: str, history: str, reference: bool = False, no_orjson: bool = False, rs: bool = True,
            tree: Optional[str] = None) -> dict:
    """One child run; `tree`: another checkout whose code (and bench script) runs it."""
    script = __file__ if tree is None else os.path.join(tree, "bench", "simulate.py")
    cmd = [sys.executable, script, "--child", "--policy", policy, "--history", history]
    if reference:
        cmd.append("--reference")
    if no_orjson:
        cmd.append("--no-orjson")
    env = {**os.environ, "SIGNOFF_JSONSCHEMA_RS": "1" if rs else "0"}
    if tree is not None:
        env["PYTHONPATH"] = tree
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def parsers(history: str, n: int = 200_000) -> dict:
    """µs per line for the ways of reading a JSON line strictly."""
    from engine.decide.actions import loads_action
    from engine.replay.history import make_json_parser
    with open(history, "rb") as fh:
        lines = [x for x in (fh.readline() for _ in range(n)) if x]
    n = len(lines)
    texts = [x.decode() for x in lines]

    def per_line(fn, items) -> float:
        t = time.perf_counter()
        for x in items:
            fn(x)
        return (time.perf_counter() - t) / n * 1e6

    out = {"json + object_pairs_hook (strict)": per_line(loads_action, texts),
           "json, no hooks (not strict)": per_line(json.loads, lines),
           "json + key count (strict)": per_line(make_json_parser(False), lines)}
    try:
        import orjson
        out["orjson (not strict)"] = per_line(orjson.loads, lines)
        out["orjson + round trip (strict)"] = per_line(make_json_parser(True), lines)
    except ImportError:
        pass
    return out


SCHEMA_HEAVY = [("finance-backoffice", "finance.policy"), ("sales-ops", "sales.policy"),
                ("support-ops", "support.policy")]


def schema_heavy(against: Optional[str] = None) -> None:
    """The bundled histories (100,000 actions each, most tools with schemas), rs on and off, interleaved;
    with `against` (another checkout, e.g. `git archive main | tar -x -C DIR`), that tree's rs run too."""
    where = pin()
    print(f"python bench/simulate.py --schema-heavy{' --against ' + against if against else ''}  "
          f"({where}; Python {sys.version.split()[0]})")
    head = f"{'example':<20}{'jsonschema-rs':>16}{'jsonschema':>14}{'ratio':>8}{'peak RSS':>11}"
    print(head + (f"{'--against (rs)':>17}{'new/old':>9}" if against else ""))
    rates = []
    for folder, policy in SCHEMA_HEAVY:
        base = ROOT / "examples" / folder
        args = (str(base / policy), str(base / "history-30d.jsonl.gz"))
        old = measure(*args, rs=True, tree=against) if against else None
        fast = measure(*args, rs=True)
        slow = measure(*args, rs=False)
        if fast["outcomes"] != slow["outcomes"] or (old is not None and old["outcomes"] != fast["outcomes"]):
            raise SystemExit(f"{folder}: the outcomes differ between the runs")
        rates.append(fast["rate"])
        line = (f"{folder:<20}{fast['rate']:>14,.0f}/s{slow['rate']:>12,.0f}/s{fast['rate'] / slow['rate']:>7.1f}×"
                f"{fast['max_rss_mib']:>8.1f} MiB")
        if old is not None:
            line += f"{old['rate']:>15,.0f}/s{fast['rate'] / old['rate']:>8.2f}×"
        print(line)
    target = 100_000
    print(f"target {target:,} actions/s on the schema-heavy examples: "
          f"{'met' if min(rates) >= target else 'NOT met'} (lowest {min(rates):,.0f}/s)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--actions", type=int, default=1_000_000)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--policy")
    ap.add_argument("--history")
    ap.add_argument("--reference", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--no-orjson", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--schema-heavy", action="store_true",
                    help="only the bundled examples' histories, whose tools validate JSON Schemas: "
                         "with jsonschema-rs in front and with jsonschema alone (target ≥ 100,000 actions/s)")
    ap.add_argument("--against", metavar="DIR",
                    help="with --schema-heavy: also run another checkout's code (rs on), interleaved")
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    if args.schema_heavy:
        schema_heavy(args.against)
        return
    where = pin()
    with tempfile.TemporaryDirectory() as d:
        pol = os.path.join(d, "bench.policy")
        text = policy_text()
        Path(pol).write_text(text)
        rules = count_rules(text)
        big = os.path.join(d, "big.jsonl")
        small = os.path.join(d, "small.jsonl")
        t = time.perf_counter()
        write_history(big, args.actions)
        with open(big) as src, open(small, "w") as dst:
            for i, line in enumerate(src):
                if i >= args.actions // 10:
                    break
                dst.write(line)
        size = os.path.getsize(big)
        print(f"python bench/simulate.py --actions {args.actions}  ({where}; Python {sys.version.split()[0]})")
        print(f"policy: {rules} rule lines over {N_TOOLS} tools (12 sum and 11 count budgets, 2 checks `on *`)")
        print(f"history: {args.actions:,} actions, {size / 2 ** 20:.0f} MiB of JSON Lines "
              f"(written in {time.perf_counter() - t:.1f} s)")
        print()
        print("strict JSON reading, µs per line:")
        for k, v in parsers(big).items():
            print(f"  {k:<38} {v:6.2f}")
        print()
        small_run = measure(pol, small)
        big_run = measure(pol, big)
        plain = measure(pol, small, no_orjson=True)
        ref = measure(pol, small, reference=True)
        print("replay, JSON parsing included, one core:")
        print(f"  {small_run['n']:>9,} actions  {small_run['rate']:>9,.0f} actions/s  peak RSS {small_run['max_rss_mib']:6.1f} MiB"
              f"  ledger {small_run['ledger_entries']:,} entries")
        print(f"  {big_run['n']:>9,} actions  {big_run['rate']:>9,.0f} actions/s  peak RSS {big_run['max_rss_mib']:6.1f} MiB"
              f"  ledger {big_run['ledger_entries']:,} entries")
        print(f"  {plain['n']:>9,} actions  {plain['rate']:>9,.0f} actions/s  (standard json instead of orjson)")
        print(f"  {ref['n']:>9,} actions  {ref['rate']:>9,.0f} actions/s  (reference interpreter)")
        print()
        print(f"compiled engine / reference interpreter: {small_run['rate'] / ref['rate']:.1f}x")
        print(f"memory {big_run['n']:,} vs {small_run['n']:,} actions: {big_run['max_rss_mib']:.1f} MiB vs "
          f"{small_run['max_rss_mib']:.1f} MiB")
        print(f"outcomes ({big_run['n']:,}): {big_run['outcomes']}")
        target = 150_000
        print(f"target {target:,} actions/s: {'met' if big_run['rate'] >= target else 'NOT met'}")


if __name__ == "__main__":
    main()
