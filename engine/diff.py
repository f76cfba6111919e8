"""Compare two policy versions: structural diff in policy terms, semantic diff on histories, witness search."""
from __future__ import annotations

import difflib
import itertools
import json
import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, Iterator, List, Optional, Sequence, Set, Tuple
from zoneinfo import ZoneInfo

from policy_lang import ast as A
from policy_lang.checker import Program
from policy_lang.loader import canonical_json
from policy_lang.printer import expr_text, literal_text, outcome_text, path_text
from policy_lang.safe_text import safe_json, safe_text

from .decision import RANK, Decision
from .evaluator import Policy
from .history import History, OutOfOrder
from .ledger import MemoryLedger

LOOSER, STRICTER, CHANGED = "looser", "stricter", "changed"
MAX_COMBINATIONS = 200_000      # above this a tool is searched by sampling and never reported proven
SAMPLE = 40_000
MAX_EXAMPLES = 5
BASE_TIME = "2026-01-07T12:00:00Z"   # a Wednesday at noon UTC: the time of witness actions
NOW = datetime(2026, 1, 7, 12, 0, tzinfo=timezone.utc)   # for candidates without a timestamp: never the clock
ROOTS = ("args", "tenant", "agent", "context", "confidence", "timestamp")


def _schema_key(s: Any) -> str:
    """A schema and every document its `$ref`s read: a change in a referenced file is a change."""
    return canonical_json([s.value] + list(s.refs.documents if s.refs is not None else []))


def direction(old: str, new: str) -> Optional[str]:
    """`looser` when the new outcome is further towards allow (deny > escalate > ask > approval > allow)."""
    if RANK[new] < RANK[old]:
        return LOOSER
    if RANK[new] > RANK[old]:
        return STRICTER
    return None


# ====================================================================== structural diff

@dataclass
class Change:
    section: str            # policy | const | route | tool | category | check | unknown tools
    name: str
    op: str                 # added | removed | changed
    what: str = ""          # the field or line that changed
    old: Any = None
    new: Any = None
    note: str = ""          # e.g. `threshold 100 → 200`, `limit raised: looser`

    def to_dict(self) -> Dict[str, Any]:
        d = {"section": self.section, "name": self.name, "op": self.op}
        for k in ("what", "old", "new", "note"):
            v = getattr(self, k)
            if v not in (None, ""):
                d[k] = v
        return d


def _risk_text(r: A.RiskLine) -> str:
    if r.when is None:
        return f"risk {r.level}" + (" otherwise" if r.otherwise else "")
    return f"risk {r.level} when {expr_text(r.when)}"


def _cat_text(l: A.CategoryLine) -> str:
    if l.when is None:
        return outcome_text(l.outcome) + (" otherwise" if l.otherwise else "")
    return f"{outcome_text(l.outcome)} when {expr_text(l.when)}"


def _limit_text(v: Any) -> str:
    return literal_text(v)


def _check_line_text(l: Any) -> str:
    if isinstance(l, A.Require):
        return f"require {expr_text(l.cond)} else {outcome_text(l.outcome)}"
    agg = "count()" if l.path is None else f"sum({path_text(l.path)})"
    keys = ", ".join(path_text(k) for k in l.keys)
    return f"budget {agg} per {keys} per {l.window.text} <= {_limit_text(l.limit)} else {outcome_text(l.outcome)}"


def _shape(e: Any) -> Tuple[Any, List[Any]]:
    """An expression with its number literals taken out: equal shapes differ only in thresholds."""
    nums: List[Any] = []

    def walk(x: Any) -> Any:
        if isinstance(x, A.Literal) and isinstance(x.value, (int, float)) and not isinstance(x.value, bool):
            nums.append(x.value)
            return ("#",)
        if isinstance(x, A.Duration):
            nums.append(x.seconds)
            return ("#d",)
        if isinstance(x, tuple):
            return tuple(walk(i) for i in x)
        if hasattr(x, "__dataclass_fields__"):
            return (type(x).__name__,) + tuple(walk(getattr(x, f)) for f, fd in x.__dataclass_fields__.items()
                                               if fd.compare)
        return x
    return walk(e), nums


def _threshold_note(old: Any, new: Any) -> str:
    so, no = _shape(old)
    sn, nn = _shape(new)
    if so != sn or no == nn:
        return ""
    pairs = [f"{literal_text(a)} → {literal_text(b)}" for a, b in zip(no, nn) if a != b]
    return "threshold " + ", ".join(pairs) if pairs else ""


def _lines_diff(section: str, name: str, old: Sequence[Any], new: Sequence[Any], text, out: List[Change]) -> None:
    """Ordered lines (risk, category, check lines) aligned like a text diff, but reported as rules."""
    a = [text(x) for x in old]
    b = [text(x) for x in new]
    sm = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "equal":
            continue
        pairs = list(zip(range(i1, i2), range(j1, j2))) if tag == "replace" else []
        for i, j in pairs:
            note = _threshold_note(old[i], new[j])
            if isinstance(old[i], A.Budget) and isinstance(new[j], A.Budget):
                note = _budget_note(old[i], new[j]) or note
            out.append(Change(section, name, "changed", f"line {j + 1}", a[i], b[j], note))
        for i in range(i1 + len(pairs), i2):
            out.append(Change(section, name, "changed", f"line {i + 1} removed", a[i], None))
        for j in range(j1 + len(pairs), j2):
            out.append(Change(section, name, "changed", f"line {j + 1} added", None, b[j]))


def _budget_note(o: A.Budget, n: A.Budget) -> str:
    notes = []
    if (o.agg, o.path, o.keys, o.outcome) == (n.agg, n.path, n.keys, n.outcome):
        if o.limit != n.limit:
            notes.append(f"limit {_limit_text(o.limit)} → {_limit_text(n.limit)}: "
                         f"{LOOSER if n.limit > o.limit else STRICTER}")
        if o.window.seconds != n.window.seconds:
            notes.append(f"window {o.window.text} → {n.window.text}: "
                         f"{LOOSER if n.window.seconds < o.window.seconds else STRICTER}")
    return "; ".join(notes)


