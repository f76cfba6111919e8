"""Budget ledgers: executed actions per budget key, summed over sliding windows (spec §4.5)."""
from __future__ import annotations

import math
from bisect import bisect_right
from typing import Dict, Hashable, List, Protocol


class Ledger(Protocol):
    """What the engine needs from the store of executed actions."""

    def total(self, key: Hashable, start: float, end: float) -> float:
        """Sum of amounts recorded under `key` with start < t <= end (t in epoch seconds)."""

    def add(self, key: Hashable, t: float, amount: float) -> None:
        """Record an executed action's amount under `key` at time t."""


def within(before: float, amount: float, limit: float) -> bool:
    """Does `before + amount <= limit` hold, computed without rounding towards a pass?
    Integers are exact; floats go through fsum; an overflow counts as over the limit (fail closed)."""
    if before.__class__ is int and amount.__class__ is int:
        return before + amount <= limit
    try:
        total = math.fsum((before, amount))
    except OverflowError:
        return False
    return total <= limit


class _Series:
    """One key's entries: times sorted, amounts beside them. While every amount is an int, running
    sums answer a window in two bisections; with floats the window is summed with fsum, because
    differences of running float sums lose small amounts after a large one (a budget that fails open)."""
    __slots__ = ("times", "amounts", "sums", "exact")

    def __init__(self) -> None:
        self.times: List[float] = []
        self.amounts: List[float] = []
        self.sums: List[float] = []   # running sums, kept while every amount is an int
        self.exact = True

    def add(self, t: float, amount: float) -> None:
        if amount.__class__ is not int:
            self.exact = False
            self.sums = []
        if not self.times or t >= self.times[-1]:
            self.times.append(t)
            self.amounts.append(amount)
            if self.exact:
                self.sums.append((self.sums[-1] if self.sums else 0) + amount)
            return
        i = bisect_right(self.times, t)
        self.times.insert(i, t)
        self.amounts.insert(i, amount)
        if self.exact:
            self._rebuild()

    def _rebuild(self) -> None:
        run: float = 0
        sums: List[float] = []
        for a in self.amounts:
            run += a
            sums.append(run)
        self.sums = sums

    def total(self, start: float, end: float) -> float:
        if start >= end:
            return 0
        hi = bisect_right(self.times, end)
        lo = bisect_right(self.times, start)
        if hi <= lo:
            return 0
        if self.exact:
            return self.sums[hi - 1] - (self.sums[lo - 1] if lo else 0)
        try:
            return math.fsum(self.amounts[lo:hi])
        except OverflowError:
            return math.inf

    def prune(self, before: float) -> None:
        cut = bisect_right(self.times, before)
        if cut:
            del self.times[:cut]
            del self.amounts[:cut]
            if self.exact:
                self._rebuild()


class MemoryLedger:
    """In-memory ledger for `test`, `check` and `simulate`: per key, a sorted series of amounts."""

    def __init__(self) -> None:
        self._series: Dict[Hashable, _Series] = {}

    def total(self, key: Hashable, start: float, end: float) -> float:
        """Sum of the amounts under `key` with start < t <= end (0 for a key never seen)."""
        s = self._series.get(key)
        return s.total(start, end) if s is not None else 0

    def add(self, key: Hashable, t: float, amount: float) -> None:
        """Record an executed action's amount under `key` at time t (out of order is fine)."""
        s = self._series.get(key)
        if s is None:
            s = self._series[key] = _Series()
        s.add(t, amount)

    def prune(self, before: float) -> None:
        """Forget entries at or before `before` (a replay calls this to keep memory flat)."""
        for key in list(self._series):
            s = self._series[key]
            s.prune(before)
            if not s.times:
                del self._series[key]

    def __len__(self) -> int:
        return sum(len(s.times) for s in self._series.values())
