"""Budget ledgers: executed actions per budget key, summed over sliding windows (spec §4.5)."""
from __future__ import annotations

from bisect import bisect_right, insort
from typing import Dict, Hashable, List, Protocol, Tuple


class Ledger(Protocol):
    """What the engine needs from the store of executed actions."""

    def total(self, key: Hashable, start: float, end: float) -> float:
        """Sum of amounts recorded under `key` with start < t <= end (t in epoch seconds)."""

    def add(self, key: Hashable, t: float, amount: float) -> None:
        """Record an executed action's amount under `key` at time t."""


class MemoryLedger:
    """In-memory ledger: per key, times kept sorted with running sums, so a window costs two bisections.
    Appending in time order (a replay) is O(1); an out-of-order entry rebuilds that key's sums."""

    def __init__(self) -> None:
        self._times: Dict[Hashable, List[float]] = {}
        self._sums: Dict[Hashable, List[float]] = {}

    def total(self, key: Hashable, start: float, end: float) -> float:
        times = self._times.get(key)
        if not times or start >= end:
            return 0
        sums = self._sums[key]
        hi = bisect_right(times, end)
        lo = bisect_right(times, start)
        return (sums[hi - 1] if hi else 0) - (sums[lo - 1] if lo else 0)

    def add(self, key: Hashable, t: float, amount: float) -> None:
        times = self._times.get(key)
        if times is None:
            self._times[key] = [t]
            self._sums[key] = [amount]
            return
        sums = self._sums[key]
        if t >= times[-1]:
            times.append(t)
            sums.append(sums[-1] + amount)
            return
        i = bisect_right(times, t)
        amounts = [sums[0]] + [sums[j] - sums[j - 1] for j in range(1, len(sums))]
        times.insert(i, t)
        amounts.insert(i, amount)
        run = 0
        for j, a in enumerate(amounts):
            run += a
            if j < len(sums):
                sums[j] = run
            else:
                sums.append(run)

    def prune(self, before: float) -> None:
        """Forget entries at or before `before` (a replay calls this to keep memory flat)."""
        for key, times in list(self._times.items()):
            cut = bisect_right(times, before)
            if cut:
                base = self._sums[key][cut - 1]
                del times[:cut]
                self._sums[key] = [s - base for s in self._sums[key][cut:]]
                if not times:
                    del self._times[key], self._sums[key]

    def __len__(self) -> int:
        return sum(len(t) for t in self._times.values())
