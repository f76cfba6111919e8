"""The complete witness search (issue 12): both versions' decisions for one symbolic action, encoded for
the z3 SMT solver, per tool and direction; a witness is verified by the compiled policies before it is
returned, and an answer the solver cannot give is `unknown` with the construct that stopped it."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple

from policy_lang import ast as A
from policy_lang.checker import Program
from policy_lang.printer import expr_text

from ...decide.decision import RANK, Decision
from ...decide.evaluator import Policy
from ...decide.values import FUNCTIONS, EvalError
from ..records import (LOOSER, NOT_PROVEN, PROVEN, STRICTER, WITNESS, ToolResult, Witness, classify)
from ..structural import schema_key
from .candidates import BASE_TIME, NOW, merge_base, put_path, tidy
from .schemas import schema_example

try:  # z3-solver is a dependency; without it every direction is `unknown`, never a pass
    import z3
except ImportError:  # pragma: no cover - exercised by the no-z3 test in a subprocess
    z3 = None  # the search then reports `unknown` for every tool

MAX_LIST = 3                 # lists are modelled up to this many elements (stated in every proof)
MAX_NESTING = 2              # and lists of lists to this depth
DEFAULT_TIMEOUT = 10.0       # seconds of solver time per tool (`--solver-timeout`)
MAX_ROUNDS = 12              # refinements of lower/upper/domain by their concrete values
METHOD = "smt"

# value kinds of the symbolic action (JSON null counts as missing)
MISS, BOOL, NUM, STR, LIST, OBJ = range(6)
ERROR_RANK = RANK["deny"]


class Unsupported(Exception):
    """A construct the encoding does not cover: the tool's answer is `unknown`, naming it."""


def available() -> bool:
    """Is the solver installed?"""
    return z3 is not None


# ------------------------------------------------------------------ symbolic values

def _and(*xs: Any) -> Any:
    ys = [x for x in xs if x is not True]
    if any(x is False for x in ys):
        return False
    if not ys:
        return True
    return ys[0] if len(ys) == 1 else z3.And(*ys)


def _or(*xs: Any) -> Any:
    ys = [x for x in xs if x is not False]
    if any(x is True for x in ys):
        return True
    if not ys:
        return False
    return ys[0] if len(ys) == 1 else z3.Or(*ys)


def _not(x: Any) -> Any:
    if x is True or x is False:
        return not x
    return z3.Not(x)


def _ite(c: Any, a: Any, b: Any) -> Any:
    if c is True:
        return a
    if c is False:
        return b
    return z3.If(c, a, b)


def _z(x: Any) -> Any:
    """A Python bool as a z3 one (z3 wants terms in its own API)."""
    return z3.BoolVal(x) if x is True or x is False else x


@dataclass
class V:
    """A symbolic value: its kind, and its payload for each kind; `err` when computing it failed."""
    k: Any                       # an int (known kind) or a z3 Int term
    n: Any = None                # number (z3 Real)
    s: Any = None                # string
    b: Any = None                # boolean
    ln: Any = None               # list: its length (z3 Int or int)
    elems: List["V"] = field(default_factory=list)
    err: Any = False
    path: Optional[Tuple[Any, ...]] = None   # the action path it is, if one

    def is_(self, kind: int) -> Any:
        """The condition that the value has `kind`."""
        if isinstance(self.k, int):
            return self.k == kind
        return self.k == kind


def const(v: Any) -> V:
    """A constant of the policy as a symbolic value."""
    if v is None:
        return V(MISS)
    if isinstance(v, bool):
        return V(BOOL, b=z3.BoolVal(v))
    if isinstance(v, (int, float)):
        return V(NUM, n=_real(v))
    if isinstance(v, str):
        return V(STR, s=z3.StringVal(v))
    if isinstance(v, (list, tuple)):
        items = [const(x) for x in v]
        return V(LIST, ln=len(items), elems=items)
    if isinstance(v, dict):
        raise Unsupported("an object constant")
    raise Unsupported(f"a constant of type {type(v).__name__}")


_FP = [False]   # numbers as IEEE doubles (when a tool's conditions do arithmetic), else as reals


def _real(v: Any) -> Any:
    """A number of the policy as a solver term (exactly the double it is)."""
    if _FP[0]:
        return z3.FPVal(float(v), z3.Float64())
    if isinstance(v, float):
        from fractions import Fraction
        f = Fraction(v)   # the double itself, exactly: numbers compare as doubles
        return z3.RealVal(f"{f.numerator}/{f.denominator}")
    return z3.RealVal(int(v))


def _int(t: Any) -> Any:
    """An int or an Int term, as a term."""
    return z3.IntVal(t) if isinstance(t, int) else t


def _nvar(name: str) -> Any:
    return z3.FP(name, z3.Float64()) if _FP[0] else z3.Real(name)


def _from_int(t: Any) -> Any:
    if isinstance(t, int):
        return _real(t)
    return z3.fpRealToFP(z3.RNE(), z3.ToReal(t), z3.Float64()) if _FP[0] else z3.ToReal(t)


def _isint(t: Any) -> Any:
    return z3.fpRoundToIntegral(z3.RNE(), t) == t if _FP[0] else z3.IsInt(t)


def _neq(a: Any, b: Any) -> Any:
    """Numbers equal as doubles (0.0 equals -0.0)."""
    return z3.fpEQ(a, b) if _FP[0] else a == b


def _finite(t: Any) -> Any:
    return z3.And(z3.Not(z3.fpIsNaN(t)), z3.Not(z3.fpIsInf(t))) if _FP[0] else True


# ------------------------------------------------------------------ regexes (RE2 patterns)

