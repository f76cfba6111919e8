"""The whole diff of two versions: structural changes, the replay of a history, the witness search, and
the summary (looser, stricter, any) that `--fail-on` reads."""
from __future__ import annotations

from typing import Any, Dict, Optional

from ..decide.evaluator import Policy
from ..replay.history import History
from .records import LOOSER, STRICTER
from .semantic import semantic_diff
from .structural import structural_diff
from .witness import witness_search


def diff(old_p: Policy, new_p: Policy, history: Optional[History] = None, witnesses: bool = True,
         assume_approved: bool = False) -> Dict[str, Any]:
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
        out["witnesses"] = witness_search(old_p, new_p)
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
    return {"looser": looser, "stricter": stricter, "any": changed,
            "proven_equivalent": [w["tool"] for w in d.get("witnesses", []) if w["status"] == "proven"],
            "witnesses": len(found),
            "not_proven": [w["tool"] for w in d.get("witnesses", []) if w["status"] == "not proven"]}

