"""The columnar backend (`simulate --engine columnar`): a Parquet history read as Arrow columns, each tool's
actions grouped into classes that the policy cannot tell apart, one action per class decided by the row
engine's own step, budgets proven never to bind by window sums, and everything else handed to the row engine.

Exactness is by construction, not by a second implementation of the language: the decision of an action
is a function of the values its tool's conditions read; the class key holds exactly that (a value itself,
or where a path is only compared with numbers written in the policy, its place among those numbers), so
every action of a class gets the decision the compiled closure gave its first one. What cannot be keyed
that way (a schema, a budget line the proof does not cover, a row the input checks would refuse, a human
verdict) goes through the row engine's `step` with one ledger in replay order, and a history the columnar
reader does not take whole (JSON Lines, CSV, stdin, nested columns, `--sample`, `--filter`…) is replayed
by the row engine (`simulate`) itself. docs/design.md argues the choices.

The package, by concern: `base` (errors, imports), `times` (timestamps), `table` (the history as columns),
`keys` (what a tool's conditions read), `budgets` (lines proven never to bind), `plan` (classes, and the
replay counted into the report).
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, Optional

from ...decide.evaluator import Policy
from ..history import History
from ..simulate import DecisionSink, replay_options, simulate
from .base import EngineUnavailable, Unsupported, modules
from .plan import Plan
from .table import Table

__all__ = ["EngineUnavailable", "Plan", "simulate_columnar", "plan_columnar"]


@contextmanager
def _memory_pool() -> Iterator[None]:
    """Arrow's allocations of one replay from jemalloc (else the system's malloc) rather than mimalloc, Arrow's
    default in its wheels: on a 1M-action history mimalloc's pages cost about 2 s of kernel time on a fresh
    VM against 0.2-0.5 s (docs/performance.md). Only the speed differs; a pool the user chose
    (ARROW_DEFAULT_MEMORY_POOL) is kept, and the previous default is restored after."""
    pa = modules()[1]
    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        yield
        return
    try:
        pool = pa.jemalloc_memory_pool()
    except NotImplementedError:     # a build without jemalloc (macOS and Windows wheels)
        pool = pa.system_memory_pool()
    old = pa.default_memory_pool()
    pa.set_memory_pool(pool)
    try:
        yield
    finally:
        pa.set_memory_pool(old)


def plan_columnar(policy: Policy, history: History, assume_approved: bool = False,
                  external_sort: bool = False) -> Optional[Plan]:
    """The columnar plan of a replay, or None when the row engine replays this history whole."""
    modules()
    try:
        tb = Table(history, external_sort)
        return Plan(policy, tb, assume_approved)
    except Unsupported:
        return None


def simulate_columnar(policy: Policy, history: History, assume_approved: bool = False,
                      decisions: Optional[str] = None, progress: Optional[Callable[[int], None]] = None,
                      external_sort: bool = False) -> Dict[str, Any]:
    """`simulate` with the columnar engine: the same report, and the same decisions file, as the row engine's.
    Raises EngineUnavailable without numpy and pyarrow."""
    with _memory_pool():
        plan = plan_columnar(policy, history, assume_approved, external_sort)
        if plan is None:
            return simulate(policy, history, assume_approved, decisions, progress, external_sort)
        sink = DecisionSink(decisions)
        try:
            tally = plan.run(sink if decisions is not None else None)
        finally:
            sink.close()
    history.stats = plan.tb.stats
    if progress is not None:
        progress(plan.tb.n)
    return tally.report(plan.tb.stats, replay_options(history, assume_approved))