def regex_to_z3(pattern: str) -> Any:
    """The RE2 pattern as a z3 regular expression for an unanchored search; Unsupported when it uses a
    construct this translation does not cover (flags, word boundaries, anchors inside)."""
    from re import _parser as sre  # type: ignore[attr-defined]  # the stdlib's own parser of the shared syntax
    try:
        tree = sre.parse(pattern)
    except re.error as e:
        raise Unsupported(f"pattern `{pattern}` ({e})") from None
    if tree.state.flags & ~(re.UNICODE | 0):   # any inline flag: (?i) and the like
        raise Unsupported(f"flags in pattern `{pattern}`")
    items = list(tree)
    allc = z3.Full(z3.ReSort(z3.StringSort()))
    start_anchor = bool(items) and items[0][0] == sre.AT and items[0][1] in (sre.AT_BEGINNING, sre.AT_BEGINNING_STRING)
    end_anchor = bool(items) and items[-1][0] == sre.AT and items[-1][1] in (sre.AT_END, sre.AT_END_STRING)
    if start_anchor:
        items = items[1:]
    if end_anchor and items:
        items = items[:-1]
    body = _seq(items, pattern)
    parts = ([] if start_anchor else [allc]) + [body] + ([] if end_anchor else [allc])
    return z3.Concat(*parts) if len(parts) > 1 else parts[0]


def _anychar() -> Any:
    return z3.AllChar(z3.ReSort(z3.StringSort()))


def _seq(items: Sequence[Any], pattern: str) -> Any:
    parts = [_node(op, av, pattern) for op, av in items]
    if not parts:
        return z3.Re(z3.StringVal(""))
    return z3.Concat(*parts) if len(parts) > 1 else parts[0]


def _cls(items: Sequence[Any], pattern: str) -> Any:
    from re import _parser as sre  # type: ignore[attr-defined]  # see regex_to_z3
    neg = False
    alts = []
    for op, av in items:
        if op == sre.NEGATE:
            neg = True
        elif op == sre.LITERAL:
            alts.append(z3.Re(z3.StringVal(chr(av))))
        elif op == sre.RANGE:
            alts.append(z3.Range(chr(av[0]), chr(av[1])))
        elif op == sre.CATEGORY:
            alts.append(_category(av, pattern))
        else:
            raise Unsupported(f"a class in pattern `{pattern}`")
    u = z3.Union(*alts) if len(alts) > 1 else alts[0]
    if neg:
        return z3.Intersect(_anychar(), z3.Complement(u))
    return u


def _category(av: Any, pattern: str) -> Any:
    from re import _parser as sre  # type: ignore[attr-defined]  # see regex_to_z3
    digit = z3.Range("0", "9")
    word = z3.Union(z3.Range("a", "z"), z3.Range("A", "Z"), digit, z3.Re(z3.StringVal("_")))
    space = z3.Union(*[z3.Re(z3.StringVal(c)) for c in "\t\n\f\r "])
    table = {sre.CATEGORY_DIGIT: digit, sre.CATEGORY_WORD: word, sre.CATEGORY_SPACE: space}
    neg = {sre.CATEGORY_NOT_DIGIT: digit, sre.CATEGORY_NOT_WORD: word, sre.CATEGORY_NOT_SPACE: space}
    if av in table:
        return table[av]
    if av in neg:
        return z3.Intersect(_anychar(), z3.Complement(neg[av]))
    raise Unsupported(f"a class in pattern `{pattern}`")


def _node(op: Any, av: Any, pattern: str) -> Any:
    from re import _parser as sre  # type: ignore[attr-defined]  # see regex_to_z3
    if op == sre.LITERAL:
        return z3.Re(z3.StringVal(chr(av)))
    if op == sre.NOT_LITERAL:
        return z3.Intersect(_anychar(), z3.Complement(z3.Re(z3.StringVal(chr(av)))))
    if op == sre.ANY:     # RE2: any character but a newline
        return z3.Intersect(_anychar(), z3.Complement(z3.Re(z3.StringVal("\n"))))
    if op == sre.IN:
        return _cls(av, pattern)
    if op == sre.BRANCH:
        alts = [_seq(list(b), pattern) for b in av[1]]
        return z3.Union(*alts) if len(alts) > 1 else alts[0]
    if op == sre.SUBPATTERN:
        _group, add_flags, del_flags, sub = av
        if add_flags or del_flags:
            raise Unsupported(f"flags in pattern `{pattern}`")
        return _seq(list(sub), pattern)
    if op in (sre.MAX_REPEAT, sre.MIN_REPEAT, getattr(sre, "POSSESSIVE_REPEAT", object())):
        lo, hi, sub = av
        inner = _seq(list(sub), pattern)
        if hi == sre.MAXREPEAT:
            if lo == 0:
                return z3.Star(inner)
            if lo == 1:
                return z3.Plus(inner)
            return z3.Concat(z3.Loop(inner, lo, lo), z3.Star(inner))
        if lo == 0 and hi == 1:
            return z3.Option(inner)
        return z3.Loop(inner, lo, hi)
    if op == sre.CATEGORY:
        return _category(av, pattern)
    raise Unsupported(f"`{pattern}` ({str(op).lower()} is not translated)")


# ------------------------------------------------------------------ one version's decision


@dataclass
class Dec:
    """One version's decision, symbolically: outcome rank, category (level id, -1 for none) and the
    route (name id, -1 for none) of the first binding approval."""
    rank: Any
    cat: Any
    route: Any


