"""The search for one tool: both directions solved, each witness verified by the compiled policies."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Dict, List, Optional, Tuple

from policy_lang import ast as A
from policy_lang.checker import Program

from ....decide.decision import RANK, Decision
from ....decide.evaluator import Policy
from ....decide.values import FUNCTIONS, EvalError
from ...records import (LOOSER, NOT_PROVEN, PROVEN, STRICTER, WITNESS, ToolResult, Witness, classify)
from ...structural import schema_key
from ..candidates import BASE_TIME, NOW, put_path
from ..schemas import schema_example
from .values import DEFAULT_TIMEOUT, ERROR_RANK, MAX_ROUNDS, METHOD, Unsupported, _FP, _real, z3
from .encoder import Dec, Encoder
from .model import LedgerState, _string, model_action, model_ledger


# ------------------------------------------------------------------ the search for one tool


@dataclass
class SmtOutcome:
    """One direction's answer: `witness` (with it), `proven` (with what the proof covers) or `unknown`."""
    status: str
    witness: Optional[Witness] = None
    covered: str = ""
    why: str = ""


def _pairs(enc: Encoder, old: Program, new: Program, kind: str) -> Tuple[List[Tuple[int, int]], List[Tuple[int, int]]]:
    """(category pairs, route pairs) that make a same-outcome decision `kind` (looser or stricter)."""
    from ...records import level_move, route_move
    cats = []
    for a in old.levels:
        for b in new.levels:
            if kind in level_move(a, b, old, new):
                cats.append((enc.id_of(a), enc.id_of(b)))
    routes = []
    for a in old.routes:
        for b in new.routes:
            if kind in route_move(old.routes[a], new.routes[b]):
                routes.append((enc.id_of("route:" + a), enc.id_of("route:" + b)))
    return cats, routes


def _goal(enc: Encoder, do: Dec, dn: Dec, old: Program, new: Program, kind: str) -> Any:
    cats, routes = _pairs(enc, old, new, kind)
    out = (dn.rank < do.rank) if kind == LOOSER else (dn.rank > do.rank)
    same = [z3.And(do.rank != ERROR_RANK, do.cat == a, dn.cat == b) for a, b in cats]
    same += [z3.And(do.rank == RANK["require_approval"], do.route == a, dn.route == b) for a, b in routes]
    if same:
        return z3.Or(out, z3.And(do.rank == dn.rank, z3.Or(*same)))
    return out


def _ascii_pref(enc: Encoder) -> List[Any]:
    """Assumptions that make witnesses readable (short strings, small numbers and totals)."""
    # (printable ASCII as a regular expression costs the solver seconds: short strings instead)
    out = [z3.Length(v.s) <= 40 for p, v in enc.paths.items() if v.s is not None and p != ("confidence",)]
    lo, hi = _real(-10 ** 6), _real(10 ** 6)
    out += [z3.And(v.n >= lo, v.n <= hi) for p, v in enc.paths.items() if v.n is not None]
    out += [z3.And(t >= _real(0), t <= hi) for t in enc.totals.values()]
    return out


