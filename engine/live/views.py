"""Read views of drafts, shared by the gate's handles, the CLI's approvals commands and the HTTP inbox.

A draft's route progress as the audit log justifies it, its handle and one-line message, the notification
that announces it, and the history of every proposal as spec §2 historical actions.
"""
from __future__ import annotations

import json
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple, Union

from .audit import draft_log
from .channels import Notification
from .handles import Handle, Pending
from .identity import id_key
from .records import Approval, Draft, Route, approvals_of, as_approvals, iso, list_drafts, route_progress
from .shared import actor_problem, required
from .store import Identity, Tx

__all__ = ["counted_approvals", "draft_progress", "draft_summary", "draft_detail", "may_act", "reasons", "message",
           "handle", "note", "history", "route_progress"]

DraftOrRow = Union[Draft, Dict[str, Any]]


def _draft(d: DraftOrRow) -> Draft:
    return d if isinstance(d, Draft) else Draft.from_row(d)


def counted_approvals(tx: Tx, draft: DraftOrRow) -> Tuple[List[Route], List[Approval]]:
    """(routes, approvals) as the audit log justifies them: the routes the row and its logged decisions
    require, and only the approval rows that have their records (none when the row is not what its records
    make it). Accepts a Draft or a stored row."""
    d = _draft(draft)
    dl = draft_log(tx, d.to_row())
    return required(d, dl), ([] if dl.fatal else as_approvals(dl.approvals))


def draft_progress(tx: Tx, draft: DraftOrRow, now: float) -> List[Dict[str, Any]]:
    """Per route the draft needs: name, approvers, quorum and who approved in a way that counts (see
    `route_progress`), only approvals the audit log justifies counting (spec §6, v1.1)."""
    d = _draft(draft)
    routes, approvals = counted_approvals(tx, d)
    return route_progress(routes, approvals, d.args_hash, now)[1]


def may_act(draft: DraftOrRow, ident: Identity) -> bool:
    """Whether `ident` may approve, edit or reject the draft: its tenant, not its proposer, holding a role
    of one of its routes (what an inbox lists for a person; the state is not judged here)."""
    return actor_problem(_draft(draft), ident) is None


def draft_summary(draft: DraftOrRow) -> Dict[str, Any]:
    """A draft in a list: id, state, tool, tenant, the hash its approvals bind to, the last decision, when
    it was proposed and its deadline (RFC 3339, None without one), and the binding reasons' messages."""
    d = _draft(draft)
    return {"id": d.id, "state": d.state, "tool": d.tool, "tenant": d.tenant or None, "hash": d.args_hash,
            "decision": d.last_decision, "proposed_at": iso(d.created_at),
            "deadline": iso(d.deadline) if d.deadline is not None else None, "reasons": reasons(d, True)}


def draft_detail(tx: Tx, draft: DraftOrRow, now: float) -> Dict[str, Any]:
    """One draft in full: the summary, plus the proposer, the arguments (as proposed, the patch to the
    current ones, as executed), route progress, how it closed, its result, the lease of an execution, every
    approval (with the roles it was given under; `counts`: the audit log justifies it and it binds the current
    arguments) and its audit records (seq, kind, actor, at, payload)."""
    d = _draft(draft)
    _, counted = counted_approvals(tx, d)
    approvals = [{"by": a.approver, "roles": list(a.roles), "at": iso(a.at), "expires_at": iso(a.expires_at),
                  "hash": a.args_hash, "grant": a.grant_id, "comment": a.comment,
                  "counts": a in counted and a.args_hash == d.args_hash and a.expires_at > now}
                 for a in approvals_of(tx, d.id)]
    events = [{"seq": e["seq"], "kind": e["kind"], "actor": e["actor"], "at": e["at"], "payload": _payload(e)}
              for e in tx.events(d.id)]
    result = d.result
    return dict(draft_summary(d), proposer=d.proposer, proposed_args=d.proposed.get("args") or {}, patch=d.patch,
                args=d.args, executed_args=d.executed_args, routes=draft_progress(tx, d, now), closing=d.closing,
                result=result.get("value") if isinstance(result, dict) else None, error=d.error,
                lease_until=iso(d.lease_until) if d.lease_until is not None else None,
                approvals=approvals, events=events)