class Encoder:
    """The symbolic action shared by both versions, and the encoding of one version's rules for a tool."""

    def __init__(self, tool: Optional[str], name: str):
        self.tool = tool
        self.name = name
        self.paths: Dict[Tuple[Any, ...], V] = {}
        self.side: List[Any] = []             # constraints every action meets (its shape, valid input)
        self.totals: Dict[Tuple[Any, ...], Any] = {}    # (bucket, keys, window, agg) -> symbolic total
        self.total_info: Dict[Tuple[Any, ...], A.Budget] = {}
        self.notes: Set[str] = set()          # what the proof covers only in part
        self.approx: Set[str] = set()         # constructs over-approximated (a proof still holds)
        self.ufs: List[Tuple[str, Any, Any, Any]] = []   # (fn, arg term, value term, error term)
        self._uf: Dict[str, Any] = {}
        self._fresh = 0
        self.memo: Dict[Any, V] = {}
        self.consts: Dict[str, Any] = {}
        self.tool_seen: str = name
        self.names: Dict[str, int] = {}       # level and route names -> ids
        self.lists: Set[Tuple[Any, ...]] = set()
        self.feeds: Dict[str, Any] = {}       # per check: the tools whose executed actions it counts
        self.uf_pref: List[Any] = []          # arguments of domain/lower/upper whose value the axioms fix
        self.pending: List[Tuple[Any, Program, str]] = []   # schema conditions to add at the end

    def id_of(self, name: str) -> int:
        """A stable id for a level or route name."""
        return self.names.setdefault(name, len(self.names))

    # ------------------------------------------------------------ the action
    def var(self, p: Tuple[Any, ...]) -> V:
        """The symbolic value at action path `p` (made on first use, with its parents)."""
        v = self.paths.get(p)
        if v is not None:
            return v
        tag = "_".join(str(x) for x in p)
        if p == ("confidence",):
            k = z3.Int("k_confidence")
            n = _nvar("n_confidence")
            self.side += [z3.Or(k == MISS, k == NUM), z3.Implies(k == NUM, z3.And(n >= _real(0), n <= _real(1)))]
            v = V(k, n=n, s=z3.StringVal(""), b=z3.BoolVal(False), path=p)
        else:
            k = z3.Int("k_" + tag)
            v = V(k, n=_nvar("n_" + tag), s=z3.String("s_" + tag), b=z3.Bool("b_" + tag), path=p,
                  ln=z3.Int("len_" + tag))
            self.side += [k >= MISS, k <= OBJ, v.ln >= 0, v.ln <= MAX_LIST, _z(_finite(v.n))]
            if len(p) == 1:
                self.side.append(z3.Or(k == MISS, k == OBJ))   # args, tenant, agent, context: objects
            else:
                parent = self.var(p[:-1])
                if isinstance(p[-1], int):
                    self.side.append(z3.Implies(k != MISS, z3.And(parent.k == LIST, parent.ln > p[-1])))
                else:
                    self.side.append(z3.Implies(k != MISS, parent.k == OBJ))
        self.paths[p] = v
        return v

    def list_of(self, v: V) -> V:
        """`v` read as a list: its elements, as action paths (up to MAX_LIST of them)."""
        if v.path is None or v.elems:
            return v
        if sum(isinstance(k, int) for k in v.path) >= MAX_NESTING:
            raise Unsupported(f"lists nested deeper than {MAX_NESTING}")
        self.lists.add(v.path)
        self.notes.add(f"lists of up to {MAX_LIST} elements")
        v.elems = [self.var(v.path + (i,)) for i in range(MAX_LIST)]
        for i, e in enumerate(v.elems):
            self.side.append(z3.Implies(z3.Or(v.k != LIST, v.ln <= i), e.k == MISS))
        return v

    # ------------------------------------------------------------ expressions
    def fresh(self, what: str, e: Any, env: Dict[str, V]) -> V:
        """An over-approximated value (any value, any error): a proof still holds; a witness is checked."""
        self.approx.add(what)
        key = ("fresh", e, tuple(sorted((k, id(v)) for k, v in env.items())), self._consts_key(e))
        if key in self.memo:
            return self.memo[key]
        self._fresh += 1
        i = self._fresh
        v = V(z3.Int(f"fk{i}"), n=_nvar(f"fn{i}"), s=z3.String(f"fs{i}"), b=z3.Bool(f"fb{i}"),
              err=z3.Bool(f"fe{i}"), ln=0)
        self.side += [v.k >= BOOL, v.k <= STR]
        self.memo[key] = v
        return v

    def _consts_key(self, e: Any) -> Any:
        names: List[Tuple[str, Any]] = []

        def walk(x: Any) -> None:
            if isinstance(x, A.Path) and not x.keys and x.root in self.consts:
                names.append((x.root, repr(self.consts[x.root])))
            elif isinstance(x, tuple):
                for y in x:
                    walk(y)
            elif hasattr(x, "__dataclass_fields__"):
                for f in x.__dataclass_fields__:
                    if f != "span":
                        walk(getattr(x, f))
        walk(e)
        return (tuple(sorted(set(names))), self.tool_seen)

    def value(self, e: Any, env: Dict[str, V]) -> V:
        """The symbolic value of expression `e` (its `err` says when evaluating it fails)."""
        try:
            key = (e, tuple(sorted((k, id(v)) for k, v in env.items())), self._consts_key(e))
            hash(key)
        except TypeError:
            key = None
        if key is not None and key in self.memo:
            return self.memo[key]
        v = self._value(e, env)
        if key is not None:
            self.memo[key] = v
        return v

    def _value(self, e: Any, env: Dict[str, V]) -> V:
        if isinstance(e, A.Literal):
            return const(A.plain(e.value))
        if isinstance(e, A.Duration):
            return const(e.seconds)
        if isinstance(e, A.ListExpr):
            items = [self.value(x, env) for x in e.items]
            return V(LIST, ln=len(items), elems=items, err=_or(*[x.err for x in items]))
        if isinstance(e, A.Path):
            return self.path(e, env)
        if isinstance(e, A.Neg):
            x = self.value(e.operand, env)
            return V(NUM, n=-x.n if x.n is not None else None, err=_or(x.err, _not(x.is_(NUM))))
        if isinstance(e, A.Arith):
            return self.arith(e, env)
        if isinstance(e, (A.Compare, A.Presence, A.BoolOp, A.Not, A.Quantifier)):
            return self.boolean(e, env)
        if isinstance(e, A.Call):
            return self.call(e, env)
        raise Unsupported(f"`{expr_text(e)}`")

    def path(self, e: A.Path, env: Dict[str, V]) -> V:
        """A path's value; reading a missing one is an error (a missing `confidence` is 0)."""
        raw = self.raw(e, env)
        if e.root == "confidence" and not e.keys and e.root not in self.consts:
            return V(NUM, n=_ite(raw.k == NUM, raw.n, _real(0)), err=False, path=raw.path)
        return V(raw.k, n=raw.n, s=raw.s, b=raw.b, ln=raw.ln, elems=raw.elems, err=_or(raw.err, raw.is_(MISS)),
                 path=raw.path)

    def raw(self, e: A.Path, env: Dict[str, V]) -> V:
        """A path's raw value (MISS when absent), without the error of reading a missing one."""
        root, keys = e.root, tuple(e.keys)
        if root in env:
            base = env[root]
            if not keys:
                return base
            if base.path is None:
                raise Unsupported(f"`{expr_text(e)}` into a constant")
            return self._walk(base.path, keys)
        if root in self.consts and not keys:
            return const(A.plain(self.consts[root]))
        if root == "tool" and not keys:
            return const(self.tool_seen)
        if root == "timestamp":
            raise Unsupported(f"`{expr_text(e)}` (the action's time)")
        if root == "tool":
            return V(MISS)
        return self._walk((root,), keys)

    def _walk(self, base: Tuple[Any, ...], keys: Tuple[Any, ...]) -> V:
        p = base
        for k in keys:
            if isinstance(k, int):
                if k >= MAX_LIST:
                    raise Unsupported(f"index {k} (lists are modelled up to {MAX_LIST} elements)")
                parent = self.var(p)
                self.list_of(parent)
            p = p + (k,)
        return self.var(p)

    def arith(self, e: A.Arith, env: Dict[str, V]) -> V:
        """`+ - * /` over the reals (a proof then holds only up to rounding: noted)."""
        x, y = self.value(e.left, env), self.value(e.right, env)
        err = _or(x.err, y.err)
        nums = _and(x.is_(NUM), y.is_(NUM))
        if not _FP[0]:
            self.notes.add("arithmetic over the reals (the rounding of doubles is not modelled)")
        if x.n is None or y.n is None:
            return V(NUM, n=_real(0), err=True)
        if e.op == "+":
            strs = _and(x.is_(STR), y.is_(STR))
            n = x.n + y.n
            return V(_ite(strs, z3.IntVal(STR), z3.IntVal(NUM)), n=n,
                     s=z3.Concat(x.s, y.s) if x.s is not None and y.s is not None else None,
                     err=_or(err, _and(_not(strs), _not(nums)), _and(nums, _not(_finite(n)))))
        if e.op == "-":
            n = x.n - y.n
        elif e.op == "*":
            n = x.n * y.n
        else:
            n = x.n / y.n
        zero = (z3.fpIsZero(y.n) if _FP[0] else y.n == 0) if e.op == "/" else False
        return V(NUM, n=n, err=_or(err, _not(nums), _and(nums, zero), _and(nums, _not(_finite(n)))))

    def call(self, e: A.Call, env: Dict[str, V]) -> V:
        """`len` exactly; `lower`, `upper` and `domain` as functions refined by their concrete values."""
        if e.fn == "len":
            x = self.value(e.args[0], env)
            if isinstance(x.k, int) and x.k == LIST:
                return V(NUM, n=_from_int(x.ln), err=x.err)
            if x.path is not None and not isinstance(x.k, int):
                self.list_of(x)
            ln = _from_int(x.ln if x.ln is not None else 0)
            n = _ite(x.is_(STR), _from_int(z3.Length(x.s)), ln) if x.s is not None else ln
            return V(NUM, n=n, err=_or(x.err, _not(_or(x.is_(STR), x.is_(LIST)))))
        if e.fn in ("lower", "upper", "domain"):
            x = self.value(e.args[0], env)
            f = self._uf.get(e.fn)
            if f is None:
                f = self._uf[e.fn] = (z3.Function(e.fn, z3.StringSort(), z3.StringSort()),
                                      z3.Function(e.fn + "_err", z3.StringSort(), z3.BoolSort()))
            fv, fe = f[0](x.s), f[1](x.s)
            self.ufs.append((e.fn, x.s, fv, fe))
            err = _or(x.err, _not(x.is_(STR)))
            if e.fn != "domain":
                self.side.append(z3.Not(fe))
                # sure facts: a string without letters of the other case maps to itself
                other = z3.Range("A", "Z") if e.fn == "lower" else z3.Range("a", "z")
                plain = z3.Star(z3.Union(z3.Range(chr(0), chr(0x40)), z3.Range(chr(0x5B), chr(0x60)),
                                         z3.Range(chr(0x7B), chr(0x7F)),
                                         z3.Range("a", "z") if e.fn == "lower" else z3.Range("A", "Z")))
                del other
                self.uf_pref.append(z3.And(z3.InRe(x.s, plain), fv == x.s))
            else:
                # for readable witnesses (an assumption, never a fact a proof rests on): the argument
                # is a plain address `local@host`, lower-case ASCII, whose domain is its host
                lab = z3.Plus(z3.Union(z3.Range("a", "z"), z3.Range("0", "9")))
                host = z3.Concat(lab, z3.Star(z3.Concat(z3.Re(z3.StringVal(".")), lab)))
                self._fresh += 1
                loc, hst = z3.String(f"local{self._fresh}"), z3.String(f"host{self._fresh}")
                self.uf_pref.append(z3.And(x.s == z3.Concat(loc, z3.StringVal("@"), hst), z3.InRe(loc, lab),
                                           z3.InRe(hst, host), fv == hst, z3.Not(fe)))
                err = _or(err, _and(x.is_(STR), fe))
            return V(STR, s=fv, err=err)
        return self.fresh(f"`{e.fn}`", e, env)

    def boolean(self, e: Any, env: Dict[str, V]) -> V:
        """A condition's value (a boolean, or an error)."""
        if isinstance(e, A.Not):
            x = self.cond(e.operand, env)
            return V(BOOL, b=_z(_not(x.b)), err=x.err)
        if isinstance(e, A.BoolOp):
            x, y = self.cond(e.left, env), self.cond(e.right, env)
            if e.op == "and":
                return V(BOOL, b=_z(_and(x.b, y.b)), err=_or(x.err, _and(_not(x.err), x.b, y.err)))
            return V(BOOL, b=_z(_or(x.b, y.b)), err=_or(x.err, _and(_not(x.err), _not(x.b), y.err)))
        if isinstance(e, A.Presence):
            if not isinstance(e.path, A.Path):
                raise Unsupported(f"`{expr_text(e)}`")
            raw = self.raw(e.path, env)
            return V(BOOL, b=_z(_not(raw.is_(MISS)) if e.present else raw.is_(MISS)))
        if isinstance(e, A.Quantifier):
            return self.quantifier(e, env)
        return self.compare(e, env)

    def cond(self, e: Any, env: Dict[str, V]) -> V:
        """`e` as a condition: a value that is not a boolean is an error."""
        v = self.value(e, env)
        if isinstance(e, (A.BoolOp, A.Not, A.Compare, A.Presence, A.Quantifier)):
            return v
        return V(BOOL, b=v.b if v.b is not None else z3.BoolVal(False), err=_or(v.err, _not(v.is_(BOOL))))

    def quantifier(self, q: A.Quantifier, env: Dict[str, V]) -> V:
        """`any`/`all` over a list of up to MAX_LIST elements: stops at the first element that decides."""
        src = self.value(q.source, env)
        if src.path is not None:
            self.list_of(src)
        elif not (isinstance(src.k, int) and src.k == LIST):
            raise Unsupported(f"`{expr_text(q)}` over a computed list")
        is_any = q.kind == "any"
        res_b: Any = not is_any
        res_e: Any = False
        for i in reversed(range(len(src.elems))):
            body = self.cond(q.body, {**env, q.var: src.elems[i]})
            inside = i < src.ln if isinstance(src.ln, int) else src.ln > i
            decides = body.b if is_any else _not(body.b)
            b = _ite(body.err, False, _ite(decides, is_any, res_b))
            er = _or(body.err, _and(_not(decides), res_e))
            res_b = _ite(inside, b, not is_any)
            res_e = _and(inside, er)
        return V(BOOL, b=_z(res_b), err=_or(src.err, _not(src.is_(LIST)), res_e))

    def equal(self, x: V, y: V) -> Any:
        """`==` of two values: kinds must agree; numbers as numbers, lists element by element."""
        out = []
        for kind in (BOOL, NUM, STR):
            both = _and(x.is_(kind), y.is_(kind))
            attr = {BOOL: "b", NUM: "n", STR: "s"}[kind]
            if both is False or getattr(x, attr) is None or getattr(y, attr) is None:
                continue    # (no payload of that kind: the value is never of it)
            pay = {BOOL: lambda: x.b == y.b, NUM: lambda: _neq(x.n, y.n), STR: lambda: x.s == y.s}[kind]()
            out.append(_and(both, pay))
        both_l = _and(x.is_(LIST), y.is_(LIST))
        if both_l is not False:
            if x.path is not None:
                self.list_of(x)
            if y.path is not None:
                self.list_of(y)
            n = min(len(x.elems), len(y.elems))
            same = [_z(_int(x.ln) == _int(y.ln))] + [z3.Implies(z3.IntVal(i) < _int(x.ln), _z(self.equal(x.elems[i], y.elems[i])))
                                     for i in range(n)]
            if len(x.elems) != len(y.elems):
                same.append(_int(x.ln) <= n)
            out.append(_and(both_l, *same))
        if _and(x.is_(OBJ), y.is_(OBJ)) is not False:
            self.approx.add("equality of two objects")
            self._fresh += 1
            out.append(_and(x.is_(OBJ), y.is_(OBJ), z3.Bool(f"objeq{self._fresh}")))
        return _or(*out)

    def compare(self, e: A.Compare, env: Dict[str, V]) -> V:
        """A comparison, membership test, string test or `matches`."""
        op = e.op
        x = self.value(e.left, env)
        if op == "matches":
            right: Any = e.right
            pattern = right.value if isinstance(right, A.Literal) else self.consts[right.root]
            try:
                r = regex_to_z3(pattern)
            except Unsupported as u:
                self.approx.add(f"the pattern of `{expr_text(e)}` ({u})")
                return self.fresh(f"`{expr_text(e)}`", e, env)
            return V(BOOL, b=_z(_and(x.is_(STR), z3.InRe(x.s, r))),
                     err=_or(x.err, _not(x.is_(STR)), _and(x.is_(STR), z3.Length(x.s) > 10_000)))
        y = self.value(e.right, env)
        err = _or(x.err, y.err)
        if op in ("==", "!="):
            eq = self.equal(x, y)
            return V(BOOL, b=_z(eq if op == "==" else _not(eq)), err=err)
        if op in ("<", "<=", ">", ">="):
            nums, strs = _and(x.is_(NUM), y.is_(NUM)), _and(x.is_(STR), y.is_(STR))
            f = {"<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
                 ">=": lambda a, b: a >= b}[op]
            sf = {"<": lambda a, b: z3.StrLT(a, b), "<=": lambda a, b: z3.StrLE(a, b),
                  ">": lambda a, b: z3.StrLT(b, a), ">=": lambda a, b: z3.StrLE(b, a)}[op]
            parts = []
            if nums is not False and x.n is not None and y.n is not None:
                parts.append(_and(nums, f(x.n, y.n)))
            if strs is not False and x.s is not None and y.s is not None:
                parts.append(_and(strs, sf(x.s, y.s)))
            return V(BOOL, b=_z(_or(*parts)), err=_or(err, _not(_or(nums, strs))))
        if op in ("in", "not in"):
            if y.path is not None:
                self.list_of(y)
            elif not (isinstance(y.k, int) and y.k == LIST):
                raise Unsupported(f"`{expr_text(e)}`")
            member = _or(*[_and(i < y.ln if isinstance(y.ln, int) else y.ln > i, self.equal(x, el))
                           for i, el in enumerate(y.elems)])
            return V(BOOL, b=_z(member if op == "in" else _not(member)), err=_or(err, _not(y.is_(LIST))))
        if op == "contains":
            sub = _and(x.is_(STR), y.is_(STR), z3.Contains(x.s, y.s)) if x.s is not None and y.s is not None else False
            mem: Any = False
            if _and(x.is_(LIST)) is not False:
                if x.path is not None:
                    self.list_of(x)
                mem = _and(x.is_(LIST), _or(*[_and(x.ln > i if not isinstance(x.ln, int) else i < x.ln,
                                                   self.equal(el, y)) for i, el in enumerate(x.elems)]))
            bad = _or(_and(x.is_(STR), _not(y.is_(STR))), _not(_or(x.is_(STR), x.is_(LIST))))
            return V(BOOL, b=_z(_or(sub, mem)), err=_or(err, bad))
        if op in ("starts_with", "ends_with"):
            both = _and(x.is_(STR), y.is_(STR))
            t = z3.PrefixOf(y.s, x.s) if op == "starts_with" else z3.SuffixOf(y.s, x.s)
            return V(BOOL, b=_z(_and(both, t)), err=_or(err, _not(both)))
        raise Unsupported(f"`{op}`")

    # ------------------------------------------------------------ one version
    def decision(self, prog: Program, side: str) -> Dec:
        """The decision `prog` makes for the symbolic action (the tool this encoder is for)."""
        self.consts = {k: c.value for k, c in prog.consts.items()}
        self.feeds = {c.name: (None if c.targets is None else (tuple(sorted(set(c.targets))), tuple(sorted(
            (a, al.target) for a, al in prog.aliases.items() if al.target in c.targets))))
            for c in prog.checks.values()}
        tool = self.tool
        target = prog.aliases[tool].target if tool is not None and tool in prog.aliases else tool
        self.tool_seen = target if target is not None else self.name
        t = prog.tools.get(target) if target is not None else None
        reasons: List[Tuple[Any, int, Optional[str]]] = []   # (fires, rank, route) in evaluation order
        first_route = next(iter(prog.routes), None)
        cat: Any = -1
        levels = prog.levels
        if t is None:
            mode = prog.mode
            o = prog.unknown.outcome if prog.unknown is not None else A.Outcome("deny")
            reasons.append((True, RANK[o.kind], (o.route or first_route) if o.kind == "require_approval" else None))
            checks = [c for c in prog.checks.values()
                      if c.targets is None or (target is not None and target in c.targets)]
        else:
            mode = t.mode.mode if t.mode is not None else prog.mode
            reached: Any = True
            for r in t.risks:       # an error in a risk line is a deny reason (and the highest level)
                if r.when is None:
                    break
                c = self.cond(r.when, {})
                reasons.append((_and(reached, c.err), ERROR_RANK, None))
                reached = _and(reached, _not(c.err), _not(c.b))
            # the level chosen: the first that held, else the highest (also after an error)
            level = self._level_term(t, levels)
            cat = level
            for lvl in levels:
                here = level == self.id_of(lvl)
                block = prog.categories.get(lvl)
                if block is None:
                    reasons.append((here, ERROR_RANK, None))
                    continue
                reached = here
                for cl in block.lines:
                    o = cl.outcome
                    rank = RANK[o.kind]
                    route_name = (o.route or first_route) if o.kind == "require_approval" else None
                    if mode == "autonomous" and o.kind == "require_approval":
                        rank, route_name = RANK["allow"], None
                    if cl.when is None:
                        reasons.append((reached, rank, route_name))
                        reached = False
                        break
                    c = self.cond(cl.when, {})
                    reasons.append((_and(reached, c.err), ERROR_RANK, None))
                    reasons.append((_and(reached, _not(c.err), c.b), rank, route_name))
                    reached = _and(reached, _not(c.err), _not(c.b))
                reasons.append((reached, ERROR_RANK, None))   # no line matched
            checks = [c for c in prog.checks.values() if c.targets is None or target in c.targets]
        for chk in checks:
            for i, ln in enumerate(chk.lines):
                o = ln.outcome
                rank = -1 if chk.advisory else RANK[o.kind]
                err_rank = -1 if chk.advisory else ERROR_RANK
                line_route = (o.route or first_route) if o.kind == "require_approval" else None
                if isinstance(ln, A.Require):
                    v = self.cond(ln.cond, {})
                    reasons.append((v.err, err_rank, None))
                    reasons.append((_and(_not(v.err), _not(v.b)), rank, line_route))
                else:
                    over, err = self.budget(chk.name, i, ln)
                    reasons.append((err, err_rank, None))
                    reasons.append((_and(_not(err), over), rank, line_route))
        best: Any = z3.IntVal(0)
        for fires, rank, _ in reasons:
            if rank > 0 and fires is not False:
                best = _ite(_and(fires, best < rank), z3.IntVal(rank), best)
        route: Any = z3.IntVal(-1)
        for fires, rank, rname in reversed(reasons):
            if rank == RANK["require_approval"] and rname is not None and fires is not False:
                route = _ite(fires, z3.IntVal(self.id_of("route:" + rname)), route)
        if mode == "assisted":
            assisted_route = z3.IntVal(self.id_of("route:" + first_route)) if first_route else z3.IntVal(-1)
            route = _ite(best == 0, assisted_route, route)
            best = _ite(best == 0, z3.IntVal(RANK["require_approval"]), best)
        route = _ite(best == RANK["require_approval"], route, z3.IntVal(-1))
        if t is not None and target is not None and prog.schemas.get(target) is not None:
            # what the schema asks is added once both versions are read (the other one may read
            # paths of this schema too): see `finish`
            ok = z3.Bool(f"schema_ok_{side}")
            self.pending.append((ok, prog, target))
            best = _ite(ok, best, z3.IntVal(ERROR_RANK))
            cat = _ite(ok, cat, z3.IntVal(-1))
            route = _ite(ok, route, z3.IntVal(-1))
        return Dec(best, cat if not isinstance(cat, int) else z3.IntVal(cat), route)

    def finish(self) -> None:
        """Add what each version's schema asks of every path either version reads."""
        for ok, prog, target in self.pending:
            self.side.append(ok == self.schema_ok(prog, target))
        self.pending = []

    def _level_term(self, t: A.Tool, levels: Sequence[str]) -> Any:
        level: Any = z3.IntVal(self.id_of(levels[-1]))
        for r in reversed(t.risks):
            if r.when is None:
                level = z3.IntVal(self.id_of(r.level))
                continue
            c = self.cond(r.when, {})
            level = _ite(c.err, z3.IntVal(self.id_of(levels[-1])), _ite(c.b, z3.IntVal(self.id_of(r.level)), level))
        return level

    def budget(self, check: str, i: int, b: A.Budget) -> Tuple[Any, Any]:
        """(over the limit, error) for a budget line, against a symbolic total already spent."""
        err: Any = False
        amount: Any = _real(1)
        if b.path is not None:
            v = self.raw(b.path, {})
            err = _or(err, _not(v.is_(NUM)))
            amount = v.n
        for k in b.keys:
            kp = A.Path(k.root, ("id",)) if not k.keys and k.root in ("tenant", "agent") else k
            err = _or(err, self.raw(kp, {}).is_(MISS))
        # the ledger key is (check, line) and the key values; what feeds it also depends on the tools the
        # check applies to (and the aliases counted as them): a total is shared only when all agree
        key = (check, i, b.agg, b.path, b.keys, b.window.seconds, self.feeds.get(check))
        tot = self.totals.get(key)
        if tot is None:
            tot = self.totals[key] = _nvar(f"total_{check}_{i}_{b.window.seconds}_{len(self.totals)}")
            self.total_info[key] = b
            if b.agg == "count":
                self.side += [tot >= _real(0), _isint(tot)]
            self.side.append(_z(_finite(tot)))
            for k2, t2 in self.totals.items():     # counts over a longer window are never smaller
                if k2 != key and k2[:5] == key[:5] and k2[6] == key[6] and b.agg == "count":
                    w1, w2 = key[5], k2[5]
                    self.side.append(tot <= t2 if w1 < w2 else t2 <= tot)
        total = tot + amount
        # within(): an overflow of the sum counts as over the limit
        return _or(total > _real(b.limit), _not(_finite(total))), err

    def schema_ok(self, prog: Program, tool: str) -> Any:
        """What the tool's schema asks of the modelled paths (necessary conditions: a proof holds)."""
        s = prog.schemas[tool].value
        return _z(self._schema(s, ("args",), s, 0))

    def _schema(self, s: Any, p: Tuple[Any, ...], root: Any, depth: int) -> Any:
        if not isinstance(s, dict) or depth > 8:
            return True
        if "$ref" in s and isinstance(s["$ref"], str) and s["$ref"].startswith("#/"):
            node: Any = root
            for part in s["$ref"][2:].split("/"):
                node = node.get(part) if isinstance(node, dict) else None
            return self._schema(node, p, root, depth + 1)
        v = self.paths.get(p)
        conds: List[Any] = []
        if v is not None and p != ("args",):
            t = s.get("type")
            kinds = {"string": [STR], "number": [NUM], "integer": [NUM], "boolean": [BOOL], "array": [LIST],
                     "object": [OBJ], "null": [MISS]}
            if isinstance(t, str) and t in kinds:
                conds.append(_or(v.is_(MISS), *[v.is_(k) for k in kinds[t]]))
                if t == "integer":
                    conds.append(z3.Implies(v.k == NUM, _isint(v.n)))
            for kw, f in (("minimum", lambda a, c: a >= c), ("maximum", lambda a, c: a <= c),
                          ("exclusiveMinimum", lambda a, c: a > c), ("exclusiveMaximum", lambda a, c: a < c)):
                c = s.get(kw)
                if isinstance(c, (int, float)) and not isinstance(c, bool):
                    conds.append(z3.Implies(v.k == NUM, f(v.n, _real(c))))
            if isinstance(s.get("enum"), list):
                opts = [x for x in s["enum"] if not isinstance(x, (dict, list))]
                if len(opts) == len(s["enum"]):
                    conds.append(_or(v.is_(MISS), *[self.equal(v, const(x)) for x in opts]))
        props: Dict[str, Any] = s["properties"] if isinstance(s.get("properties"), dict) else {}
        for name in s.get("required", []) or []:
            if p + (name,) in self.paths:
                conds.append(_not(self.paths[p + (name,)].is_(MISS)))
        for name, sub in props.items():
            if any(q[:len(p) + 1] == p + (name,) for q in self.paths):
                conds.append(self._schema(sub, p + (name,), root, depth + 1))
        if s.get("additionalProperties") is False:
            for q in list(self.paths):
                if len(q) == len(p) + 1 and q[:len(p)] == p and q[-1] not in props:
                    conds.append(self.paths[q].is_(MISS))
        return _and(*conds)


