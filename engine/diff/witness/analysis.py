"""What a tool's conditions ask of each path (the constants to partition by), and whether every condition
lies in the fragment the search decides; heuristic values for the conditions outside it."""
from __future__ import annotations

import itertools
import math
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, List, Optional, Tuple
from zoneinfo import ZoneInfo

from policy_lang import ast as A
from policy_lang.printer import expr_text

from .candidates import MISSING, Var, assignments, tidy

ROOTS = ("args", "tenant", "agent", "context", "confidence", "timestamp")


class Analysis:
    """Collects the variables of a tool's conditions and whether all of them are in the fragment the
    search decides: comparisons of a path (or a path times/plus constants) with constants, membership
    in constant lists, presence, boolean paths, and/or/not."""

    def __init__(self, consts_old: Dict[str, Any], consts_new: Dict[str, Any]):
        self.vars: Dict[Tuple[str, ...], Var] = {}
        self.decidable = True
        self.why: List[str] = []
        self.times: List[str] = []
        self.lists: Dict[Tuple[str, ...], List[Any]] = {}
        self.consts = (consts_old, consts_new)
        self.cur = consts_old
        self.tool_name: Optional[str] = None

    def var(self, p: Tuple[str, ...]) -> Var:
        """The variable for path `p` (made on first use)."""
        v = self.vars.get(p)
        if v is None:
            v = self.vars[p] = Var(p)
        return v

    def out(self, e: Any, reason: str) -> None:
        """`e` is outside the decided fragment (or a search limit applies): no proof, `reason` says why."""
        self.decidable = False
        text = f"{reason}: `{expr_text(e)}`" if e is not None else reason
        if text not in self.why:
            self.why.append(text)

    def const_value(self, e: Any) -> Any:
        """The value of `e` when it is a constant (a literal, a const, `tool`, a list of those), else MISSING."""
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
        """The action path `e` reads (no list indexes, no names bound in `env`), else None."""
        if isinstance(e, A.Path) and (e.root in ROOTS or e.root == "__elem__") and e.root not in env:
            if any(isinstance(k, int) for k in e.keys):
                return None
            return (e.root,) + tuple(str(k) for k in e.keys)   # (no int keys: checked above)
        return None

    def affine(self, e: Any) -> Optional[Tuple[Optional[Tuple[str, ...]], float, float]]:
        """The expression as a*path + b, or a constant (path None); None when it is not that."""
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
        """Read one condition: its variables and constants, or why it is outside the fragment."""
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
        """Read one comparison or membership test."""
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
            lp = self.path_of(left, env)
            if op in ("==", "!=") and lp is not None:
                v = self.var(lp)
                self.add_const(v, rc)
                return
            af = self.affine(left)
            if af is None or af[0] is None:
                self.out(e, "comparison outside the fragment")
                self.heuristic(left, rc)
                return
            p, a, b = af
            assert p is not None
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
                    v.numbers.add(tidy(x0))
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

    def add_const(self, v: Var, c: Any) -> None:
        """Add constant `c` to the values `v` is partitioned by."""
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
        """Lists for a quantified path: empty, and one element per small assignment of the body."""
        src = self.path_of(q.source)
        if src is None:
            return
        inner = Analysis(*self.consts)
        inner.cur = self.cur
        body = _rebase(q.body, q.var)
        inner.cond(body)
        elems: List[Any] = []
        for combo in itertools.islice(assignments(inner.vars, {}), 12):
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
    """The number x and its floating-point neighbours: where a*x+b == k holds exactly, if anywhere."""
    if not math.isfinite(x):
        return []
    return [math.nextafter(math.nextafter(x, -math.inf), -math.inf), math.nextafter(x, -math.inf), x,
            math.nextafter(x, math.inf), math.nextafter(math.nextafter(x, math.inf), math.inf)]


def _times_for(fn: str, k: Any, tz: str) -> List[str]:
    """Timestamps around hour `k` or on weekday `k` in zone `tz`, in UTC."""
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
