"""A plain interpreter that walks the checked AST directly; kept only to test the compiled graph against."""
from __future__ import annotations

import math
import re
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional, cast

from policy_lang import ast as A
from policy_lang import tables
from policy_lang.checker import Program
from policy_lang.printer import expr_text, outcome_text, path_text
from policy_lang.regex import search as re2_search

from .actions import ActionError, check_action, safe_id
from .decision import RANK, Decision, Reason
from .ledger import Ledger
from .values import FUNCTIONS, MAX_MATCH_INPUT, EvalError, domain_error, kind

_ROOTS = tables.ROOTS


class _Missing:
    pass


MISSING = _Missing()


def _same(x: Any, y: Any) -> bool:
    """Equality written out case by case (the compiled engine has its own)."""
    if isinstance(x, bool) or isinstance(y, bool):
        return isinstance(x, bool) and isinstance(y, bool) and x == y
    if isinstance(x, (int, float)) and isinstance(y, (int, float)):
        return float(x) == float(y)
    if isinstance(x, str) and isinstance(y, str):
        return x == y
    if isinstance(x, (list, tuple)) and isinstance(y, (list, tuple)):
        return len(x) == len(y) and all(_same(a, b) for a, b in zip(x, y))
    if isinstance(x, dict) and isinstance(y, dict):
        return set(x) == set(y) and all(_same(x[k], y[k]) for k in x)
    return False


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