# ------------------------------------------------------------------ the model as an action


def _string(m: Any, t: Any) -> str:
    v = m.eval(t, model_completion=True)
    try:
        return str(v.py_value())
    except Exception:   # older z3: the escaped form
        s = v.as_string()
        return re.sub(r"\\u\{([0-9a-fA-F]+)\}", lambda g: chr(int(g.group(1), 16)), s)


def _number(m: Any, t: Any) -> Any:
    if z3.is_fp(t):
        v = m.eval(t, model_completion=True)
        if z3.is_true(m.eval(z3.fpIsZero(t), model_completion=True)):
            return 0
        t = z3.fpToReal(v)
    v = m.eval(t, model_completion=True)
    if z3.is_int_value(v):
        return _plain(v.as_long())
    if z3.is_rational_value(v):
        num, den = v.numerator_as_long(), v.denominator_as_long()
        if den == 1:
            return _plain(num)
        return tidy(num / den)
    if z3.is_algebraic_value(v):
        return float(v.approx(20).as_decimal(17).rstrip("?"))
    return 0


def _plain(n: int) -> Any:
    return n if abs(n) <= 2 ** 53 else float(n)


def _value_at(enc: Encoder, m: Any, p: Tuple[Any, ...]) -> Any:
    """The JSON value the model gives path `p` (`_MISS` for absent)."""
    v = enc.paths[p]
    k = m.eval(v.k, model_completion=True).as_long()
    if k == MISS:
        return _MISS
    if k == BOOL:
        return z3.is_true(m.eval(v.b, model_completion=True))
    if k == NUM:
        return _number(m, v.n)
    if k == STR:
        return _string(m, v.s)
    if k == LIST:
        n = m.eval(v.ln, model_completion=True).as_long()
        out = []
        for i in range(n):
            if p + (i,) in enc.paths:
                x = _value_at(enc, m, p + (i,))
                out.append(None if x is _MISS else x)
            else:
                out.append("x")
        return out
    obj: Dict[str, Any] = {}
    for q in enc.paths:
        if len(q) == len(p) + 1 and q[:len(p)] == p and isinstance(q[-1], str):
            x = _value_at(enc, m, q)
            if x is not _MISS:
                obj[q[-1]] = x
    return obj