def _route_fields(r: A.Route) -> Dict[str, Any]:
    return {"approvers": list(r.approvers), "quorum": r.quorum if r.quorum is not None else 1,
            "timeout": r.timeout.text if r.timeout else None, "escalate to": r.escalate_to,
            "grants never": r.grants_never}


def _const_text(v: Any) -> str:
    return v.text if isinstance(v, A.Duration) else literal_text(v)


def structural_diff(old: Program, new: Program) -> List[Change]:
    out: List[Change] = []
    for what, a, b in (("name", old.name, new.name), ("version", old.version, new.version),
                       ("mode", old.mode, new.mode), ("levels", " < ".join(old.levels), " < ".join(new.levels))):
        if a != b:
            out.append(Change("policy", "", "changed", what, a, b))
    ou = outcome_text(old.unknown.outcome) if old.unknown else "deny (default)"
    nu = outcome_text(new.unknown.outcome) if new.unknown else "deny (default)"
    if ou != nu:
        out.append(Change("unknown tools", "", "changed", "outcome", ou, nu))

    def table(section: str, a: Dict[str, Any], b: Dict[str, Any], compare) -> None:
        for name in a:
            if name not in b:
                out.append(Change(section, name, "removed"))
        for name in b:
            if name not in a:
                out.append(Change(section, name, "added"))
            else:
                compare(name, a[name], b[name])

    def const(name: str, x: A.Const, y: A.Const) -> None:
        if x.value != y.value:
            out.append(Change("const", name, "changed", "value", _const_text(x.value), _const_text(y.value)))

    def route(name: str, x: A.Route, y: A.Route) -> None:
        fx, fy = _route_fields(x), _route_fields(y)
        for k in fx:
            if fx[k] != fy[k]:
                out.append(Change("route", name, "changed", k, fx[k], fy[k]))

    def tool(name: str, x: A.Tool, y: A.Tool) -> None:
        sx, sy = old.schemas.get(name), new.schemas.get(name)
        if (sx is None) != (sy is None) or (sx and sy and _schema_key(sx) != _schema_key(sy)):
            out.append(Change("tool", name, "changed", "schema",
                              "none" if sx is None else "a schema", "none" if sy is None else "a different schema"
                              if sx is not None else "a schema"))
        mx, my = (x.mode.mode if x.mode else None), (y.mode.mode if y.mode else None)
        if mx != my:
            out.append(Change("tool", name, "changed", "mode", mx or "policy mode", my or "policy mode"))
        _lines_diff("tool", name, x.risks, y.risks, _risk_text, out)

    def category(name: str, x: A.Category, y: A.Category) -> None:
        _lines_diff("category", name, x.lines, y.lines, _cat_text, out)

    def check(name: str, x: A.Check, y: A.Check) -> None:
        tx = "*" if x.targets is None else ", ".join(x.targets)
        ty = "*" if y.targets is None else ", ".join(y.targets)
        if tx != ty:
            out.append(Change("check", name, "changed", "applies to", tx, ty))
        if x.advisory != y.advisory:
            out.append(Change("check", name, "changed", "advisory", x.advisory, y.advisory,
                              "now enforced" if not y.advisory else "no longer enforced"))
        _lines_diff("check", name, x.lines, y.lines, _check_line_text, out)

    table("const", old.consts, new.consts, const)
    table("route", old.routes, new.routes, route)
    table("tool", old.tools, new.tools, tool)
    table("alias", old.aliases, new.aliases,
          lambda name, x, y: out.append(Change("alias", name, "changed", "tool", x.target, y.target))
          if x.target != y.target else None)
    table("category", old.categories, new.categories, category)
    table("check", old.checks, new.checks, check)
    return out


# ====================================================================== semantic diff on histories

def _brief(d: Decision) -> Dict[str, Any]:
    return {"outcome": d.outcome, "category": d.category, "routes": d.routes, "escalate_to": d.escalate_to,
            "ask": d.ask}


class _Side:
    """One policy replaying the history with its own ledger: budgets follow what that version executed.
    Each record goes through Simulation.run, so a diff decides and counts exactly as simulate does."""

    def __init__(self, policy: Policy, assume_approved: bool):
        from .simulate import Simulation
        self.sim = Simulation(policy, assume_approved)
        self._last: List[Decision] = []

    def decide(self, record: Tuple) -> Decision:
        self.sim.run((record,), on_decision=self._keep)
        return self._last.pop()

    def _keep(self, d: Decision, _src: str, _line: int) -> None:
        self._last.append(d)


def semantic_diff(old: Policy, new: Policy, history: History, assume_approved: bool = False) -> Dict[str, Any]:
    """Replay the history through both versions; the transition table old outcome → new outcome."""
    def run(records: Iterator) -> Dict[str, Any]:
        a, b = _Side(old, assume_approved), _Side(new, assume_approved)
        table: Dict[Tuple[str, str], List[Any]] = {}
        detail = 0
        total = 0
        for rec in records:
            da, db = a.decide(rec), b.decide(rec)
            src, line = rec[3], rec[4]
            total += 1
            key = (da.outcome, db.outcome)
            g = table.get(key)
            if g is None:
                g = table[key] = [0, []]
            g[0] += 1
            if da.outcome != db.outcome and len(g[1]) < MAX_EXAMPLES:
                g[1].append(da.action_id if da.action_id is not None else f"{src}:{line}")
            elif da.outcome == db.outcome and _brief(da) != _brief(db):
                detail += 1
        return {"total": total, "table": table, "same_outcome_other_details": detail}

    try:
        res = run(history.records())
    except OutOfOrder:
        if history.has_stdin:
            raise
        res = run(history.records(external=True))
    rows = []
    for (o, n), (count, ids) in sorted(res["table"].items(), key=lambda kv: (RANK[kv[0][0]], RANK[kv[0][1]])):
        rows.append({"old": o, "new": n, "count": count, "direction": direction(o, n) or "same",
                     "examples": ids})
    changed = sum(r["count"] for r in rows if r["old"] != r["new"])
    return {"total": res["total"], "changed": changed,
            "looser": sum(r["count"] for r in rows if r["direction"] == LOOSER),
            "stricter": sum(r["count"] for r in rows if r["direction"] == STRICTER),
            "same_outcome_other_details": res["same_outcome_other_details"],
            "transitions": rows, "read": history.stats.to_dict()}


