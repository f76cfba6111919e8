"""Human-readable text for decisions and traces."""
from __future__ import annotations

from typing import Any, Dict, List


def decision_text(d: Dict[str, Any]) -> str:
    lines = [f"outcome:  {d['outcome']}", f"category: {d['category'] if d['category'] is not None else '-'}"]
    if d["route"]:
        r = d["route"]
        extra = f"quorum {r['quorum']}"
        if r["timeout"]:
            extra += f", timeout {r['timeout']}"
            if r["on_timeout"] and r["on_timeout"].get("to"):
                extra += f" then escalate to {r['on_timeout']['to']}"
        lines.append(f"route:    {r['name']} ({', '.join(r['approvers'])}; {extra})")
        if len(d["routes"]) > 1:
            lines.append(f"routes:   {', '.join(d['routes'])}")
    if d["escalate_to"]:
        lines.append(f"escalate: {d['escalate_to']}")
    for q in d["ask"]:
        lines.append(f"ask:      {q}")
    lines.append("reasons:")
    for r in d["reasons"]:
        adv = " (advisory)" if r.get("advisory") else ""
        lines.append(f"  {r['at']}  {r['rule']} → {r['outcome']}{adv}: {r['message']}")
    lines.append(f"mode:     {d['mode']}")
    p = d["policy"]
    lines.append("policy:   " + " ".join(x for x in (p["name"], p["version"], p["digest"]) if x))
    return "\n".join(lines)


def _value(v: Any) -> str:
    if v is True:
        return "true"
    if v is False:
        return "false"
    return str(v)


def trace_text(entries: List[Dict[str, Any]]) -> str:
    lines = ["explain:"]
    for e in entries:
        result = e["result"]
        shown = "error: " + e.get("error", "") if result == "error" else _value(result)
        lines.append(f"  {e['at']}  {e['rule']}: {shown}")
        for c in e["conditions"]:
            lines.append(f"      {c['expr']}  →  {_value(c['value'])}")
    return "\n".join(lines)