def smt_tool(old_p: Policy, new_p: Policy, tool: Optional[str], name: str,
             timeout: float = DEFAULT_TIMEOUT) -> Tuple[Dict[str, SmtOutcome], List[str]]:
    """Both directions for one tool: {looser: …, stricter: …}, and notes on what was approximated."""
    old, new = old_p.program, new_p.program
    if z3 is None:
        u = SmtOutcome(NOT_PROVEN, why="the z3-solver package is not installed")
        return {LOOSER: u, STRICTER: u}, [u.why]
    # a fresh solver context per tool searched: the same pair gets the same witnesses whatever ran before
    import z3.z3 as _z3core
    _z3core._main_ctx = None  # z3.main_ctx() makes a new one on next use
    enc = Encoder(tool, name)
    # numbers are reals: IEEE doubles (`_FP`) are exact but cost the solver tens of seconds a tool
    _FP[0] = False
    try:
        so = old.schemas.get(_target(old, tool) or "") if tool is not None else None
        sn = new.schemas.get(_target(new, tool) or "") if tool is not None else None
        schema_changed = (so is None) != (sn is None) or (so is not None and sn is not None
                                                          and schema_key(so) != schema_key(sn))
        do = enc.decision(old, "old")
        dn = enc.decision(new, "new")
        enc.finish()
    except Unsupported as u:
        why = f"not encoded: {u}"
        return {LOOSER: SmtOutcome(NOT_PROVEN, why=why), STRICTER: SmtOutcome(NOT_PROVEN, why=why)}, [why]
    except Exception as e:  # noqa: BLE001 - whatever went wrong, the answer is unknown
        # a bug of the encoding: fail closed (unknown), never a pass, and say so
        why = f"internal error while encoding the rules ({type(e).__name__}): please report it"
        return {LOOSER: SmtOutcome(NOT_PROVEN, why=why), STRICTER: SmtOutcome(NOT_PROVEN, why=why)}, [why]
    base: Dict[str, Any] = {}
    for s in (sn, so):
        if s is not None:
            ex = schema_example(s.value, s.value)
            if isinstance(ex, dict):
                for k, v in ex.items():
                    base.setdefault(k, v)
    out: Dict[str, SmtOutcome] = {}
    for kind in (LOOSER, STRICTER):
        try:
            out[kind] = _solve(enc, old_p, new_p, do, dn, kind, base, timeout, schema_changed)
        except Exception as e:  # noqa: BLE001 - fail closed: unknown, never a pass
            out[kind] = SmtOutcome(NOT_PROVEN, why=f"internal error in the solver ({type(e).__name__}): "
                                                   "please report it")
    notes = sorted(enc.notes) + sorted(f"approximated: {a}" for a in enc.approx)
    return out, notes


def _target(p: Program, tool: Optional[str]) -> Optional[str]:
    return p.aliases[tool].target if tool is not None and tool in p.aliases else tool


def _solve(enc: Encoder, old_p: Policy, new_p: Policy, do: Dec, dn: Dec, kind: str, base: Dict[str, Any],
           timeout: float, schema_changed: bool) -> SmtOutcome:
    import time
    s = z3.SimpleSolver()   # the default combined solver is 10-100 times slower on these queries
    s.set("timeout", max(1, int(timeout * 1000)))
    s.add(*enc.side)
    s.add(_goal(enc, do, dn, old_p.program, new_p.program, kind))
    outcome = (dn.rank < do.rank) if kind == LOOSER else (dn.rank > do.rank)
    deadline = time.monotonic() + timeout
    lemmas = 0
    pref = _ascii_pref(enc)
    for _ in range(MAX_ROUNDS):
        left = deadline - time.monotonic()
        if left <= 0:
            return SmtOutcome(NOT_PROVEN, why=f"the solver's time limit ({timeout:g} s) ran out")
        s.set("timeout", max(1, int(left * 1000)))
        r = s.check()
        m: Any = s.model() if r == z3.sat else None
        if r == z3.sat:
            # a readable model if one comes quickly: an outcome change, plain addresses and cases for
            # domain/lower/upper, printable strings and small numbers; else the model found
            uf = enc.uf_pref
            for tier in ([outcome, *uf, *pref], [outcome, *uf], [*uf, *pref], uf, pref):
                if all(z3.is_true(m.eval(x, model_completion=True)) for x in tier):
                    break       # the model found already is as readable as asked
                left = deadline - time.monotonic()
                s.set("timeout", max(1, int(min(left, 0.25) * 1000)))
                if tier and left > 0 and s.check(*tier) == z3.sat:
                    m = s.model()
                    break
        if r == z3.unknown:
            reason = s.reason_unknown()
            if "timeout" in reason or "canceled" in reason:
                return SmtOutcome(NOT_PROVEN, why=f"the solver's time limit ({timeout:g} s) ran out")
            return SmtOutcome(NOT_PROVEN, why=f"the solver could not decide ({reason})")
        if r == z3.unsat:
            if schema_changed:
                return SmtOutcome(NOT_PROVEN, why="the schema changed (schemas are not encoded in full)")
            covered = "every action and ledger state" + (
                "; " + "; ".join(sorted(enc.notes)) if enc.notes else "")
            return SmtOutcome(PROVEN, covered=covered)
        action = model_action(enc, m, base)
        ledger = model_ledger(enc, m)
        w = verify(old_p, new_p, enc.name, action, ledger, kind)
        if w is not None:
            return SmtOutcome(WITNESS, witness=w)
        new = _refine(enc, s, m)
        lemmas += new
        if not new:
            what = ", ".join(sorted(enc.approx)) or "the encoding"
            return SmtOutcome(NOT_PROVEN, why=f"the solver's candidate did not decide as claimed ({what})")
    return SmtOutcome(NOT_PROVEN, why=f"`lower`/`upper`/`domain` not settled in {MAX_ROUNDS} refinements")


