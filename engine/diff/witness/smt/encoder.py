"""One version's decision for the symbolic action, encoded for z3 (`Dec`, `Encoder`)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple

from policy_lang import ast as A
from policy_lang.checker import Program
from policy_lang.printer import expr_text

from ....decide.decision import RANK
from .values import (BOOL, ERROR_RANK, LIST, MAX_LIST, MAX_NESTING, MISS, NUM, OBJ, STR, Unsupported, V, _FP, _and,
                     _finite, _from_int, _int, _isint, _ite, _neq, _not, _nvar, _or, _real, _z, const, z3)
from .regexes import regex_to_z3


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


