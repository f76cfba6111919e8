"""The streaming backend: replay a history through a policy in time order with the budget ledger, one `step`
per record, into a `Tally` of the report's aggregates."""
from __future__ import annotations

import gc
import shutil
import sys
import tempfile
from itertools import islice
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from policy_lang.loader import paused_gc

from ..decide import jsonout
from ..decide.decision import Decision
from ..decide.evaluator import Policy
from ..decide.ledger import MemoryLedger
from .aggregates import MAX_EXAMPLES, MAX_GROUPS, NONE, OTHER, VERDICTS, Tally, iso
from .history import History, OutOfOrder, Record, Stats
from .records import BATCH
from .step import Step, StepFn, StepRow, stepper

__all__ = ["DecisionSink", "Simulation", "simulate", "Step", "StepRow", "Tally", "stepper", "VERDICTS", "MAX_GROUPS",
           "MAX_EXAMPLES", "NONE", "OTHER", "PRUNE_EVERY", "PROGRESS_EVERY", "replay_options"]

PRUNE_EVERY = 4096       # records between ledger prunes
PROGRESS_EVERY = 2048

OnDecision = Callable[[Decision, str, int], None]


def _writer(sink: "DecisionSink", then: Optional[OnDecision]) -> OnDecision:
    """`--decisions`: the spec §3 decision plus the action's `id` and where it was read."""
    def emit(d: Decision, src: str, line: int) -> None:
        out = d.to_dict()
        out["id"] = d.action_id
        out["source"] = f"{src}:{line}"
        sink.write(out)
        if then is not None:
            then(d, src, line)
    return emit


class DecisionSink:
    """Where `--decisions` goes: one JSON line per decision, in replay order. Restartable (the replay
    restarts once if the history needs an external sort), so stdout is written through a temp file."""

    def __init__(self, path: Optional[str]):
        self.path = path
        self.fh: Any = None
        self._dumps: Optional[Callable[[Any], bytes]] = None
        if path is None:
            return
        if path == "-":
            self.fh = tempfile.TemporaryFile("w+b")
        else:
            self.fh = open(path, "wb")
        try:
            import orjson
            self._dumps = orjson.dumps
        except ImportError:
            pass

    def write(self, d: Dict[str, Any]) -> None:
        """Write one decision as a JSON line (orjson when it can, else the strict standard library)."""
        if self._dumps is not None:
            try:
                self.fh.write(self._dumps(d))
                self.fh.write(b"\n")
                return
            except TypeError:  # e.g. integers past 64 bits: the standard library copes
                pass
        # strict: what cannot be written as valid JSON raises OutputError, never becomes invalid output
        self.fh.write(jsonout.dumps_bytes(d, separators=(",", ":")))
        self.fh.write(b"\n")

    def reset(self) -> None:
        """Forget what was written: the replay starts over."""
        if self.fh is not None:
            self.fh.seek(0)
            self.fh.truncate()

    def close(self) -> None:
        """Finish: copy to stdout when that is where the decisions go, and close."""
        if self.fh is None:
            return
        if self.path == "-":
            self.fh.seek(0)
            shutil.copyfileobj(self.fh, sys.stdout.buffer)
            sys.stdout.buffer.flush()
        self.fh.close()
        self.fh = None


