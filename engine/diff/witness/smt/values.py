"""Symbolic values: the optional z3 import, the encoding's bounds, `V`, `const` and the `_and/_or/...` helpers."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, List, Optional, Tuple

from ....decide.decision import RANK

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


