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
            if c["op"] in ("added", "removed"):
                lines.append(f"- {c['op']}: {label}")
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
            lines.append(f"- {label}, {text}{note}")
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
            if w["status"] == "witness":
                # one entry per witness: a tool both looser and stricter gets one of each
                for x in w["witnesses"]:
                    lines.append(f"- {t}: **{x['direction']}**: decided `{x['old']['outcome']}` before, "
                                 f"`{x['new']['outcome']}` now, for")
                    lines.append("")
                    lines.append("  ```json")
                    lines.append("  " + safe_json(x["action"], sort_keys=True))
                    lines.append("  ```")
                    if x["history"]:
                        lines.append(f"  after a history of {len(x['history'])} executed action(s) "
                                     "(in the JSON report).")
            elif w["status"] == "proven":
                n = w["checked"]
                lines.append(f"- {t}: proven equivalent ({n:,} {'case covers' if n == 1 else 'cases cover'} "
                             "every partition)")
            else:
                why = "; ".join(safe_text(y) for y in w["why"][:3]) + ("…" if len(w["why"]) > 3 else "")
                lines.append(f"- {t}: no difference found, not proven ({why})")
    return "\n".join(lines) + "\n"