class _Missing:
    pass


_MISS = _Missing()


def model_action(enc: Encoder, m: Any, base: Dict[str, Any]) -> Dict[str, Any]:
    """The concrete action of a model, laid over a schema-valid example of the arguments."""
    action: Dict[str, Any] = {"tool": enc.name, "timestamp": BASE_TIME}
    for root in ("args", "tenant", "agent", "context", "confidence"):
        if (root,) in enc.paths:
            v = _value_at(enc, m, (root,))
            if v is not _MISS:
                put_path(action, (root,), v)
    return merge_base(action, base, ("args",) in enc.paths)


@dataclass
class LedgerState:
    """The totals already spent per budget line (and window) for the witness's keys: a ledger `decide`
    reads. Totals not named are 0."""
    totals: Dict[Tuple[str, int, float], Any]

    def total(self, key: Any, start: float, end: float) -> float:
        """The total spent for budget line `key[0]` over a window of `end - start` seconds."""
        bucket = key[0]
        return self.totals.get((bucket[0], bucket[1], float(end - start)), 0)

    def add(self, key: Any, t: float, amount: float) -> None:
        """Nothing: the state is fixed."""

    @classmethod
    def from_list(cls, entries: Sequence[Dict[str, Any]]) -> "LedgerState":
        """The state a witness's `ledger` (its JSON form) describes."""
        return cls({(e["check"], e["line"] - 1, float(e["window_seconds"])): e["total"] for e in entries})

    def to_list(self) -> List[Dict[str, Any]]:
        """The JSON form: one entry per budget line and window with a non-zero total."""
        return [{"check": c, "line": i + 1, "window_seconds": int(w) if float(w).is_integer() else w, "total": t}
                for (c, i, w), t in sorted(self.totals.items()) if t != 0]


def model_ledger(enc: Encoder, m: Any) -> LedgerState:
    """The ledger state of a model."""
    out: Dict[Tuple[str, int, float], Any] = {}
    for key, t in enc.totals.items():
        check, i, _agg, _path, _keys, window, _feeds = key
        out[(check, i, float(window))] = _number(m, t)
    return LedgerState(out)


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
    from ..records import level_move, route_move
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
    from .budgets import decide_with
    a, b = decide_with(old_p, action, hist), decide_with(new_p, action, hist)
    if a.outcome == do.outcome and b.outcome == dn.outcome:
        return hist
    return None


def smt_search(old_p: Policy, new_p: Policy, tool: Optional[str], seed: int = 0,
               timeout: float = DEFAULT_TIMEOUT) -> ToolResult:
    """A `ToolSearch`: the solver per direction; where it answers `unknown`, the partition search may
    still find a (verified) witness, but never a proof."""
    from .search import UNKNOWN_TOOL, search_tool
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
    from ...decide.ledger import MemoryLedger
    led = MemoryLedger()
    for h in w.history or []:
        p.record(h, led, NOW)
    return led