# ====================================================================== witness search

class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING = _Missing()


class _FakeLedger:
    """A ledger in one of two states per budget line: nothing spent, or everything spent. For budget
    lines that are the same in both versions, which state holds is a free choice the search enumerates."""

    def __init__(self, exhausted: Set[Tuple[str, int]]):
        self.exhausted = exhausted

    def total(self, key: Any, start: float, end: float) -> float:
        return 1e300 if key[0] in self.exhausted else 0

    def add(self, key: Any, t: float, amount: float) -> None:
        pass


@dataclass
class _Var:
    """What the conditions of both versions ask of one path."""
    path: Tuple[str, ...]
    numbers: Set[float] = field(default_factory=set)
    strings: Set[str] = field(default_factory=set)
    bools: bool = False
    numeric_use: bool = False      # ordering or arithmetic: other kinds are errors
    near: Set[float] = field(default_factory=set)     # float neighbours of computed boundaries
    extra: List[Any] = field(default_factory=list)   # heuristic values (outside the decidable fragment)

    def candidates(self) -> List[Any]:
        out: List[Any] = [MISSING]
        nums = sorted(self.numbers)
        if nums:
            vals = [nums[0] - 1]
            for i, c in enumerate(nums):
                vals.append(c)
                if i + 1 < len(nums):
                    vals.append((c + nums[i + 1]) / 2)
            vals.append(nums[-1] + 1)
            out.extend(_tidy(v) for v in vals)
            # neighbours of computed boundaries last, so witnesses show the plain values first
            extra = sorted(self.near - set(nums))
            for i, c in enumerate(extra):
                out.append(c)
            if extra:
                every = sorted(set(nums) | self.near)
                out.extend((a + b) / 2 for a, b in zip(every, every[1:]) if (a in self.near or b in self.near))
        elif self.numeric_use:
            out.append(1)
        fresh = "other-value"
        while fresh in self.strings:
            fresh += "-x"
        out.extend(sorted(self.strings))
        out.append(fresh)   # also stands for every kind no condition tells apart from it
        if self.bools:
            out.extend([True, False])
        for v in self.extra:
            if not any(_same(v, x) for x in out):
                out.append(v)
        return out


def _tidy(v: float) -> Any:
    return int(v) if isinstance(v, float) and v.is_integer() and abs(v) < 2 ** 53 else v


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


