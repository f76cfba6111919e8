"""`/metrics`: decisions by outcome, queue depth and time to approval per route, notification failures."""
from __future__ import annotations

import time
from typing import Any, Dict, List, Tuple

from engine import Draft
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily

__all__ = ["Metrics"]

APPROVAL_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 8 * 3600, 24 * 3600, float("inf"))


class _Counted:
    """A notification channel whose failures are counted (the exception still reaches the gate, which records
    it in the audit log and carries on)."""

    def __init__(self, channel: Any, failures: Dict[str, int]):
        self.channel = channel
        self.name = getattr(channel, "name", type(channel).__name__)
        self._failures = failures

    def send(self, note: Any) -> Any:
        """Send through the wrapped channel; a failure is counted and raised again."""
        try:
            return self.channel.send(note)
        except Exception:
            self._failures[self.name] = self._failures.get(self.name, 0) + 1
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self.channel, name)


class _Failures:
    """`signoff_notification_failures_total{channel}`: sends that raised, plus the failed attempts and dropped
    notes a delivering channel (a dispatcher with `stats()`) counts itself, per target."""

    def __init__(self, metrics: "Metrics"):
        self.metrics = metrics

    def collect(self) -> Any:
        """The counter family, read now."""
        fam = CounterMetricFamily("signoff_notification_failures", "Notifications that failed or were dropped",
                                  labels=["channel"])
        counts = dict(self.metrics.failures)
        for ch in self.metrics.channels:
            stats = getattr(ch, "stats", None)
            if callable(stats):
                for label, st in stats().items():
                    counts[label] = counts.get(label, 0) + int(st.get("failed", 0)) + int(st.get("dropped", 0))
        for label, n in sorted(counts.items()):
            fam.add_metric([label], n)
        if not counts:
            fam.add_metric(["none"], 0)
        return [fam]


class Metrics:
    """The service's Prometheus registry (its own, not the process-global one)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.decisions = Counter("signoff_decisions", "Decisions made, by outcome and endpoint",
                                 ["outcome", "endpoint"], registry=r)
        self.queue = Gauge("signoff_queue_depth", "Drafts waiting for humans, per route", ["route"], registry=r)
        self.approval = Histogram("signoff_time_to_approval_seconds", "From proposal to the approval that "
                                  "completed the quorum, per route", ["route"], buckets=APPROVAL_BUCKETS, registry=r)
        self.closed_total = Counter("signoff_drafts_closed", "Drafts that left `drafted` through a human act, by "
                                    "state", ["state"], registry=r)
        self.failures: Dict[str, int] = {}   # channel -> sends that raised
        self.channels: List[Any] = []        # channels whose own `stats()` count failed and dropped deliveries
        r.register(_Failures(self))
        self._decided: Dict[Tuple[str, str], Any] = {}
        self.reloads = Counter("signoff_policy_reloads", "Policy versions swapped in", registry=r)

    def counting(self, channel: Any) -> Any:
        """The channel, with its failures counted."""
        return _Counted(channel, self.failures)

    def decision(self, outcome: str, endpoint: str) -> None:
        """Count one decision."""
        child = self._decided.get((outcome, endpoint))
        if child is None:   # a labelled child costs a lock and a lookup each time: kept once made
            child = self._decided[(outcome, endpoint)] = self.decisions.labels(outcome=outcome, endpoint=endpoint)
        child.inc()

    def closed(self, before: Draft, state: str) -> None:
        """A human act moved a draft out of `drafted`: approvals are timed per route."""
        self.closed_total.labels(state=state).inc()
        if state in ("approved", "executing", "executed"):
            waited = max(0.0, time.time() - before.created_at)
            for r in before.routes:
                self.approval.labels(route=r.name).observe(waited)

    def render(self, store: Any) -> bytes:
        """The Prometheus text, with the queue depth counted now."""
        depth: Dict[str, int] = {}
        with store.snapshot() as tx:
            for rec in tx.list_actions(("drafted",)):
                for r in rec["routes"]:
                    depth[r["name"]] = depth.get(r["name"], 0) + 1
        self.queue.clear()
        for name, n in depth.items():
            self.queue.labels(route=name).set(n)
        return generate_latest(self.registry)
