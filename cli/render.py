"""Human-readable text for decisions and traces; every value in them shown through `field` (escaped)."""
from __future__ import annotations

from typing import Any, Dict, List

from .output import field as f


def decision_text(d: Dict[str, Any]) -> str:
    """The decision of `signoff check`, one line per part; each value is one escaped field."""
    lines = [f"outcome:  {f(d['outcome'])}", f"category: {f(d['category']) if d['category'] is not None else '-'}"]
    if d["route"]:
        r = d["route"]
        extra = f"quorum {f(r['quorum'])}"
        if r["timeout"]:
            extra += f", timeout {f(r['timeout'])}"
            if r["on_timeout"] and r["on_timeout"].get("to"):
                extra += f" then escalate to {f(r['on_timeout']['to'])}"
        lines.append(f"route:    {f(r['name'])} ({', '.join(f(a) for a in r['approvers'])}; {extra})")
        if len(d["routes"]) > 1:
            lines.append(f"routes:   {', '.join(f(x) for x in d['routes'])}")
    if d["escalate_to"]:
        lines.append(f"escalate: {f(d['escalate_to'])}")
    for q in d["ask"]:
        lines.append(f"ask:      {f(q)}")
    lines.append("reasons:")
    for r in d["reasons"]:
        adv = " (advisory)" if r.get("advisory") else ""
        lines.append(f"  {f(r['at'])}  {f(r['rule'])} → {f(r['outcome'])}{adv}: {f(r['message'])}")
    lines.append(f"mode:     {f(d['mode'])}")
    p = d["policy"]
    lines.append("policy:   " + " ".join(f(x) for x in (p["name"], p["version"], p["digest"]) if x))
    return "\n".join(lines)


def _value(v: Any) -> str:
    if v is True:
        return "true"
    if v is False:
        return "false"
    return f(v)


def trace_text(entries: List[Dict[str, Any]]) -> str:
    """The `--explain` trace: each rule consulted and each sub-condition's value, escaped."""
    lines = ["explain:"]
    for e in entries:
        result = e["result"]
        shown = "error: " + f(e.get("error", "")) if result == "error" else _value(result)
        lines.append(f"  {f(e['at'])}  {f(e['rule'])}: {shown}")
        for c in e["conditions"]:
            lines.append(f"      {f(c['expr'])}  →  {_value(c['value'])}")
    return "\n".join(lines)
