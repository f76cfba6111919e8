"""Conditions in disjunctive normal form over atoms, with a satisfiability test: what lint proves.

The analyses reason about conditions in a two-valued model where a comparison that is
evaluated without error has present operands of the compared type (an evaluation error
only ever adds a `deny`, spec §4.7). Conditions are put in disjunctive normal form over
*atoms*: interval constraints on numeric comparisons with constants, set constraints from
`==`/`!=`/`in`/`not in` with literals, `present`/`missing` (a present path has present
parents), and opaque atoms (anything else, known only to contradict their own negation).
Whatever grows past a size limit is treated as unknown, so every warning is proved, never
guessed.
"""
from __future__ import annotations

import math
from typing import Any, Dict, FrozenSet, List, Optional, Set, Tuple

from .. import ast as A
from ..printer import expr_text
from .values import FLIP, NEGATE, NO, ORDER, const_compare, is_num, type_tag

__all__ = ["Logic", "Atom", "Conj", "DNF", "TRUE", "FALSE", "MAX_DNF", "MAX_PRODUCT", "paths_in"]

MAX_DNF = 64          # conjunctions kept for one condition
MAX_PRODUCT = 512     # conjunctions kept while combining conditions

Atom = Tuple[Any, ...]
Conj = FrozenSet[Atom]
DNF = Optional[List[Conj]]   # None: unknown (too large); []: never true; [frozenset()]: always true
TRUE: List[Conj] = [frozenset()]
FALSE: List[Conj] = []


def paths_in(e: Any, out: List[A.Path]) -> None:
    """Every path an evaluation of `e` reads (quantifier bodies excluded)."""
    if isinstance(e, A.Path):
        out.append(e)
    elif isinstance(e, A.Quantifier):
        paths_in(e.source, out)
    elif isinstance(e, (A.BoolOp, A.Arith, A.Compare)):
        paths_in(e.left, out)
        paths_in(e.right, out)
    elif isinstance(e, (A.Not, A.Neg)):
        paths_in(e.operand, out)
    elif isinstance(e, A.Presence):
        paths_in(e.path, out)
    elif isinstance(e, A.Call):
        for a in e.args:
            paths_in(a, out)
    elif isinstance(e, A.ListExpr):
        for i in e.items:
            paths_in(i, out)


