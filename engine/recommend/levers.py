"""The levers of a policy a recommendation may move, found in its AST, and the programs with one moved.

A lever is a number a condition compares a value of the action with (`confidence >= 0.9` in a category
line, `args.amount > 300` in a `risk … when` line, `len(args.items) <= 5` in a check's `require`), or a
tool's risk line, whose level can be lowered. Only levers written in the root file are searched: the
recommended policy is that file rewritten.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from policy_lang import ast as A
from policy_lang.checker import Program

# the action's parts a lever may read (consts and quantifier variables are not the action's)
ROOTS = ("args", "tenant", "agent", "context", "confidence")
_MIRROR = {">": "<", ">=": "<=", "<": ">", "<=": ">="}
_NEGATE = {">": "<=", ">=": "<", "<": ">=", "<=": ">"}
Key = Tuple[str, str, int]          # (section, name, line index): the line a lever changes


@dataclasses.dataclass(frozen=True)
class Lever:
    """One lever: where it is, what it reads, and how moving it loosens the policy.

    `kind` is `threshold` (a number in a comparison) or `level` (a risk line's level). For a threshold,
    `value` reads the compared value from an action, `op` is the normalized test an action passes when
    the moved lever lets it through (`v OP N`: `>=`/`>` loosen downwards, `<=`/`<` upwards), `passes_as`
    the truth value of the comparison that lets it through, and `current` the number as written.
    """
    kind: str
    section: str                     # tool | category | check
    name: str                        # the tool, level or check name
    line: int                        # index of the line in its block
    span: A.Span                     # the changed line's span
    node: Any                        # the Compare (threshold) or RiskLine (level)
    text: str                        # the condition or line as written, for reports
    subject: str = ""                # what the threshold compares: `confidence`, `args.amount`, …
    op: str = ""
    passes_as: bool = True
    current: Union[int, float, None] = None
    current_text: str = ""           # the number as written
    level: str = ""                  # level levers: the new level
    risk_level: str = ""             # levers on a risk line: the level the line gives
    value: Optional[Callable[[Any], Any]] = dataclasses.field(default=None, compare=False, repr=False)

    def already(self, v: Any) -> bool:
        """Does an action with value `v` already take the way this lever opens (moving it changes nothing)?"""
        n = self.current
        op = self.op
        return bool(v >= n if op == ">=" else v > n if op == ">" else v <= n if op == "<=" else v < n)

    @property
    def key(self) -> Key:
        """The line this lever changes: two recommendations never change the same line."""
        return (self.section, self.name, self.line)

    @property
    def at(self) -> str:
        """`FILE:LINE` of the changed line."""
        return f"{self.span.file}:{self.span.line}"


def _reader(e: Any) -> Optional[Tuple[str, Callable[[Any], Any]]]:
    """What a comparison's non-literal side reads from an action, as (text, reader); None if it is not a
    plain path of the action or `len` of one."""
    length = False
    if isinstance(e, A.Call) and e.fn == "len" and len(e.args) == 1:
        e, length = e.args[0], True
    if not isinstance(e, A.Path) or e.root not in ROOTS:
        return None
    from policy_lang.printer import path_text
    root, keys = e.root, e.keys
    text = path_text(e)

    def read(a: Any) -> Any:
        v = a.get(root) if a.__class__ is dict else None
        if v is None and root == "confidence" and not length:
            return 0   # spec §4.7: a missing confidence counts as 0
        for k in keys:
            if isinstance(k, int):
                v = v[k] if isinstance(v, list) and -len(v) <= k < len(v) else None
            else:
                v = v.get(k) if isinstance(v, dict) else None
            if v is None:
                return None
        if length:
            return len(v) if isinstance(v, (list, str)) else None
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return None
        return v
    return (f"len({text})" if length else text), read


def _compares(e: Any) -> List[A.Compare]:
    """Every ordering comparison in an expression (outside quantifiers, whose variables are not the action's)."""
    if isinstance(e, A.Compare):
        return [e] if e.op in _MIRROR else []
    if isinstance(e, (A.BoolOp,)):
        return _compares(e.left) + _compares(e.right)
    if isinstance(e, A.Not):
        return _compares(e.operand)
    return []


def _threshold(c: A.Compare, section: str, name: str, line: int, span: A.Span) -> List[Lever]:
    """The two levers of one comparison: an action let through when it holds, or when it fails (whatever
    surrounds it: the search replaces the comparison itself by that truth value)."""
    op = c.op
    if isinstance(c.right, A.Literal) and _number(c.right.value):
        side, number = c.left, c.right.value
    elif isinstance(c.left, A.Literal) and _number(c.left.value):
        side, number, op = c.right, c.left.value, _MIRROR[op]
    else:
        return []
    got = _reader(side)
    if got is None:
        return []
    subject, read = got
    from policy_lang.printer import expr_text
    out = []
    for passes_as in (True, False):
        norm = op if passes_as else _NEGATE[op]
        lit = c.right if isinstance(c.right, A.Literal) and _number(c.right.value) else c.left
        written = lit.text if isinstance(lit, A.Literal) else None
        out.append(Lever("threshold", section, name, line, span, c, expr_text(c), subject, norm, passes_as,
                         number, written or "", value=read))
    return out


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _cond_levers(cond: Any, section: str, name: str, line: int, span: A.Span) -> List[Lever]:
    out: List[Lever] = []
    for c in _compares(cond):
        out += _threshold(c, section, name, line, span)
    return out


def find_levers(program: Program) -> List[Lever]:
    """Every lever written in the root file, in the order the file declares them."""
    root = next((f.rel for f in program.files if f.is_root), None)
    out: List[Lever] = []
    for tool in program.tools.values():
        if tool.span.file != root:
            continue
        for i, r in enumerate(tool.risks):
            if r.when is not None:
                out += [dataclasses.replace(lv, risk_level=r.level)
                        for lv in _cond_levers(r.when, "tool", tool.name, i, r.span)]
            if r.level in program.levels:
                from policy_lang.printer import expr_text
                text = f"risk {r.level}" + (f" when {expr_text(r.when)}" if r.when is not None else "")
                for lower in program.levels[:program.levels.index(r.level)]:
                    out.append(Lever("level", "tool", tool.name, i, r.span, r, text, level=lower, risk_level=r.level))
    for cat in program.categories.values():
        if cat.span.file != root:
            continue
        for i, cl in enumerate(cat.lines):
            if cl.when is not None:
                # a line's comparison can only let an action through to an `allow`: this line's when it
                # holds, a later line's when it fails
                later = any(x.outcome.kind == "allow" for x in cat.lines[i + 1:])
                out += [lv for lv in _cond_levers(cl.when, "category", cat.level, i, cl.span)
                        if ((cl.outcome.kind == "allow") if lv.passes_as else later)]
    for chk in program.checks.values():
        if chk.span.file != root or chk.advisory:
            continue
        for i, ln in enumerate(chk.lines):
            if isinstance(ln, A.Require):
                out += _cond_levers(ln.cond, "check", chk.name, i, ln.span)
    return out


# ---------------------------------------------------------------- moving a lever

def _swap(node: Any, old: Any, new: Any) -> Any:
    """`node` with the subnode `old` (by identity) replaced by `new`; unchanged parts are shared."""
    if node is old or (node.__class__ is old.__class__ and getattr(node, "span", None) == old.span
                       and old.span.line > 0 and node == old):
        return new
    if isinstance(node, tuple):
        items = tuple(_swap(x, old, new) for x in node)
        return node if all(a is b for a, b in zip(items, node)) else items
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        changes = {}
        for f in dataclasses.fields(node):
            v = getattr(node, f.name)
            if isinstance(v, (tuple,)) or dataclasses.is_dataclass(v):
                w = _swap(v, old, new)
                if w is not v:
                    changes[f.name] = w
        return dataclasses.replace(node, **changes) if changes else node
    return node


def replacement(lever: Lever, value: Any) -> Tuple[Any, Any]:
    """(old node, new node) of moving `lever` to `value`: a number for a threshold (True/False: the
    comparison replaced by that constant, the lever moved all the way), ignored for a level lever."""
    if lever.kind == "level":
        r = lever.node
        return r, dataclasses.replace(r, level=lever.level)
    c: A.Compare = lever.node
    if isinstance(value, bool):
        return c, A.Literal(value, span=c.span)
    if isinstance(c.right, A.Literal) and _number(c.right.value):
        return c, dataclasses.replace(c, right=dataclasses.replace(c.right, value=value, text=None))
    left = c.left
    assert isinstance(left, A.Literal)   # a threshold lever has its number on one side
    return c, dataclasses.replace(c, left=dataclasses.replace(left, value=value, text=None))


def moved(program: Program, swaps: List[Tuple[Any, Any]], where: Optional[List[Tuple[str, str]]] = None) -> Program:
    """The program with each (old, new) node swapped in its tool, category or check; `where` names the
    (section, name) of the declaration each swap is in, so that only that one is walked."""
    tools: Dict[str, Any] = dict(program.tools)
    cats: Dict[str, Any] = dict(program.categories)
    checks: Dict[str, Any] = dict(program.checks)
    tables: Dict[str, Dict[str, Any]] = {"tool": tools, "category": cats, "check": checks}
    for i, (old, new) in enumerate(swaps):
        places: List[Tuple[Dict[str, Any], str]]
        if where is not None:
            section, name = where[i]
            places = [(tables[section], name)]
        else:
            places = [(t, k) for t in (tools, cats, checks) for k in t]
        for table, k in places:
            decl = table[k]
            got = _swap(decl, old, new)
            if got is not decl:
                table[k] = got
    return dataclasses.replace(program, tools=tools, categories=cats, checks=checks)


def moved_module(module: A.Module, swaps: List[Tuple[Any, Any]]) -> A.Module:
    """The root file's module with the same swaps (its nodes are the program's)."""
    decls = module.decls
    for old, new in swaps:
        decls = tuple(_swap(d, old, new) for d in decls)
    return dataclasses.replace(module, decls=decls)


def levers_by_place(levers: List[Lever]) -> Dict[Tuple[str, str], List[Lever]]:
    """Levers filed by what a decision names: (`tool`, NAME), (`category`, LEVEL), (`check`, NAME)."""
    out: Dict[Tuple[str, str], List[Lever]] = {}
    for lv in levers:
        out.setdefault((lv.section, lv.name), []).append(lv)
    return out