class _Analysis:
    """Collects the variables of a tool's conditions and whether all of them are in the fragment the
    search decides: comparisons of a path (or a path times/plus constants) with constants, membership
    in constant lists, presence, boolean paths, and/or/not."""

    def __init__(self, consts_old: Dict[str, Any], consts_new: Dict[str, Any]):
        self.vars: Dict[Tuple[str, ...], _Var] = {}
        self.decidable = True
        self.why: List[str] = []
        self.times: List[str] = []
        self.lists: Dict[Tuple[str, ...], List[Any]] = {}
        self.consts = (consts_old, consts_new)
        self.cur = consts_old
        self.tool_name: Optional[str] = None

    def var(self, p: Tuple[str, ...]) -> _Var:
        v = self.vars.get(p)
        if v is None:
            v = self.vars[p] = _Var(p)
        return v

    def out(self, e: Any, reason: str) -> None:
        self.decidable = False
        text = f"{reason}: `{expr_text(e)}`" if e is not None else reason
        if text not in self.why:
            self.why.append(text)

    def const_value(self, e: Any) -> Any:
        if isinstance(e, A.Literal):
            return A.plain(e.value)
        if isinstance(e, A.Duration):
            return e.seconds
        if isinstance(e, A.Path) and not e.keys and e.root in self.cur and e.root not in ROOTS:
            return A.plain(self.cur[e.root])
        if isinstance(e, A.Path) and not e.keys and e.root == "tool" and self.tool_name is not None:
            return self.tool_name   # the search runs one tool at a time: `tool` is a constant there
        if isinstance(e, A.ListExpr):
            vals = [self.const_value(i) for i in e.items]
            return MISSING if any(v is MISSING for v in vals) else vals
        if isinstance(e, A.Neg):
            v = self.const_value(e.operand)
            return -v if isinstance(v, (int, float)) and not isinstance(v, bool) else MISSING
        return MISSING

    def path_of(self, e: Any, env: Tuple[str, ...] = ()) -> Optional[Tuple[str, ...]]:
        if isinstance(e, A.Path) and (e.root in ROOTS or e.root == "__elem__") and e.root not in env:
            if any(isinstance(k, int) for k in e.keys):
                return None
            return (e.root,) + tuple(e.keys)
        return None

    def affine(self, e: Any) -> Optional[Tuple[Optional[Tuple[str, ...]], float, float]]:
        """e as a*path + b, or a constant (path None); None when it is not that."""
        p = self.path_of(e)
        if p is not None:
            return p, 1.0, 0.0
        c = self.const_value(e)
        if isinstance(c, (int, float)) and not isinstance(c, bool):
            return None, 0.0, float(c)
        if isinstance(e, A.Neg):
            x = self.affine(e.operand)
            return (x[0], -x[1], -x[2]) if x else None
        if isinstance(e, A.Arith):
            x, y = self.affine(e.left), self.affine(e.right)
            if x is None or y is None:
                return None
            if e.op in "+-":
                if x[0] is not None and y[0] is not None:
                    return None
                s = 1 if e.op == "+" else -1
                return (x[0] or y[0], x[1] + s * y[1], x[2] + s * y[2])
            if e.op == "*":
                if x[0] is not None and y[0] is not None:
                    return None
                if x[0] is None:
                    x, y = y, x
                return (x[0], x[1] * y[2], x[2] * y[2])
            if e.op == "/" and y[0] is None and y[2] != 0:
                return (x[0], x[1] / y[2], x[2] / y[2])
        return None

    def cond(self, e: Any, env: Tuple[str, ...] = ()) -> None:
        if isinstance(e, A.BoolOp):
            self.cond(e.left, env)
            self.cond(e.right, env)
        elif isinstance(e, A.Not):
            self.cond(e.operand, env)
        elif isinstance(e, A.Literal):
            pass
        elif isinstance(e, A.Presence):
            p = self.path_of(e.path, env)
            if p is None:
                self.out(e, "presence of a non-field")
            else:
                self.var(p)
        elif isinstance(e, A.Path):
            p = self.path_of(e, env)
            if p is None and self.const_value(e) is not MISSING:
                pass
            elif p is None:
                self.out(e, "condition on a variable")
            else:
                self.var(p).bools = True
        elif isinstance(e, A.Compare):
            self.compare(e, env)
        elif isinstance(e, A.Quantifier):
            self.out(e, "quantifier")
            self.quantifier(e)
        else:
            self.out(e, "unsupported condition")
            self.heuristic(e)

    def compare(self, e: A.Compare, env: Tuple[str, ...]) -> None:
        op = e.op
        if op in ("==", "!=", "<", "<=", ">", ">="):
            left, right = e.left, e.right
            lc, rc = self.const_value(left), self.const_value(right)
            if lc is not MISSING and rc is MISSING:
                left, right, lc, rc = right, left, rc, lc
            if rc is MISSING:
                self.out(e, "comparison of two fields")
                self.heuristic(e.left)
                self.heuristic(e.right)
                return
            if lc is not MISSING:
                return  # two constants
            if op in ("==", "!=") and self.path_of(left, env) is not None:
                v = self.var(self.path_of(left, env))
                self.add_const(v, rc)
                return
            af = self.affine(left)
            if af is None or af[0] is None:
                self.out(e, "comparison outside the fragment")
                self.heuristic(left, rc)
                return
            p, a, b = af
            v = self.var(p)
            v.numeric_use = True
            if isinstance(rc, str):
                if a == 1 and b == 0:
                    self.out(e, "string ordering")
                    v.strings.add(rc)
                return
            if isinstance(rc, (int, float)) and not isinstance(rc, bool) and a != 0:
                x0 = (rc - b) / a
                if a == 1 and b == 0:
                    v.numbers.add(rc)
                else:
                    v.numbers.add(_tidy(x0))
                    v.near.update(_near(x0))
            return
        if op in ("in", "not in"):
            lst = self.const_value(e.right)
            p = self.path_of(e.left, env)
            if isinstance(lst, list) and p is not None and all(not isinstance(x, list) for x in lst):
                v = self.var(p)
                for x in lst:
                    self.add_const(v, x)
                return
            self.out(e, "membership outside the fragment")
            if isinstance(lst, list):
                self.heuristic(e.left, lst)
            return
        self.out(e, f"`{op}`")
        self.heuristic(e.left, self.const_value(e.right), op)

    def add_const(self, v: _Var, c: Any) -> None:
        if isinstance(c, bool):
            v.bools = True
        elif isinstance(c, (int, float)):
            v.numbers.add(c)
        elif isinstance(c, str):
            v.strings.add(c)

    def heuristic(self, e: Any, c: Any = MISSING, op: str = "") -> None:
        """Values likely to flip conditions the fragment does not cover (witnesses only, never proofs)."""
        p = self.path_of(e)
        if p is not None:
            v = self.var(p)
            if isinstance(c, str):
                if op == "starts_with":
                    v.extra += [c + "-x", c]
                elif op == "ends_with":
                    v.extra += ["x-" + c, c]
                elif op == "contains":
                    v.extra += ["x-" + c + "-x"]
                elif op == "matches":
                    pass
                else:
                    v.strings.add(c)
            elif isinstance(c, (int, float)) and not isinstance(c, bool):
                v.numbers.update([c])
            elif isinstance(c, list):
                for x in c:
                    self.add_const(v, x)
            return
        if isinstance(e, A.Call):
            arg = self.path_of(e.args[0]) if e.args else None
            consts = c if isinstance(c, list) else ([c] if c is not MISSING else [])
            if e.fn == "domain" and arg is not None:
                v = self.var(arg)
                v.extra += [f"user@{x}" for x in consts if isinstance(x, str)] + ["user@elsewhere.example"]
            elif e.fn == "sql_read_only" and arg is not None:
                v = self.var(arg)
                v.extra += ["select 1", "delete from x"]
            elif e.fn in ("lower", "upper") and arg is not None:
                v = self.var(arg)
                v.extra += [x for x in consts if isinstance(x, str)] + [x.upper() for x in consts if isinstance(x, str)]
            elif e.fn == "len" and arg is not None:
                v = self.var(arg)
                for k in consts:
                    if isinstance(k, (int, float)) and not isinstance(k, bool):
                        for n in {int(k) - 1, int(k), int(k) + 1, 0}:
                            if 0 <= n <= 50:
                                v.extra += [["x"] * n, "x" * n]
            elif e.fn in ("hour", "weekday"):
                tz = self.const_value(e.args[1]) if len(e.args) > 1 else "UTC"
                for k in consts:
                    self.times.extend(_times_for(e.fn, k, tz if isinstance(tz, str) else "UTC"))
            for a in e.args:
                if self.path_of(a) is None and not isinstance(a, (A.Literal, A.Path)):
                    self.heuristic(a)
        elif isinstance(e, A.Arith):
            self.heuristic(e.left, c)
            self.heuristic(e.right, c)

    def quantifier(self, q: A.Quantifier) -> None:
        src = self.path_of(q.source)
        if src is None:
            return
        inner = _Analysis(*self.consts)
        inner.cur = self.cur
        body = _rebase(q.body, q.var)
        inner.cond(body)
        elems: List[Any] = []
        for combo in itertools.islice(_assignments(inner.vars, {}), 12):
            elems.append(combo.get("__elem__", {}))
        lists = [[]] + [[e] for e in elems if e is not MISSING]
        self.lists.setdefault(src, []).extend(lists)
        self.var(src).extra += lists


