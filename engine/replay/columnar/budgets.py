"""Budgets that never bind: an upper bound of every row's window total, by prefix sums per key."""
from __future__ import annotations

import math
from typing import Any, Optional

from ...decide.graph import BudgetNode
from .base import EXACT
from .keys import budget_path, dense
from .table import Col, Table

def budget_proven(np: Any, tb: Table, b: BudgetNode, rows: Any, has_edits: bool) -> bool:
    """Whether no action of the history can find budget line `b` over its limit, whatever the replay
    executes: for every row, the sum of every earlier amount under its key within the window (each counted
    as if executed, negative ones as 0), plus its own, stays under the limit by more than any rounding."""
    if has_edits:
        return False        # an edited action counts its edited amount, which the columns do not show
    if not len(rows):
        return True
    keep = np.ones(len(rows), dtype=bool)
    key = np.zeros(len(rows), dtype=np.int64)
    for k in b.line.keys:
        if budget_path(k) == ("confidence",):
            return False    # a missing confidence keys as 0, with the zeros: not what the codes say
        cols = tb.related(budget_path(k))
        if not cols:
            return True     # always missing: never counted, never over
        if len(cols) != 1 or cols[0].segs != budget_path(k):
            return False
        kc = cols[0]
        if kc.kind not in ("str", "int", "float", "bool"):
            return True
        if kc.kind == "int" and len(kc.arr) and int(np.abs(kc.numbers(np)).max()) >= EXACT:
            return False    # 1 and 1.0 share a bucket: past 2**53 distinct ints may too
        codes = kc.bucket_codes(np)[rows]
        keep &= codes > 0
        m = int(codes.max()) + 1
        key = dense(np, key * m + codes, (int(key.max()) + 1) * m)[0]
    if b.line.path is None:
        amount = np.ones(len(rows), dtype=np.int64)
        exact = True
    else:
        cols = tb.related(budget_path(b.line.path))
        p = budget_path(b.line.path)
        c: Optional[Col]
        if p == ("confidence",) and (not cols or cols[0].kind == "null"):
            vals = np.zeros(len(rows), dtype=np.int64)    # a missing confidence sums as 0
            c = None
        elif not cols:
            return True
        elif len(cols) != 1 or cols[0].segs != p:
            return False
        else:
            c = cols[0]
            if c.kind not in ("int", "float"):
                return p != ("confidence",)   # never a number: an error, never counted
            vals = c.numbers(np)[rows]
        if c is None:
            pass
        elif p != ("confidence",):    # a null confidence sums as 0 (counted, adds nothing)
            keep &= ~c.nulls(np)[rows]
        exact = c is None or c.kind == "int"
        if exact:
            amount = vals.astype(np.int64)
            if len(amount) and int(np.abs(amount).max()) * len(amount) >= 2 ** 62:
                return False
        else:
            amount = vals.astype(np.float64)
            keep &= np.isfinite(amount)
    sel = np.nonzero(keep)[0]
    if not len(sel):
        return True
    pos = sel                       # rows are in replay order already
    kk = key[pos]
    a = np.maximum(amount[pos], 0)
    t = tb.t[rows][pos]
    # by key, then replay order (so by time within a key); keys below 2**16 sort by radix
    by = np.argsort(kk.astype(np.uint16) if int(kk.max()) < 2 ** 16 else kk, kind="stable")
    kk, a, t = kk[by], a[by], t[by]
    cs = np.cumsum(a)
    ft = np.floor(t).astype(np.int64)
    base = int(ft.min()) - int(math.ceil(b.window)) - 2
    span = int(ft.max()) - base + 1
    if span >= 2 ** 35 or int(kk.max()) >= 2 ** 27:
        return False
    comp = kk * (2 ** 35) + (ft - base)
    start = np.searchsorted(comp, kk * (2 ** 35) + (ft - int(math.ceil(b.window)) - 1 - base), side="left")
    prior = np.where(start > 0, cs[np.maximum(start - 1, 0)], 0)
    ub = cs - prior
    limit = b.limit
    if exact:
        return bool(np.all(ub <= limit)) and int(cs.max() if len(cs) else 0) < EXACT
    total_abs = float(np.abs(a).sum())
    slack = 8 * len(a) * 2.0 ** -53 * total_abs + 1e-9 * max(1.0, abs(float(limit)))
    return bool(np.all(ub + slack <= limit))