def _payload(event: Dict[str, Any]) -> Any:
    """An audit record's payload, decoded (None when it is not readable JSON)."""
    try:
        return json.loads(event["payload"])
    except (TypeError, ValueError):
        return None


def reasons(draft: Draft, binding_only: bool = False) -> List[str]:
    """The messages of the draft's last decision's reasons, advisory ones left out; with `binding_only`,
    only those of the decision's own outcome."""
    d = draft.last_decision
    return [r["message"] for r in d.get("reasons", []) if not r.get("advisory")
            and (not binding_only or r.get("outcome") == d.get("outcome"))]


def message(draft: Draft, routes: List[Dict[str, Any]]) -> str:
    """One line saying where the draft stands, for the agent or person who asked."""
    s = draft.state
    closing = draft.closing or {}
    if s == "drafted":
        need = "; ".join(f"{p['name']} ({', '.join(p['approvers'])}): {len(p['approved_by'])} of {p['quorum']}"
                         for p in routes)
        return f"waiting for approval via {need}"
    fixed = {"approved": "approved; waiting to execute", "executing": "executing", "executed": "executed"}
    if s in fixed:
        return fixed[s]
    if s == "failed":
        return f"failed: {draft.error}"
    if s == "rejected":
        return f"rejected by {closing.get('by')}: {closing.get('reason')}"
    if s == "expired":
        return f"expired: {closing.get('reason', 'nobody approved in time')}"
    if s == "escalated":
        return f"escalated to {closing.get('escalate_to')}"
    if s == "asked":
        return "needs information: " + "; ".join(closing.get("ask", []))
    if s == "denied":
        return "denied: " + "; ".join(closing.get("reasons", []))
    return s


def handle(tx: Tx, draft: Draft, now: float) -> Handle:
    """The draft's handle (a Pending one while humans or an executor still have to act)."""
    routes = draft_progress(tx, draft, now)
    closing = draft.closing or {}
    result = draft.result
    h = (Pending if draft.waiting else Handle)(
        id=draft.id, state=draft.state, tool=draft.tool, tenant=draft.tenant or None, args=draft.args,
        args_hash=draft.args_hash, decision=draft.last_decision, routes=routes, ask=list(closing.get("ask", [])),
        escalate_to=closing.get("escalate_to"), reasons=reasons(draft),
        result=result.get("value") if isinstance(result, dict) else None, error=draft.error)
    h.message = message(draft, routes)
    return h


def note(kind: str, draft: Draft) -> Notification:
    """The notification announcing the draft (`approval_needed`, `escalated`) to the channels."""
    closing = draft.closing or {}
    roles: List[str] = []
    for r in draft.routes:
        roles.extend(x for x in r.approvers if x not in roles)
    return Notification(kind=kind, action_id=draft.id, tenant=draft.tenant or None, tool=draft.tool,
                        args=draft.args, roles=roles if kind == "approval_needed" else [],
                        routes=[r.name for r in draft.routes], to=closing.get("escalate_to"),
                        reasons=reasons(draft),
                        deadline=iso(draft.deadline) if draft.deadline is not None else None)


# ---------------------------------------------------------------- history

