"""Shared pieces of the HTTP service tests: a real `signoff serve` (uvicorn on 127.0.0.1, a free port) in a
subprocess, a small JSON client, and the identities of the example deployment."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from engine import open_store
from engine.service import add_identity

ROOT = Path(__file__).resolve().parent.parent
POLICY = ROOT / "examples" / "support-ops" / "support.policy"
LISTENING = re.compile(r"^listening on (http://127\.0\.0\.1:\d+)$")


class Server:
    """`python -m cli serve POLICY --store STORE --port 0` until `stop()`; `url` from its `listening on` line."""

    def __init__(self, policy: Path, store: Path, config: Optional[Path] = None, cwd: Optional[Path] = None,
                 extra: Tuple[str, ...] = ()):
        argv = [sys.executable, "-m", "cli", "serve", str(policy), "--store", str(store), "--port", "0",
                "--host", "127.0.0.1", *extra]
        if config is not None:
            argv += ["--config", str(config)]
        env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(argv, cwd=str(cwd or ROOT), env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: List[str] = []
        self.url = ""
        ready = threading.Event()

        def read() -> None:
            assert self.proc.stderr is not None
            for line in self.proc.stderr:
                line = line.rstrip("\n")
                self.lines.append(line)
                m = LISTENING.match(line)
                if m and not self.url:
                    self.url = m.group(1)
                    ready.set()
            ready.set()

        self._reader = threading.Thread(target=read, daemon=True)
        self._reader.start()
        if not ready.wait(90) or not self.url:
            self.stop()
            raise AssertionError("the server did not start:\n" + "\n".join(self.lines))

    def access_log(self) -> List[Dict[str, Any]]:
        """The JSON access-log lines so far."""
        out = []
        for line in list(self.lines):
            if line.startswith("{"):
                try:
                    d = json.loads(line)
                except ValueError:
                    continue
                if "method" in d:
                    out.append(d)
        return out

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._reader.join(5)
        return self.proc.returncode


class Reply:
    """One HTTP answer: status, headers (lowercase names), body text and its JSON when it is JSON."""

    def __init__(self, status: int, headers: Dict[str, str], text: str):
        self.status = status
        self.headers = headers
        self.text = text
        try:
            self.json: Any = json.loads(text) if text else None
        except ValueError:
            self.json = None

    def __repr__(self) -> str:
        return f"Reply({self.status}, {self.text[:300]!r})"


def call(method: str, url: str, token: Optional[str] = None, body: Any = None, raw: Optional[bytes] = None,
         headers: Optional[Dict[str, str]] = None, timeout: float = 90) -> Reply:
    h = dict(headers or {})
    data = raw
    if body is not None:
        data = json.dumps(body).encode()
        h.setdefault("Content-Type", "application/json")
    if token is not None:
        h["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return Reply(r.status, {k.lower(): v for k, v in r.headers.items()}, r.read().decode())
    except urllib.error.HTTPError as e:
        return Reply(e.code, {k.lower(): v for k, v in e.headers.items()}, e.read().decode())


def identities(store: Path, spec: Dict[str, Tuple[List[str], Optional[str], str]]) -> Dict[str, str]:
    """Register identities (id -> (roles, tenant, kind)); their API keys by id."""
    s = open_store(str(store))
    try:
        return {i: add_identity(s, i, roles, tenant, kind) for i, (roles, tenant, kind) in spec.items()}
    finally:
        s.close()


TEAM = {
    "bot": (["agent"], "acme", "agent"),
    "bot2": (["agent"], "acme", "agent"),
    "fiona": (["finance_manager"], "acme", "human"),
    "carl": (["cfo"], "acme", "human"),
    "tara": (["team_lead"], "acme", "human"),
    "audrey": (["auditor"], "acme", "human"),
    "ada": (["admin"], "acme", "human"),
    "eve_bot": (["agent"], "globex", "agent"),
    "eve": (["finance_manager", "cfo", "team_lead", "auditor"], "globex", "human"),
}

BIG_REFUND = {"tool": "issue_refund", "args": {"amount": 250, "invoice_id": "inv_1", "customer_id": "c1"},
              "confidence": 0.95, "tenant": {"plan": "business"}}
SMALL_REFUND = {"tool": "issue_refund", "args": {"amount": 50, "invoice_id": "inv_2", "customer_id": "c2"},
                "confidence": 0.5, "tenant": {"plan": "business"}}


def wait_for(pred, timeout: float = 30.0, step: float = 0.1) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return pred()


def form_call(method: str, url: str, body: Optional[str] = None, cookies: Optional[Dict[str, str]] = None
              ) -> Tuple[int, Optional[str], str, Dict[str, str]]:
    """One request as a browser's form or link makes it, without following redirects: (status, Location,
    body, the cookies it sets by name)."""
    import http.client
    from urllib.parse import urlsplit
    u = urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    h = {"Content-Type": "application/x-www-form-urlencoded"} if body is not None else {}
    if cookies:
        h["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    c.request(method, u.path + ("?" + u.query if u.query else ""), body=body, headers=h)
    r = c.getresponse()
    text = r.read().decode()
    jar = {}
    for k, v in r.getheaders():
        if k.lower() == "set-cookie":
            name, _, rest = v.partition("=")
            jar[name] = rest.split(";", 1)[0]
    c.close()
    return r.status, r.getheader("Location"), text, jar