def _refine(enc: Encoder, s: Any, m: Any) -> int:
    """Facts about lower/upper/domain at the model's strings (their concrete values): how many are new."""
    n = 0
    for fn, arg, fv, fe in enc.ufs:
        a = _string(m, arg)
        try:
            val, err = FUNCTIONS[fn](a), False
        except EvalError:
            val, err = "", True
        if not isinstance(val, str):
            continue
        got_v = _string(m, fv)
        got_e = z3.is_true(m.eval(fe, model_completion=True))
        if got_e == err and (err or got_v == val):
            continue
        sa = z3.StringVal(a)
        f = enc._uf[fn]
        s.add(f[1](sa) == err)
        if not err:
            s.add(f[0](sa) == z3.StringVal(val))
        n += 1
    return n


def verify(old_p: Policy, new_p: Policy, name: str, action: Dict[str, Any], ledger: LedgerState,
           kind: str) -> Optional[Witness]:
    """The witness the concrete `action` (after `ledger`) is, if both compiled policies decide it as `kind`."""
    do, dn = old_p.decide(action, ledger, NOW), new_p.decide(action, ledger, NOW)
    kinds = classify(do, dn, old_p.program, new_p.program)
    if kind not in kinds:
        return None
    hist = history_of(old_p, new_p, action, ledger, do, dn)
    return Witness.of(name, action, do, dn, METHOD, hist, kind=kind, ledger=ledger.to_list(),
                      old_program=old_p.program, new_program=new_p.program)


def history_of(old_p: Policy, new_p: Policy, action: Dict[str, Any], ledger: LedgerState,
               do: Decision, dn: Decision) -> Optional[List[Dict[str, Any]]]:
    """A short history of executed actions that leaves the same totals, when one is easily made (one
    earlier action per summed line, copies for a count); None when none reproduces the decisions."""
    entries = [(k, t) for k, t in ledger.totals.items() if t != 0]
    if not entries:
        return []
    if len(entries) > 1:
        return None
    (check, i, _window), total = entries[0]
    line: Optional[A.Budget] = None
    for p in (old_p.program, new_p.program):
        c = p.checks.get(check)
        if c is not None and i < len(c.lines):
            ln = c.lines[i]
            if isinstance(ln, A.Budget):
                line = ln
    if line is None:
        return None
    t0 = datetime.fromisoformat(action.get("timestamp", BASE_TIME).replace("Z", "+00:00")).timestamp() - 1
    when = datetime.fromtimestamp(t0, tz=NOW.tzinfo).isoformat().replace("+00:00", "Z")
    import json
    if line.path is None:
        if not isinstance(total, int) or total < 0 or total > 200:
            return None
        hist = [dict(json.loads(json.dumps(action)), timestamp=when) for _ in range(total)]
    else:
        copy = json.loads(json.dumps(action))
        put_path(copy, (line.path.root,) + tuple(str(k) for k in line.path.keys), total)
        copy["timestamp"] = when
        hist = [copy]
    from ..budgets import decide_with
    a, b = decide_with(old_p, action, hist), decide_with(new_p, action, hist)
    if a.outcome == do.outcome and b.outcome == dn.outcome:
        return hist
    return None


