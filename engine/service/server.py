"""`signoff serve`: uvicorn on HOST:PORT, `listening on …` once it accepts, SIGHUP reloads, SIGTERM drains."""
from __future__ import annotations

import asyncio
import logging
import contextlib
import signal
import sys
from typing import Any, Callable, Coroutine, Optional, Sequence

import uvicorn

from .app import Service, create_app
from .config import ServiceConfig
from .errors import Problem
from .transport import protocol_class

__all__ = ["serve"]


class _Buffered(logging.StreamHandler):
    """Writes log lines to a block-buffered stream that `flush` leaves alone: `send` writes them, from the
    serving loop every 50 ms and at exit, so under load one write(2) carries many lines (no thread, no
    per-line system call on the event loop)."""

    def flush(self) -> None:
        """Nothing: lines go out with `send`."""

    def send(self) -> None:
        """Write the buffered lines."""
        with self.lock or contextlib.nullcontext():
            self.stream.flush()


def _logging() -> _Buffered:
    """The service's loggers, one JSON object a line on stderr (the access log never holds a header, a key or a
    body), through one buffered handler; returns it."""
    stream = open(sys.stderr.fileno(), "w", buffering=1 << 16, encoding="utf-8", errors="backslashreplace",
                  closefd=False)
    handler = _Buffered(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    for name in ("signoff.access", "signoff.service", "signoff.audit", "signoff.reload", "signoff.worker"):
        lg = logging.getLogger(name)
        lg.handlers[:] = [handler]
        lg.setLevel(logging.INFO)
        lg.propagate = False
    return handler


def _run(main: Callable[[], Coroutine[Any, Any, None]], loop_factory: Optional[Callable[[], Any]]) -> None:
    """`asyncio.run(main())` on the loop uvicorn would pick (uvloop when installed)."""
    runner = getattr(asyncio, "Runner", None)
    if runner is None or loop_factory is None:   # Python 3.10: uvloop's policy does the same
        if loop_factory is not None:
            asyncio.set_event_loop_policy(_policy_of(loop_factory))
        asyncio.run(main())
        return
    with runner(loop_factory=loop_factory) as r:
        r.run(main())


def _policy_of(loop_factory: Callable[[], Any]) -> asyncio.AbstractEventLoopPolicy:
    class Policy(asyncio.DefaultEventLoopPolicy):
        def new_event_loop(self) -> asyncio.AbstractEventLoop:
            return loop_factory()
    return Policy()


def serve(policy: str, store: str, host: str = "127.0.0.1", port: int = 8000,
          config: Optional[ServiceConfig] = None, say: Callable[[str], None] = print,
          shadow: Sequence[str] = ()) -> None:
    """Run the service until SIGINT/SIGTERM (in-flight requests finish first), with `shadow` candidate policy
    files deciding every proposal too (recorded, never enforced). Raises PolicyError, StoreError or ConfigError
    before it listens when a policy, the store or the config cannot be used."""
    log = _logging()
    try:
        _serve(policy, store, host, port, config, say, log, shadow)
    finally:
        log.send()   # the lines still buffered


def _serve(policy: str, store: str, host: str, port: int, config: Optional[ServiceConfig],
           say: Callable[[str], None], lines: _Buffered, shadow: Sequence[str] = ()) -> None:
    app = create_app(policy, store, config, shadow=shadow)
    svc: Service = app.state.service
    # uvloop and httptools (one send per response) when installed; uvicorn's own access log off: ours is the JSON one
    ucfg = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, lifespan="on",
                          timeout_graceful_shutdown=30, server_header=False, date_header=True, proxy_headers=False,
                          loop="auto", http=protocol_class() or "auto", backlog=2048)
    server = uvicorn.Server(ucfg)
    log = logging.getLogger("signoff.reload")

    def reload() -> None:
        try:
            before, after = svc.holder.reload(None, "sighup")
            svc.metrics.reloads.inc()
            log.info('{"event": "policy_reloaded", "from": "%s", "to": "%s"}', before["digest"], after["digest"])
        except Problem as p:
            log.info('{"event": "policy_refused", "detail": %s}', _json(p.detail))

    async def main() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                await task
                return
            await asyncio.sleep(0.02)
        sock = server.servers[0].sockets[0].getsockname()
        shown = f"[{sock[0]}]" if ":" in sock[0] else sock[0]
        say(f"listening on http://{shown}:{sock[1]}")
        loop = asyncio.get_running_loop()
        if hasattr(signal, "SIGHUP"):
            loop.add_signal_handler(signal.SIGHUP, lambda: loop.run_in_executor(None, reload))
        while not task.done():
            if server.should_exit:
                svc.shutting_down = True   # long-polls answer now; uvicorn waits for in-flight requests
            lines.send()
            await asyncio.sleep(0.05)
        await task

    # uvicorn drains on SIGINT/SIGTERM, then raises the signal again under the handlers it found: these make
    # that a clean return (exit status 0, never a KeyboardInterrupt traceback); one that comes before uvicorn
    # took over stops it as soon as it starts
    def _done(signum: int, frame: object) -> None:
        server.should_exit = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _done)
    factory = ucfg.get_loop_factory() if hasattr(ucfg, "get_loop_factory") else None   # uvicorn >= 0.36
    if factory is None and hasattr(ucfg, "setup_event_loop"):
        ucfg.setup_event_loop()   # older uvicorn: installs uvloop's policy
    _run(main, factory)


def _json(s: str) -> str:
    import json
    return json.dumps(s)
