"""Compile expressions to closures `f(action, env)`; a missing value is None (JSON null counts as missing)."""
from __future__ import annotations

import sys

from typing import Any, Callable, Dict, NamedTuple, Optional, cast

from policy_lang import ast as A
from policy_lang import tables
from policy_lang.printer import expr_text
from policy_lang.regex import searcher

from .values import FUNCTIONS, MAX_MATCH_INPUT, EvalError, as_double, equal, kind, member

Fn = Callable[[dict, Optional[dict]], Any]
Hook = Callable[[A.Expr, Any], None]  # receives (node, value or EvalError)
INF = float("inf")
ACTION_ROOTS = frozenset(tables.ROOTS)


def _missing(node: A.Expr) -> EvalError:
    return EvalError(f"`{expr_text(node)}` is missing")


def _need(node: A.Expr, v: Any, want: str) -> EvalError:
    return EvalError(f"`{expr_text(node)}` is {kind(v)}, expected {want}")


class ExprCompiler:
    """Turns one policy's expressions into closures. Consts are already known; `hook` (for --explain
    and coverage) wraps sub-conditions at compile time, so untraced closures pay nothing for it."""

    def __init__(self, consts: Dict[str, Any], hook: Optional[Hook] = None):
        self.consts = consts
        self.hook = hook

    # ------------------------------------------------------------ entry points
    def condition(self, e: A.Expr) -> Fn:
        """A closure for a condition: its value when a boolean, else an EvalError (a condition that is not
        boolean denies)."""
        f = self.value(e)
        if isinstance(e, (A.BoolOp, A.Not, A.Compare, A.Presence, A.Quantifier)):
            return f  # these always give a boolean or raise

        def cond(a: dict, env: Optional[dict], f: Fn = f, e: A.Expr = e) -> bool:
            v = f(a, env)
            if v is True or v is False:
                return v
            raise EvalError(f"condition `{expr_text(e)}` is {kind(v)}, not a boolean")
        return cond

    def value(self, e: A.Expr) -> Fn:
        """A closure for an expression's value; a missing path raises EvalError. Traced when a hook is set."""
        f = self._compile(e)
        if self.hook is not None and isinstance(e, (A.BoolOp, A.Not, A.Compare, A.Presence, A.Quantifier, A.Call)):
            f = self._traced(e, f)
        return f

    def _traced(self, e: A.Expr, f: Fn) -> Fn:
        hook = cast(Hook, self.hook)   # `value` wraps only when there is a hook

        def traced(a: dict, env: Optional[dict]) -> Any:
            try:
                v = f(a, env)
            except EvalError as x:
                hook(e, x)
                raise
            hook(e, v)
            return v
        return traced

    # ------------------------------------------------------------ values
    def getter(self, p: A.Path) -> Fn:
        """A path's raw value, None when missing (no error: `present` needs that)."""
        root, keys = p.root, p.keys
        if root in self.consts and not keys:
            c = self.consts[root]
            return lambda a, env: c
        if root == "confidence" and not keys:
            def conf(a: dict, env: Optional[dict]) -> Any:
                v = a.get("confidence")
                return 0 if v is None else v
            return conf
        local = not isinstance(root, str) or root not in ACTION_ROOTS
        if not keys:
            if local:
                return lambda a, env: env.get(root) if env else None
            return lambda a, env: a.get(root)
        if len(keys) == 1 and not local and isinstance(keys[0], str):
            k0 = keys[0]

            def get1(a: dict, env: Optional[dict]) -> Any:
                v = a.get(root)
                return v.get(k0) if v.__class__ is dict else None
            get1.one_key = (root, k0)  # type: ignore[attr-defined]  # lets a caller read it inline
            return get1

        def get(a: dict, env: Optional[dict]) -> Any:
            v = (env.get(root) if env else None) if local else a.get(root)
            for k in keys:
                if v.__class__ is dict:
                    if k.__class__ is not str:
                        return None
                    v = v.get(k)
                elif v.__class__ is list and k.__class__ is int:
                    v = v[k] if k < len(v) else None
                else:
                    return None
            return v
        return get

    def _constant(self, e: A.Expr) -> Any:
        """(True, value) when `e` is a literal or a const name, else (False, None)."""
        if isinstance(e, A.Literal):
            return True, list(e.value) if isinstance(e.value, tuple) else e.value
        if isinstance(e, A.Path) and not e.keys and e.root in self.consts:
            return True, self.consts[e.root]
        return False, None

    def _compile(self, e: A.Expr) -> Fn:
        m = getattr(self, "_c_" + type(e).__name__)
        return m(e)

    def _c_Literal(self, e: A.Literal) -> Fn:
        v = list(e.value) if isinstance(e.value, tuple) else e.value
        return lambda a, env: v

    def _c_Duration(self, e: A.Duration) -> Fn:
        v = e.seconds
        return lambda a, env: v

    def _c_Path(self, e: A.Path) -> Fn:
        root, keys = e.root, e.keys
        if root == "confidence" and not keys and root not in self.consts:
            return self.getter(e)  # never missing: an absent confidence counts as 0
        if not keys and root in ACTION_ROOTS:
            def path0(a: dict, env: Optional[dict]) -> Any:  # `tool`, `timestamp`, a whole object
                v = a.get(root)
                if v is None:
                    raise _missing(e)
                return v
            return path0
        if len(keys) == 1 and keys[0].__class__ is str and root in ACTION_ROOTS:
            k0 = keys[0]

            def path1(a: dict, env: Optional[dict]) -> Any:  # the hot shape (`args.amount`, `tenant.plan`) in one call
                v = a.get(root)
                if v.__class__ is dict:
                    v = v.get(k0)
                    if v is not None:
                        return v
                raise _missing(e)
            return path1
        get = self.getter(e)

        def path(a: dict, env: Optional[dict]) -> Any:
            v = get(a, env)
            if v is None:
                raise _missing(e)
            return v
        return path

    def _c_ListExpr(self, e: A.ListExpr) -> Fn:
        items = [self.value(i) for i in e.items]
        return lambda a, env: [f(a, env) for f in items]

    def _c_Call(self, e: A.Call) -> Fn:
        fn = FUNCTIONS[e.fn]
        args = [self.value(x) for x in e.args]
        if len(args) == 1:
            f0 = args[0]
            return lambda a, env: fn(f0(a, env))
        return lambda a, env: fn(*[f(a, env) for f in args])

    def _c_Neg(self, e: A.Neg) -> Fn:
        f = self.value(e.operand)

        def neg(a: dict, env: Optional[dict]) -> Any:
            v = f(a, env)
            if v.__class__ is int or v.__class__ is float:
                return -v
            raise _need(e.operand, v, "a number")
        return neg

    def _c_Not(self, e: A.Not) -> Fn:
        f = self.condition(e.operand)
        return lambda a, env: not f(a, env)

    def _c_BoolOp(self, e: A.BoolOp) -> Fn:
        l, r = self.condition(e.left), self.condition(e.right)
        if e.op == "and":
            return lambda a, env: l(a, env) and r(a, env)
        return lambda a, env: l(a, env) or r(a, env)

    def _c_Arith(self, e: A.Arith) -> Fn:
        l, r, op = self.value(e.left), self.value(e.right), e.op
        text = expr_text(e)

        def arith(a: dict, env: Optional[dict]) -> Any:
            x, y = l(a, env), r(a, env)
            tx, ty = x.__class__, y.__class__
            if op == "+" and tx is str and ty is str:
                return x + y
            if (tx is int or tx is float) and (ty is int or ty is float):
                if op == "+":
                    v = x + y
                elif op == "-":
                    v = x - y
                elif op == "*":
                    v = x * y
                else:
                    if y == 0:
                        raise EvalError(f"division by zero in `{text}`")
                    v = x / y
                if v.__class__ is float and (v != v or v in (INF, -INF)):
                    raise EvalError(f"`{text}` is not a finite number")
                return as_double(v)
            want = "two numbers or two strings" if op == "+" else "two numbers"
            raise EvalError(f"`{op}` takes {want}, got {kind(x)} and {kind(y)} in `{text}`")
        return arith

    def _c_Presence(self, e: A.Presence) -> Fn:
        p = cast(A.Path, e.path)  # the checker guarantees a path (E211)
        if p.root == "confidence" and not p.keys:
            # "a missing confidence counts as 0" is about its value; presence looks at the action itself
            get = lambda a, env: a.get("confidence")  # noqa: E731
        elif len(p.keys) == 1 and p.keys[0].__class__ is str and p.root in ACTION_ROOTS:
            root, k0 = p.root, p.keys[0]
            if e.present:
                def present1(a: dict, env: Optional[dict]) -> bool:
                    v = a.get(root)
                    return v.__class__ is dict and v.get(k0) is not None
                return present1

            def missing1(a: dict, env: Optional[dict]) -> bool:
                v = a.get(root)
                return v.__class__ is not dict or v.get(k0) is None
            return missing1
        else:
            get = self.getter(p)
        if e.present:
            return lambda a, env: get(a, env) is not None
        return lambda a, env: get(a, env) is None

    def _c_Quantifier(self, e: A.Quantifier) -> Fn:
        src = self.value(e.source)
        body = self.condition(e.body)
        var, is_any = e.var, e.kind == "any"

        def quant(a: dict, env: Optional[dict]) -> bool:
            items = src(a, env)
            if items.__class__ is not list:
                raise _need(e.source, items, "a list")
            scope = dict(env) if env else {}
            for item in items:
                scope[var] = item
                if body(a, scope) is is_any:
                    return is_any
            return not is_any
        return quant

    def _c_Compare(self, e: A.Compare) -> Fn:
        op = e.op
        l = self.value(e.left)
        if op == "matches":
            # a string literal or a const naming one: the checker guarantees it (E211)
            pattern = e.right.value if isinstance(e.right, A.Literal) else self.consts[cast(A.Path, e.right).root]
            search = searcher(pattern)  # RE2 (spec §4.7): linear in the value, whatever the pattern

            def matches(a: dict, env: Optional[dict]) -> bool:
                v = l(a, env)
                if v.__class__ is not str:
                    raise _need(e.left, v, "a string")
                if len(v) > MAX_MATCH_INPUT:
                    raise EvalError(f"`{expr_text(e.left)}` is longer than {MAX_MATCH_INPUT} characters for `matches`")
                try:
                    return search(v)
                except UnicodeEncodeError:
                    raise EvalError(f"`{expr_text(e.left)}` holds a lone surrogate, not text, for `matches`") from None
            return matches
        r = self.value(e.right)
        if op in ("<", "<=", ">", ">="):
            return self._ordering(e, l, r)
        const, c = self._constant(e.right)
        if op in ("==", "!=") and const and c.__class__ is str:
            # a string equals only a string (spec §4.7): no need for the general `equal`
            if op == "==":
                return lambda a, env: l(a, env) == c
            return lambda a, env: l(a, env) != c
        if op == "==":
            return lambda a, env: equal(l(a, env), r(a, env))
        if op == "!=":
            return lambda a, env: not equal(l(a, env), r(a, env))
        if op in ("in", "not in") and const and c.__class__ is list and all(x.__class__ is str for x in c):
            strings = frozenset(c)
            negate = op == "not in"

            def in_strings(a: dict, env: Optional[dict]) -> bool:
                x = l(a, env)
                if x.__class__ is str:
                    return (x in strings) is not negate
                return False is not negate  # only a string equals a string
            return in_strings
        if op in ("in", "not in"):
            negate = op == "not in"

            def inn(a: dict, env: Optional[dict]) -> bool:
                x, items = l(a, env), r(a, env)
                if items.__class__ is not list:
                    raise _need(e.right, items, "a list")
                return member(x, items) is not negate
            return inn
        if op == "contains":
            def contains(a: dict, env: Optional[dict]) -> bool:
                x, y = l(a, env), r(a, env)
                if x.__class__ is str:
                    if y.__class__ is not str:
                        raise EvalError(f"`contains` on a string takes a string, got {kind(y)}")
                    return y in x
                if x.__class__ is list:
                    return member(y, x)
                raise _need(e.left, x, "a string or a list")
            return contains
        starts = op == "starts_with"

        def affix(a: dict, env: Optional[dict]) -> bool:
            x, y = l(a, env), r(a, env)
            if x.__class__ is not str or y.__class__ is not str:
                raise EvalError(f"`{op}` takes two strings, got {kind(x)} and {kind(y)}")
            return x.startswith(y) if starts else x.endswith(y)
        return affix

    def _ordering(self, e: A.Compare, l: Fn, r: Fn) -> Fn:
        op = e.op
        import operator
        cmp = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}[op]
        const, c = self._constant(e.right)
        if const and (c.__class__ is int or c.__class__ is float):
            return _order_const(e, l, float(c), isinstance(e.left, A.Path) and e.left.root in self.consts)

        def order(a: dict, env: Optional[dict]) -> bool:
            x, y = l(a, env), r(a, env)
            tx, ty = x.__class__, y.__class__
            if (tx is int or tx is float) and (ty is int or ty is float):
                if x - x or y - y:
                    raise EvalError(f"`{expr_text(e)}` compares a number that is not finite")
                return cmp(float(x), float(y))
            if tx is str and ty is str:
                return cmp(x, y)
            raise EvalError(f"`{op}` takes two numbers or two strings, got {kind(x)} and {kind(y)} in `{expr_text(e)}`")
        return order


