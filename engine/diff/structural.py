"""Structural diff: what changed between two checked programs, in policy terms (rules, not text lines)."""
from __future__ import annotations

import difflib
from typing import Any, Dict, List, Sequence, Tuple

from policy_lang import ast as A
from policy_lang.checker import Program
from policy_lang.loader import canonical_json
from policy_lang.printer import expr_text, literal_text, outcome_text, path_text


def schema_key(s: Any) -> str:
    """A schema and every document its `$ref`s read: a change in a referenced file is a change."""
    return canonical_json([s.value] + list(s.refs.documents if s.refs is not None else []))

from .records import LOOSER, STRICTER, Change, route_changes


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
            out.append(Change(section, name, "changed", "line", a[i], b[j], note, _at(new[j]), _at(old[i])))
        for i in range(i1 + len(pairs), i2):
            out.append(Change(section, name, "changed", "line removed", a[i], None, "", "", _at(old[i])))
        for j in range(j1 + len(pairs), j2):
            out.append(Change(section, name, "changed", "line added", None, b[j], "", _at(new[j])))


def _at(x: Any) -> str:
    """Where a declaration or line is written: `FILE:LINE:COL` (the file relative to the root policy's folder)."""
    span = getattr(x, "span", None)
    return span.at() if span is not None and span.line else ""


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
    """Every change from `old` to `new`: policy header, unknown tools, consts, routes, tools, aliases,
    categories and checks, in that order; rule lines aligned like a text diff."""
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
                out.append(Change(section, name, "removed", old_at=_at(a[name])))
        for name in b:
            if name not in a:
                out.append(Change(section, name, "added", at=_at(b[name])))
            else:
                compare(name, a[name], b[name])

    def const(name: str, x: A.Const, y: A.Const) -> None:
        if x.value != y.value:
            out.append(Change("const", name, "changed", "value", _const_text(x.value), _const_text(y.value), "",
                              _at(y), _at(x)))

    def route(name: str, x: A.Route, y: A.Route) -> None:
        fx, fy = _route_fields(x), _route_fields(y)
        notes = route_changes(x, y)
        for k in fx:
            if fx[k] != fy[k]:
                prefixes: Dict[str, Tuple[str, ...]] = {"quorum": ("quorum",), "approvers": ("approvers",),
                                                        "timeout": ("timeout",),
                                                        "grants never": ("standing", "grants")}
                note = next((f"{text}: {d}" for text, d in notes.items()
                             if text.startswith(prefixes.get(k, ("\0",)))), "")
                out.append(Change("route", name, "changed", k, fx[k], fy[k], note, _at(y), _at(x)))

    def tool(name: str, x: A.Tool, y: A.Tool) -> None:
        sx, sy = old.schemas.get(name), new.schemas.get(name)
        if (sx is None) != (sy is None) or (sx and sy and schema_key(sx) != schema_key(sy)):
            out.append(Change("tool", name, "changed", "schema",
                              "none" if sx is None else "a schema", "none" if sy is None else "a different schema"
                              if sx is not None else "a schema"))
        mx, my = (x.mode.mode if x.mode else None), (y.mode.mode if y.mode else None)
        if mx != my:
            out.append(Change("tool", name, "changed", "mode", mx or "policy mode", my or "policy mode", "",
                              _at(y), _at(x)))
        _lines_diff("tool", name, x.risks, y.risks, _risk_text, out)

    def category(name: str, x: A.Category, y: A.Category) -> None:
        _lines_diff("category", name, x.lines, y.lines, _cat_text, out)

    def check(name: str, x: A.Check, y: A.Check) -> None:
        tx = "*" if x.targets is None else ", ".join(x.targets)
        ty = "*" if y.targets is None else ", ".join(y.targets)
        if tx != ty:
            out.append(Change("check", name, "changed", "applies to", tx, ty, "", _at(y), _at(x)))
        if x.advisory != y.advisory:
            out.append(Change("check", name, "changed", "advisory", x.advisory, y.advisory,
                              "now enforced" if not y.advisory else "no longer enforced", _at(y), _at(x)))
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