class Logic:
    """Conditions as DNF over atoms, with a satisfiability test on conjunctions."""

    def __init__(self, consts: Dict[str, Any]):
        """`consts`: the program's `const` values by name (a const path is its value)."""
        self.consts = consts
        self._cache: Dict[Tuple[int, bool], DNF] = {}
        self._keep: List[Any] = []  # keeps cached expressions alive, so ids stay unique
        # `expr_text` of a path depends on its root and keys alone: one text per distinct path
        self._path_texts: Dict[Tuple[str, Tuple[Any, ...]], str] = {}
        self._texts: Dict[int, Tuple[Any, str]] = {}   # id → (the node, kept alive; its text)

    # ---------------------------------------------------------------- texts
    def path_text(self, p: A.Path) -> str:
        """`expr_text(p)` of a path, computed once per distinct path."""
        key = (p.root, p.keys)
        text = self._path_texts.get(key)
        if text is None:
            text = self._path_texts[key] = expr_text(p)
        return text

    def text(self, e: Any) -> str:
        """`expr_text(e)`, computed once per node (the atoms name their terms by it)."""
        if isinstance(e, A.Path):
            return self.path_text(e)
        hit = self._texts.get(id(e))
        if hit is not None and hit[0] is e:
            return hit[1]
        text = expr_text(e)
        self._texts[id(e)] = (e, text)
        return text

    # ---------------------------------------------------------------- constants
    def const(self, e: Any) -> Any:
        """The value of a constant expression (durations in seconds, lists as tuples), else `NO`."""
        if isinstance(e, A.Literal):
            return e.value
        if isinstance(e, A.Duration):
            return e.seconds
        if isinstance(e, A.Path) and not e.keys and e.root in self.consts:
            v = self.consts[e.root]
            return v.seconds if isinstance(v, A.Duration) else v
        if isinstance(e, A.Neg):
            v = self.const(e.operand)
            return -v if is_num(v) else NO
        if isinstance(e, A.ListExpr):
            vals = tuple(self.const(i) for i in e.items)
            return NO if any(v is NO for v in vals) else vals
        return NO

    def presence(self, *exprs: Any) -> FrozenSet[Atom]:
        """The atoms saying that every path these expressions read is present."""
        found: List[A.Path] = []
        for e in exprs:
            paths_in(e, found)
        return frozenset(("pres", self.path_text(p), True) for p in found
                         if p.root not in self.consts and p.root not in ("confidence", "tool"))

    # ---------------------------------------------------------------- DNF
    def dnf(self, e: Any, pos: bool = True) -> DNF:
        """The cases where `e` holds (`pos`) or does not hold, as DNF; cached per expression."""
        key = (id(e), pos)
        if key in self._cache:
            return self._cache[key]
        self._keep.append(e)
        out = self._dnf(e, pos)
        if out is not None and len(out) > MAX_DNF:
            out = self._opaque(e, pos)
        self._cache[key] = out
        return out

    def _dnf(self, e: Any, pos: bool) -> DNF:
        if isinstance(e, A.BoolOp):
            left, right = self.dnf(e.left, pos), self.dnf(e.right, pos)
            if (e.op == "and") == pos:
                out = self.product(left, right)
            else:
                out = None if left is None or right is None else self.union(left, right)
            return out if out is not None else self._opaque(e, pos)
        if isinstance(e, A.Not):
            return self.dnf(e.operand, not pos)
        v = self.const(e)
        if v is not NO:
            if isinstance(v, bool):
                return TRUE if v == pos else FALSE
            return self._opaque(e, pos)
        if isinstance(e, A.Compare):
            return self._compare(e, pos)
        if isinstance(e, A.Presence) and isinstance(e.path, A.Path):
            return [frozenset({("pres", self.path_text(e.path), e.present == pos)})]
        if isinstance(e, A.Path) and e.root != "confidence":
            atom = ("in", self.path_text(e), frozenset({("b", pos)}))
            return [frozenset({atom}) | self.presence(e)]
        return self._opaque(e, pos)

    def _opaque(self, e: Any, pos: bool, presence: FrozenSet[Atom] = frozenset()) -> List[Conj]:
        return [frozenset({("op", self.text(e), pos)}) | presence]

    def _compare(self, e: A.Compare, pos: bool) -> DNF:
        op, left, right = e.op, e.left, e.right
        lv, rv = self.const(left), self.const(right)
        pres = self.presence(left, right)
        if lv is not NO and rv is not NO:
            r = const_compare(op, lv, rv)
            if r is None:
                return self._opaque(e, pos)
            return TRUE if r == pos else FALSE
        if op in ORDER:
            if rv is NO and lv is not NO:
                left, right, lv, rv, op = right, left, rv, lv, FLIP[op]
            if rv is not NO:
                if is_num(rv):
                    try:
                        bound = float(rv)
                    except OverflowError:
                        return self._opaque(e, pos, pres)
                    o = op if pos else NEGATE[op]
                    return [frozenset({("cmp", self.text(left), o, bound)}) | pres]
                return self._opaque(e, pos, pres)
            lt, rt = self.text(left), self.text(right)
            if op == "<":
                key, truth = (lt, rt), True
            elif op == ">":
                key, truth = (rt, lt), True
            elif op == "<=":
                key, truth = (rt, lt), False
            else:
                key, truth = (lt, rt), False
            return [frozenset({("rel", key[0], "<", key[1], truth == pos)}) | pres]
        if op in ("==", "!="):
            eq = (op == "==") == pos
            if lv is not NO or rv is not NO:
                term, value = (right, lv) if lv is not NO else (left, rv)
                t = type_tag(value)
                if t is None:
                    return self._opaque(e, pos, pres)
                return [frozenset({("in" if eq else "nin", self.text(term), frozenset({t}))}) | pres]
            a, b = sorted((self.text(left), self.text(right)))
            return [frozenset({("rel", a, "==", b, eq)}) | pres]
        if op in ("in", "not in") and lv is NO and isinstance(rv, tuple):
            tags = [type_tag(x) for x in rv]
            if any(t is None for t in tags):
                return self._opaque(e, pos, pres)
            member = (op == "in") == pos
            return [frozenset({("in" if member else "nin", self.text(left), frozenset(tags))}) | pres]
        if op == "not in":
            shown = expr_text(A.Compare("in", left, right))
            return [frozenset({("op", shown, not pos)}) | pres]
        return self._opaque(e, pos, pres)

    # ---------------------------------------------------------------- combining
    def union(self, a: List[Conj], b: List[Conj]) -> List[Conj]:
        """`a or b`: the conjunctions of both, each once."""
        seen = set(a)
        return a + [c for c in b if c not in seen]

    def product(self, a: DNF, b: DNF, limit: int = MAX_PRODUCT) -> DNF:
        """`a and b`, unsatisfiable conjunctions dropped; None (unknown) past `limit` conjunctions."""
        if a is None or b is None:
            return None
        if not a or not b:
            return []
        if len(a) == 1 and not a[0]:
            return b
        if len(b) == 1 and not b[0]:
            return a
        out: List[Conj] = []
        seen: Set[Conj] = set()
        for x in a:
            for y in b:
                c = x | y
                if c in seen or not self.sat(c):
                    continue
                seen.add(c)
                out.append(c)
                if len(out) > limit:
                    return None
        return out

    def never(self, *parts: DNF) -> bool:
        """True when the conjunction of every part is proved unsatisfiable."""
        acc: DNF = TRUE
        for p in parts:
            acc = self.product(acc, p)
            if acc is None:
                return False
            if not acc:
                return True
        return not acc

    # ---------------------------------------------------------------- satisfiability
    def sat(self, conj: Conj) -> bool:
        """False when the conjunction is proved unsatisfiable."""
        opq: Dict[Tuple, bool] = {}
        pres: Dict[str, bool] = {}
        terms: Dict[str, List[Atom]] = {}
        for a in conj:
            k = a[0]
            if k == "op" or k == "rel":
                key, v = a[:-1], a[-1]
                if opq.setdefault(key, v) != v:
                    return False
            elif k == "pres":
                if pres.setdefault(a[1], a[2]) != a[2]:
                    return False
            else:
                terms.setdefault(a[1], []).append(a)
        if pres:
            absent = [p for p, v in pres.items() if not v]
            if absent:
                present = [p for p, v in pres.items() if v]
                for m in absent:
                    n = len(m)
                    for p in present:
                        if len(p) > n and p.startswith(m) and p[n] in ".[":
                            return False
        for atoms in terms.values():
            if not self._term_sat(atoms):
                return False
        return True

    @staticmethod
    def _term_sat(atoms: List[Atom]) -> bool:
        lo, lo_inc, hi, hi_inc = -math.inf, False, math.inf, False
        numeric = False
        allowed: Optional[Set] = None
        excluded: Set = set()
        for a in atoms:
            if a[0] == "cmp":
                numeric = True
                op, v = a[2], a[3]
                if op == ">":
                    if v > lo:
                        lo, lo_inc = v, False
                    elif v == lo:
                        lo_inc = False
                elif op == ">=":
                    if v > lo:
                        lo, lo_inc = v, True
                elif op == "<":
                    if v < hi:
                        hi, hi_inc = v, False
                    elif v == hi:
                        hi_inc = False
                elif op == "<=":
                    if v < hi:
                        hi, hi_inc = v, True
            elif a[0] == "in":
                allowed = set(a[2]) if allowed is None else allowed & a[2]
            elif a[0] == "nin":
                excluded |= a[2]

        def within(x: float) -> bool:
            return (lo < x or (lo == x and lo_inc)) and (x < hi or (x == hi and hi_inc))

        if allowed is not None:
            cand = allowed - excluded
            if numeric:
                cand = {t for t in cand if t[0] == "n" and within(t[1])}
            return bool(cand)
        if numeric:
            if lo > hi or (lo == hi and not (lo_inc and hi_inc)):
                return False
            if lo == hi and ("n", lo) in excluded:
                return False
        return True