def _rebase(e: Any, var: str) -> Any:
    """Rewrite `var.x` in a quantifier body as the path `__elem__.x` so the body's constants are found."""
    if isinstance(e, A.Path) and e.root == var:
        return A.Path("__elem__", e.keys)
    if hasattr(e, "__dataclass_fields__"):
        kw = {}
        for f in e.__dataclass_fields__:
            v = getattr(e, f)
            if isinstance(v, tuple):
                kw[f] = tuple(_rebase(x, var) for x in v)
            elif hasattr(v, "__dataclass_fields__"):
                kw[f] = _rebase(v, var)
            else:
                kw[f] = v
        return type(e)(**kw)
    return e


def _near(x: float) -> List[float]:
    """x and its floating-point neighbours: where a*x+b == k holds exactly, if anywhere."""
    if not math.isfinite(x):
        return []
    return [math.nextafter(math.nextafter(x, -math.inf), -math.inf), math.nextafter(x, -math.inf), x,
            math.nextafter(x, math.inf), math.nextafter(math.nextafter(x, math.inf), math.inf)]


def _times_for(fn: str, k: Any, tz: str) -> List[str]:
    try:
        zone = ZoneInfo(tz)
    except Exception:
        zone = ZoneInfo("UTC")
    out = []
    base = datetime(2026, 1, 5, tzinfo=zone)    # a Monday
    if fn == "hour" and isinstance(k, (int, float)) and not isinstance(k, bool):
        for h in {int(k) - 1, int(k), int(k) + 1}:
            if 0 <= h <= 23:
                out.append(base.replace(hour=h, minute=30))
    elif fn == "weekday" and isinstance(k, str):
        days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
        if k in days:
            out.append(base + timedelta(days=days.index(k), hours=12))
    return [t.astimezone(timezone.utc).isoformat().replace("+00:00", "Z") for t in out]




def _assignments(vars_: Dict[Tuple[str, ...], _Var], fixed: Dict[str, Any]) -> Iterator[Dict[str, Any]]:
    """Every combination of candidate values, as nested action fields. A path that is a prefix of another
    takes either its own values (its children are then absent) or an object holding the children."""
    tree: Dict[Tuple[str, ...], List[Tuple[str, ...]]] = {}
    paths = sorted(vars_)
    for p in paths:
        parent = next((p[:i] for i in range(len(p) - 1, 0, -1) if p[:i] in vars_), None)
        tree.setdefault(parent, []).append(p)

    def options(p: Tuple[str, ...]) -> List[Any]:
        own = vars_[p].candidates()
        kids = tree.get(p, [])
        if not kids:
            return own
        objs = [dict(zip(kids, combo)) for combo in itertools.product(*(options(k) for k in kids))]
        # the object form stands for "present"; MISSING and the scalar forms stay
        return own + [("__obj__", o) for o in objs]

    tops = tree.get(None, [])
    for combo in itertools.product(*(options(p) for p in tops)):
        action: Dict[str, Any] = dict(fixed)
        for p, v in zip(tops, combo):
            _put(action, p, v)
        yield action


def _count(vars_: Dict[Tuple[str, ...], _Var]) -> int:
    tree: Dict[Any, List[Tuple[str, ...]]] = {}
    for p in sorted(vars_):
        parent = next((p[:i] for i in range(len(p) - 1, 0, -1) if p[:i] in vars_), None)
        tree.setdefault(parent, []).append(p)

    def n(p: Tuple[str, ...]) -> int:
        own = len(vars_[p].candidates())
        kids = tree.get(p, [])
        return own + (math.prod(n(k) for k in kids) if kids else 0)
    return math.prod(n(p) for p in tree.get(None, []))


def _put(action: Dict[str, Any], p: Tuple[str, ...], v: Any) -> None:
    if v is MISSING:
        return
    if isinstance(v, tuple) and len(v) == 2 and v[0] == "__obj__":
        for child, cv in v[1].items():
            _put(action, child, cv)
        _ensure(action, p)
        return
    cur = action
    for k in p[:-1]:
        nxt = cur.get(k)
        if not isinstance(nxt, dict):
            nxt = cur[k] = {}
        cur = nxt
    cur[p[-1]] = v


def _ensure(action: Dict[str, Any], p: Tuple[str, ...]) -> None:
    cur = action
    for k in p:
        nxt = cur.get(k)
        if not isinstance(nxt, dict):
            nxt = cur[k] = {}
        cur = nxt


# ---------------------------------------------------------------- schemas

HANDLED_SCHEMA_KEYS = {"type", "properties", "required", "additionalProperties", "enum", "const", "minimum",
                       "maximum", "exclusiveMinimum", "exclusiveMaximum", "items", "title", "description",
                       "$comment", "$schema", "default", "$defs", "$ref", "anyOf", "examples"}


def _schema_example(s: Any, root: Any, depth: int = 0) -> Any:
    """A small instance of a JSON Schema (the common keywords); None when none is found."""
    if depth > 8 or not isinstance(s, dict):
        return {} if s is True or s is None else None
    if "$ref" in s and isinstance(s["$ref"], str) and s["$ref"].startswith("#/"):
        node: Any = root
        for part in s["$ref"][2:].split("/"):
            node = node.get(part) if isinstance(node, dict) else None
        return _schema_example(node, root, depth + 1)
    if "const" in s:
        return s["const"]
    if "enum" in s and s["enum"]:
        return s["enum"][0]
    for key in ("anyOf", "oneOf"):
        if key in s and s[key]:
            return _schema_example(s[key][0], root, depth + 1)
    t = s.get("type")
    if isinstance(t, list):
        t = t[0] if t else None
    if t == "object" or (t is None and "properties" in s):
        out = {}
        for name in s.get("required", []):
            sub = s.get("properties", {}).get(name, {})
            out[name] = _schema_example(sub, root, depth + 1)
        return out
    if t == "array":
        n = s.get("minItems", 0)
        item = _schema_example(s.get("items", {}), root, depth + 1)
        return [item] * n
    if t in ("number", "integer"):
        lo = s.get("minimum", s.get("exclusiveMinimum", 0))
        return int(lo) + (1 if "exclusiveMinimum" in s else 0) if isinstance(lo, (int, float)) else 0
    if t == "string":
        return "x" * s.get("minLength", 1)
    if t == "boolean":
        return False
    if t == "null":
        return None
    return {}


