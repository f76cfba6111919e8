#!/usr/bin/env python3
"""HTTP service benchmark: a real `signoff serve` (uvicorn on 127.0.0.1), 50 agents and 5 approvers.

For a bounded time, 50 agent threads (one keep-alive connection each) call `POST /v1/decide` and, one
call in ten, `POST /v1/proposals`; refunds over 100 wait for two approvers, whom 5 approver threads give
through the API; each agent claims and completes its approved drafts. At the end it prints decisions/s and
p50/p99 latency for /v1/decide and /v1/proposals, and checks the store: drafts lost (proposed but not in
the store) and executed twice (more than one `executed` record) must both be 0 (exit 1 otherwise).

    python bench/serve.py                 # 20 s of load
    python bench/serve.py --seconds 5     # a short run
"""
from __future__ import annotations

import argparse
import http.client
import json
import random
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, List

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from engine import SQLiteStore  # noqa: E402
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
    """One keep-alive connection."""

    def __init__(self, host: str, port: int, key: str):
        self.conn = http.client.HTTPConnection(host, port, timeout=60)
        self.auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def call(self, method: str, path: str, body=None):
        data = json.dumps(body) if body is not None else None
        self.conn.request(method, path, body=data, headers=self.auth)
        r = self.conn.getresponse()
        return r.status, json.loads(r.read() or b"null")


def pct(xs: List[float], p: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--agents", type=int, default=50)
    ap.add_argument("--approvers", type=int, default=5)
    args = ap.parse_args()
    d = Path(tempfile.mkdtemp(prefix="signoff-bench-"))
    (d / "bench.policy").write_text(POLICY)
    store = SQLiteStore(str(d / "s.db"))
    agents = [add_identity(store, f"agent{i}", ["agent"], "acme", "agent") for i in range(args.agents)]
    approvers = [add_identity(store, f"approver{i}", ["finance_manager" if i % 2 else "cfo"], "acme", "human")
                 for i in range(args.approvers)]
    store.close()
    srv = Server(d / "bench.policy", d / "s.db")
    host, port = srv.url.split("//")[1].split(":")
    stop = time.monotonic() + args.seconds
    lat: Dict[str, List[float]] = {"decide": [], "proposals": []}
    proposed: List[str] = []
    errors: List[str] = []
    lock = threading.Lock()

    def agent(key: str, seed: int) -> None:
        rnd = random.Random(seed)
        c = Client(host, int(port), key)
        mine: List[str] = []
        n = 0
        while time.monotonic() < stop:
            n += 1
            action = {"tool": "refund", "args": {"amount": rnd.choice([20, 60, 250])}, "confidence": 0.9}
            path = "/v1/proposals" if n % 10 == 0 else "/v1/decide"
            t0 = time.perf_counter()
            status, body = c.call("POST", path, action)
            dt = time.perf_counter() - t0
            with lock:
                lat["proposals" if path == "/v1/proposals" else "decide"].append(dt)
                if status not in (200, 201):
                    errors.append(f"{path} {status}")
                elif path == "/v1/proposals":
                    proposed.append(body["id"])
            if path == "/v1/proposals" and status == 201:
                mine.append(body["id"])
            if n % 25 == 0:
                for did in list(mine):
                    s, b = c.call("POST", f"/v1/drafts/{did}/claim")
                    if s == 200:
                        c.call("POST", f"/v1/drafts/{did}/complete", {"lease": b["lease"], "ok": True})
                        mine.remove(did)

    def approver(key: str) -> None:
        c = Client(host, int(port), key)
        while time.monotonic() < stop:
            s, b = c.call("GET", "/v1/drafts?state=drafted")
            for dr in (b or {}).get("drafts", [])[:20]:
                c.call("POST", f"/v1/drafts/{dr['id']}/approve", {"hash": dr["hash"]})
            time.sleep(0.2)

    threads = [threading.Thread(target=agent, args=(k, i)) for i, k in enumerate(agents)]
    threads += [threading.Thread(target=approver, args=(k,)) for k in approvers]
    t_start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t_start
    srv.stop()
    db = sqlite3.connect(str(d / "s.db"))
    stored = {r[0] for r in db.execute("SELECT id FROM actions")}
    lost = len([p for p in proposed if p not in stored])
    twice = db.execute("SELECT COUNT(*) FROM (SELECT action_id FROM events WHERE kind = 'executed' "
                       "GROUP BY action_id HAVING COUNT(*) > 1)").fetchone()[0]
    executed = db.execute("SELECT COUNT(*) FROM actions WHERE state = 'executed'").fetchone()[0]
    print(f"{args.agents} agents, {args.approvers} approvers, {elapsed:.1f} s")
    for k in ("decide", "proposals"):
        xs = lat[k]
        print(f"/v1/{k}: {len(xs) / elapsed:8.0f} per s   p50 {pct(xs, .5) * 1000:6.2f} ms   "
              f"p99 {pct(xs, .99) * 1000:6.2f} ms   ({len(xs)} calls)")
    print(f"drafts proposed {len(proposed)}, executed {executed}, lost {lost}, executed twice {twice}, "
          f"errors {len(errors)}")
    return 1 if lost or twice or errors else 0


if __name__ == "__main__":
    sys.exit(main())
