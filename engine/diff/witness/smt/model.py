"""A solver model read back as an action and a ledger (`model_action`, `LedgerState`, `model_ledger`)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Dict, List, Sequence, Tuple

from ..candidates import BASE_TIME, merge_base, put_path, tidy
from .values import BOOL, LIST, MISS, NUM, STR, z3
from .encoder import Encoder


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


