"""Standing grants: making one (`grant`), checking its constraints, and approving fresh drafts with them."""
from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from .audit import grant_log, log as audit_log
from .errors import InputError, PermissionDenied, StateError
from .identity import id_key, role_keys, same_id
from .patch import PatchError, json_value, same
from . import records
from .records import Approval, Draft, Grant, active_grants, add_approval, iso, transition, utc
from .shared import digest, identity, now_of
from .store import Tx

if TYPE_CHECKING:
    from .workflow import Gate

__all__ = ["grant", "check_constraints", "grant_matches", "apply_grants"]


def grant(gate: "Gate", by: Any, route: str, tool: str, expires_at: datetime, constraints: Optional[dict],
          spend_cap: Optional[float], spend_path: Optional[str], comment: Optional[str],
          now: Optional[datetime]) -> str:
    """`Gate.grant`: validate, check `by` may grant for `route`, store the grant and its `granted` record."""
    if gate.policy is None:
        raise StateError("granting needs the policy: the gate was opened without one")
    t = now_of(gate, now)
    routes = gate.policy.graph.route_records
    if not isinstance(route, str) or route not in routes:
        raise InputError(f"route `{route}` is not declared in the policy")
    if not isinstance(tool, str) or not tool:
        raise InputError("a grant needs a tool name")
    if not isinstance(expires_at, datetime):
        raise InputError("a grant needs an expiry (`expires_at`, a datetime)")
    exp = utc(expires_at).timestamp()
    if exp <= t:
        raise InputError(f"the grant would expire at {iso(exp)}, which is not in the future")
    cons = check_constraints(constraints)
    if spend_cap is not None:
        if isinstance(spend_cap, bool) or not isinstance(spend_cap, (int, float)) or not math.isfinite(spend_cap) \
                or spend_cap < 0:
            raise InputError("`spend_cap` must be a finite number of at least 0")
        if not isinstance(spend_path, str) or not spend_path:
            raise InputError("a spend cap needs `spend_path`, the argument it sums")
    elif spend_path is not None:
        raise InputError("`spend_path` without `spend_cap` caps nothing")
    if comment is not None and not isinstance(comment, str):
        raise InputError("a comment must be a string")
    r = routes[route]
    with gate.store.transaction() as tx:
        ident = identity(tx, by)
        if r.grants_never:
            raise PermissionDenied(f"route `{route}` forbids standing grants (`grants never`)")
        route_roles = role_keys(r.approvers)
        if not route_roles & role_keys(ident.roles):
            raise PermissionDenied(f"`{ident.id}` holds none of the roles of route `{route}`")
        g = Grant(records.new_id("g_"), ident.tenant or "", ident.id,
                  tuple(sorted(x for x in ident.roles if id_key(x) in route_roles)), route, tool, cons, spend_path,
                  float(spend_cap) if spend_cap is not None else None, exp, t, comment)
        row = g.to_row()
        del row["spent"]   # the store starts every grant at 0
        tx.insert_grant(row)
        ev = dict(row)
        ev["expires_at"] = iso(exp)
        ev["created_at"] = iso(t)
        tx.append_event(None, "granted", ident.id, iso(t), gate.policy.digest, ev)
    return g.id


def check_constraints(constraints: Any) -> Dict[str, Any]:
    """Grant constraints as JSON: argument name -> {eq | in | min | max: value}; InputError otherwise."""
    if constraints is None:
        return {}
    if not isinstance(constraints, dict):
        raise InputError("grant constraints must be an object mapping argument names to conditions")
    try:
        cons = json_value(constraints, "constraints")
    except PatchError as e:
        raise InputError(e.args[0]) from None
    for arg, c in cons.items():
        if not arg:
            raise InputError("a grant constraint names an empty argument")
        if not isinstance(c, dict) or not c:
            raise InputError(f"the constraint on `{arg}` must be an object like {{\"max\": 100}}")
        for op, v in c.items():
            if op in ("min", "max"):
                if isinstance(v, bool) or not isinstance(v, (int, float)):
                    raise InputError(f"`{op}` of `{arg}` must be a number")
            elif op == "in":
                if not isinstance(v, list):
                    raise InputError(f"`in` of `{arg}` must be a list")
            elif op != "eq":
                raise InputError(f"unknown grant condition `{op}` on `{arg}` (use eq, in, min, max)")
    return cons


