"""Exactly once across processes: concurrent approvers, concurrent spenders, and processes killed mid-way."""
import multiprocessing as mp
import os

import pytest

from engine.live.store import Identity
from engine.live.workflow import GateError
from workflow_helpers import Clock, make_gate, refund, store_path

CTX = mp.get_context("fork")
LEADS = [Identity(f"lead{i}", {"team_lead"}, "acme") for i in range(4)]


def effects(path):
    """The external world: one line per real execution, appended atomically by whichever process ran it."""
    if not os.path.exists(path):
        return []
    with open(path) as fh:
        return fh.read().splitlines()


def effect_executor(log):
    def run(args, ctx):
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(fd, f"{ctx.action_id} {ctx.idempotency_key} {args['amount']} {os.getpid()}\n".encode())
        finally:
            os.close(fd)
        return "ok"
    return run


def _child(fn, *args):
    p = CTX.Process(target=fn, args=args)
    p.start()
    return p


def _join(procs, timeout=30):
    for p in procs:
        p.join(timeout)
        assert not p.is_alive(), "a worker hung"


# ---------------------------------------------------------------- concurrent approvers

def _approver(db, log, draft, who, barrier, results):
    gate = make_gate(db, Clock(), {"issue_refund": effect_executor(log)})
    gate.store.put_identity(next(i for i in LEADS if i.id == who))
    barrier.wait()
    try:
        h = gate.approve(draft, by=who)
        results.put((who, h.state))
    except GateError as e:
        results.put((who, type(e).__name__))
    gate.resume()
    gate.execute(draft)


def test_concurrent_approvers_in_several_processes_execute_once(tmp_path):
    db, log = store_path(tmp_path), str(tmp_path / "effects.log")
    gate = make_gate(db, Clock(), {})
    draft = gate.propose(refund(50, confidence=0.5)).id
    barrier = CTX.Barrier(len(LEADS))
    results = CTX.Queue()
    procs = [_child(_approver, db, log, draft, who.id, barrier, results) for who in LEADS]
    _join(procs)
    assert all(p.exitcode == 0 for p in procs)
    outcomes = sorted(results.get(timeout=5)[1] for _ in LEADS)
    assert outcomes.count("StateError") == len(LEADS) - 1      # the others found it approved already
    assert len(effects(log)) == 1 and effects(log)[0].startswith(draft)
    assert gate.get(draft).state == "executed"
    with gate.store.snapshot() as tx:
        assert [e["kind"] for e in tx.events(draft)].count("executing") == 1
    assert gate.verify().ok


# ---------------------------------------------------------------- concurrent spenders

def _spender(db, log, n, barrier, tag):
    gate = make_gate(db, Clock(), {"issue_refund": effect_executor(log)})
    barrier.wait()
    for i in range(n):
        gate.propose(refund(20, id=f"{tag}-{i}"))


def test_concurrent_proposals_never_overspend_a_budget(tmp_path):
    db, log = store_path(tmp_path), str(tmp_path / "effects.log")
    make_gate(db, Clock(), {}).store.close()
    barrier = CTX.Barrier(4)
    procs = [_child(_spender, db, log, 15, barrier, f"p{k}") for k in range(4)]
    _join(procs, 60)
    assert all(p.exitcode == 0 for p in procs)
    # 60 refunds of 20 against a daily budget of 1000: exactly 50 run, whatever the interleaving
    assert len(effects(log)) == 50
    gate = make_gate(db, Clock(), {})
    with gate.store.snapshot() as tx:
        states = [r["state"] for r in tx.list_actions()]
    assert states.count("executed") == 50 and states.count("escalated") == 10
    assert gate.verify().ok


# ---------------------------------------------------------------- killed between approval and execution

def _approve_then_die(db, log, draft):
    gate = make_gate(db, Clock(), {"issue_refund": effect_executor(log)})

    def die(*a, **k):
        os._exit(17)    # the approval is committed; the process dies before it executes anything
    gate.execute = die
    gate.approve(draft, by="lea")


def test_a_process_killed_after_approval_runs_the_action_once_after_restart(tmp_path):
    db, log = store_path(tmp_path), str(tmp_path / "effects.log")
    gate = make_gate(db, Clock(), {})
    draft = gate.propose(refund(50, confidence=0.5, id="refund-77")).id
    p = _child(_approve_then_die, db, log, draft)
    _join([p])
    assert p.exitcode == 17
    assert gate.get(draft).state == "approved" and effects(log) == []
    # the restarted agent process: resume twice, and a retry of the original proposal for good measure
    procs = [_child(_restart, db, log) for _ in range(3)]
    _join(procs)
    restarted = make_gate(db, Clock(), {"issue_refund": effect_executor(log)})
    restarted.resume()
    assert restarted.propose(refund(50, confidence=0.5, id="refund-77")).state == "executed"
    assert len(effects(log)) == 1 and effects(log)[0].split()[:3] == [draft, "refund-77", "50"]


def _restart(db, log):
    make_gate(db, Clock(), {"issue_refund": effect_executor(log)}).resume()


# ---------------------------------------------------------------- killed during execution

def _die_inside_executor(db, log, key):
    gate = make_gate(db, Clock(), {})

    def run(args, ctx):
        effect_executor(log)(args, ctx)
        os._exit(9)     # the effect happened, the process died before recording it
    gate.register("issue_refund", run)
    gate.propose(refund(10, id=key))


@pytest.mark.parametrize("idempotent", [False, True])
def test_a_process_killed_during_execution_is_settled_after_the_lease(tmp_path, idempotent):
    db, log = store_path(tmp_path), str(tmp_path / "effects.log")
    make_gate(db, Clock(), {}).store.close()
    p = _child(_die_inside_executor, db, log, "k-1")
    _join([p])
    assert p.exitcode == 9 and len(effects(log)) == 1
    clock = Clock()
    seen = []

    def rerun(args, ctx):
        seen.append(ctx.idempotency_key)   # an idempotent tool dedups on this key
        return "ok"
    gate = make_gate(db, clock, {})
    gate.register("issue_refund", rerun, idempotent=idempotent)
    assert gate.resume() == []                 # within the lease the first process may still be running
    clock.advance(minutes=16)
    (h,) = gate.resume()
    if idempotent:
        assert h.state == "executed" and seen == ["k-1"]
    else:
        assert h.state == "failed" and "not retried" in h.error and seen == []
    assert gate.resume() == [] and gate.verify().ok
    clock.advance(days=1)
    assert gate.resume() == []
