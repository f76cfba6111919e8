"""The Markdown of a diff report (`signoff diff`, `--format text` and `markdown`): every field escaped."""
from __future__ import annotations

from typing import Any, Dict

from policy_lang.safe_text import safe_json, safe_text


def _code(v: Any) -> str:
    # one escaped field: a name's newline or control character never reaches the Markdown as such
    s = safe_text(v) if isinstance(v, str) else safe_json(v)
    return "`" + s.replace("`", "'") + "`"


def markdown(d: Dict[str, Any]) -> str:
    """The report `d` (from `engine.diff.diff`) as Markdown: verdict, structural changes, the history's
    transitions, the witnesses."""
    o, n = d["old"], d["new"]
    title = safe_text(f"{o['name']} {o.get('version') or ''}".strip() + " → "
                      + f"{n['name']} {n.get('version') or ''}".strip())
    lines = [f"## signoff diff: {title}", ""]
    s = d["summary"]
    verdict = []
    if s["looser"]:
        verdict.append("**looser**")
    if s["stricter"]:
        verdict.append("**stricter**")
    lines.append("Verdict: " + (" and ".join(verdict) if verdict else ("changed" if s["any"] else "no change")) + ".")
    lines.append("")
    lines.append("### Structural changes")
    if not d["structural"]:
        lines.append("")
        lines.append("None.")
    sections = ["policy", "unknown tools", "const", "route", "tool", "alias", "category", "check"]
    for sec in sections:
        items = [c for c in d["structural"] if c["section"] == sec]
        if not items:
            continue
        lines += ["", f"**{sec.capitalize() if sec != 'unknown tools' else 'Unknown tools'}**", ""]
        for c in items:
            label = f"{sec} {_code(c['name'])}" if c["name"] else sec
            where = c.get("at") or c.get("old_at")
            place = f" at {_code(where)}" if where else ""
            paired = _paired(c)
            if c["op"] in ("added", "removed"):
                lines.append(f"- {c['op']}: {label}{place}{paired}")
                continue
            what = c.get("what", "")
            old, new = c.get("old"), c.get("new")
            if old is None:
                text = f"{what}: {_code(new)}"
            elif new is None:
                text = f"{what}: ~~{_code(old)}~~"
            else:
                text = f"{what}: {_code(old)} → {_code(new)}"
            note = f" ({safe_text(c['note'])})" if c.get("note") else ""
            lines.append(f"- {label}{place}, {text}{note}{paired}")
    sem = d.get("semantic")
    if sem:
        lines += ["", "### On the history", "",
                  f"{sem['total']:,} actions replayed through both versions: {sem['changed']:,} change outcome "
                  f"({sem['looser']:,} looser, {sem['stricter']:,} stricter).", "",
                  "| old | new | actions | direction | examples |", "|---|---|---:|---|---|"]
        for r in sem["transitions"]:
            if r["old"] == r["new"]:
                continue
            ex = ", ".join(_code(x) for x in r["examples"])
            lines.append(f"| {safe_text(r['old'])} | {safe_text(r['new'])} | {r['count']:,} | "
                         f"{safe_text(r['direction'])} | {ex} |")
        same = sum(r["count"] for r in sem["transitions"] if r["old"] == r["new"])
        lines.append(f"| *unchanged* | | {same:,} | | |")
    ws = d.get("witnesses")
    if ws is not None:
        lines += ["", "### Witness search (no history)", ""]
        for w in ws:
            t = _code(w["tool"])
            # one entry per witness: a tool both looser and stricter gets one of each
            for x in w["witnesses"]:
                changes = "; ".join(safe_text(c) for c in x.get("changes") or []) or "decided differently"
                lines.append(f"- {t}: **{safe_text(x['direction'])}**: {changes}, for")
                lines.append("")
                lines.append("  ```json")
                lines.append("  " + safe_json(x["action"], sort_keys=True))
                lines.append("  ```")
                if x.get("ledger"):
                    spent = ", ".join(f"check {_code(e['check'])} line {e['line']}: {safe_json(e['total'])} "
                                      f"within {e['window_seconds']} s" for e in x["ledger"])
                    lines.append(f"  with already spent: {spent}" + (
                        f" (a history of {len(x['history'])} executed action(s) in the JSON report)"
                        if x.get("history") else ""))
                elif x.get("history"):
                    lines.append(f"  after a history of {len(x['history'])} executed action(s) "
                                 "(in the JSON report).")
            if w["status"] == "proven":
                cover = w.get("covered", {}).get("looser") or "every partition"
                lines.append(f"- {t}: proven equivalent ({safe_text(cover)})")
                continue
            for kind in ("looser", "stricter"):
                if w["status"] == "witness" and w[kind] == "proven":
                    lines.append(f"- {t}: {kind}: proven none ({safe_text(w.get('covered', {}).get(kind, ''))})")
                elif w[kind] == "unknown":
                    why = [y for y in w["why"] if y.startswith(kind + ":")] or w["why"]
                    text = "; ".join(safe_text(y) for y in why[:3]) + ("…" if len(why) > 3 else "")
                    lines.append(f"- {t}: {kind}: **unknown** ({text})")
    return "\n".join(lines) + "\n"


def _paired(c: Dict[str, Any]) -> str:
    """The witnesses a structural change can explain, as ` — witness: tool looser`."""
    ws = c.get("witnesses")
    if ws is None:
        return ""
    if not ws:
        return " — no witness"
    return " — witness: " + ", ".join(_code(x) for x in ws)