def _schema_consts(s: Any, prefix: Tuple[str, ...], root: Any, out: List[Tuple[Tuple[str, ...], Any]],
                   unhandled: Set[str], depth: int = 0) -> None:
    """Bounds and enum values of a schema's properties: extra boundaries for the partition."""
    if not isinstance(s, dict) or depth > 8:
        return
    for k in s:
        if k not in HANDLED_SCHEMA_KEYS:
            unhandled.add(k)
    if "$ref" in s and isinstance(s["$ref"], str) and s["$ref"].startswith("#/"):
        node: Any = root
        for part in s["$ref"][2:].split("/"):
            node = node.get(part) if isinstance(node, dict) else None
        _schema_consts(node, prefix, root, out, unhandled, depth + 1)
    for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "const"):
        if k in s:
            out.append((prefix, s[k]))
    for v in s.get("enum", []) or []:
        out.append((prefix, v))
    for name, sub in (s.get("properties") or {}).items():
        _schema_consts(sub, prefix + (name,), root, out, unhandled, depth + 1)
    for sub in s.get("anyOf", []) or []:
        _schema_consts(sub, prefix, root, out, unhandled, depth + 1)
    if "items" in s:
        unhandled.add("items")  # array element constraints are not partitioned
        _schema_consts(s["items"], prefix + ("[]",), root, [], set(), depth + 1)


# ---------------------------------------------------------------- per tool

def _rules_for(p: Program, tool: Optional[str]) -> Tuple[List[Any], List[Tuple[str, int, A.Budget, bool]]]:
    """The conditions that can matter for `tool` (None: an undeclared tool) and its budget lines."""
    conds: List[Any] = []
    budgets: List[Tuple[str, int, A.Budget, bool]] = []
    tool = _target(p, tool)
    t = p.tools.get(tool) if tool is not None else None
    if t is not None:
        conds += [r.when for r in t.risks if r.when is not None]
        for c in p.categories.values():
            conds += [ln.when for ln in c.lines if ln.when is not None]
    for c in p.checks.values():
        if c.targets is None or (tool is not None and tool in c.targets):
            for i, ln in enumerate(c.lines):
                if isinstance(ln, A.Require):
                    conds.append(ln.cond)
                else:
                    budgets.append((c.name, i, ln, c.advisory))
    return conds, budgets


def _target(p: Program, tool: Optional[str]) -> Optional[str]:
    """The tool whose rules decide `tool`: itself, or the tool it is an alias of."""
    return p.aliases[tool].target if tool is not None and tool in p.aliases else tool


def _budget_sig(b: A.Budget, advisory: bool) -> Any:
    return (b.agg, b.path, b.keys, b.window.seconds, b.limit, b.outcome, advisory)


def _compare(old: Decision, new: Decision) -> Optional[str]:
    if old.outcome != new.outcome:
        return direction(old.outcome, new.outcome)
    if _brief(old) != _brief(new):
        return CHANGED
    return None


def _witness(tool: str, action: Dict[str, Any], do: Decision, dn: Decision, how: str,
             history: Optional[List[Dict[str, Any]]] = None) -> Dict[str, Any]:
    case: Dict[str, Any] = {"name": f"{tool}: decided {do.outcome} before, {dn.outcome} now", "action": action,
                            "expect": {"outcome": dn.outcome}}
    if dn.category is not None:
        case["expect"]["category"] = dn.category
    if history:
        case["history"] = history
    return {"tool": tool, "direction": _compare(do, dn), "method": how, "action": action,
            "history": history or [], "old": _brief(do), "new": _brief(dn), "test_case": case}


def _tool_names(old: Program, new: Program) -> List[Optional[str]]:
    names: List[Optional[str]] = []
    for p in (old, new):
        for n in [*p.tools, *p.aliases]:
            if n not in names:
                names.append(n)
    for p in (old, new):
        for c in p.checks.values():
            for n in c.targets or ():
                if n not in names:
                    names.append(n)
    names.append(None)  # every tool neither version declares or names
    return names


UNKNOWN_TOOL = "tool_neither_version_declares"


def witness_search(old_p: Policy, new_p: Policy, seed: int = 0) -> List[Dict[str, Any]]:
    """For each tool: witness actions the versions decide differently (a looser one and a stricter one,
    searched for independently), `proven` equivalence, or `not proven`; and per direction (`looser`,
    `stricter`): `witness`, `proven` (no action of the tool changes that way) or `not proven`.
    See docs/diff.md for the method and its limits."""
    old, new = old_p.program, new_p.program
    results = []
    for tool in _tool_names(old, new):
        results.append(_search_tool(old_p, new_p, tool, seed))
    return results


