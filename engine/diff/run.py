"""The whole diff of two versions: structural changes, the replay of a history, the witness search, and
the summary (looser, stricter, any) that `--fail-on` reads."""
from __future__ import annotations

from typing import Any, Dict, List, Optional

from policy_lang import ast as A

from ..decide.evaluator import Policy
from ..replay.history import History
from .records import LOOSER, STRICTER, UNKNOWN
from .semantic import semantic_diff
from .structural import structural_diff
from .witness import witness_search
from .witness.search import default_search


def diff(old_p: Policy, new_p: Policy, history: Optional[History] = None, witnesses: bool = True,
         assume_approved: bool = False, solver_timeout: Optional[float] = None) -> Dict[str, Any]:
    """The diff report (the JSON of `signoff diff --format json`): `old`, `new`, `structural`, with a
    history `semantic`, with `witnesses` the search per tool, and `summary`."""
    changes = structural_diff(old_p.program, new_p.program)
    out: Dict[str, Any] = {
        "old": dict(old_p.graph.policy), "new": dict(new_p.graph.policy),
        "structural": [c.to_dict() for c in changes],
    }
    if history is not None:
        out["semantic"] = semantic_diff(old_p, new_p, history, assume_approved)
    if witnesses:
        out["witnesses"] = witness_search(old_p, new_p, search=default_search(solver_timeout))
        pair(out["structural"], out["witnesses"], old_p, new_p)
    out["summary"] = summary(out)
    return out


def summary(d: Dict[str, Any]) -> Dict[str, Any]:
    """The verdict of a diff report: looser, stricter, any change; the tools proven equivalent or not."""
    looser = stricter = False
    sem = d.get("semantic")
    if sem:
        looser |= sem["looser"] > 0
        stricter |= sem["stricter"] > 0
    found = [x for w in d.get("witnesses", []) for x in w["witnesses"]]
    looser |= any(x["direction"] == LOOSER for x in found)
    stricter |= any(x["direction"] == STRICTER for x in found)
    for c in d.get("structural", []):
        note = c.get("note", "")
        looser |= f": {LOOSER}" in note or note == "no longer enforced"
        stricter |= f": {STRICTER}" in note or note == "now enforced"
    changed = bool(d.get("structural")) or looser or stricter or bool(found) or bool(sem and sem["changed"])
    ws = d.get("witnesses")
    undecided = {}
    for kind, found_it in ((LOOSER, looser), (STRICTER, stricter)):
        # a direction neither found nor ruled out: no witness search, or a tool whose answer is unknown
        undecided[kind] = not found_it and (ws is None or any(w[kind] == UNKNOWN for w in ws))
    return {"looser": looser, "stricter": stricter, "any": changed,
            "proven_equivalent": [w["tool"] for w in ws or [] if w["status"] == "proven"],
            "witnesses": len(found),
            "unknown": [w["tool"] for w in ws or [] if UNKNOWN in (w[LOOSER], w[STRICTER])],
            "undecided": undecided}


def _mentions(e: Any, name: str) -> bool:
    """Does an expression (or declaration) read const `name`?"""
    if isinstance(e, A.Path):
        return not e.keys and e.root == name
    if isinstance(e, tuple):
        return any(_mentions(x, name) for x in e)
    if hasattr(e, "__dataclass_fields__"):
        return any(_mentions(getattr(e, f), name) for f in e.__dataclass_fields__ if f != "span")
    return False


def pair(changes: List[Dict[str, Any]], tools: List[Dict[str, Any]], old_p: Policy, new_p: Policy) -> None:
    """Give each structural change the witnesses it can explain (`witnesses`: `TOOL DIRECTION`): a tool's
    own, those decided through a category, check or route that changed, those of a tool reading a const
    that changed."""
    found = [(t["tool"], x) for t in tools for x in t["witnesses"]]

    def reads(tool: str, const: str) -> bool:
        for prog in (old_p.program, new_p.program):
            target = prog.aliases[tool].target if tool in prog.aliases else tool
            t = prog.tools.get(target)
            parts: List[Any] = [c for c in prog.checks.values() if c.targets is None or target in c.targets]
            if t is not None:
                parts += [t, *prog.categories.values()]
            if _mentions(tuple(parts), const):
                return True
        return False

    for c in changes:
        sec, name = c["section"], c["name"]
        hits = []
        for tool, x in found:
            sides = (x["old"], x["new"])
            if sec in ("tool", "alias"):
                hit = tool == name
            elif sec == "category":
                hit = any(d["category"] == name for d in sides)
            elif sec == "check":
                hit = any(r["rule"] == f"check {name}" for d in sides for r in d.get("reasons", []))
            elif sec == "route":
                hit = any(name in d["routes"] for d in sides)
            elif sec == "const":
                hit = reads(tool, name)
            elif sec == "unknown tools":
                hit = any(r["rule"] == "unknown tools" for d in sides for r in d.get("reasons", []))
            else:   # the policy header: its mode and levels decide, its name and version do not
                hit = c.get("what") in ("mode", "levels")
            if hit:
                label = f"{tool} {x['direction']}"
                if label not in hits:
                    hits.append(label)
        c["witnesses"] = hits
