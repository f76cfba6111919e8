"""`signoff worker`: timeouts and leases settled on a schedule, where no `signoff serve` runs."""
from __future__ import annotations

import signal
import sys
from datetime import datetime
from typing import Any, Dict, List, Optional

import click

from engine import Gate, Handle

from engine.service.notify import ConfigError, close_channels, load_channels
from engine.service.worker import Round, Worker

from .approvals_cmd import EXIT_REFUSED, fail, now_option, open_store, parse_now, store_option
from .inputs import load_or_exit
from .output import echo, field

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


def read_config(path: Optional[str]) -> Dict[str, Any]:
    """`--config FILE` as a TOML document ({} without one); unreadable or not TOML: exit 2."""
    if path is None:
        return {}
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as e:
        fail(f"cannot read config `{path}`: {(e.strerror or str(e)).lower()}")
        raise
    except tomllib.TOMLDecodeError as e:
        fail(f"config `{path}` is not valid TOML: {str(e).lower()}")
        raise
    return data


def _line(h: Handle, what: str) -> str:
    if h.state == "escalated" and h.escalate_to:
        return f"{what} {field(h.id)} ({field(h.tool)}): escalated to {field(h.escalate_to)}"
    return f"{what} {field(h.id)} ({field(h.tool)}): {field(h.state)}"


def report(r: Round) -> List[str]:
    """One line per draft the round moved, then one per step that failed."""
    lines = [_line(h, "timed out") for h in r.expired]
    lines += [_line(h, "resumed") for h in r.resumed]
    lines += [_line(h, "lease ran out") for h in r.settled]
    return lines


@click.command(name="worker")
@click.argument("policy", type=click.Path(dir_okay=False))
@store_option
@click.option("--interval", type=click.FloatRange(min=0.1, max=3600), default=None, metavar="SECONDS",
              help="Seconds between rounds (default: the config's server.worker_interval, else 5).")
@click.option("--config", "config_path", metavar="FILE", type=click.Path(dir_okay=False),
              help="TOML settings: the [notifications] channels told of escalations, server.public_url.")
@click.option("--once", is_flag=True, help="Run one round, deliver its notifications, and exit.")
@now_option
def worker(policy: str, store_path: str, interval: Optional[float], config_path: Optional[str], once: bool,
           now_text: Optional[str]) -> None:
    """Settle timeouts and expired leases on a schedule.

    Every few seconds until SIGTERM or Ctrl-C (or once, with --once): drafts past their route's timeout
    expire or escalate, and executions whose lease ran out are settled."""
    pol = load_or_exit(policy, "the worker did not start")
    config = read_config(config_path)
    server = config.get("server") or {}
    if not isinstance(server, dict):
        fail("`server` must be a table")
    if interval is None:
        iv = server.get("worker_interval", 5.0)
        if isinstance(iv, bool) or not isinstance(iv, (int, float)) or not 0.1 <= iv <= 3600:
            fail("`server.worker_interval` must be a number of seconds from 0.1 to 3600")
        interval = float(iv)
    now: Optional[datetime] = parse_now(now_text)
    store = open_store(store_path)
    gate: Optional[Gate] = None
    try:
        channels = load_channels(config.get("notifications"), base_url=server.get("public_url"), audit=store,
                                 digest=lambda: gate.policy.digest if gate is not None and gate.policy else "")
    except ConfigError as e:
        store.close()
        fail(f"config `{config_path}`: {e.message}")
        raise
    gate = Gate(pol, store, channels=channels, clock=(lambda: now) if now is not None else None)
    failed = False

    def show(r: Round) -> None:
        nonlocal failed
        for line in report(r):
            echo(line)
        for err in r.errors:
            failed = True
            echo(f"error: {field(err)}", err=True)

    w = Worker(gate, interval, on_round=show)
    try:
        if once:
            w.run_once()
        else:
            w.start()
            previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
            for s in previous:
                signal.signal(s, lambda *_: w.stop(timeout=0))
            echo(f"worker: a round every {interval:g}s on {field(store_path)}; stop with SIGTERM or Ctrl-C",
                 err=True)
            try:
                while not w.wait(1.0):
                    pass
                w.stop()
            finally:
                for s, h in previous.items():
                    signal.signal(s, h)
            echo(f"worker: stopped after {w.rounds} round{'s' if w.rounds != 1 else ''}", err=True)
    finally:
        close_channels(channels)
        store.close()
    if once and failed:
        sys.exit(EXIT_REFUSED)