class Simulation:
    """The streaming replay: each record through the shared `step`, each step into a `Tally`. Memory is
    flat in the history length: the ledger is pruned to the longest budget window, and the tally's
    tables are bounded.

    `ledger` lets a replay go on from another's (partitions replayed one after the other, their tallies
    merged); by default a replay starts from an empty one.
    """

    def __init__(self, policy: Policy, assume_approved: bool = False, sink: Optional[DecisionSink] = None,
                 progress: Optional[Callable[[int], None]] = None, ledger: Optional[MemoryLedger] = None):
        self.policy = policy
        self.assume_approved = assume_approved
        self.sink = sink
        self.progress = progress
        self.window = policy.max_window()
        self._steps: Dict[Tuple[int, bool], Tuple[Policy, StepFn]] = {}
        self.reset(ledger)

    def reset(self, ledger: Optional[MemoryLedger] = None) -> None:
        """Start over: an empty ledger (or the one given) and an empty tally."""
        self.ledger = ledger if ledger is not None else MemoryLedger()
        self.tally = Tally(self.policy)
        self._pruned = float("-inf")

    # the tally's counters, as they were read before the tally was its own object (bench/simulate.py)
    @property
    def n(self) -> int:
        """Records replayed."""
        return self.tally.n

    @property
    def executed(self) -> int:
        """Records the replay executed (counted in the ledger)."""
        return self.tally.executed

    @property
    def outcomes(self) -> List[int]:
        """Records per outcome, in the order of OUTCOMES."""
        return self.tally.outcomes

    def step_fn(self, decisions: bool) -> StepFn:
        """The step of the current policy (built once per policy and per need of Decision objects)."""
        key = (id(self.policy), decisions)
        got = self._steps.get(key)
        if got is None or got[0] is not self.policy:
            got = self._steps[key] = (self.policy, stepper(self.policy, self.assume_approved, decisions))
        return got[1]

    def run(self, records: Iterable[Record], on_decision: Optional[OnDecision] = None) -> None:
        """Replay records (in time order). `on_decision(decision, source, line)` sees every decision;
        without it and without a sink, no Decision object is built at all."""
        emit = on_decision if self.sink is None else _writer(self.sink, on_decision)
        step = self.step_fn(emit is not None)
        add_all = self.tally.add_all
        ledger = self.ledger
        window = self.window
        progress = self.progress
        it = iter(records)
        while True:
            chunk = records if isinstance(records, (list, tuple)) and len(records) <= BATCH else list(islice(it, BATCH))
            if not chunk:
                return
            n0 = self.tally.n
            steps = [step(rec, ledger) for rec in chunk]
            add_all(steps)
            if emit is not None:
                for rec, s in zip(chunk, steps):
                    emit(s[11], rec[3], rec[4])  # type: ignore[arg-type]  # a step asked for decisions has one
            n = n0 + len(chunk)
            if n // PRUNE_EVERY > n0 // PRUNE_EVERY and window:
                t = chunk[PRUNE_EVERY - 1 - n0 % PRUNE_EVERY][0]
                if t - window > self._pruned:
                    self._pruned = t - window
                    ledger.prune(self._pruned)  # no later action (time >= t) looks at or before t - window
            if progress is not None and n // PROGRESS_EVERY > n0 // PROGRESS_EVERY:
                progress(n - n % PROGRESS_EVERY)
            if chunk is records:
                return

    def run_batches(self, batches: Iterable[List[Record]]) -> None:
        """Replay batches with the cyclic GC paused: a replay keeps tens of thousands of records and
        ledger entries alive, which the collector would otherwise walk again and again (a third of
        the time). Replaying makes no reference cycles, but a young-generation pass every 64 batches
        frees any there are, so memory stays flat."""
        with paused_gc():
            for k, batch in enumerate(batches, 1):
                self.run(batch)
                if not k % 64:
                    gc.collect(1)

    def report(self, stats: Optional[Stats] = None, options: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        """The report of what was replayed (`Tally.report`)."""
        return self.tally.report(stats, options)


def replay_options(history: History, assume_approved: bool) -> Dict[str, Any]:
    """The report's `options`: how the history was replayed (every backend reports them alike)."""
    return {"assume_approved": assume_approved, "on_error": history.on_error, "sample": history.sample,
            "seed": history.seed if history.sample is not None else None,
            "since": iso(history.since) if history.since is not None else None,
            "until": iso(history.until) if history.until is not None else None,
            "filters": history.filters or {}, "histories": [("<stdin>" if p == "-" else p) for p in history.paths]}


def simulate(policy: Policy, history: History, assume_approved: bool = False, decisions: Optional[str] = None,
             progress: Optional[Callable[[int], None]] = None, external_sort: bool = False) -> Dict[str, Any]:
    """Replay `history` through `policy` and return the report (a JSON-ready dict).

    Files stream through a bounded reorder window. If one turns out to be out of order beyond it, the
    replay starts over with an external sort (bounded memory, temporary files) and the decisions file
    is rewritten, so nothing is ever replayed out of order. stdin cannot be read twice: an unsorted
    stdin fails with a message naming the line (use `external_sort=True`, which sorts up front).
    """
    sink = DecisionSink(decisions)
    sim = Simulation(policy, assume_approved, sink if decisions is not None else None, progress)
    options = replay_options(history, assume_approved)
    try:
        try:
            sim.run_batches(history.batches(external=external_sort))
        except OutOfOrder as e:
            if history.has_stdin:
                from .history import HistoryError
                raise HistoryError(e.where, f"history is not in timestamp order (an action at {iso(e.t)} comes "
                                   f"after one at {iso(e.last)}, beyond the reorder window of "
                                   f"{history.window} actions); stdin is read once: sort it first, "
                                   "or pass --external-sort") from None
            sim.reset()
            sink.reset()
            sim.run_batches(history.batches(external=True))
    finally:
        sink.close()
    return sim.report(history.stats, options)
