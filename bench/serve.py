#!/usr/bin/env python3
"""HTTP service benchmark: a real `signoff serve` (uvicorn on 127.0.0.1), 50 agents and 5 approvers.

For a bounded time, 50 agent threads (one keep-alive connection each) call `POST /v1/decide` and, one
call in ten, `POST /v1/proposals`; refunds over 100 wait for two approvers, whom 5 approver threads give
through the API; each agent claims and completes its approved drafts. At the end it prints decisions/s and
p50/p99 latency for /v1/decide, /v1/proposals and approvals, and checks the store: drafts lost (proposed but not in
the store) and executed twice (more than one `executed` record) must both be 0 (exit 1 otherwise).

It also prints the CPU time the server and the clients used per call (a figure that other load on the
machine does not change much) and the load average. `--rate R` makes the agents open-loop: together they
send R calls per second on a fixed schedule, whatever the answers take, and a call's latency counts from
when it was due (so a server that falls behind is charged for the wait: no coordinated omission). The
default is closed-loop: each agent sends its next call when the last one is answered, so with 50 agents
the latency is mostly the queue the agents themselves keep full.

    python bench/serve.py                 # 20 s of load
    python bench/serve.py --seconds 5     # a short run
    python bench/serve.py --propose-every 0 --rate 1000   # decide only, 1,000 calls per second offered
    python bench/serve.py --store postgresql://…/db --servers 3   # three servers on one PostgreSQL

`--store` takes an empty store (a `postgresql://` URL of an empty database or schema; default a new SQLite
file); `--servers N` starts N servers on it and spreads the client processes and approvers over them. It
also prints the audit records appended per second.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Dict, List

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from engine import open_store  # noqa: E402
from engine.service import add_identity  # noqa: E402
from server_helpers import Server  # noqa: E402

POLICY = """policy "bench"
version "1"

route finance {
  approvers "finance_manager", "cfo"
  quorum 2
}

tool refund {
  schema {"type": "object", "required": ["amount"], "properties": {"amount": {"type": "number"}}}
  risk high when args.amount > 100
  risk low otherwise
}

category low {
  allow when confidence >= 0.5
  require approval via finance otherwise
}
category high {
  require approval via finance
}

