"""Shared pieces of the workflow tests: the test policy, a fixed clock, identities, a recording executor."""
from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Dict, List, Optional

from engine.live.channels import MemoryChannel
from engine.decide.evaluator import Policy
from engine.live.store import Identity, SQLiteStore
from engine.live.workflow import Gate
from policy_lang.checker import load

HERE = Path(__file__).resolve().parent
POLICY_PATH = HERE / "workflow" / "support.policy"
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc)

_POLICY: Optional[Policy] = None


def policy() -> Policy:
    """Loaded once per process: compiling is the slow part and the policy is immutable."""
    global _POLICY
    if _POLICY is None:
        _POLICY = Policy(load(str(POLICY_PATH)))
    return _POLICY


class Clock:
    """A fixed clock the tests move by hand: no sleeping, no flakiness."""

    def __init__(self, start: datetime = T0):
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> datetime:
        self.now += timedelta(**kw)
        return self.now


PEOPLE = [
    Identity("lea", {"team_lead"}, "acme"),
    Identity("fiona", {"finance_manager"}, "acme"),
    Identity("carl", {"cfo"}, "acme"),
    Identity("sam", {"security"}, "acme"),
    Identity("otto", {"team_lead", "finance_manager"}, "globex"),
    Identity("nora", set(), "acme"),
    # an agent that also holds a role: it still may not approve what it proposed
    Identity("bot", {"team_lead", "finance_manager"}, "acme"),
]
BY = {p.id: p for p in PEOPLE}


class Recorder:
    """An executor that remembers every call (the thing exactly-once is about)."""

    def __init__(self, fail_on: Optional[float] = None):
        self.calls: List[Dict[str, Any]] = []
        self.fail_on = fail_on

    def __call__(self, args: Dict[str, Any], ctx: Any) -> Dict[str, Any]:
        self.calls.append(dict(args))
        if self.fail_on is not None and args.get("amount") == self.fail_on:
            raise RuntimeError("payment provider is down")
        return {"refund_id": f"R-{len(self.calls)}", "amount": args.get("amount")}


def refund(amount: Any, confidence: float = 0.95, invoice: Optional[str] = "INV-1", tenant: str = "acme",
           agent: str = "bot", **extra: Any) -> Dict[str, Any]:
    args: Dict[str, Any] = {"amount": amount}
    if invoice is not None:
        args["invoice_id"] = invoice
    a = {"tool": "issue_refund", "args": args, "confidence": confidence,
         "tenant": {"id": tenant, "plan": "enterprise"}, "agent": {"id": agent}}
    a.update(extra)
    return a


def make_gate(path: str, clock: Optional[Clock] = None, executors: Optional[Dict[str, Any]] = None,
              channels: Any = None, **kw: Any) -> Gate:
    store = SQLiteStore(path)
    return Gate(policy(), store, executors=executors if executors is not None else {},
                channels=channels if channels is not None else [MemoryChannel()], clock=clock or Clock(),
                identities=PEOPLE, **kw)


def counts(store: SQLiteStore) -> Dict[str, int]:
    """Row counts of every table: 'the store is unchanged' means these are equal."""
    c = store._conn
    names = [r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    out = {n: c.execute(f"SELECT COUNT(*) FROM {n}").fetchone()[0] for n in names}
    out["head"] = c.execute("SELECT seq FROM audit_head").fetchone()[0]
    return out


def store_path(tmp_path: Any, name: str = "signoff.db") -> str:
    return os.path.join(str(tmp_path), name)
