"""`Dispatcher`: notifications sent off the request path, per channel a bounded queue, a thread and retries."""
from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Dict, Iterable, List, Optional, Union

from ..decide.actions import format_timestamp
from .channels import Delivery, DeliveryError, Notification
from .identity import IdentityError, canonical_id
from .store import Store

__all__ = ["Dispatcher", "Target"]

log = logging.getLogger("signoff.notify")
ACTOR = "signoff"   # the actor of records no human caused (engine.live.workflow.SYSTEM)
_STOP = object()


def _key(name: str) -> str:
    try:
        return canonical_id(name)
    except IdentityError:
        return name


@dataclass(frozen=True)
class Target:
    """One channel behind a dispatcher and how it is served: `label` names it in the audit log, `roles` and
    `kinds` (None: all) choose the notes it gets, `retries` is how many attempts may follow the first, the
    n-th retry waiting `backoff * 2**(n-1)` seconds, at most `max_backoff`."""
    channel: Any
    label: str = ""
    roles: Optional[frozenset] = None
    kinds: Optional[frozenset] = None
    retries: int = 3
    backoff: float = 1.0
    max_backoff: float = 60.0

    @property
    def kind(self) -> str:
        """The channel's kind (`webhook`, `slack`, `email`, …): its `name`."""
        return str(getattr(self.channel, "name", type(self.channel).__name__))

    def wants(self, note: Notification) -> bool:
        """Whether this target gets `note`: its kind, its roles (or escalation target), the channel's own say."""
        if self.kinds is not None and note.kind not in self.kinds:
            return False
        if self.roles is not None:
            keys = {_key(r) for r in note.roles} | ({_key(note.to)} if note.to else set())
            if not keys & self.roles:
                return False
        wants = getattr(self.channel, "wants", None)
        return bool(wants(note)) if callable(wants) else True


class _Lane:
    """One target's bounded queue and the thread that empties it."""

    def __init__(self, owner: "Dispatcher", target: Target, size: int):
        self.owner = owner
        self.target = target
        self.q: "queue.Queue[Any]" = queue.Queue(maxsize=size)
        self.thread = threading.Thread(target=self.run, name=f"signoff-notify-{target.label}", daemon=True)
        self.thread.start()

    def run(self) -> None:
        while True:
            item = self.q.get()
            try:
                if item is _STOP:
                    return
                self.deliver(item)
            except Exception:  # the thread must outlive anything one delivery does
                log.exception("notification delivery failed unexpectedly")
            finally:
                self.owner._done()

    def deliver(self, note: Notification) -> None:
        o, t = self.owner, self.target
        delivery = Delivery.new()
        for n in range(1, t.retries + 2):
            if o._closing.is_set() and o._past_deadline():
                o._record(t, note, delivery.id, n, False, "abandoned",
                          "not sent: the dispatcher closed before this attempt", None)
                return
            status: Union[int, str]
            try:
                status = self.attempt(note, Delivery(delivery.id, n))
                ok, error, retry = True, None, False
            except DeliveryError as e:
                ok, status, error, retry = False, e.status, e.message, e.retry
            except Exception as e:  # another kind of channel: its class only, its message may hold anything
                ok, status, error, retry = False, "error", f"the channel raised {type(e).__name__}", True
            last = ok or not retry or n > t.retries or o._closing.is_set()
            wait = None if last else min(t.max_backoff, t.backoff * 2 ** (n - 1))
            o._record(t, note, delivery.id, n, ok, status, error, wait)
            if last:
                return
            if o._closing.wait(wait):
                o._record(t, note, delivery.id, n + 1, False, "abandoned",
                          "not retried: the dispatcher was closed", None)
                return

    def attempt(self, note: Notification, delivery: Delivery) -> Union[int, str]:
        ch = self.target.channel
        deliver = getattr(ch, "deliver", None)
        if callable(deliver):
            return deliver(note, delivery)
        ch.send(note)
        return "sent"