unknown tools deny
"""


class Client:
    """One keep-alive connection speaking just enough HTTP/1.1: each request's bytes are built once and kept
    (the agents send three bodies over and over), responses are read by their Content-Length, and only
    the answers the agent needs are parsed. The load generator shares the two cores with the server, so
    every microsecond it saves is the server's; http.client and json per call cost about twice as much."""

    def __init__(self, host: str, port: int, key: str):
        self.addr = (host, port)
        self.head = f"Host: {host}:{port}\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\n"
        self.requests: Dict[Any, bytes] = {}
        self.sock = socket.create_connection(self.addr, timeout=60)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def call(self, method: str, path: str, body: Any = None, parse: bool = True):
        """(status, the parsed JSON answer or None when `parse` is false)."""
        data = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else b"")
        key = (method, path, data)
        req = self.requests.get(key)
        if req is None:
            req = f"{method} {path} HTTP/1.1\r\n{self.head}Content-Length: {len(data)}\r\n\r\n".encode() + data
            if len(self.requests) < 64:
                self.requests[key] = req
        self.sock.sendall(req)
        buf = self.buf
        while b"\r\n\r\n" not in buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the server closed the connection")
            buf += chunk
        head, _, rest = buf.partition(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        while len(rest) < length:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the server closed the connection")
            rest += chunk
        self.buf = rest[length:]
        return status, (json.loads(rest[:length] or b"null") if parse else None)


def pct(xs: List[float], p: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]


def agent(host: str, port: int, key: str, seed: int, stop_at: float, out: dict, lock: threading.Lock,
          every: int = 10, interval: float = 0.0) -> None:
    """One agent: decide, and one call in ten propose; claim and complete what was approved. With an
    `interval`, calls are due on a fixed schedule (open loop) and latency counts from when each was due."""
    rnd = random.Random(seed)
    c = Client(host, port, key)
    bodies = [json.dumps({"tool": "refund", "args": {"amount": amount}, "confidence": 0.9}).encode()
              for amount in (20, 60, 250)]
    mine: List[str] = []
    n = 0
    due = time.perf_counter() + rnd.random() * interval   # spread the agents' schedules
    while time.time() < stop_at:
        n += 1
        action = bodies[rnd.randrange(3)]
        path = "/v1/proposals" if every and n % every == 0 else "/v1/decide"
        if interval:
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            t0 = due
            due += interval
        else:
            t0 = time.perf_counter()
        status, body = c.call("POST", path, action, parse=path == "/v1/proposals")
        dt = time.perf_counter() - t0
        with lock:
            out["lat"]["proposals" if path == "/v1/proposals" else "decide"].append(dt)
            if status not in (200, 201):
                out["errors"].append(f"{path} {status}")
            elif path == "/v1/proposals":
                out["proposed"].append(body["id"])
        if path == "/v1/proposals" and status == 201:
            mine.append(body["id"])
        if n % 25 == 0:
            for did in list(mine):
                s, b = c.call("POST", f"/v1/drafts/{did}/claim")
                if s == 200:
                    c.call("POST", f"/v1/drafts/{did}/complete", {"lease": b["lease"], "ok": True})
                    mine.remove(did)


def agent_process(host: str, port: int, keys: List[str], seed: int, seconds: float, q: Any, every: int,
                  interval: float, ready: Any, go: Any, start: Any) -> None:
    """A client process running some of the agents as threads (one client's GIL would be the limit). It
    says when it is ready and waits for the common start, so every process sends for the same window
    however long spawning took on a loaded machine."""
    ready.put(os.getpid())
    go.wait()
    stop_at = start.value + seconds
    out: dict = {"lat": {"decide": [], "proposals": []}, "proposed": [], "errors": [], "start": time.time()}
    lock = threading.Lock()
    ts = [threading.Thread(target=agent, args=(host, port, k, seed + i, stop_at, out, lock, every, interval))
          for i, k in enumerate(keys)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    out["cpu"] = time.process_time()
    out["end"] = time.time()
    q.put(out)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc; NaN elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def approver(host: str, port: int, key: str, stop_at: float, out: List[float], lock: threading.Lock) -> None:
    """One approver: approve what waits, through the API; each approval's latency goes to `out`."""
    c = Client(host, port, key)
    while time.time() < stop_at:
        s, b = c.call("GET", "/v1/drafts?state=drafted")
        for dr in (b or {}).get("drafts", [])[:20]:
            t0 = time.perf_counter()
            s, _ = c.call("POST", f"/v1/drafts/{dr['id']}/approve", {"hash": dr["hash"]})
            if s == 200:   # a 409 is another approver's quorum met first: no approval recorded
                with lock:
                    out.append(time.perf_counter() - t0)
        time.sleep(0.2)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--agents", type=int, default=50)
    ap.add_argument("--approvers", type=int, default=5)
    ap.add_argument("--procs", type=int, default=2, help="client processes the agents are spread over")
    ap.add_argument("--propose-every", type=int, default=10, help="one call in N is a proposal (0: decide only)")
    ap.add_argument("--rate", type=float, default=0.0,
                    help="open loop: the agents together send this many calls per second (0: closed loop)")
    ap.add_argument("--store", default="", help="an empty store: a `postgresql://` URL (default: a new SQLite file)")
    ap.add_argument("--servers", type=int, default=1, help="servers started on the one store")
    args = ap.parse_args()
    d = Path(tempfile.mkdtemp(prefix="signoff-bench-"))
    (d / "bench.policy").write_text(POLICY)
    spec = args.store or str(d / "s.db")
    store = open_store(spec)
    agents = [add_identity(store, f"agent{i}", ["agent"], "acme", "agent") for i in range(args.agents)]
    approvers = [add_identity(store, f"approver{i}", ["finance_manager" if i % 2 else "cfo"], "acme", "human")
                 for i in range(args.approvers)]
    store.close()
    servers = [Server(d / "bench.policy", spec) for _ in range(args.servers)]
    where = [(u.split("//")[1].split(":")[0], int(u.split(":")[-1])) for u in (s.url for s in servers)]
    ctx = mp.get_context("spawn")
    q, ready, go, start = ctx.Queue(), ctx.Queue(), ctx.Event(), ctx.Value("d", 0.0)
    interval = args.agents / args.rate if args.rate > 0 else 0.0
    procs = [ctx.Process(target=agent_process, args=(*where[i % len(where)], agents[i::args.procs], i * 1000,
                                                     args.seconds, q, args.propose_every, interval, ready, go, start))
             for i in range(args.procs)]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get()
    load_before = os.getloadavg()
    server_cpu = sum(cpu_seconds(s.proc.pid) for s in servers)
    start.value = time.time()
    stop_at = start.value + args.seconds
    go.set()
    approvals: List[float] = []
    appr_lock = threading.Lock()
    appr = [threading.Thread(target=approver, args=(*where[i % len(where)], k, stop_at, approvals, appr_lock))
            for i, k in enumerate(approvers)]
    for t in appr:
        t.start()
    results = [q.get() for _ in procs]
    for p in procs:
        p.join()
    for t in appr:
        t.join()
    # calls per second over the time the client processes were sending (spawning them takes a second or two)
    elapsed = max(r["end"] for r in results) - min(r["start"] for r in results)
    server_cpu = sum(cpu_seconds(s.proc.pid) for s in servers) - server_cpu
    load_after = os.getloadavg()
    for s in servers:
        s.stop()
    lat: Dict[str, List[float]] = {"decide": [], "proposals": []}
    proposed: List[str] = []
    errors: List[str] = []
    for r in results:
        for k in lat:
            lat[k].extend(r["lat"][k])
        proposed.extend(r["proposed"])
        errors.extend(r["errors"])
    store = open_store(spec)
    with store.snapshot() as tx:
        actions = tx.list_actions()
        events = tx.events()
    store.close()
    stored = {a["id"] for a in actions}
    lost = len([p for p in proposed if p not in stored])
    runs: Dict[str, int] = {}
    for e in events:
        if e["kind"] == "executed":
            runs[e["action_id"]] = runs.get(e["action_id"], 0) + 1
    twice = sum(1 for n in runs.values() if n > 1)
    executed = sum(1 for a in actions if a["state"] == "executed")
    mode = f"open loop at {args.rate:g} calls/s offered" if args.rate > 0 else "closed loop"
    kind = "PostgreSQL" if spec.startswith("postgres") else "SQLite"
    print(f"{args.servers} server(s) on one {kind} store; "
          f"{args.agents} agents in {args.procs} client processes, {args.approvers} approvers, {elapsed:.1f} s, "
          f"{mode}; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after (1 min)")
    for k in ("decide", "proposals"):
        xs = lat[k]
        print(f"/v1/{k}: {len(xs) / elapsed:8.0f} per s   p50 {pct(xs, .5) * 1000:6.2f} ms   "
              f"p99 {pct(xs, .99) * 1000:6.2f} ms   ({len(xs)} calls)")
    print(f"approvals: {len(approvals) / elapsed:8.0f} per s   p50 {pct(approvals, .5) * 1000:6.2f} ms   "
          f"p99 {pct(approvals, .99) * 1000:6.2f} ms   ({len(approvals)} calls)")
    calls = sum(len(xs) for xs in lat.values()) + len(approvals)
    client_cpu = sum(r["cpu"] for r in results)
    print(f"CPU per call: server {server_cpu / max(calls, 1) * 1e6:.0f} us, agents' clients "
          f"{client_cpu / max(calls, 1) * 1e6:.0f} us (server {server_cpu / elapsed * 100:.0f}% of a core)")
    print(f"audit records appended: {len(events) / elapsed:.0f} per s ({len(events)})")
    print(f"drafts proposed {len(proposed)}, executed {executed}, lost {lost}, executed twice {twice}, "
          f"errors {len(errors)}")
    return 1 if lost or twice or errors else 0


if __name__ == "__main__":
    sys.exit(main())
