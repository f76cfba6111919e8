"""Write a seeded, realistic 30-day action history for examples/support-ops/support.policy (JSON Lines)."""
from __future__ import annotations

import argparse
import gzip
import io
import json
import math
import random
import sys
from datetime import datetime, timedelta, timezone

START = datetime(2026, 11, 1, tzinfo=timezone.utc)
DAYS = 30
PLANS = [("free", 0.25), ("team", 0.30), ("business", 0.28), ("enterprise", 0.17)]
# the mix of proposed tool calls; a few names the policy does not declare, as agents do propose them
TOOLS = [("lookup_order", 0.40), ("send_email", 0.24), ("issue_refund", 0.20), ("crm.update-contact", 0.09),
         ("delete_record", 0.04), ("export_customer_data", 0.02), ("close_account", 0.01)]
INTERNAL = ["acme.com", "acme.io"]
PARTNERS = ["globex.com", "initech.com"]          # outside the company, but humans always wave these through
OUTSIDE = ["gmail.com", "yahoo.com", "outlook.com", "hotmail.de", "proton.me", "example.org"]
APPROVERS = ["maria", "li", "sam", "noor", "jonas", "ada", "finance_manager_1", "cfo_office"]
# busier in office hours (UTC) and on weekdays
HOUR_WEIGHT = [1, 1, 1, 1, 1, 2, 3, 6, 9, 10, 10, 10, 9, 10, 10, 9, 8, 6, 4, 3, 2, 2, 1, 1]
DAY_WEIGHT = [1.0, 1.0, 1.0, 1.0, 0.9, 0.35, 0.3]   # Monday first


def pick(rng: random.Random, pairs):
    x = rng.random() * sum(w for _, w in pairs)
    for v, w in pairs:
        x -= w
        if x < 0:
            return v
    return pairs[-1][0]


def times(rng: random.Random, n: int):
    """n timestamps over DAYS days, following the hour and weekday weights, sorted."""
    slots = []
    for d in range(DAYS):
        day = START + timedelta(days=d)
        for h in range(24):
            slots.append((day + timedelta(hours=h), HOUR_WEIGHT[h] * DAY_WEIGHT[day.weekday()]))
    total = sum(w for _, w in slots)
    cum, acc = [], 0.0
    for _, w in slots:
        acc += w
        cum.append(acc / total)
    import bisect
    out = []
    for _ in range(n):
        i = min(bisect.bisect_left(cum, rng.random()), len(slots) - 1)
        out.append(slots[i][0] + timedelta(seconds=rng.random() * 3600))
    out.sort()
    return out