class Dispatcher:
    """A Channel that returns at once: `send` puts the note in the queue of each target that wants it, and
    each target's thread delivers it with retries and exponential backoff. Every attempt, and every note
    dropped (a full queue, a closed dispatcher), is a `notified` record in `store`'s audit log, with the
    channel's kind and label, the delivery id, the attempt number, `ok`, the status and the next wait —
    never a URL's path or a secret. A failing or hanging channel delays only its own queue."""
    name = "notifications"

    def __init__(self, targets: Iterable[Union[Target, Any]], *, store: Optional[Store] = None,
                 digest: Optional[Callable[[], str]] = None, queue_size: int = 1000,
                 clock: Optional[Callable[[], datetime]] = None):
        self.store = store
        self.digest = digest
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.targets: List[Target] = [t if isinstance(t, Target) else Target(t) for t in targets]
        self.targets = [t if t.label else Target(t.channel, t.kind, t.roles, t.kinds, t.retries, t.backoff,
                                                 t.max_backoff) for t in self.targets]
        self._closing = threading.Event()
        self._deadline = float("inf")
        self._idle = threading.Condition()
        self._pending = 0
        self._lock = threading.Lock()
        self._stats: Dict[str, Dict[str, int]] = {t.label: {"sent": 0, "failed": 0, "dropped": 0}
                                                  for t in self.targets}
        self._lanes = [_Lane(self, t, queue_size) for t in self.targets]

    # ------------------------------------------------------------ the channel
    def send(self, note: Notification) -> None:
        """Queue `note` for every target that wants it; never blocks, never raises for one target."""
        for lane in self._lanes:
            t = lane.target
            if not t.wants(note):
                continue
            if self._closing.is_set():
                self._drop(t, note, "closed", "not queued: the dispatcher is closed")
                continue
            with self._idle:
                self._pending += 1
            try:
                lane.q.put_nowait(note)
            except queue.Full:
                self._done()
                self._drop(t, note, "queue-full", "not queued: the channel's queue is full")

    # ------------------------------------------------------------ waiting and closing
    def flush(self, timeout: Optional[float] = None) -> bool:
        """Wait until every queued note has been delivered or given up; False when `timeout` ran out first."""
        end = None if timeout is None else time.monotonic() + timeout
        with self._idle:
            while self._pending:
                left = None if end is None else end - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Stop taking notes, cut retry waits short, deliver what is queued once each while `timeout` lasts
        (later ones are recorded as abandoned), and end the threads."""
        if self._closing.is_set():
            return
        self._deadline = time.monotonic() + timeout
        self._closing.set()
        for lane in self._lanes:
            try:
                lane.q.put(_STOP, timeout=max(0.0, self._deadline - time.monotonic()) + 1.0)
            except queue.Full:
                log.warning("notification queue of `%s` did not drain before close", lane.target.label)
        for lane in self._lanes:
            lane.thread.join(max(0.0, self._deadline - time.monotonic()) + 1.0)
        with self._idle:   # a note that raced the close in is not waited for
            self._pending = 0
            self._idle.notify_all()

    @property
    def closed(self) -> bool:
        """Whether `close` was called."""
        return self._closing.is_set()

    def stats(self) -> Dict[str, Dict[str, int]]:
        """Per target label: attempts `sent` and `failed`, notes `dropped` (for the service's /metrics)."""
        with self._lock:
            return {k: dict(v) for k, v in self._stats.items()}

    def queued(self) -> int:
        """How many notes wait or are being delivered now."""
        with self._idle:
            return self._pending

    # ------------------------------------------------------------ inside
    def _past_deadline(self) -> bool:
        return time.monotonic() > self._deadline

    def _done(self) -> None:
        with self._idle:
            self._pending = max(0, self._pending - 1)
            if not self._pending:
                self._idle.notify_all()

    def _drop(self, t: Target, note: Notification, status: str, error: str) -> None:
        with self._lock:
            self._stats[t.label]["dropped"] += 1
        self._record(t, note, None, 0, False, status, error, None, count=False)

    def _record(self, t: Target, note: Notification, delivery: Optional[str], attempt: int, ok: bool,
                status: Union[int, str], error: Optional[str], retry_in: Optional[float], count: bool = True) -> None:
        if count:
            with self._lock:
                self._stats[t.label]["sent" if ok else "failed"] += 1
        payload = {"channel": t.kind, "name": t.label, "kind": note.kind, "delivery": delivery, "attempt": attempt,
                   "ok": ok, "status": status, "error": error, "retry_in": retry_in,
                   "target": getattr(t.channel, "target", None), "roles": list(note.roles), "to": note.to}
        if not ok:
            log.warning("notification %s of draft %s via %s: %s (%s)", note.kind, note.action_id, t.label,
                        error, status)
        if self.store is None:
            return
        try:
            digest = self.digest() if self.digest is not None else ""
            at = format_timestamp(self.clock())
            # Store.transaction is annotated as an Iterator though every store returns a context manager
            txn: Any = self.store.transaction()
            with txn as tx:
                tx.append_event(note.action_id, "notified", ACTOR, at, digest, payload)
        except Exception:  # the audit store is down or closed: say so in the log, never kill the thread
            log.exception("cannot record a notification attempt in the audit log")

