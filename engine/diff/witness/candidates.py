"""The values the witness search tries: candidates per path, their combinations as actions, and the fixed
parts every candidate action carries (the time, a schema-valid example of the arguments)."""
from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Dict, Iterator, List, Optional, Set, Tuple

BASE_TIME = "2026-01-07T12:00:00Z"   # a Wednesday at noon UTC: the time of witness actions
NOW = datetime(2026, 1, 7, 12, 0, tzinfo=timezone.utc)   # for candidates without a timestamp: never the clock


class _Missing:
    """The candidate "this field is absent"."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING = _Missing()


@dataclass
class Var:
    """What the conditions of both versions ask of one path."""
    path: Tuple[str, ...]
    numbers: Set[float] = field(default_factory=set)
    strings: Set[str] = field(default_factory=set)
    bools: bool = False
    numeric_use: bool = False      # ordering or arithmetic: other kinds are errors
    near: Set[float] = field(default_factory=set)     # float neighbours of computed boundaries
    extra: List[Any] = field(default_factory=list)   # heuristic values (outside the decidable fragment)

    def candidates(self) -> List[Any]:
        """Absent, then one value per partition of the numbers (below, at, between, above the constants),
        the strings and a fresh one, the booleans, and the heuristic values."""
        out: List[Any] = [MISSING]
        nums = sorted(self.numbers)
        if nums:
            vals = [nums[0] - 1]
            for i, c in enumerate(nums):
                vals.append(c)
                if i + 1 < len(nums):
                    vals.append((c + nums[i + 1]) / 2)
            vals.append(nums[-1] + 1)
            out.extend(tidy(v) for v in vals)
            # neighbours of computed boundaries last, so witnesses show the plain values first
            extra = sorted(self.near - set(nums))
            for i, c in enumerate(extra):
                out.append(c)
            if extra:
                every = sorted(set(nums) | self.near)
                out.extend((a + b) / 2 for a, b in zip(every, every[1:]) if (a in self.near or b in self.near))
        elif self.numeric_use:
            out.append(1)
        fresh = "other-value"
        while fresh in self.strings:
            fresh += "-x"
        out.extend(sorted(self.strings))
        out.append(fresh)   # also stands for every kind no condition tells apart from it
        if self.bools:
            out.extend([True, False])
        for v in self.extra:
            if not any(_same(v, x) for x in out):
                out.append(v)
        return out


def tidy(v: float) -> Any:
    """A float that is a whole number as an int (so witnesses read `100`, not `100.0`)."""
    return int(v) if isinstance(v, float) and v.is_integer() and abs(v) < 2 ** 53 else v


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def assignments(vars_: Dict[Tuple[str, ...], Var], fixed: Dict[str, Any]) -> Iterator[Dict[str, Any]]:
    """Every combination of candidate values, as nested action fields. A path that is a prefix of another
    takes either its own values (its children are then absent) or an object holding the children."""
    tree: Dict[Optional[Tuple[str, ...]], List[Tuple[str, ...]]] = {}   # parent (None: a root) -> children
    paths = sorted(vars_)
    for p in paths:
        parent = next((p[:i] for i in range(len(p) - 1, 0, -1) if p[:i] in vars_), None)
        tree.setdefault(parent, []).append(p)

    def options(p: Tuple[str, ...]) -> List[Any]:
        own = vars_[p].candidates()
        kids = tree.get(p, [])
        if not kids:
            return own
        objs = [dict(zip(kids, combo)) for combo in itertools.product(*(options(k) for k in kids))]
        # the object form stands for "present"; MISSING and the scalar forms stay
        return own + [("__obj__", o) for o in objs]

    tops = tree.get(None, [])
    for combo in itertools.product(*(options(p) for p in tops)):
        action: Dict[str, Any] = dict(fixed)
        for p, v in zip(tops, combo):
            put_path(action, p, v)
        yield action


def count_assignments(vars_: Dict[Tuple[str, ...], Var]) -> int:
    """How many actions `assignments` yields, without making them."""
    tree: Dict[Any, List[Tuple[str, ...]]] = {}
    for p in sorted(vars_):
        parent = next((p[:i] for i in range(len(p) - 1, 0, -1) if p[:i] in vars_), None)
        tree.setdefault(parent, []).append(p)

    def n(p: Tuple[str, ...]) -> int:
        own = len(vars_[p].candidates())
        kids = tree.get(p, [])
        return own + (math.prod(n(k) for k in kids) if kids else 0)
    return math.prod(n(p) for p in tree.get(None, []))


def put_path(action: Dict[str, Any], p: Tuple[str, ...], v: Any) -> None:
    """Set the field at path `p` of `action` to `v` (MISSING: leave it out; an object form: its children)."""
    if v is MISSING:
        return
    if isinstance(v, tuple) and len(v) == 2 and v[0] == "__obj__":
        for child, cv in v[1].items():
            put_path(action, child, cv)
        _ensure(action, p)
        return
    cur = action
    for k in p[:-1]:
        nxt = cur.get(k)
        if not isinstance(nxt, dict):
            nxt = cur[k] = {}
        cur = nxt
    cur[p[-1]] = v


def _ensure(action: Dict[str, Any], p: Tuple[str, ...]) -> None:
    cur = action
    for k in p:
        nxt = cur.get(k)
        if not isinstance(nxt, dict):
            nxt = cur[k] = {}
        cur = nxt


def merge_base(action: Dict[str, Any], base: Dict[str, Any], args_var: bool) -> Dict[str, Any]:
    """Lay the candidate's arguments over a schema-valid example, so required fields no condition
    reads are there (a candidate that fails the schema would tell nothing about the rules)."""
    if not base:
        return action
    args = action.get("args")
    if isinstance(args, dict):
        action["args"] = _deep_merge(base, args)
    elif "args" not in action and not args_var:
        action["args"] = json.loads(json.dumps(base))
    return action


def _deep_merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        out = {k: json.loads(json.dumps(v)) for k, v in base.items()}
        for k, v in over.items():
            out[k] = _deep_merge(out[k], v) if k in out else v
        return out
    return over


def get_path(action: Dict[str, Any], p: Tuple[str, ...]) -> Any:
    """The field at path `p` of `action`, or None."""
    cur: Any = action
    for k in p:
        if not isinstance(cur, dict):
            return None
        cur = cur.get(k)
    return cur