def _not_ordered(e: A.Compare, x: Any) -> EvalError:
    if x.__class__ is float:
        return EvalError(f"`{expr_text(e)}` compares a number that is not finite")
    return EvalError(f"`{e.op}` takes two numbers or two strings, got {kind(x)} and a number in `{expr_text(e)}`")


class FastCompare(NamedTuple):
    """`root.key <op> c` (c a finite number in the policy): for an int or a finite float x at that path
    the comparison is `((x <= c) if lower else (x >= c)) is not neg`, x an int read as a double."""
    root: str
    key: str
    c: float
    neg: bool
    lower: bool


def _order_const(e: A.Compare, l: Fn, c: float, left_const: bool = False) -> Fn:
    """The hot shape, a value against a number written in the policy: one closure, the comparison
    inline, and the common left sides (`confidence`, a one-key path such as `args.amount`) read inline
    too. Numbers compare as doubles (spec §4.7); `x - x` is 0 for every finite float, and for finite
    numbers `x < c` is `not x >= c` and `x > c` is `not x <= c`. The hot closures take their state as
    default arguments, not cells: one tuple per closure instead of a cell object per name, which is
    fewer cold cache lines per decision when a policy has thousands of tools."""
    neg = e.op in ("<", ">")
    lower = e.op in ("<=", ">")     # compare with <= (else with >=)
    left = e.left
    path = left if isinstance(left, A.Path) and not left_const else None
    root = path.root if path is not None else None
    keys = path.keys if path is not None else ()
    if root == "confidence" and not keys:
        # a missing confidence counts as 0 (spec §2); it is never anything but a number once checked
        def conf_le(a: dict, env: Optional[dict], c: float = c, neg: bool = neg, e: A.Compare = e) -> bool:
            x = a.get("confidence")
            if x.__class__ is float and not x - x:
                return (x <= c) is not neg
            if x is None:
                return (0.0 <= c) is not neg
            if x.__class__ is int:
                return (float(x) <= c) is not neg
            raise _not_ordered(e, x)

        def conf_ge(a: dict, env: Optional[dict], c: float = c, neg: bool = neg, e: A.Compare = e) -> bool:
            x = a.get("confidence")
            if x.__class__ is float and not x - x:
                return (x >= c) is not neg
            if x is None:
                return (0.0 >= c) is not neg
            if x.__class__ is int:
                return (float(x) >= c) is not neg
            raise _not_ordered(e, x)
        return conf_le if lower else conf_ge
    if root in ACTION_ROOTS and len(keys) == 1 and keys[0].__class__ is str:
        # interned: every tool's `args.amount` shares two hot strings (and an action whose keys are
        # interned matches them by identity), instead of two cold ones per tool
        root, k0 = sys.intern(root), sys.intern(keys[0])

        def path_le(a: dict, env: Optional[dict], root: Any = root, k0: str = k0, c: float = c, neg: bool = neg,
                    e: A.Compare = e, left: A.Expr = left) -> bool:
            v = a.get(root)
            x = v.get(k0) if v.__class__ is dict else None
            if x.__class__ is float and not x - x:
                return (x <= c) is not neg
            if x.__class__ is int:
                return (float(x) <= c) is not neg
            if x is None:
                raise _missing(left)
            raise _not_ordered(e, x)

        def path_ge(a: dict, env: Optional[dict], root: Any = root, k0: str = k0, c: float = c, neg: bool = neg,
                    e: A.Compare = e, left: A.Expr = left) -> bool:
            v = a.get(root)
            x = v.get(k0) if v.__class__ is dict else None
            if x.__class__ is float and not x - x:
                return (x >= c) is not neg
            if x.__class__ is int:
                return (float(x) >= c) is not neg
            if x is None:
                raise _missing(left)
            raise _not_ordered(e, x)
        # what a caller needs to read the comparison inline for a finite float or an int (see
        # engine/decide/runtime.py link_tool); anything else it hands to the closure, which decides
        fn = path_le if lower else path_ge
        fn.fast_compare = FastCompare(root, k0, c, neg, lower)  # type: ignore[attr-defined]
        return fn

    def value_le(a: dict, env: Optional[dict]) -> bool:
        x = l(a, env)
        if x.__class__ is float and not x - x:
            return (x <= c) is not neg
        if x.__class__ is int:
            return (float(x) <= c) is not neg
        raise _not_ordered(e, x)

    def value_ge(a: dict, env: Optional[dict]) -> bool:
        x = l(a, env)
        if x.__class__ is float and not x - x:
            return (x >= c) is not neg
        if x.__class__ is int:
            return (float(x) >= c) is not neg
        raise _not_ordered(e, x)
    return value_le if lower else value_ge
