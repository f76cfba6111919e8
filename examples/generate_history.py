"""Write a seeded, realistic 30-day action history for one of the examples (JSON Lines).

    python examples/generate_history.py --out examples/support-ops/history-30d.jsonl.gz
    python examples/generate_history.py --example sales-ops --out examples/sales-ops/history-30d.jsonl.gz
    python examples/generate_history.py --example finance-backoffice \\
        --out examples/finance-backoffice/history-30d.jsonl.gz

Each example has its own default seed, so these commands rewrite the bundled files byte for byte.
Every history holds what the agents proposed (tenant, agent, tool, arguments, confidence, the
facts the agent's runtime adds in `context`) and what the old, human-reviewed process did with it
(`human` verdicts on the reviewed share, `executed`), over November 2026.
"""
from __future__ import annotations

import argparse
import bisect
import gzip
import io
import json
import math
import random
import sys
from datetime import datetime, timedelta, timezone

START = datetime(2026, 11, 1, tzinfo=timezone.utc)
DAYS = 30
# busier in office hours (UTC) and on weekdays
HOUR_WEIGHT = [1, 1, 1, 1, 1, 2, 3, 6, 9, 10, 10, 10, 9, 10, 10, 9, 8, 6, 4, 3, 2, 2, 1, 1]
DAY_WEIGHT = [1.0, 1.0, 1.0, 1.0, 0.9, 0.35, 0.3]   # Monday first


# ====================================================================== shared helpers

def pick(rng: random.Random, pairs):
    x = rng.random() * sum(w for _, w in pairs)
    for v, w in pairs:
        x -= w
        if x < 0:
            return v
    return pairs[-1][0]


def times(rng: random.Random, n: int, hour_weight=HOUR_WEIGHT, day_weight=DAY_WEIGHT):
    """n timestamps over DAYS days, following the hour and weekday weights, sorted."""
    slots = []
    for d in range(DAYS):
        day = START + timedelta(days=d)
        for h in range(24):
            slots.append((day + timedelta(hours=h), hour_weight[h] * day_weight[day.weekday()]))
    total = sum(w for _, w in slots)
    cum, acc = [], 0.0
    for _, w in slots:
        acc += w
        cum.append(acc / total)
    out = []
    for _ in range(n):
        i = min(bisect.bisect_left(cum, rng.random()), len(slots) - 1)
        out.append(slots[i][0] + timedelta(seconds=rng.random() * 3600))
    out.sort()
    return out