def confidence(rng: random.Random) -> float:
    c = rng.betavariate(9, 1.6)
    return round(min(0.999, max(0.05, c)), 3)


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S") + f".{t.microsecond // 1000:03d}Z"


def action(rng: random.Random, i: int, t: datetime, tenants, agents) -> dict:
    tool = pick(rng, TOOLS)
    # refunds and deletions come mostly from paying plans, as those are the customers who have them
    pool = tenants["paid"] if tool in ("issue_refund", "delete_record") and rng.random() < 0.85 else tenants["all"]
    tenant = rng.choice(pool)
    agent = rng.choice(agents)
    a = {"id": f"act-{i:07d}", "timestamp": iso(t),
         "tenant": {"id": tenant["id"], "plan": tenant["plan"], "email_domain": tenant["domain"]},
         "agent": {"id": agent, "role": "billing" if agent.startswith("billing") else "support"},
         "tool": tool}
    args: dict = {}
    if tool == "lookup_order":
        args = {"order_id": f"ORD-{rng.randrange(10**6):06d}"}
    elif tool == "send_email":
        r = rng.random()
        domain = rng.choice(INTERNAL) if r < 0.55 else rng.choice(PARTNERS) if r < 0.7 else rng.choice(OUTSIDE)
        args = {"to": f"{rng.choice(['ops', 'billing', 'jane', 'tom', 'support', 'k.schmidt'])}@{domain}",
                "subject": rng.choice(["Your order", "Refund update", "Invoice", "Follow-up"])}
    elif tool == "issue_refund":
        amount = round(math.exp(rng.gauss(3.9, 0.9)), 2)   # median about 50
        if rng.random() < 0.01:
            amount = round(rng.uniform(500, 3000), 2)
        if rng.random() < 0.002:
            amount = 0
        args = {"amount": amount, "customer_id": f"cus-{rng.randrange(4000)}"}
        if rng.random() > 0.03:
            args["invoice_id"] = f"INV-{rng.randrange(10**6)}"
    elif tool == "crm.update-contact":
        args = {"contact_id": f"c-{rng.randrange(10**5)}", "field": rng.choice(["phone", "address", "email"])}
    elif tool == "delete_record":
        args = {"record_id": f"rec-{rng.randrange(10**5)}", "table": rng.choice(["contacts", "notes", "tickets"])}
    else:
        args = {"customer_id": f"cus-{rng.randrange(4000)}"}
    a["args"] = args
    if rng.random() > 0.02:
        a["confidence"] = confidence(rng)
    verdict(rng, a, t)
    return a


def verdict(rng: random.Random, a: dict, t: datetime) -> None:
    """What the humans of the old process did. They reviewed every refund, every email leaving the
    company, every deletion, unsure lookups and contact edits, and a 5% sample of the rest."""
    tool, args, conf = a["tool"], a["args"], a.get("confidence", 0.0)
    reviewed = False
    weights = [("approved", 0.9), ("edited", 0.0), ("rejected", 0.08), ("expired", 0.02)]
    if tool == "issue_refund":
        reviewed = True
        amount = args["amount"]
        if amount > 500:
            weights = [("approved", 0.05), ("edited", 0.35), ("rejected", 0.6), ("expired", 0.0)]
        elif conf < 0.8:
            weights = [("approved", 0.55), ("edited", 0.2), ("rejected", 0.22), ("expired", 0.03)]
        else:
            weights = [("approved", 0.86), ("edited", 0.06), ("rejected", 0.06), ("expired", 0.02)]
    elif tool == "send_email":
        domain = args["to"].split("@")[1]
        if domain in PARTNERS:
            reviewed, weights = True, [("approved", 1.0)]
        elif domain not in INTERNAL:
            reviewed = True
            weights = [("approved", 0.7), ("edited", 0.12), ("rejected", 0.15), ("expired", 0.03)]
        elif rng.random() < 0.05:
            reviewed = True
            weights = [("approved", 0.97), ("rejected", 0.03)]
    elif tool == "delete_record":
        reviewed = True
        weights = [("approved", 0.6), ("rejected", 0.35), ("expired", 0.05)]
    elif tool == "lookup_order":
        reviewed = conf < 0.7 or rng.random() < 0.05
        weights = [("approved", 1.0)]
    elif tool == "crm.update-contact":
        reviewed = conf < 0.9 or rng.random() < 0.05
        weights = [("approved", 0.97), ("edited", 0.03)]
    else:
        reviewed = True
        weights = [("rejected", 0.9), ("approved", 0.1)]
    if not reviewed:
        a["executed"] = True
        return
    v = pick(rng, weights)
    human = {"verdict": v, "by": rng.choice(APPROVERS),
             "at": iso(t + timedelta(minutes=rng.expovariate(1 / 40)))}
    if v == "edited":
        if tool == "issue_refund":
            human["edited_args"] = {"amount": round(min(args["amount"], 500) * rng.uniform(0.3, 0.9), 2)}
        elif tool == "send_email":
            human["edited_args"] = {"subject": args["subject"] + " (reviewed)"}
        else:
            human["edited_args"] = {"field": args.get("field", "phone")}
    a["human"] = human
    a["executed"] = v in ("approved", "edited")


def generate(n: int, seed: int):
    rng = random.Random(seed)
    tenants = []
    for k in range(60):
        plan = pick(rng, PLANS)
        tenants.append({"id": f"tenant-{k:03d}", "plan": plan, "domain": f"customer{k}.example"})
    agents = [f"support-bot-{k}" for k in range(1, 11)] + [f"billing-bot-{k}" for k in range(1, 4)]
    pools = {"all": tenants, "paid": [t for t in tenants if t["plan"] in ("business", "enterprise")]}
    for i, t in enumerate(times(rng, n), 1):
        yield action(rng, i, t, pools, agents)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--count", type=int, default=100_000, help="number of actions (default 100000)")
    ap.add_argument("--seed", type=int, default=20261101, help="random seed (default 20261101)")
    ap.add_argument("--out", default="-", help="output file; .gz is gzip-compressed; - for stdout")
    args = ap.parse_args(argv)
    if args.out == "-":
        fh = sys.stdout
        close = False
    elif args.out.endswith(".gz"):
        # no name and mtime=0 in the gzip header keep the bytes identical from run to run
        raw = open(args.out, "wb")
        fh = io.TextIOWrapper(gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0), encoding="utf-8")
        close = True
    else:
        fh = open(args.out, "w", encoding="utf-8")
        close = True
    try:
        for a in generate(args.count, args.seed):
            fh.write(json.dumps(a, separators=(",", ":")))
            fh.write("\n")
    finally:
        if close:
            fh.close()
            if args.out.endswith(".gz"):
                raw.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
