"""`Worker`: timeouts (escalation or expiry) and leases that ran out, settled on a schedule in a thread."""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, List, Optional

from engine import Gate, Handle

__all__ = ["Worker", "Round"]

log = logging.getLogger("signoff.worker")


def _settle_leases(gate: Gate, now: Optional[datetime] = None) -> List[Handle]:
    # executions claimed over HTTP whose lease ran out (tools without an executor in this process)
    return gate.settle_leases(now)


@dataclass
class Round:
    """What one round did: drafts that timed out (now `expired` or `escalated`), drafts run or settled by
    `Gate.resume`, executions whose lease ran out settled as interrupted, and the steps that failed."""
    expired: List[Handle] = field(default_factory=list)
    resumed: List[Handle] = field(default_factory=list)
    settled: List[Handle] = field(default_factory=list)
    errors: List[str] = field(default_factory=list)

    @property
    def changed(self) -> int:
        """How many drafts this round moved."""
        return len(self.expired) + len(self.resumed) + len(self.settled)


class Worker:
    """Runs `run_once` every `interval` seconds in a background thread, from `start()` until `stop()`. A round
    calls only the gate's public steps: `expire_due` (timeouts → escalation or expiry), `resume` (approved
    drafts this process can run, its own dead executions) and `settle(gate, now)`, which settles leases of
    executions claimed elsewhere that ran out (default: `Gate.settle_leases`).
    A step that fails is logged and the next round tries again: the worker never dies of one bad draft."""

    def __init__(self, gate: Gate, interval: float = 5.0, clock: Optional[Callable[[], datetime]] = None,
                 on_round: Optional[Callable[[Round], Any]] = None,
                 settle: Optional[Callable[..., List[Handle]]] = None):
        if not interval > 0:
            raise ValueError("the worker's interval must be a positive number of seconds")
        self.gate = gate
        self.settle = settle if settle is not None else _settle_leases
        self.interval = float(interval)
        self.clock = clock
        self.on_round = on_round
        self.rounds = 0
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._lock = threading.Lock()   # one round at a time, whoever calls run_once

    def run_once(self, now: Optional[datetime] = None) -> Round:
        """One round at `now` (the worker's clock, else the gate's)."""
        if now is None and self.clock is not None:
            now = self.clock()
        out = Round()
        settle = self.settle
        with self._lock:
            for name, step, into in (("expire", self.gate.expire_due, out.expired),
                                     ("resume", self.gate.resume, out.resumed),
                                     ("settle", (lambda now: settle(self.gate, now)) if settle else None,
                                      out.settled)):
                if step is None:
                    continue
                try:
                    into.extend(step(now=now))
                except Exception as e:  # a store that is busy or a draft the log does not justify: next round
                    log.exception("worker step `%s` failed", name)
                    out.errors.append(f"{name}: {getattr(e, 'message', None) or type(e).__name__}")
            self.rounds += 1
        if self.on_round is not None:
            self.on_round(out)
        return out

    def start(self) -> "Worker":
        """Start the thread (a round at once, then one every `interval`); a second start is a no-op."""
        if self._thread is not None and self._thread.is_alive():
            return self
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="signoff-worker", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: Optional[float] = None) -> None:
        """Ask the thread to stop and wait for it (the round under way finishes first)."""
        self._stop.set()
        t = self._thread
        if t is not None:
            t.join(timeout)
            if not t.is_alive():
                self._thread = None

    @property
    def running(self) -> bool:
        """Whether the thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Block until `stop()` is called (True) or `timeout` runs out (False)."""
        return self._stop.wait(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # on_round raised: logged, the schedule goes on
                log.exception("worker round failed")
            if self._stop.wait(self.interval):
                return