def confidence(rng: random.Random, a: float = 9, b: float = 1.6) -> float:
    c = rng.betavariate(a, b)
    return round(min(0.999, max(0.05, c)), 3)


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S") + f".{t.microsecond // 1000:03d}Z"


def lognormal(rng: random.Random, median: float, sigma: float) -> float:
    return math.exp(rng.gauss(math.log(median), sigma))


def review(rng: random.Random, a: dict, t: datetime, weights, people, edit=None) -> None:
    """Record the old process's verdict on `a`: who, when, and what a human edit changed."""
    v = pick(rng, weights)
    human = {"verdict": v, "by": rng.choice(people), "at": iso(t + timedelta(minutes=rng.expovariate(1 / 40)))}
    if v == "edited" and edit is not None:
        human["edited_args"] = edit()
    a["human"] = human
    a["executed"] = v in ("approved", "edited")


def unreviewed(a: dict) -> None:
    a["executed"] = True


# ====================================================================== support-ops
# examples/support-ops/support.policy. Its bundled file predates the other examples: this part must
# keep writing exactly the same bytes (tests/test_examples.py checks a prefix of it).

PLANS = [("free", 0.25), ("team", 0.30), ("business", 0.28), ("enterprise", 0.17)]
# the mix of proposed tool calls; a few names the policy does not declare, as agents do propose them
TOOLS = [("lookup_order", 0.40), ("send_email", 0.24), ("issue_refund", 0.20), ("crm.update-contact", 0.09),
         ("delete_record", 0.04), ("export_customer_data", 0.02), ("close_account", 0.01)]
INTERNAL = ["acme.com", "acme.io"]
PARTNERS = ["globex.com", "initech.com"]          # outside the company, but humans always wave these through
OUTSIDE = ["gmail.com", "yahoo.com", "outlook.com", "hotmail.de", "proton.me", "example.org"]
APPROVERS = ["maria", "li", "sam", "noor", "jonas", "ada", "finance_manager_1", "cfo_office"]


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


def generate_support(n: int, seed: int):
    rng = random.Random(seed)
    tenants = []
    for k in range(60):
        plan = pick(rng, PLANS)
        tenants.append({"id": f"tenant-{k:03d}", "plan": plan, "domain": f"customer{k}.example"})
    agents = [f"support-bot-{k}" for k in range(1, 11)] + [f"billing-bot-{k}" for k in range(1, 4)]
    pools = {"all": tenants, "paid": [t for t in tenants if t["plan"] in ("business", "enterprise")]}
    for i, t in enumerate(times(rng, n), 1):
        yield action(rng, i, t, pools, agents)


# ====================================================================== sales-ops
# examples/sales-ops/sales.policy: SDR/AE agents of 40 B2B software sellers. Outreach follows the
# working day in Europe and then the Americas; weekends are quiet.

SALES_HOURS = [1, 1, 1, 1, 1, 2, 4, 7, 9, 10, 10, 9, 9, 11, 12, 12, 11, 10, 8, 6, 5, 4, 2, 1]
SALES_DAYS = [1.0, 1.0, 1.0, 1.0, 0.85, 0.12, 0.08]
SALES_PLANS = [("starter", 0.35), ("growth", 0.45), ("enterprise", 0.20)]
SALES_TOOLS = [("search_leads", 0.17), ("enrich_lead", 0.12), ("score_lead", 0.10), ("log_call_note", 0.09),
               ("update_lead_stage", 0.08), ("send_email", 0.20), ("send_linkedin_message", 0.07),
               ("send_sms", 0.015), ("schedule_meeting", 0.04), ("add_to_sequence", 0.025),
               ("create_quote", 0.02), ("apply_discount", 0.02), ("update_opportunity_amount", 0.02),
               ("send_contract", 0.008),
               # proposed now and then, outside the agent's scope
               ("export_leads", 0.004), ("delete_lead", 0.003), ("buy_contact_list", 0.002)]
OUTREACH = ("send_email", "send_linkedin_message", "send_sms")
DEAL_TOOLS = ("create_quote", "apply_discount", "update_opportunity_amount", "send_contract")
REGIONS = [("US", 0.52), ("CA", 0.05), ("UK", 0.12), ("EU", 0.21), ("CH", 0.02), ("APAC", 0.08)]
CONSENT_REGIONS = ("EU", "UK", "CH", "CA")
TIERS = [("smb", 0.45), ("mid_market", 0.33), ("enterprise", 0.14), ("key", 0.06), ("strategic", 0.02)]
FIRST = ["dana", "lena", "marco", "priya", "tom", "aiko", "sofia", "james", "noah", "emma", "lukas", "chloe",
         "omar", "ines", "kevin", "yuki", "sara", "david", "anna", "raj"]
LAST = ["kim", "vogel", "rossi", "shah", "baker", "tanaka", "garcia", "miller", "weber", "martin", "dubois",
        "haddad", "silva", "nguyen", "cohen", "berg", "novak", "patel", "lopez", "fischer"]
COMPANIES = ["fabrikam", "contoso", "woodgrove", "litware", "adatum", "tailspin", "wingtip", "proseware",
             "lucerne", "margie", "trey", "humongous", "alpine", "coho", "fourthcoffee", "northwind", "blueyonder",
             "relecloud", "vanarsdel", "wideworld"]
TLD = {"US": "com", "CA": "ca", "UK": "co.uk", "EU": "de", "CH": "ch", "APAC": "com.au"}
SUBJECTS = ["Closing the books faster", "Quick question about {c}", "{c} + our platform", "Idea for your Q1 plan",
            "Saw your post on hiring", "Following up", "Worth a look?", "Case study: a team like {c}"]
SALES_PEOPLE = {"sales_manager": ["maria.k", "tom.h", "aisha.r", "jonas.b"],
                "account_owner": ["li.w", "carlos.m", "noor.a", "emily.s", "maria.k"],
                "deal_desk": ["dealdesk.ravi", "dealdesk.jo", "director.sam"],
                "legal": ["counsel.ines", "counsel.paul"]}


def _sales_world(rng: random.Random):
    """Tenants (sellers) with their agents and lead books. A tenant's size drives its traffic; its
    book is sized so that a lead in a live sequence gets about 0.8 touches a week."""
    tenants = []
    for k in range(40):
        size = min(4.0, max(0.15, lognormal(rng, 1.0, 0.8)))
        plan = pick(rng, SALES_PLANS)
        slug = COMPANIES[k % len(COMPANIES)] + ("" if k < len(COMPANIES) else "-2")
        n_sdr = 1 + min(3, int(size * 1.5))
        tenants.append({"id": f"seller-{k:02d}", "k": k, "plan": plan, "domain": f"{slug}-sales.io", "size": size,
                        "sdrs": [f"{slug}-sdr-{j}" for j in range(1, n_sdr + 1)], "ae": f"{slug}-ae-1"})
    total = sum(t["size"] for t in tenants)
    for t in tenants:
        book = max(60, int(8400 * t["size"] / total))
        t["leads"] = [_lead(rng, t["k"], i) for i in range(book)]
        t["na_leads"] = [x for x in t["leads"] if x["region"] in ("US", "CA")] or t["leads"]
    return tenants


def _lead(rng: random.Random, k: int, i: int) -> dict:
    region = pick(rng, REGIONS)
    first, last, company = rng.choice(FIRST), rng.choice(LAST), rng.choice(COMPANIES)
    if region in CONSENT_REGIONS:
        consent = pick(rng, [(True, 0.80), (False, 0.05), (None, 0.15)])
    else:
        consent = pick(rng, [(True, 0.35), (False, 0.03), (None, 0.62)])
    return {"id": f"L-{k:02d}{i:05d}", "region": region, "tier": pick(rng, TIERS),
            "email": f"{first}.{last}@{company}.{TLD[region]}", "company": company, "first": first,
            "linkedin": f"https://www.linkedin.com/in/{first}-{last}-{k}{i}",
            "phone": f"+1{rng.randrange(201, 990)}555{rng.randrange(10**4):04d}",
            "dnc": rng.random() < 0.015, "unsub": rng.random() < 0.012, "consent": consent}


def _sales_schedule(rng: random.Random, n: int):
    """The timestamps, plus two incidents the report should surface: an agent that loops on one
    afternoon, and Monday list imports that run past the enrolment budget."""
    loop = min(150, n // 600)
    imports = min(16, n // 5000)
    base = [(t, "normal") for t in times(rng, n - loop - imports, SALES_HOURS, SALES_DAYS)]
    t0 = datetime(2026, 11, 18, 14, 5, tzinfo=timezone.utc)
    base += [(t0 + timedelta(seconds=20 * j + rng.random() * 10), "loop") for j in range(loop)]
    for j in range(imports):
        day = datetime(2026, 11, 9 if j < imports // 2 else 23, 8, tzinfo=timezone.utc)
        base.append((day + timedelta(minutes=rng.uniform(0, 240)), "import"))
    base.sort(key=lambda x: x[0])
    return base


def _sales_tool(rng: random.Random, t: datetime, plan: str) -> str:
    tool = pick(rng, SALES_TOOLS)
    # texts go to North-American numbers in their afternoon, from plans that have the channel; a few
    # are queued at the wrong time or proposed where the channel is not set up
    if tool == "send_sms" and (not (16 <= t.hour or t.hour < 2) or plan == "starter") and rng.random() < 0.9:
        tool = "send_email"
    return tool


def _outreach_context(rng: random.Random, lead: dict, tool: str) -> dict:
    if rng.random() < 0.012:                       # the runtime's CRM lookup failed or was skipped
        return {"account_tier": lead["tier"]}
    ctx: dict = {"lead": {"region": lead["region"], "do_not_contact": lead["dnc"]}, "account_tier": lead["tier"]}
    if tool == "send_email":
        ctx["lead"]["unsubscribed"] = lead["unsub"]
    consent = lead["consent"]
    if tool == "send_sms" and consent is None and rng.random() < 0.8:
        consent = True                              # texts go mostly to numbers that opted in
    if consent is not None:
        ctx["consent"] = consent
    return ctx


def sales_action(rng: random.Random, i: int, t: datetime, kind: str, tenants) -> dict:
    weights = [(x, x["size"]) for x in tenants]
    tenant = tenants[9] if kind in ("loop", "import") else pick(rng, weights)
    if kind == "loop":
        tool = "send_email"
    elif kind == "import":
        tool = "add_to_sequence"
    else:
        tool = _sales_tool(rng, t, tenant["plan"])
    deal = tool in DEAL_TOOLS
    agent = tenant["sdrs"][-1] if kind == "loop" else tenant["sdrs"][0] if kind == "import" else \
        tenant["ae"] if deal else rng.choice(tenant["sdrs"])
    a = {"id": f"sal-{i:07d}", "timestamp": iso(t),
         "tenant": {"id": tenant["id"], "plan": tenant["plan"], "email_domain": tenant["domain"]},
         "agent": {"id": agent, "role": "ae" if deal else "sdr"}, "tool": tool}
    lead = rng.choice(tenant["leads"])
    if tool == "send_sms" and lead["region"] not in ("US", "CA") and rng.random() < 0.9:
        lead = rng.choice(tenant["na_leads"])
    ctx: dict = {}
    args: dict
    if tool == "search_leads":
        args = {"query": rng.choice(["VP Finance", "Head of RevOps", "CFO", "Controller", "IT Director"]) + " "
                + rng.choice(["fintech", "manufacturing", "healthcare", "retail", "SaaS", "logistics"]),
                "limit": rng.choice([25, 50, 100, 200])}
        if rng.random() < 0.5:
            args["filters"] = {"region": pick(rng, REGIONS), "employees_min": rng.choice([50, 200, 1000])}
        if rng.random() < 0.004:
            args["limit"] = 1000                     # beyond the API's page size: the schema refuses it
    elif tool in ("enrich_lead", "score_lead"):
        args = {"lead_id": lead["id"]}
        if tool == "enrich_lead":
            args["provider"] = rng.choice(["clearbit", "zoominfo", "apollo"])
        else:
            args["model"] = rng.choice(["fit_v3", "intent_v2"])
    elif tool == "log_call_note":
        args = {"lead_id": lead["id"], "outcome": pick(rng, [("connected", 0.3), ("voicemail", 0.4),
                                                              ("no_answer", 0.25), ("wrong_number", 0.05)]),
                "note": rng.choice(["Asked to call back next week", "Evaluating two vendors, decision in Q1",
                                    "Left voicemail", "Not the right person, pointed to the CFO"])}
    elif tool == "update_lead_stage":
        args = {"lead_id": lead["id"], "stage": pick(rng, [("contacted", 0.35), ("engaged", 0.2), ("qualified", 0.15),
                                                           ("nurture", 0.15), ("unqualified", 0.15)])}
        if args["stage"] == "unqualified":
            args["reason"] = rng.choice(["no budget", "student", "competitor", "too small", "no reply in 30 days"])
    elif tool in OUTREACH:
        step = pick(rng, [(1, 0.35), (2, 0.22), (3, 0.16), (4, 0.11), (5, 0.08), (6, 0.06), (7, 0.009), (8, 0.003)])
        if kind == "loop":
            step = rng.choice([2, 3, 4])
        if tool == "send_email":
            args = {"lead_id": lead["id"], "to": lead["email"], "step": step,
                    "subject": ("Re: " if step > 1 else "") + rng.choice(SUBJECTS).format(c=lead["company"].title()),
                    "template": f"seq-{rng.randrange(1, 9)}-step-{step}"}
        elif tool == "send_linkedin_message":
            if step == 1:
                length = 301 + rng.randrange(200) if rng.random() < 0.04 else rng.randrange(80, 300)
            else:
                length = rng.randrange(200, 1200)
            msg = f"Hi {lead['first'].title()}, " + ("x" * 10 + " ") * 200
            args = {"lead_id": lead["id"], "profile_url": lead["linkedin"], "step": step, "message": msg[:length]}
        else:
            args = {"lead_id": lead["id"], "phone": lead["phone"], "step": step,
                    "message": f"Hi {lead['first'].title()}, it's about {rng.choice(['Thursday', 'the demo', 'pricing'])}."}
        ctx = _outreach_context(rng, lead, tool)
    elif tool == "schedule_meeting":
        n_att = pick(rng, [(2, 0.5), (3, 0.25), (4, 0.12), (5, 0.07), (6, 0.04), (8, 0.02)])
        start = (t + timedelta(days=rng.randrange(1, 15))).replace(minute=0, second=0, microsecond=0)
        args = {"lead_id": lead["id"], "attendees": [lead["email"]] + [f"rep{j}@{tenant['domain']}" for j in range(n_att - 1)],
                "start": start.strftime("%Y-%m-%dT%H:%M:%SZ"), "duration_minutes": rng.choice([30, 30, 45, 60]),
                "kind": rng.choice(["discovery", "demo", "negotiation"])}
        ctx = {"account_tier": lead["tier"], "lead": {"region": lead["region"], "do_not_contact": lead["dnc"]}}
    elif tool == "add_to_sequence":
        count = max(1, int(lognormal(rng, 25, 1.0)))
        if kind == "import":
            count = rng.randrange(300, 481)
        elif rng.random() < 0.006:
            count = rng.randrange(600, 3000)          # a whole list: marketing ops' job
        args = {"sequence_id": f"SEQ-{rng.randrange(100, 140)}", "segment_id": f"SEG-{rng.randrange(1000, 9999)}",
                "lead_count": min(count, 5000)}
    elif deal:
        opp = f"OPP-{tenant['k']:02d}{rng.randrange(10**4):04d}"
        amount = round(lognormal(rng, 30000, 0.9), -2)
        tier = lead["tier"]
        ctx = {"account_tier": tier}
        if tool == "create_quote":
            args = {"opportunity_id": opp, "amount": amount, "currency": pick(rng, [("USD", 0.7), ("EUR", 0.2), ("GBP", 0.1)]),
                    "discount_pct": _discount(rng, amount),
                    "payment_terms": pick(rng, [("net30", 0.6), ("annual_upfront", 0.25), ("net45", 0.05), ("net60", 0.05),
                                                ("net90", 0.03), ("quarterly", 0.02)]),
                    "term_months": pick(rng, [(12, 0.7), (24, 0.15), (36, 0.12), (48, 0.02), (60, 0.01)])}
        elif tool == "apply_discount":
            args = {"opportunity_id": opp, "amount": amount, "discount_pct": _discount(rng, amount),
                    "reason": rng.choice(["competitive", "multi-year", "end of quarter", "multi-product", "case study"])}
        elif tool == "update_opportunity_amount":
            stage = pick(rng, [("discovery", 0.2), ("evaluation", 0.3), ("proposal", 0.25), ("commit", 0.2),
                               ("closed_won", 0.04), ("closed_lost", 0.01)])
            change = pick(rng, [(1.0, 0.0), (rng.uniform(0.85, 1.15), 0.75), (rng.uniform(0.5, 0.8), 0.15),
                                (rng.uniform(1.2, 1.8), 0.1)])
            args = {"opportunity_id": opp, "old_amount": amount, "new_amount": round(amount * change, -2), "stage": stage}
            del ctx["account_tier"]
        else:
            custom = rng.random() < 0.2
            args = {"opportunity_id": opp, "template": "custom" if custom else "standard",
                    "redlines": rng.randrange(1, 9) if custom or rng.random() < 0.15 else 0,
                    "amount": amount, "signer_email": f"cfo@{lead['company']}.{TLD[lead['region']]}"}
    else:
        args = {"format": "csv"} if tool == "export_leads" else {"lead_id": lead["id"]} if tool == "delete_lead" \
            else {"vendor": rng.choice(["listco", "leadzilla"]), "records": rng.choice([5000, 20000])}
    a["args"] = args
    if ctx:
        a["context"] = ctx
    # the agent's confidence: sure of research, less of what it writes to people
    if rng.random() > 0.01:
        a["confidence"] = confidence(rng, 11, 1.4) if tool not in OUTREACH else confidence(rng, 10, 1.5)
    sales_verdict(rng, a, t, lead, kind)
    return a


def _discount(rng: random.Random, amount: float) -> float:
    d = pick(rng, [(0, 0.3), (5, 0.2), (10, 0.2), (15, 0.13), (20, 0.08), (25, 0.05), (30, 0.025), (35, 0.01),
                   (45, 0.005)])
    return float(d) if amount >= 20000 or d <= 20 or rng.random() < 0.3 else 20.0


def sales_verdict(rng: random.Random, a: dict, t: datetime, lead: dict, kind: str) -> None:
    """The old process: sales managers read every first touch, every text, every deal change and every
    enrolment; account owners every touch of a named account; 5% of the rest was sampled."""
    tool, args, conf, ctx = a["tool"], a["args"], a.get("confidence", 0.0), a.get("context", {})
    P = SALES_PEOPLE
    ok = [("approved", 1.0)]
    if kind == "loop":                                 # nobody saw these until the complaints came in
        return unreviewed(a)
    if tool in OUTREACH:
        step = args["step"]
        edit = (lambda: {"subject": args["subject"].replace("Re: ", "") + " (personalised)"}) if tool == "send_email" \
            else (lambda: {"message": args["message"][:200]})
        if lead["dnc"] or (tool == "send_email" and lead["unsub"]) or step > 6:
            return review(rng, a, t, [("rejected", 0.97), ("approved", 0.03)], P["sales_manager"])
        if ctx.get("consent") is False or (tool == "send_sms" and ctx.get("consent") is not True):
            return review(rng, a, t, [("rejected", 0.9), ("approved", 0.1)], P["sales_manager"])
        if lead["region"] in CONSENT_REGIONS and tool != "send_linkedin_message" and "consent" not in ctx:
            return review(rng, a, t, [("rejected", 0.5), ("approved", 0.4), ("edited", 0.1)], P["sales_manager"], edit)
        if lead["tier"] in ("key", "strategic"):
            # account owners never once changed an agent's message to their accounts: friction
            return review(rng, a, t, ok, P["account_owner"])
        if tool == "send_sms":
            late = not (16 <= t.hour or t.hour < 2)
            w = [("rejected", 0.7), ("approved", 0.3)] if late else \
                [("approved", 0.82), ("edited", 0.08), ("rejected", 0.08), ("expired", 0.02)]
            return review(rng, a, t, w, P["sales_manager"], edit)
        if step == 1:
            if conf >= 0.85:
                w = [("approved", 0.87), ("edited", 0.08), ("rejected", 0.04), ("expired", 0.01)]
            else:
                w = [("approved", 0.6), ("edited", 0.2), ("rejected", 0.17), ("expired", 0.03)]
            return review(rng, a, t, w, P["sales_manager"], edit)
        if rng.random() < 0.05 or conf < 0.6:
            return review(rng, a, t, [("approved", 0.96), ("edited", 0.03), ("rejected", 0.01)], P["sales_manager"], edit)
        return unreviewed(a)
    if tool in ("search_leads", "enrich_lead", "score_lead"):
        # managers looked at the agent's unsure research and always let it run
        if conf < 0.6 or rng.random() < 0.03:
            return review(rng, a, t, ok, P["sales_manager"])
        return unreviewed(a)
    if tool == "schedule_meeting":
        if lead["dnc"]:
            return review(rng, a, t, [("rejected", 0.9), ("approved", 0.1)], P["sales_manager"])
        if lead["tier"] in ("key", "strategic"):
            return review(rng, a, t, ok, P["account_owner"])
        if len(args["attendees"]) > 4:
            return review(rng, a, t, [("approved", 0.85), ("edited", 0.1), ("rejected", 0.05)], P["sales_manager"],
                          lambda: {"attendees": args["attendees"][:4]})
        if conf < 0.6 or rng.random() < 0.05:
            return review(rng, a, t, ok, P["sales_manager"])
        return unreviewed(a)
    if tool in ("log_call_note", "update_lead_stage"):
        if tool == "update_lead_stage" and args["stage"] == "unqualified":
            # disqualifying: a good share turned out to be live leads
            w = [("approved", 0.8), ("edited", 0.06), ("rejected", 0.14)] if conf >= 0.85 else \
                [("approved", 0.55), ("edited", 0.15), ("rejected", 0.3)]
            return review(rng, a, t, w, P["sales_manager"], lambda: {"stage": "nurture"})
        if conf < 0.6 or rng.random() < 0.05:
            return review(rng, a, t, [("approved", 0.98), ("edited", 0.02)], P["sales_manager"],
                          lambda: {"note": "(edited) " + args.get("note", "")} if tool == "log_call_note"
                          else {"stage": "nurture"})
        return unreviewed(a)
    if tool == "add_to_sequence":
        n = args["lead_count"]
        if n > 500:
            return review(rng, a, t, [("rejected", 0.85), ("edited", 0.15)], P["sales_manager"], lambda: {"lead_count": 500})
        w = [("approved", 0.93), ("edited", 0.03), ("rejected", 0.04)] if n <= 50 else \
            [("approved", 0.78), ("edited", 0.12), ("rejected", 0.1)]
        return review(rng, a, t, w, P["sales_manager"], lambda: {"lead_count": max(1, n // 2)})
    if tool in ("create_quote", "apply_discount"):
        d = args["discount_pct"]
        people = P["account_owner"] if ctx.get("account_tier") in ("key", "strategic") else \
            P["deal_desk"] if d > 20 or args.get("payment_terms", "net30") not in ("net30", "annual_upfront") \
            else P["sales_manager"]
        edit = lambda: {"discount_pct": max(0.0, d - 5)}
        if d > 40 or (d > 20 and args["amount"] < 20000):
            return review(rng, a, t, [("rejected", 0.85), ("edited", 0.15)], people, edit)
        if d > 20:
            w = [("approved", 0.45), ("edited", 0.35), ("rejected", 0.2)]
        elif d > 10:
            w = [("approved", 0.7), ("edited", 0.2), ("rejected", 0.08), ("expired", 0.02)]
        else:
            w = [("approved", 0.9), ("edited", 0.06), ("rejected", 0.03), ("expired", 0.01)]
        return review(rng, a, t, w, people, edit)
    if tool == "update_opportunity_amount":
        old, new = args["old_amount"], args["new_amount"]
        if args["stage"] in ("closed_won", "closed_lost"):
            return review(rng, a, t, [("rejected", 0.8), ("approved", 0.2)], P["sales_manager"])
        if args["stage"] == "commit" and not 0.8 * old <= new <= 1.2 * old:
            return review(rng, a, t, [("approved", 0.55), ("edited", 0.15), ("rejected", 0.3)], P["sales_manager"],
                          lambda: {"new_amount": round((old + new) / 2, -2)})
        return review(rng, a, t, [("approved", 0.95), ("edited", 0.02), ("rejected", 0.03)], P["sales_manager"],
                      lambda: {"new_amount": old})
    if tool == "send_contract":
        if args["template"] != "standard" or args["redlines"] > 0:
            return review(rng, a, t, [("approved", 0.6), ("edited", 0.28), ("rejected", 0.1), ("expired", 0.02)],
                          P["legal"], lambda: {"redlines": 0, "template": "standard"})
        return review(rng, a, t, [("approved", 0.93), ("edited", 0.04), ("rejected", 0.03)], P["sales_manager"],
                      lambda: {"amount": round(args["amount"] * 0.95, -2)})
    return review(rng, a, t, [("rejected", 0.92), ("approved", 0.08)], P["sales_manager"])


def generate_sales(n: int, seed: int):
    rng = random.Random(seed)
    tenants = _sales_world(rng)
    for i, (t, kind) in enumerate(_sales_schedule(rng, n), 1):
        yield sales_action(rng, i, t, kind, tenants)


# ====================================================================== finance-backoffice
# examples/finance-backoffice/finance.policy: AP/AR/GL agents of 25 US companies. Office hours in New
# York (UTC-5 in November), an overnight bookkeeping batch, payment runs on Tuesdays and Thursdays,
# the October close on the first three business days of November.

FIN_HOURS = [3, 3, 3, 2, 1, 1, 1, 1, 1, 1, 2, 4, 8, 10, 11, 11, 10, 10, 10, 9, 8, 6, 4, 3]
FIN_DAYS = [1.0, 1.0, 1.0, 1.0, 1.0, 0.15, 0.1]
FIN_PLANS = [("growth", 0.4), ("scale", 0.4), ("enterprise", 0.2)]
FIN_TOOLS = [("categorize_transaction", 0.30), ("match_invoice", 0.19), ("lookup_vendor", 0.12),
             ("reconcile_account", 0.05), ("pay_invoice", 0.085), ("schedule_payment", 0.07),
             ("issue_refund", 0.05), ("write_off", 0.012), ("journal_entry", 0.05), ("create_vendor", 0.006),
             ("update_vendor_bank_details", 0.004), ("payroll_adjustment", 0.012),
             # proposed now and then, outside the agent's scope
             ("initiate_wire", 0.002), ("delete_invoice", 0.001), ("approve_expense_report", 0.002)]
PAYMENT_TOOLS = ("pay_invoice", "schedule_payment")
GL_EXPENSE = ["6100", "6110", "6200", "6310", "6420", "6500", "6610", "6700", "7100", "5100", "5200"]
GL_BALANCE = ["1010", "1020", "1200", "1300", "1500", "2000", "2100", "2200", "2400"]
FIN_PEOPLE = {"ap_review": ["ap.jorge", "ap.priya", "ap.emma", "ap.mgr.kofi"],
              "controller": ["ctrl.r.okafor", "ctrl.asst.lina"],
              "dual": ["ctrl.r.okafor", "treasurer.mei", "cfo.daniel"],
              "vendor_master": ["ap.mgr.kofi", "ctrl.r.okafor"],
              "payroll": ["payroll.ana", "hr.director.sam"],
              "ar": ["ar.lead.fatima", "ar.tom", "ctrl.asst.lina"]}


def _fin_world(rng: random.Random):
    tenants = []
    for k in range(25):
        size = min(3.0, max(0.3, lognormal(rng, 1.0, 0.7)))
        slug = COMPANIES[k % len(COMPANIES)] + ("" if k < len(COMPANIES) else "-inc")
        vendors = []
        for v in range(int(60 + 140 * size)):
            recent = rng.random() < 0.012
            vendors.append({"id": f"V-{k:02d}{v:03d}", "verified": rng.random() > 0.012,
                            "bank": f"BA-{k:02d}{v:03d}{rng.randrange(10)}",
                            "days": rng.randrange(1, 30) if recent else rng.randrange(30, 2000),
                            # what this vendor usually bills: software, rent, freight, a contract manufacturer
                            "typical": lognormal(rng, 1200, 1.1),
                            "weight": 1 / (v + 1) ** 0.8})
        cum, acc = [], 0.0
        for v in vendors:                           # a few vendors get most invoices
            acc += v["weight"]
            cum.append(acc)
        tenants.append({"id": f"company-{k:02d}", "k": k, "plan": pick(rng, FIN_PLANS), "size": size, "cum": cum,
                        "domain": f"{slug}.com", "vendors": vendors, "paid": [],
                        "agents": {"ap": f"{slug}-ap-bot", "ar": f"{slug}-ar-bot", "gl": f"{slug}-gl-bot",
                                   "payroll": f"{slug}-payroll-bot"}})
    return tenants


def _fin_tool(rng: random.Random, t: datetime) -> str:
    tool = pick(rng, FIN_TOOLS)
    # payment runs on Tuesdays and Thursdays: twice the payments, fewer of everything else
    if t.weekday() in (1, 3) and tool not in PAYMENT_TOOLS and rng.random() < 0.12:
        tool = rng.choice(PAYMENT_TOOLS)
    # people prepare journal entries in the day; the overnight batch codes transactions
    night = t.weekday() >= 5 or not 12 <= t.hour < 24
    if tool == "journal_entry" and night and rng.random() < 0.8:
        tool = "categorize_transaction"
    return tool


def _period_status(t: datetime, period: str) -> str:
    if period == "2026-11":
        return "open"
    # October closes on the first three business days of November (2–4 Nov), then is locked
    return "closing" if t < datetime(2026, 11, 5, tzinfo=timezone.utc) else "closed"


def fin_action(rng: random.Random, i: int, t: datetime, tenants) -> dict:
    tenant = pick(rng, [(x, x["size"]) for x in tenants])
    tool = _fin_tool(rng, t)
    role = "ap" if tool in PAYMENT_TOOLS + ("match_invoice", "lookup_vendor", "create_vendor",
                                             "update_vendor_bank_details", "initiate_wire", "delete_invoice") else \
        "ar" if tool in ("issue_refund", "write_off") else "payroll" if tool == "payroll_adjustment" else "gl"
    a = {"id": f"fin-{i:07d}", "timestamp": iso(t), "tenant": {"id": tenant["id"], "plan": tenant["plan"],
                                                               "email_domain": tenant["domain"]},
         "agent": {"id": tenant["agents"][role], "role": role}, "tool": tool}
    vendor = tenant["vendors"][min(bisect.bisect_left(tenant["cum"], rng.random() * tenant["cum"][-1]),
                                   len(tenant["vendors"]) - 1)]
    ctx: dict = {}
    facts: dict = {}                                # what the generator knows and the humans noticed
    cur = pick(rng, [("USD", 0.9), ("CAD", 0.04), ("EUR", 0.04), ("GBP", 0.02)])
    if tool == "lookup_vendor":
        args = {"vendor_id": vendor["id"]}
    elif tool == "match_invoice":
        variance = round(abs(rng.gauss(0, 0.9)), 2) if rng.random() > 0.07 else round(rng.uniform(2.1, 15), 2)
        args = {"invoice_id": f"INV-{tenant['k']:02d}{rng.randrange(10**6):06d}", "po_id": f"PO-{rng.randrange(10**5):05d}",
                "variance_pct": variance}
        if rng.random() < 0.9:
            args["receipt_id"] = f"GR-{rng.randrange(10**5):05d}"
    elif tool == "categorize_transaction":
        equity = rng.random() < 0.004
        args = {"transaction_id": f"TX-{rng.randrange(10**8):08d}",
                "gl_account": rng.choice(["3100", "3200"]) if equity else rng.choice(GL_EXPENSE),
                "amount": round(lognormal(rng, 85, 1.3) * (250 if equity else 1), 2)}
        if rng.random() < 0.6:
            args["memo"] = rng.choice(["AWS", "Zoom", "Uber", "Delta Air Lines", "Staples", "WeWork", "Google Ads"])
        facts["miscoded"] = rng.random() < 0.1
    elif tool == "reconcile_account":
        adj = round(rng.gauss(0, 30), 2) if rng.random() > 0.15 else round(rng.choice([-1, 1]) * lognormal(rng, 900, 1.0), 2)
        args = {"account_id": rng.choice(GL_BALANCE), "period": "2026-10" if t.day <= 6 else "2026-11", "adjustment": adj}
    elif tool in PAYMENT_TOOLS:
        dup = tenant["paid"] and rng.random() < 0.01
        if dup:                                      # the same invoice again: a re-sent PDF, a paper copy
            inv, vendor, amount = rng.choice(tenant["paid"][-300:])
        else:
            inv = f"INV-{tenant['k']:02d}{rng.randrange(10**6):06d}"
            amount = round(lognormal(rng, vendor["typical"], 0.5), 2)
            if rng.random() < 0.001:
                amount = round(rng.uniform(500000, 900000), 2)
            tenant["paid"].append((inv, vendor, amount))
        bank = vendor["bank"]
        if rng.random() < 0.006:                    # the invoice names another account: the classic fake invoice
            bank = f"BA-9{rng.randrange(10**6):06d}"
        args = {"invoice_id": inv, "vendor_id": vendor["id"], "amount": amount, "currency": cur, "bank_account_id": bank}
        if tool == "schedule_payment":
            args["pay_date"] = (t + timedelta(days=rng.randrange(1, 15))).strftime("%Y-%m-%d")
        if rng.random() > 0.005:
            ctx["vendor"] = {"verified": vendor["verified"], "bank_account_id": vendor["bank"],
                             "days_since_bank_change": vendor["days"]}
        if rng.random() > 0.004:
            ctx["invoice"] = {"matched": rng.random() > 0.04}
        facts.update(dup=dup, fake_bank=bank != vendor["bank"])
    elif tool == "issue_refund":
        amount = round(lognormal(rng, 120, 1.1), 2)
        if rng.random() < 0.01:
            amount = round(rng.uniform(5000, 12000), 2)
        paid = round(amount * rng.uniform(1.0, 4.0), 2) if rng.random() > 0.012 else round(amount * rng.uniform(0.3, 0.9), 2)
        customer = f"C-{tenant['k']:02d}{int(lognormal(rng, 300, 1.5)) % 10**5:05d}"
        args = {"customer_id": customer, "invoice_id": f"INV-{tenant['k']:02d}{rng.randrange(10**6):06d}",
                "amount": amount, "currency": cur,
                "reason": pick(rng, [("duplicate_charge", 0.2), ("billing_error", 0.25), ("service_issue", 0.25),
                                     ("cancellation", 0.2), ("goodwill", 0.1)])}
        ctx["invoice"] = {"amount_paid": paid}
    elif tool == "write_off":
        small = rng.random() < 0.6
        amount = round(rng.uniform(5, 250) if small else lognormal(rng, 700, 1.0), 2)
        overdue = rng.randrange(30, 400) if small else (rng.randrange(90, 720) if rng.random() > 0.08 else rng.randrange(20, 90))
        args = {"customer_id": f"C-{tenant['k']:02d}{rng.randrange(10**5):05d}",
                "invoice_id": f"INV-{tenant['k']:02d}{rng.randrange(10**6):06d}", "amount": amount, "currency": cur,
                "reason": "small_balance" if small else pick(rng, [("uncollectible", 0.7), ("dispute_settled", 0.2),
                                                                  ("customer_insolvent", 0.1)])}
        if rng.random() > 0.01:
            ctx["invoice"] = {"days_overdue": overdue}
        # collections knew what the agent did not: the customer is still active and paying other invoices
        facts["active_customer"] = rng.random() < 0.12
    elif tool == "journal_entry":
        total = round(lognormal(rng, 4000, 1.4), 2)
        acc = rng.sample(GL_EXPENSE + GL_BALANCE, 2)
        period = "2026-10" if (t < datetime(2026, 11, 5, tzinfo=timezone.utc) and rng.random() < 0.7) \
            or rng.random() < 0.015 else "2026-11"
        credit = total if rng.random() > 0.006 else round(total - min(total / 2, rng.choice([0.01, 1, 10, 100])), 2)
        args = {"entry_id": f"JE-{tenant['k']:02d}{rng.randrange(10**5):05d}", "period": period,
                "lines": [{"account": acc[0], "debit": total}, {"account": acc[1], "credit": credit}],
                "total_debit": total, "total_credit": credit,
                "description": rng.choice(["Accrued consulting", "Prepaid insurance amortisation", "Depreciation",
                                           "Reclass travel", "Accrued bonus", "FX revaluation"])}
        if rng.random() < 0.1:
            args["reversing"] = True
        if rng.random() > 0.008:
            ctx["period_status"] = _period_status(t, period)
    elif tool == "create_vendor":
        args = {"name": f"{rng.choice(COMPANIES).title()} {rng.choice(['LLC', 'Inc.', 'Ltd', 'GmbH'])}",
                "tax_id": f"{rng.randrange(10, 99)}-{rng.randrange(10**7):07d}",
                "country": pick(rng, [("US", 0.85), ("CA", 0.05), ("GB", 0.05), ("DE", 0.05)]),
                "bank_account_id": f"BA-{tenant['k']:02d}9{rng.randrange(10**4):04d}",
                "payment_terms": rng.choice(["net30", "net45", "net60"])}
        if rng.random() > 0.06:
            ctx["sanctions_screened"] = True
    elif tool == "update_vendor_bank_details":
        args = {"vendor_id": vendor["id"], "new_bank_account_id": f"BA-{tenant['k']:02d}8{rng.randrange(10**4):04d}",
                "requested_via": pick(rng, [("vendor_portal", 0.6), ("email", 0.25), ("phone", 0.1), ("letter", 0.05)])}
    elif tool == "payroll_adjustment":
        kind = pick(rng, [("reimbursement", 0.45), ("correction", 0.3), ("bonus", 0.15), ("deduction", 0.1)])
        amount = round(lognormal(rng, 250, 1.0) if kind != "bonus" else lognormal(rng, 1500, 0.8), 2)
        if kind == "deduction" or (kind == "correction" and rng.random() < 0.4):
            amount = -amount
        args = {"employee_id": f"E-{tenant['k']:02d}{int(lognormal(rng, 80, 1.2)) % 1000:03d}", "amount": amount,
                "kind": kind, "pay_period": "2026-11" if t.day < 25 else "2026-12"}
    else:
        args = {"amount": round(lognormal(rng, 20000, 1.0), 2)} if tool == "initiate_wire" else \
            {"invoice_id": f"INV-{tenant['k']:02d}{rng.randrange(10**6):06d}"} if tool == "delete_invoice" else \
            {"report_id": f"ER-{rng.randrange(10**5)}"}
    a["args"] = args
    if ctx:
        a["context"] = ctx
    if rng.random() > 0.005:
        a["confidence"] = confidence(rng, 16, 1.3)
    fin_verdict(rng, a, t, vendor, facts)
    return a


def fin_verdict(rng: random.Random, a: dict, t: datetime, vendor: dict, facts: dict) -> None:
    """The old process: AP, AR, the controller and payroll approved every payment, refund, write-off,
    journal entry, vendor change and payroll line; 3% of the bookkeeping was sampled."""
    tool, args, conf, ctx = a["tool"], a["args"], a.get("confidence", 0.0), a.get("context", {})
    P = FIN_PEOPLE
    ok = [("approved", 1.0)]
    if tool in PAYMENT_TOOLS:
        amount = args["amount"]
        partial = lambda: {"amount": round(amount * rng.uniform(0.4, 0.9), 2)}
        if facts["fake_bank"] or facts["dup"]:
            return review(rng, a, t, [("rejected", 0.93), ("approved", 0.07)], P["ap_review"])
        if not vendor["verified"]:
            return review(rng, a, t, [("rejected", 0.85), ("approved", 0.15)], P["ap_review"])
        if vendor["days"] < 30:
            return review(rng, a, t, [("approved", 0.55), ("rejected", 0.4), ("expired", 0.05)], P["ap_review"])
        if amount > 50000:
            return review(rng, a, t, [("approved", 0.8), ("edited", 0.12), ("rejected", 0.06), ("expired", 0.02)],
                          P["dual"], partial)
        if amount > 10000:
            # the controller signed every one of these as proposed: friction worth a standing grant
            return review(rng, a, t, ok, P["controller"])
        if ctx.get("invoice", {}).get("matched") is False:
            return review(rng, a, t, [("approved", 0.55), ("edited", 0.1), ("rejected", 0.35)], P["ap_review"], partial)
        w = [("approved", 0.965), ("edited", 0.012), ("rejected", 0.018), ("expired", 0.005)] if conf >= 0.8 else \
            [("approved", 0.78), ("edited", 0.07), ("rejected", 0.13), ("expired", 0.02)]
        return review(rng, a, t, w, P["ap_review"], partial)
    if tool == "issue_refund":
        amount, paid = args["amount"], ctx["invoice"]["amount_paid"]
        partial = lambda: {"amount": round(min(amount, paid) * rng.uniform(0.3, 0.9), 2)}
        if amount > paid or amount > 5000:
            return review(rng, a, t, [("rejected", 0.75), ("edited", 0.25)], P["ar"], partial)
        w = [("approved", 0.93), ("edited", 0.045), ("rejected", 0.02), ("expired", 0.005)] if amount <= 500 else \
            [("approved", 0.72), ("edited", 0.18), ("rejected", 0.09), ("expired", 0.01)]
        return review(rng, a, t, w, P["ar"], partial)
    if tool == "write_off":
        if facts["active_customer"]:
            return review(rng, a, t, [("rejected", 0.85), ("approved", 0.15)], P["ar"])
        overdue = ctx.get("invoice", {}).get("days_overdue", 0)
        if overdue < 90 and args["reason"] != "small_balance":
            return review(rng, a, t, [("rejected", 0.8), ("approved", 0.2)], P["ar"])
        return review(rng, a, t, [("approved", 0.95), ("edited", 0.03), ("rejected", 0.02)], P["ar"],
                      lambda: {"amount": round(args["amount"] / 2, 2)})
    if tool == "journal_entry":
        if args["total_debit"] != args["total_credit"] or ctx.get("period_status") == "closed":
            return review(rng, a, t, [("rejected", 0.9), ("edited", 0.1)], P["controller"], lambda: {"period": "2026-11"})
        w = [("approved", 0.93), ("edited", 0.05), ("rejected", 0.02)] if ctx.get("period_status") == "open" else \
            [("approved", 0.8), ("edited", 0.15), ("rejected", 0.05)]
        return review(rng, a, t, w, P["controller"], lambda: {"description": args.get("description", "") + " (per controller)"})
    if tool == "create_vendor":
        return review(rng, a, t, [("approved", 0.85), ("edited", 0.05), ("rejected", 0.1)], P["vendor_master"],
                      lambda: {"payment_terms": "net30"})
    if tool == "update_vendor_bank_details":
        w = [("rejected", 0.6), ("approved", 0.4)] if args["requested_via"] == "email" else \
            [("approved", 0.9), ("rejected", 0.1)]
        return review(rng, a, t, w, P["vendor_master"])
    if tool == "payroll_adjustment":
        return review(rng, a, t, [("approved", 0.94), ("edited", 0.04), ("rejected", 0.02)], P["payroll"],
                      lambda: {"amount": round(args["amount"] * 0.5, 2)})
    if tool == "match_invoice":
        if args["variance_pct"] > 2:
            return review(rng, a, t, [("approved", 0.5), ("edited", 0.2), ("rejected", 0.3)], P["ap_review"],
                          lambda: {"variance_pct": 0.0})
        return review(rng, a, t, ok, P["ap_review"]) if rng.random() < 0.03 else unreviewed(a)
    if tool == "categorize_transaction":
        if args["gl_account"].startswith("3"):
            return review(rng, a, t, [("approved", 0.5), ("edited", 0.5)], P["controller"], lambda: {"gl_account": "6100"})
        if conf < 0.8 or rng.random() < 0.03:
            w = [("approved", 0.85), ("edited", 0.15)] if facts["miscoded"] else ok
            return review(rng, a, t, w, P["ap_review"], lambda: {"gl_account": rng.choice(GL_EXPENSE)})
        return unreviewed(a)
    if tool == "reconcile_account":
        if abs(args["adjustment"]) > 100:
            # the controller never once refused one: the threshold is tighter than it needs to be
            return review(rng, a, t, ok, P["controller"])
        return review(rng, a, t, ok, P["controller"]) if rng.random() < 0.03 else unreviewed(a)
    if tool == "lookup_vendor":
        return unreviewed(a)
    return review(rng, a, t, [("rejected", 0.95), ("approved", 0.05)], P["controller"])


def generate_finance(n: int, seed: int):
    rng = random.Random(seed)
    tenants = _fin_world(rng)
    for i, t in enumerate(times(rng, n, FIN_HOURS, FIN_DAYS), 1):
        yield fin_action(rng, i, t, tenants)


# ====================================================================== command line

EXAMPLES = {
    "support-ops": (generate_support, 20261101),
    "sales-ops": (generate_sales, 20261102),
    "finance-backoffice": (generate_finance, 20261103),
}


def generate(n: int, seed: int, example: str = "support-ops"):
    """Yield `n` actions of `example`'s history, the same for the same seed."""
    if example not in EXAMPLES:
        raise ValueError(f"unknown example `{example}` (one of {', '.join(EXAMPLES)})")
    return EXAMPLES[example][0](n, seed)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--example", choices=list(EXAMPLES), default="support-ops",
                    help="which example's history to write (default support-ops)")
    ap.add_argument("--count", "--n", type=int, default=100_000, dest="count",
                    help="number of actions (default 100000)")
    ap.add_argument("--seed", type=int, default=None,
                    help="random seed (default: the example's own, " +
                         ", ".join(f"{k} {v[1]}" for k, v in EXAMPLES.items()) + ")")
    ap.add_argument("--out", default="-", help="output file; .gz is gzip-compressed; - for stdout")
    args = ap.parse_args(argv)
    seed = EXAMPLES[args.example][1] if args.seed is None else args.seed
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
        for a in generate(args.count, seed, args.example):
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