def smt_search(old_p: Policy, new_p: Policy, tool: Optional[str], seed: int = 0,
               timeout: float = DEFAULT_TIMEOUT) -> ToolResult:
    """A `ToolSearch`: the solver per direction; where it answers `unknown`, the partition search may
    still find a (verified) witness, but never a proof."""
    from ..search import UNKNOWN_TOOL, search_tool
    name = tool if tool is not None else UNKNOWN_TOOL
    if same_rules(old_p.program, new_p.program, tool):
        same = "every action and ledger state: the rules that decide this tool are the same"
        return ToolResult(name, PROVEN, PROVEN, PROVEN, METHOD, 0, 0, [], [], {LOOSER: same, STRICTER: same})
    res, notes = smt_tool(old_p, new_p, tool, name, timeout)
    why: List[str] = []
    found: Dict[str, Witness] = {k: r.witness for k, r in res.items() if r.witness is not None}
    arith = "arithmetic over the reals (the rounding of doubles is not modelled)"
    if any(r.status == PROVEN and arith in r.covered for r in res.values()):
        # a proof over the reals is no proof over doubles: it stands only when the partition search,
        # which tries the boundaries' floating-point neighbours, proves that direction too
        part0 = search_tool(old_p, new_p, tool, seed)
        for k, r in res.items():
            if r.status == PROVEN and arith in r.covered:
                if (part0.looser if k == LOOSER else part0.stricter) == PROVEN:
                    r.covered = r.covered.replace(arith, "arithmetic: the partition search proves it on doubles")
                else:
                    res[k] = SmtOutcome(NOT_PROVEN, why="arithmetic: proven over the reals, not over doubles")
    if any(r.status == NOT_PROVEN for r in res.values()):
        part = search_tool(old_p, new_p, tool, seed)
        for w in part.witnesses:
            if w.direction in res and res[w.direction].status == NOT_PROVEN and w.direction not in found:
                do, dn = old_p.decide(w.action, _hist_ledger(old_p, w), NOW), new_p.decide(
                    w.action, _hist_ledger(new_p, w), NOW)
                if w.direction in classify(do, dn, old_p.program, new_p.program):
                    found[w.direction] = Witness.of(name, w.action, do, dn, w.method, w.history, kind=w.direction,
                                                    old_program=old_p.program, new_program=new_p.program)
    status_of: Dict[str, str] = {}
    covered: Dict[str, str] = {}
    for k, r in res.items():
        if k in found:
            status_of[k] = WITNESS
        else:
            status_of[k] = r.status
            if r.status == PROVEN:
                covered[k] = r.covered
            elif r.why:
                why.append(f"{k}: {r.why}")
    why += [n for n in notes if n not in why and not n.startswith("not encoded")]
    witnesses = [found[k] for k in (LOOSER, STRICTER) if k in found]
    if witnesses:
        status = WITNESS
    elif all(v == PROVEN for v in status_of.values()):
        status = PROVEN
    else:
        status = NOT_PROVEN
    return ToolResult(name, status, status_of[LOOSER], status_of[STRICTER], METHOD, 0, 0, why, witnesses, covered)


def deciding_rules(p: Program, tool: Optional[str]) -> Any:
    """Everything a decision for `tool` (None: a tool no version names) reads of program `p`, as
    comparable values (ASTs compare without source positions): equal for two versions means every action
    of the tool is decided alike, in every ledger state."""
    target = p.aliases[tool].target if tool is not None and tool in p.aliases else tool
    t = p.tools.get(target) if target is not None else None
    checks = [c for c in p.checks.values() if c.targets is None or (target is not None and target in c.targets)]
    feeds = {c.name: (c.targets, tuple(sorted((a, al.target) for a, al in p.aliases.items()))) for c in checks}
    schema = p.schemas.get(target) if target is not None else None
    return (target, t.risks if t is not None else None, t.mode if t is not None else None, p.mode, p.levels,
            tuple(p.categories.items()) if t is not None else None,
            p.unknown.outcome if p.unknown is not None and t is None else None,
            tuple(p.routes.items()), tuple((k, repr(c.value)) for k, c in p.consts.items()),
            tuple((c.name, c.advisory, c.lines) for c in checks), tuple(sorted(feeds.items(), key=repr)),
            schema_key(schema) if schema is not None else None)


def same_rules(old: Program, new: Program, tool: Optional[str]) -> bool:
    """Do both versions decide `tool` from the same rules (so no search is needed)?"""
    try:
        return bool(deciding_rules(old, tool) == deciding_rules(new, tool))
    except Exception:   # an unforeseen value that does not compare: search instead
        return False


def _hist_ledger(p: Policy, w: Witness) -> Any:
    from ....decide.ledger import MemoryLedger
    led = MemoryLedger()
    for h in w.history or []:
        p.record(h, led, NOW)
    return led