class Interpreter:
    """The spec's semantics written plainly over the checked AST, for the differential tests.

    It decides as `Policy.decide` does, with none of the compiled graph's code paths: a disagreement
    between the two is a bug in one of them."""
    def __init__(self, program: Program):
        self.p = program
        self.consts = {n: c.value for n, c in program.consts.items()}
        self.meta = {"name": program.name, "version": program.version, "digest": program.digest}
        self.validators = {}
        for name, s in program.schemas.items():
            self.validators[name] = s.validator()   # references resolve through the registry read at load

    # ------------------------------------------------------------ expressions
    def lookup(self, p: A.Path, action: dict, env: Dict[str, Any]) -> Any:
        """A path's value (a variable, a const, then the action), or MISSING; an absent `confidence` is 0."""
        if p.root in env:
            v = env[p.root]
        elif p.root in self.consts and p.root not in _ROOTS:
            v = self.consts[p.root]
            v = v.seconds if isinstance(v, A.Duration) else (list(v) if isinstance(v, tuple) else v)
            if isinstance(v, list):
                v = [A.plain(x) for x in v]
        else:
            v = action.get(p.root)
            if p.root == "confidence" and not p.keys and v is None:
                return 0
        for k in p.keys:
            if isinstance(v, dict) and isinstance(k, str):
                v = v.get(k)
            elif isinstance(v, list) and isinstance(k, int) and k < len(v):
                v = v[k]
            else:
                return MISSING
        return MISSING if v is None else v

    def ev(self, e: A.Expr, a: dict, env: Dict[str, Any]) -> Any:
        """An expression's value; a missing path or a wrong kind raises EvalError."""
        if isinstance(e, A.Literal):
            return A.plain(e.value)
        if isinstance(e, A.Duration):
            return e.seconds
        if isinstance(e, A.Path):
            v = self.lookup(e, a, env)
            if v is MISSING:
                raise EvalError(f"`{expr_text(e)}` is missing")
            return v
        if isinstance(e, A.ListExpr):
            return [self.ev(i, a, env) for i in e.items]
        if isinstance(e, A.Call):
            return _FUNCTIONS[e.fn](*[self.ev(x, a, env) for x in e.args])
        if isinstance(e, A.Neg):
            v = self.ev(e.operand, a, env)
            if not _num(v):
                raise EvalError(f"`{expr_text(e.operand)}` is {kind(v)}, expected a number")
            return -v
        if isinstance(e, A.Not):
            return not self.truth(e.operand, a, env)
        if isinstance(e, A.BoolOp):
            left = self.truth(e.left, a, env)
            if e.op == "and":
                return self.truth(e.right, a, env) if left else False
            return True if left else self.truth(e.right, a, env)
        if isinstance(e, A.Presence):
            path = cast(A.Path, e.path)   # the checker guarantees a path (E211)
            if path.root == "confidence" and not path.keys and "confidence" not in env:
                found = a.get("confidence") is not None
            else:
                found = self.lookup(path, a, env) is not MISSING
            return found if e.present else not found
        if isinstance(e, A.Quantifier):
            items = self.ev(e.source, a, env)
            if not isinstance(items, list):
                raise EvalError(f"`{expr_text(e.source)}` is {kind(items)}, expected a list")
            for item in items:
                r = self.truth(e.body, a, {**env, e.var: item})
                if e.kind == "any" and r:
                    return True
                if e.kind == "all" and not r:
                    return False
            return e.kind == "all"
        if isinstance(e, A.Arith):
            x, y = self.ev(e.left, a, env), self.ev(e.right, a, env)
            if e.op == "+" and isinstance(x, str) and isinstance(y, str):
                return x + y
            if not (_num(x) and _num(y)):
                want = "two numbers or two strings" if e.op == "+" else "two numbers"
                raise EvalError(f"`{e.op}` takes {want}, got {kind(x)} and {kind(y)} in `{expr_text(e)}`")
            if e.op == "/" and y == 0:
                raise EvalError(f"division by zero in `{expr_text(e)}`")
            v = {"+": lambda: x + y, "-": lambda: x - y, "*": lambda: x * y, "/": lambda: x / y}[e.op]()
            if isinstance(v, float) and not math.isfinite(v):
                raise EvalError(f"`{expr_text(e)}` is not a finite number")
            if isinstance(v, int) and abs(v) > 2 ** 53:
                try:
                    v = float(v)
                except OverflowError:
                    raise EvalError("a number is out of range") from None
            return v
        if isinstance(e, A.Compare):
            return self.compare(e, a, env)
        raise EvalError(f"cannot evaluate `{expr_text(e)}`")

    def truth(self, e: A.Expr, a: dict, env: Dict[str, Any]) -> bool:
        """A condition's value, which must be a boolean (EvalError otherwise)."""
        v = self.ev(e, a, env)
        if not isinstance(v, bool):
            raise EvalError(f"condition `{expr_text(e)}` is {kind(v)}, not a boolean")
        return v

    def compare(self, e: A.Compare, a: dict, env: Dict[str, Any]) -> bool:
        """A comparison (spec §4.7): equality across kinds is false, ordering needs two numbers or two strings."""
        x = self.ev(e.left, a, env)
        if e.op == "matches":
            # a string literal or a const naming one: the checker guarantees it (E211)
            pattern = e.right.value if isinstance(e.right, A.Literal) else self.consts[cast(A.Path, e.right).root]
            if not isinstance(x, str):
                raise EvalError(f"`{expr_text(e.left)}` is {kind(x)}, expected a string")
            if len(x) > MAX_MATCH_INPUT:
                raise EvalError(f"`{expr_text(e.left)}` is longer than {MAX_MATCH_INPUT} characters for `matches`")
            try:  # RE2's public search, not the engine's direct call: the two are compared
                return re2_search(pattern, x)
            except UnicodeEncodeError:
                raise EvalError(f"`{expr_text(e.left)}` holds a lone surrogate, not text, for `matches`") from None
        y = self.ev(e.right, a, env)
        op = e.op
        if op == "==":
            return _same(x, y)
        if op == "!=":
            return not _same(x, y)
        if op in ("<", "<=", ">", ">="):
            if _num(x) and _num(y):
                if not (math.isfinite(x) and math.isfinite(y)):
                    raise EvalError(f"`{expr_text(e)}` compares a number that is not finite")
            elif not (isinstance(x, str) and isinstance(y, str)):
                raise EvalError(f"`{op}` takes two numbers or two strings, got {kind(x)} and {kind(y)} "
                                f"in `{expr_text(e)}`")
            if _num(x):
                x, y = float(x), float(y)
            return {"<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y}[op]
        if op in ("in", "not in"):
            if not isinstance(y, list):
                raise EvalError(f"`{expr_text(e.right)}` is {kind(y)}, expected a list")
            found = any(_same(x, v) for v in y)
            return found if op == "in" else not found
        if op == "contains":
            if isinstance(x, str):
                if not isinstance(y, str):
                    raise EvalError(f"`contains` on a string takes a string, got {kind(y)}")
                return y in x
            if isinstance(x, list):
                return any(_same(y, v) for v in x)
            raise EvalError(f"`{expr_text(e.left)}` is {kind(x)}, expected a string or a list")
        if not (isinstance(x, str) and isinstance(y, str)):
            raise EvalError(f"`{op}` takes two strings, got {kind(x)} and {kind(y)}")
        return x.startswith(y) if op == "starts_with" else x.endswith(y)

    # ------------------------------------------------------------ rules
    def reason(self, rule: str, o: A.Outcome, span: A.Span, source: str, advisory: bool = False) -> Reason:
        """The reason an outcome line gives, with its route, message and target."""
        route = None
        if o.kind == "require_approval":
            r = self.p.routes[o.route] if o.route else self.p.first_route
            route = _route(cast(A.Route, r))   # the checker guarantees a route here (E202, E208)
        message = o.text if o.kind == "ask" or (o.kind == "deny" and o.text is not None) else outcome_text(o)
        target = o.text if o.kind in ("ask", "escalate") else None
        return Reason(rule, o.kind, message or "", span.at(), advisory, route, target, source)

    def decide(self, action: Any, ledger: Optional[Ledger] = None, now: Optional[datetime] = None) -> Decision:
        """Decide one action: input check, alias, schema, risk level, category, checks, then the mode."""
        p = self.p
        try:
            a, when = check_action(action)
        except ActionError as e:
            return Decision(safe_id(action), "deny", None,
                            [Reason("error", "deny", e.message, p.policy_span.at(), source="error")], p.mode, self.meta)
        moment = (when or now or datetime.now(timezone.utc))
        t = (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()
        name = a["tool"]
        if name in p.aliases:  # `tool NAME as TARGET`: decided as TARGET, which is what `tool` reads
            name = p.aliases[name].target
            a = {**a, "tool": name}
        tool = p.tools.get(name)
        mode = tool.mode.mode if tool is not None and tool.mode is not None else p.mode
        reasons: List[Reason] = []
        category = None
        if tool is None:
            if p.unknown is not None:
                reasons.append(self.reason("unknown tools", p.unknown.outcome, p.unknown.span, "unknown"))
            else:
                reasons.append(Reason("unknown tools", "deny", f"tool `{name}` is not declared in the policy",
                                      p.policy_span.at(), source="unknown"))
        else:
            if name in self.validators:
                args = a.get("args")
                v = self.validators[name]
                if not v.is_valid({} if args is None else args):
                    from .runtime import schema_problem
                    msg = cast(str, schema_problem(v, {} if args is None else args))   # invalid: it has an error
                    return Decision(a.get("id"), "deny", None,
                                    [Reason(f"schema {name}", "deny", msg, p.schemas[name].span.at(), source="schema")],
                                    mode, self.meta)
            category = p.levels[-1]
            for r in tool.risks:
                if r.when is None:
                    category = r.level
                    break
                try:
                    if self.truth(r.when, a, {}):
                        category = r.level
                        break
                except EvalError as x:
                    reasons.append(Reason("error", "deny", x.message, r.span.at(), source="error"))
                    break
            cat = p.categories.get(category)
            if cat is None:
                reasons.append(Reason(f"category {category}", "deny",
                                      f"no category block for risk level `{category}`", tool.span.at(),
                                      source="category"))
            else:
                for line in cat.lines:
                    try:
                        hit = line.when is None or self.truth(line.when, a, {})
                    except EvalError as x:
                        reasons.append(Reason("error", "deny", x.message, line.span.at(), source="error"))
                        break
                    if hit:
                        rs = self.reason(f"category {category}", line.outcome, line.span, "category")
                        if mode == "autonomous" and rs.outcome == "require_approval":
                            rs = rs.with_outcome("allow")
                        reasons.append(rs)
                        break
                else:
                    reasons.append(Reason(f"category {category}", "deny", f"no line of category `{category}` matched",
                                          cat.span.at(), source="category"))
        for c in p.checks.values():
            if c.targets is not None and name not in c.targets:
                continue
            for i, check_line in enumerate(c.lines):
                try:
                    ok = self.truth(check_line.cond, a, {}) if isinstance(check_line, A.Require) else \
                        self.budget_ok(c, i, check_line, a, t, ledger)
                except EvalError as x:
                    reasons.append(Reason("error", "deny", x.message, check_line.span.at(), c.advisory, source="error"))
                    continue
                if not ok:
                    reasons.append(self.reason(f"check {c.name}", check_line.outcome, check_line.span, "check",
                                               c.advisory))
        binding = [r for r in reasons if not r.advisory]
        outcome = max((r.outcome for r in binding), key=lambda o: RANK[o], default="allow")
        if outcome == "allow" and mode == "assisted":
            first = cast(A.Route, p.first_route)   # assisted mode needs a route (E208)
            where = tool.mode.span if tool is not None and tool.mode is not None else p.mode_span
            reasons.append(Reason("mode assisted", "require_approval", "require approval via " + first.name,
                                  where.at() if where is not None else p.policy_span.at(), False, _route(first),
                                  None, "mode"))
            outcome = "require_approval"
        return Decision(a.get("id"), outcome, category, reasons, mode, self.meta)

    def budget_ok(self, c: A.Check, i: int, line: A.Budget, a: dict, t: float, ledger: Optional[Ledger]) -> bool:
        """Whether the action's amount fits under a budget line's limit, given the ledger's total in the window."""
        if line.path is None:
            amount = 1
        else:
            amount = self.lookup(line.path, a, {})
            if amount is MISSING:
                raise EvalError(f"`{path_text(line.path)}` is missing")
            if not _num(amount) or not math.isfinite(amount):
                raise EvalError(f"`{path_text(line.path)}` is {kind(amount)}, expected a finite number")
        from .budget import bucket_value
        vals = []
        for k in line.keys:
            k2 = A.Path(k.root, ("id",)) if not k.keys and k.root in ("tenant", "agent") else k
            v = self.lookup(k2, a, {})
            if v is MISSING:
                raise EvalError(f"budget key `{path_text(k2)}` is missing")
            vals.append(bucket_value(v))
        before = ledger.total(((c.name, i), tuple(vals)), t - line.window.seconds, t) if ledger is not None else 0
        from .ledger import within
        return within(before, amount, line.limit)




def _route(r: A.Route) -> dict:
    return {"name": r.name, "approvers": list(r.approvers), "quorum": r.quorum if r.quorum is not None else 1,
            "timeout": r.timeout.text if r.timeout is not None else None,
            "on_timeout": ({"outcome": "escalate", "to": r.escalate_to} if r.escalate_to is not None else
                           ({"outcome": "expire"} if r.timeout is not None else None))}


# ------------------------------------------------------------ domain(), written a second time
# The compiled engine's `domain` (values.fn_domain) decomposes with urllib.parse.urlsplit and checks
# what it parsed. This one shares none of that code: it splits with the regular expression of RFC 3986
# appendix B and takes the authority apart with its own pattern, so a quirk of either decomposition
# (where the authority ends, which `@` ends the userinfo, brackets, ports) shows as a disagreement in
# the differential tests. What the two do share: the error text (decisions are compared whole) and the
# `idna` package's UTS #46 tables and punycode; those are a library's job, as jsonschema is for schemas,
# and are reached here another way (uts46_remap, then the `idna2008` codec, on the host as written
# rather than on urllib's lower-cased one).
_RFC3986 = re.compile(r"^(([^:/?#]+):)?(//([^/?#]*))?([^?#]*)(\?([^#]*))?(#(.*))?", re.DOTALL)
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*")
# [userinfo@]host[:port]; the userinfo is greedy, the host holds no `@`, so the last `@` splits
_AUTHORITY = re.compile(r"(?:(?P<userinfo>[A-Za-z0-9\-._~%!$&'()*+,;=:@]*)@)?"
                        r"(?:\[(?P<ip>[^\]@]*)\]|(?P<name>[^:@\[\]]*))(?::(?P<port>[0-9]*))?", re.DOTALL)
_ADDRESS = re.compile(r"(?P<local>[^@\s]+)@(?P<host>[^@\s]*)")


def _ref_host(host: str, s: str) -> str:
    import codecs

    import idna
    import idna.codec  # noqa: F401  (registers the `idna2008` codec)
    if not host or len(host) > 255:
        raise domain_error(s)
    try:
        ascii_ = codecs.encode(idna.uts46_remap(host, std3_rules=True, transitional=False), "idna2008").decode()
    except (UnicodeError, ValueError):  # idna.IDNAError is a UnicodeError
        raise domain_error(s) from None
    ascii_ = ascii_[:-1] if ascii_.endswith(".") else ascii_
    if not ascii_:
        raise domain_error(s)
    return ascii_


def ref_domain(v: Any) -> str:
    """Spec §4.4 v1.1 `domain(s)`, independently of values.fn_domain (see above)."""
    if not isinstance(v, str):
        raise EvalError(f"`domain` takes a string, got {kind(v)}")
    s = v
    if any(ord(c) < 0x20 or 0x7f <= ord(c) <= 0x9f for c in s):
        raise domain_error(s)
    m = cast("re.Match[str]", _RFC3986.match(s))   # every part of the pattern is optional: it always matches
    scheme = m.group(2)
    if scheme is not None and _SCHEME.fullmatch(scheme):
        if m.group(3) is not None:                        # scheme://authority
            auth = _AUTHORITY.fullmatch(m.group(4))
            if auth is None:
                raise domain_error(s)
            port = auth.group("port")
            if port and int(port) > 65535:
                raise domain_error(s)
            ip = auth.group("ip")
            if ip is not None:
                import ipaddress
                try:
                    ipaddress.IPv6Address(ip)
                except ValueError:
                    raise domain_error(s) from None
                if "%" in ip:
                    raise domain_error(s)
                return ip.lower()
            return _ref_host(auth.group("name"), s)
        if scheme.lower() != "mailto":                    # a URL without a host
            raise domain_error(s)
        s_addr = s[len("mailto:"):]
    else:
        s_addr = s
    a = _ADDRESS.fullmatch(s_addr)
    if a is None:
        raise domain_error(s)
    return _ref_host(a.group("host"), s)


# `sql_read_only` is shared on purpose: its verdict is sqlglot's parse against a fixed allow-list
# (engine/decide/sql.py, tested on its own in tests/test_sql_read_only.py); what the differential tests check
# for it is how the engine combines its value (conditions, `not`, errors for non-strings), not SQL.
_FUNCTIONS = {**FUNCTIONS, "domain": ref_domain}
