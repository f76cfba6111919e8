"""The worker: timeouts → escalation or expiry and leases that ran out, on a schedule, with a clock the tests move."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, List

import pytest
from click.testing import CliRunner

from cli.main import cli
from engine import Executor, MemoryChannel
from engine.service.worker import Round, Worker

from workflow_helpers import POLICY_PATH, T0, Clock, make_gate, refund, store_path

ROOT = Path(__file__).resolve().parent.parent


class Crash(BaseException):
    """A process dying mid-execution: not an Exception, so the gate records nothing after `executing`."""


def test_run_once_escalates_what_timed_out_and_nothing_before(tmp_path):
    clock = Clock()
    mem = MemoryChannel()
    gate = make_gate(store_path(tmp_path), clock, {}, channels=[mem])
    h = gate.propose(refund(50, confidence=0.5))          # team_review: 4h, then escalate to ops_oncall
    w = Worker(gate, interval=60)
    r = w.run_once(now=T0.replace(hour=13, minute=59))
    assert r.changed == 0 and r.errors == [] and gate.get(h.id).state == "drafted"
    clock.advance(hours=4, seconds=1)
    r = w.run_once()
    assert [(x.id, x.state, x.escalate_to) for x in r.expired] == [(h.id, "escalated", "ops_oncall")]
    assert mem.sent[-1].kind == "escalated" and mem.sent[-1].to == "ops_oncall"
    assert w.run_once().changed == 0                       # settled once
    assert w.rounds == 3
    assert gate.verify().ok


def test_a_route_without_escalation_expires(tmp_path):
    clock = Clock()
    gate = make_gate(store_path(tmp_path), clock, {})
    h = gate.propose({"tool": "delete_record", "args": {"id": "r1"}, "tenant": {"id": "acme", "plan": "enterprise"},
                      "agent": {"id": "bot"}})
    assert h.state == "drafted"
    r = Worker(gate).run_once(now=clock.advance(hours=2))
    assert [x.state for x in r.expired] == ["expired"]


def test_an_execution_whose_process_died_is_settled_after_its_lease(tmp_path):
    clock = Clock()

    def dies(args, ctx):
        raise Crash()

    gate = make_gate(store_path(tmp_path), clock, {"issue_refund": Executor(dies)})
    with pytest.raises(Crash):
        gate.propose(refund(10))                            # allowed: runs at once, and the process "dies"
    with gate.store.snapshot() as tx:
        [row] = tx.list_actions(("executing",))
    w = Worker(gate, clock=clock)
    assert w.run_once().changed == 0                       # the lease (15 min) still runs
    clock.advance(minutes=16)
    r = w.run_once()
    assert [(x.id, x.state) for x in r.resumed] == [(row["id"], "failed")]
    assert "interrupted" in gate.get(row["id"]).error
    assert gate.verify().ok


def test_the_thread_runs_rounds_until_stopped(tmp_path):
    clock = Clock()
    gate = make_gate(store_path(tmp_path), clock, {})
    h = gate.propose(refund(50, confidence=0.5))
    rounds: List[Round] = []
    w = Worker(gate, interval=0.05, clock=clock, on_round=rounds.append).start()
    assert w.running and w.start() is w
    clock.advance(hours=5)
    deadline = time.monotonic() + 10
    while gate.get(h.id).state != "escalated" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert gate.get(h.id).state == "escalated"
    w.stop(timeout=5)
    assert not w.running and w.wait(0)
    n = w.rounds
    time.sleep(0.2)
    assert w.rounds == n and n >= 1 and any(r.expired for r in rounds)


def test_a_failing_step_is_reported_and_the_next_round_runs(tmp_path):
    clock = Clock()
    gate = make_gate(store_path(tmp_path), clock, {})
    gate.store.close()                                      # every step now fails
    r = Worker(gate).run_once()
    assert r.errors and r.errors[0].startswith("expire: ")
    with pytest.raises(ValueError, match="positive"):
        Worker(gate, interval=0)


def test_the_settling_step_gets_the_gate_and_the_round_s_time(tmp_path):
    clock = Clock()
    gate = make_gate(store_path(tmp_path), clock, {})
    seen = []

    def settle(g, now=None):
        seen.append((g, now))
        if len(seen) == 2:
            raise RuntimeError("store busy")
        return []

    w = Worker(gate, settle=settle, clock=clock)
    assert w.run_once().errors == []
    assert w.run_once().errors == ["settle: RuntimeError"]
    assert seen == [(gate, clock.now), (gate, clock.now)]


# ---------------------------------------------------------------- signoff worker

def _drafted(tmp_path) -> str:
    path = store_path(tmp_path)
    gate = make_gate(path, Clock(), {})
    h = gate.propose(refund(50, confidence=0.5))
    gate.store.close()
    return h.id


def test_signoff_worker_once_escalates_and_says_so(tmp_path):
    did = _drafted(tmp_path)
    path = store_path(tmp_path)
    run = CliRunner().invoke(cli, ["worker", str(POLICY_PATH), "--store", path, "--once", "--now",
                                   "2026-11-20T13:00:00Z"])
    assert run.exit_code == 0 and run.output == ""
    run = CliRunner().invoke(cli, ["worker", str(POLICY_PATH), "--store", path, "--once", "--now",
                                   "2026-11-20T14:00:01Z"])
    assert run.exit_code == 0, run.output
    assert run.output == f"timed out {did} (issue_refund): escalated to ops_oncall\n"
    run = CliRunner().invoke(cli, ["audit", "verify", "--store", path])
    assert run.exit_code == 0, run.output


class _Hook(BaseHTTPRequestHandler):
    got: List[Any] = []

    def do_POST(self):
        _Hook.got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


def test_signoff_worker_delivers_the_escalation_before_it_exits(tmp_path):
    did = _drafted(tmp_path)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        conf = tmp_path / "signoff.toml"
        conf.write_text(f'[server]\npublic_url = "https://signoff.example.com"\n\n[notifications]\n'
                        f'allow_hosts = ["127.0.0.1"]\n\n[[notifications.webhook]]\n'
                        f'url = "http://127.0.0.1:{server.server_port}/hook"\nkinds = ["escalated"]\n')
        run = CliRunner().invoke(cli, ["worker", str(POLICY_PATH), "--store", store_path(tmp_path), "--once",
                                       "--config", str(conf), "--now", "2026-11-20T15:00:00Z"])
        assert run.exit_code == 0, run.output
        assert [(g["kind"], g["action_id"], g["to"]) for g in _Hook.got] == [("escalated", did, "ops_oncall")]
        assert _Hook.got[0]["link"] == f"https://signoff.example.com/inbox/drafts/{did}"
    finally:
        server.shutdown()
    assert CliRunner().invoke(cli, ["audit", "verify", "--store", store_path(tmp_path)]).exit_code == 0


def test_signoff_worker_refuses_bad_config(tmp_path):
    _drafted(tmp_path)
    conf = tmp_path / "bad.toml"
    conf.write_text('[[notifications.webhook]]\nurl = "https://evil.example/x"\n')
    run = CliRunner().invoke(cli, ["worker", str(POLICY_PATH), "--store", store_path(tmp_path), "--once",
                                   "--config", str(conf)])
    assert run.exit_code == 2
    assert run.output.startswith(f"error: config `{conf}`: `notifications.webhook[0].url`: ")
    conf.write_text("[notifications\n")
    run = CliRunner().invoke(cli, ["worker", str(POLICY_PATH), "--store", store_path(tmp_path), "--once",
                                   "--config", str(conf)])
    assert run.exit_code == 2 and "is not valid TOML" in run.output and "Traceback" not in run.output
    run = CliRunner().invoke(cli, ["worker", str(POLICY_PATH), "--store", str(tmp_path / "none.db"), "--once"])
    assert run.exit_code == 2 and "does not exist" in run.output


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signoff_worker_stops_cleanly_on_a_signal(tmp_path, sig):
    _drafted(tmp_path)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p = subprocess.Popen([sys.executable, "-m", "cli", "worker", str(POLICY_PATH), "--store", store_path(tmp_path),
                          "--interval", "0.2"], cwd=str(ROOT), env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        first = p.stderr.readline()
        assert first.startswith("worker: a round every 0.2s on "), first
        time.sleep(0.5)
        p.send_signal(sig)
        out, err = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err
    assert err.startswith("worker: stopped after ") and "Traceback" not in err