def history(tx: Tx, tenant: Optional[str] = None) -> Iterator[Dict[str, Any]]:
    """Every proposal as a spec §2 historical action: as proposed, at the time the gate decided it, with the
    human verdict (approved | edited | rejected | expired) and whether it executed. Its `signoff` block adds the
    draft, its state, the first decision's outcome, routes and policy, and what shadow candidates decided.

    Who did what comes from the draft's audit records, one name per human act (finding 17).
    """
    for d in list_drafts(tx, None, tenant):
        line = dict(d.proposed)
        line["timestamp"] = d.stamp
        events = tx.events(d.id)
        human = _verdict(d, _acts(events))
        if human is not None:
            line["human"] = human
        line["executed"] = d.state == "executed"
        grants = sorted({a.grant_id for a in approvals_of(tx, d.id) if a.grant_id})
        first = d.decision
        line["signoff"] = {"draft": d.id, "state": d.state, "grants": grants, "executed_args": d.executed_args,
                           "outcome": first.get("outcome"), "routes": first.get("routes") or [],
                           "policy": first.get("policy"), "shadow": _shadows(events)}
        yield line


def _shadows(rows: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """What the shadow candidates decided for a proposal (its `shadow` records): candidate, outcome and routes,
    or the error that stopped the candidate."""
    out = []
    for r in rows:
        if r["kind"] != "shadow":
            continue
        try:
            p = json.loads(r["payload"])
        except ValueError:
            continue
        if not isinstance(p, dict) or not isinstance(p.get("candidate"), dict):
            continue
        d = p.get("decision")
        if isinstance(d, dict):
            out.append({"candidate": p["candidate"], "outcome": d.get("outcome"), "routes": d.get("routes") or []})
        else:
            out.append({"candidate": p["candidate"], "error": str(p.get("error") or "unknown error")})
    return out


def _acts(rows: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The human acts among a draft's records: (kind, actor, at, payload), in log order."""
    out = []
    for r in rows:
        if r["kind"] in ("approved", "edited", "rejected"):
            try:
                payload = json.loads(r["payload"])
            except ValueError:
                continue
            out.append({"kind": r["kind"], "by": r["actor"], "at": r["at"],
                        "payload": payload if isinstance(payload, dict) else {}})
    return out


def _distinct(names: Iterable[str]) -> List[str]:
    seen: Dict[Optional[str], str] = {}
    for n in names:
        seen.setdefault(id_key(n), n)
    return list(seen.values())


def _verdict(d: Draft, acts: List[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """`by`/`at`: the act that gave the verdict (the rejection, the last edit, or the approval completing the
    quorum); `edited_by`: every editor, in order; `approved_by`: every approver of the final arguments, in
    order (grantors of standing grants included) — both lists of distinct canonical ids, as first written;
    `acts`: every human act in log order (`act` approved | edited | rejected, `by`, `at`), which
    `signoff recommend`'s quorum lever replays."""
    closing = d.closing or {}
    if d.required != "require_approval":
        return None
    edits = [a for a in acts if a["kind"] == "edited"]
    final = [a for a in acts if a["kind"] == "approved" and a["payload"].get("args_hash") == d.args_hash]
    out: Dict[str, Any] = {"edited_by": _distinct(a["by"] for a in edits),
                           "approved_by": _distinct(a["by"] for a in final),
                           "acts": [{"act": a["kind"], "by": a["by"], "at": iso(a["at"]) if isinstance(a["at"], (int, float))
                                     else a["at"]} for a in acts]}
    if d.state == "rejected":
        return dict(out, verdict="rejected", by=closing.get("by"), at=closing.get("at"))
    if closing.get("timeout") is not None:
        return dict(out, verdict="expired", by=None, at=iso(d.updated_at))
    if closing.get("by_edit"):
        return dict(out, verdict="edited", by=closing["by_edit"], at=edits[-1]["at"] if edits else
                    iso(d.updated_at), edited_args=d.args)
    if not final or d.state == "drafted":
        # still waiting: no verdict yet, but the acts so far (the quorum lever reads them)
        return {"acts": out["acts"]} if acts else None
    if d.patch and edits:
        # an edited verdict is the editor's: the approvers who let the edited arguments run are `approved_by`
        return dict(out, verdict="edited", by=edits[-1]["by"], at=edits[-1]["at"], edited_args=d.args)
    return dict(out, verdict="approved", by=final[-1]["by"], at=final[-1]["at"])