def _search_tool(old_p: Policy, new_p: Policy, tool: Optional[str], seed: int) -> Dict[str, Any]:
    old, new = old_p.program, new_p.program
    name = tool if tool is not None else UNKNOWN_TOOL
    an = _Analysis({k: c.value for k, c in old.consts.items()}, {k: c.value for k, c in new.consts.items()})
    budgets: Dict[str, List[Tuple[str, int, A.Budget, bool]]] = {}
    an.tool_name = name
    for side, prog in (("old", old), ("new", new)):
        an.cur = {k: c.value for k, c in prog.consts.items()}
        an.tool_name = _target(prog, tool) if tool is not None else name  # what `tool` reads on this side
        conds, bl = _rules_for(prog, tool)
        for c in conds:
            an.cond(c)
        budgets[side] = bl
        for check, i, b, adv in bl:
            for k in b.keys:
                kp = an.path_of(A.Path(k.root, ("id",)) if not k.keys and k.root in ("tenant", "agent") else k)
                if kp is None:
                    an.out(k, "budget key")
                else:
                    an.var(kp)
            if b.path is not None:
                pp = an.path_of(b.path)
                if pp is None:
                    an.out(b.path, "summed path")
                else:
                    v = an.var(pp)
                    v.numeric_use = True
                    v.numbers.update([b.limit, 0])
    # schemas: the same in both versions and made of handled keywords, else no proof
    so = old.schemas.get(_target(old, tool)) if tool is not None else None
    sn = new.schemas.get(_target(new, tool)) if tool is not None else None
    base_args: Dict[str, Any] = {}
    for s in (so, sn):
        if s is None:
            continue
        ex = _schema_example(s.value, s.value)
        if isinstance(ex, dict):
            for k, v in ex.items():
                base_args.setdefault(k, v)
        else:
            an.out(None, "no example instance found for the schema")
        unhandled: Set[str] = set()
        found: List[Tuple[Tuple[str, ...], Any]] = []
        _schema_consts(s.value, ("args",), s.value, found, unhandled)
        for p, c in found:
            if "[]" in p:
                continue
            if p in an.vars:
                an.add_const(an.vars[p], c)
        if unhandled - {"items"}:
            an.out(None, f"schema keywords {', '.join(sorted(unhandled - {'items'}))}")
    if (so is None) != (sn is None) or (so and sn and _schema_key(so) != _schema_key(sn)):
        an.out(None, "the schema changed")
    for s in (so, sn):
        if s is not None and base_args is not None:
            if not s.validator().is_valid(base_args):
                an.out(None, "no example instance found for the schema")
    # budget lines: identical ones are a free choice (exhausted or not); differing ones need histories
    sig_old = {(c, i): _budget_sig(b, a) for c, i, b, a in budgets["old"]}
    sig_new = {(c, i): _budget_sig(b, a) for c, i, b, a in budgets["new"]}
    shared = sorted(k for k in sig_old if sig_new.get(k) == sig_old[k])
    differing = sorted(set(sig_old) ^ set(sig_new) | {k for k in sig_old if k in sig_new and sig_new[k] != sig_old[k]})
    if differing:
        an.out(None, "budget lines changed (" + ", ".join(f"{c} line {i + 1}" for c, i in differing) + ")")
    # the base action: every non-variable field the search needs
    fixed = {"tool": name, "timestamp": BASE_TIME}
    vars_ = dict(an.vars)
    if ("timestamp",) in vars_:
        vars_[("timestamp",)].extra += [BASE_TIME] + an.times
        fixed.pop("timestamp")
    elif an.times:
        vars_[("timestamp",)] = _Var(("timestamp",), extra=[BASE_TIME] + an.times)
        vars_[("timestamp",)].strings = set()
        fixed.pop("timestamp")
    args_var = ("args",) in vars_
    ledgers = [set(s) for n in range(len(shared) + 1) for s in itertools.combinations(shared, n)]
    if len(ledgers) > 64:
        ledgers = [set(), set(shared)]
        an.out(None, "too many budget lines to enumerate their states")
    total = _count(vars_) * len(ledgers) if vars_ else len(ledgers)
    exhaustive = total <= MAX_COMBINATIONS
    rng = random.Random(seed)

    def candidates() -> Iterator[Dict[str, Any]]:
        if exhaustive:
            yield from _assignments(vars_, fixed) if vars_ else iter([dict(fixed)])
        else:
            # sample: draw each variable's value at random
            tops = sorted(vars_)
            cands = {p: vars_[p].candidates() for p in tops}
            for _ in range(SAMPLE // max(1, len(ledgers))):
                action = json.loads(json.dumps(fixed))
                for p in tops:
                    _put(action, p, rng.choice(cands[p]))
                yield action

    checked = 0
    # the first witness of each kind in enumeration order: looser and stricter are searched for
    # independently (one does not stop the search for the other); `changed` (same outcome, other route,
    # category…) is kept only for when no outcome changes
    found: Dict[str, Dict[str, Any]] = {}
    unconfirmed: Set[str] = set()   # seen under a stand-in ledger, but no concrete history reproduced it
    for action in candidates():
        action = _merge_base(action, base_args, args_var)
        for ex in ledgers:
            led = _FakeLedger(ex)
            do, dn = old_p.decide(action, led, NOW), new_p.decide(action, led, NOW)
            checked += 1
            kind = _compare(do, dn)
            if kind is None or kind in found:
                continue
            hist = None
            if ex:
                hist = _history_for(old_p, new_p, action, ex)
                if hist is None:
                    unconfirmed.add(kind)
                    continue  # a budget state no concrete history reproduced; keep looking
                do, dn = _decide_with(old_p, action, hist), _decide_with(new_p, action, hist)
                seen, kind = kind, _compare(do, dn)
                if kind != seen:
                    unconfirmed.add(seen)
                if kind is None or kind in found:
                    continue
            found[kind] = _witness(name, action, do, dn, "partition" if exhaustive else "sampling", hist)
            if LOOSER in found and STRICTER in found:
                break
        if LOOSER in found and STRICTER in found:
            break
    # budget lines that differ: histories of copies of a candidate just under the limits or windows
    if differing and not (LOOSER in found and STRICTER in found):
        want = {LOOSER, STRICTER} - set(found)
        if not found:
            want.add(CHANGED)
        for kind, w in _budget_witness(old_p, new_p, name, fixed, vars_, budgets, differing, base_args,
                                       want).items():
            found.setdefault(kind, w)
    proof = an.decidable and exhaustive and not differing
    per_direction = {}
    for kind in (LOOSER, STRICTER):
        per_direction[kind] = ("witness" if kind in found
                               else "proven" if proof and kind not in unconfirmed else "not proven")
    witnesses = [found[k] for k in (LOOSER, STRICTER) if k in found] or [found[k] for k in (CHANGED,) if k in found]
    why = list(an.why)
    if not exhaustive:
        why.append(f"{total:,} combinations: sampled {checked:,}")
    if unconfirmed - set(found):
        why.append("a difference under exhausted budgets (" + ", ".join(sorted(unconfirmed - set(found)))
                   + ") that no concrete history reproduced")
    if witnesses:
        status = "witness"
    elif proof and not unconfirmed:
        status = "proven"
    else:
        status = "not proven"
    return {"tool": name, "status": status, "looser": per_direction[LOOSER], "stricter": per_direction[STRICTER],
            "method": "partition" if exhaustive else "sampling", "checked": checked, "combinations": total,
            "why": why, "witnesses": witnesses}


def _merge_base(action: Dict[str, Any], base: Dict[str, Any], args_var: bool) -> Dict[str, Any]:
    """Lay the candidate's arguments over a schema-valid example, so required fields no condition
    reads are there (a candidate that fails the schema would tell nothing about the rules)."""
    if not base:
        return action
    args = action.get("args")
    if isinstance(args, dict):
        action["args"] = _deep_merge(base, args)
    elif "args" not in action and not args_var:
        action["args"] = json.loads(json.dumps(base))
    return action


def _deep_merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        out = {k: json.loads(json.dumps(v)) for k, v in base.items()}
        for k, v in over.items():
            out[k] = _deep_merge(out[k], v) if k in out else v
        return out
    return over


def _decide_with(p: Policy, action: Dict[str, Any], history: List[Dict[str, Any]]) -> Decision:
    led = MemoryLedger()
    for h in history:
        p.record(h, led, NOW)
    return p.decide(action, led, NOW)


def _history_for(old_p: Policy, new_p: Policy, action: Dict[str, Any], exhausted: Set[Tuple[str, int]]
                 ) -> Optional[List[Dict[str, Any]]]:
    """A concrete history that exhausts the given budget lines for `action`: one earlier copy of the
    action, a second before it, whose amount alone fills the limit (sum), or `limit` copies (count)."""
    hist: List[Dict[str, Any]] = []
    t0 = datetime.fromisoformat(action.get("timestamp", BASE_TIME).replace("Z", "+00:00"))
    for prog in (old_p.program, new_p.program):
        for c in prog.checks.values():
            for i, ln in enumerate(c.lines):
                if (c.name, i) not in exhausted or not isinstance(ln, A.Budget):
                    continue
                when = (t0 - timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
                if ln.path is None:
                    n = int(math.floor(ln.limit))
                    if n > 200:
                        return None
                    hist += [dict(action, timestamp=when)] * max(0, n)
                else:
                    amount = ln.limit + 1
                    copy = json.loads(json.dumps(action))
                    _put(copy, (ln.path.root,) + tuple(ln.path.keys), amount)
                    copy["timestamp"] = when
                    hist.append(copy)
    return [dict(h) for h in hist]


def _budget_witness(old_p: Policy, new_p: Policy, name: str, fixed: Dict[str, Any], vars_: Dict,
                    budgets: Dict[str, List], differing: List[Tuple[str, int]], base: Dict[str, Any],
                    want: Set[str]) -> Dict[str, Dict[str, Any]]:
    """The first witness of each kind in `want` (looser, stricter, changed) that a history of copies of a
    candidate action, just inside the old and new limits and windows, shows."""
    found: Dict[str, Dict[str, Any]] = {}
    lines = {(c, i): b for side in ("old", "new") for c, i, b, _ in budgets[side]}
    tries = 0
    for action in (_assignments(vars_, fixed) if vars_ else iter([dict(fixed)])):
        action = _merge_base(action, base, ("args",) in vars_)
        d0, d1 = old_p.decide(action, MemoryLedger(), NOW), new_p.decide(action, MemoryLedger(), NOW)
        if d0.outcome == "deny" and d1.outcome == "deny":
            continue
        tries += 1
        if tries > 200:
            return found
        t0 = datetime.fromisoformat(action.get("timestamp", BASE_TIME).replace("Z", "+00:00"))
        for key in differing:
            b = lines[key]
            bo = next((x for c, i, x, _ in budgets["old"] if (c, i) == key), None)
            bn = next((x for c, i, x, _ in budgets["new"] if (c, i) == key), None)
            limits = sorted({x.limit for x in (bo, bn) if x is not None})
            windows = sorted({x.window.seconds for x in (bo, bn) if x is not None})
            plans = []
            for lim in limits:
                for w in windows:
                    for back in {1, int(w) - 1, int(w) + 1}:
                        if back > 0:
                            plans.append((lim, back))
            for lim, back in plans:
                when = (t0 - timedelta(seconds=back)).isoformat().replace("+00:00", "Z")
                if b.path is None:
                    n = int(math.floor(lim))
                    if n < 0 or n > 200:
                        continue
                    hist = [dict(action, timestamp=when) for _ in range(n)]
                else:
                    cur = _get(action, (b.path.root,) + tuple(b.path.keys))
                    if not isinstance(cur, (int, float)) or isinstance(cur, bool):
                        continue
                    copy = json.loads(json.dumps(action))
                    _put(copy, (b.path.root,) + tuple(b.path.keys), _tidy(float(lim - cur)))
                    copy["timestamp"] = when
                    hist = [copy]
                do, dn = _decide_with(old_p, action, hist), _decide_with(new_p, action, hist)
                kind = _compare(do, dn)
                if kind in want and kind not in found:
                    found[kind] = _witness(name, action, do, dn, "budget history", hist)
                    if not (want - {CHANGED}) - set(found):
                        return found   # every outcome direction asked for is found
    return found


def _get(action: Dict[str, Any], p: Tuple[str, ...]) -> Any:
    cur: Any = action
    for k in p:
        if not isinstance(cur, dict):
            return None
        cur = cur.get(k)
    return cur


# ====================================================================== the whole report

def diff(old_p: Policy, new_p: Policy, history: Optional[History] = None, witnesses: bool = True,
         assume_approved: bool = False) -> Dict[str, Any]:
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


def _code(v: Any) -> str:
    # one escaped field: a name's newline or control character never reaches the Markdown as such
    s = safe_text(v) if isinstance(v, str) else safe_json(v)
    return "`" + s.replace("`", "'") + "`"


def markdown(d: Dict[str, Any]) -> str:
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