def grant_matches(g: Grant, args: Dict[str, Any]) -> Optional[float]:
    """The amount this action would spend of the grant, or None when the grant does not cover it."""
    for arg, c in g.constraints.items():
        if arg not in args:
            return None
        v = args[arg]
        num = not isinstance(v, bool) and isinstance(v, (int, float))
        for op, x in c.items():
            if op == "eq" and not same(v, x):
                return None
            if op == "in" and not any(same(v, y) for y in x):
                return None
            if op == "min" and not (num and v >= x):
                return None
            if op == "max" and not (num and v <= x):
                return None
    if g.spend_cap is None:
        return 0.0
    amount = args.get(g.spend_path) if g.spend_path is not None else None
    if isinstance(amount, bool) or not isinstance(amount, (int, float)) or amount < 0:
        return None   # an amount the cap cannot count is not covered
    if g.spent + amount > g.spend_cap:
        return None
    return float(amount)


def _trusted_grants(tx: Tx, draft: Draft, now: float) -> List[Grant]:
    """The active grants for the draft's tenant and tool that the audit log justifies, spending as logged."""
    out = []
    for g in active_grants(tx, draft.tenant, draft.tool, now):
        gl = grant_log(tx, g.to_row(), g.id)
        if not gl.ok:
            for p in gl.problems:
                audit_log.warning("the store disagrees with the audit log: %s; the grant is ignored", p)
            continue
        # spending is what the log records, or more: a reset `spent` column never frees a cap
        out.append(replace(g, spent=max(g.spent, gl.spent)))
    return out


def apply_grants(gate: "Gate", tx: Tx, draft: Draft, now: float) -> Optional[Draft]:
    """Approve a fresh draft from standing grants when every route reaches its quorum with them; returns the
    approved draft, or None when the grants do not suffice (nothing is then written)."""
    if any(r.grants_never for r in draft.routes):
        return None
    grants = _trusted_grants(tx, draft, now)
    if not grants:
        return None
    chosen: Dict[str, Tuple[Grant, float]] = {}
    for r in draft.routes:
        by_grantor: Dict[str, Tuple[Grant, float]] = {}
        for g in grants:
            # canonical ids: `ｂｏｔ` granting for `bot`'s action is the same actor, fail closed
            if g.route != r.name or same_id(g.grantor, draft.proposer):
                continue
            # one grantor counts once however its id is spelled (spec §6, v1.1)
            key = id_key(g.grantor) or ""
            if not role_keys(g.roles) & role_keys(r.approvers) or key in by_grantor:
                continue
            amount = grant_matches(g, draft.args)
            if amount is not None:
                by_grantor[key] = (g, amount)
        if len(by_grantor) < r.quorum:
            return None
        for _, (g, amount) in sorted(by_grantor.items(), key=lambda kv: kv[0])[:r.quorum]:
            chosen.setdefault(g.id, (g, amount))
    at = iso(now)
    for gid, (g, amount) in chosen.items():
        tx.use_grant(gid, draft.id, amount, now)
        expires = min(now + gate.approval_ttl, g.expires_at)
        add_approval(tx, Approval(draft.id, g.grantor, g.roles, draft.args_hash, now, expires, gid, None))
        tx.append_event(draft.id, "approved", g.grantor, at, digest(gate, draft),
                        {"grant": gid, "args_hash": draft.args_hash, "spent": amount, "expires_at": iso(expires),
                         "state": "approved"})
    return transition(tx, draft, "approved", updated_at=now)
