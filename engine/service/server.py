"""`signoff serve`: uvicorn on HOST:PORT, `listening on …` once it accepts, SIGHUP reloads, SIGTERM drains."""
from __future__ import annotations

import asyncio
import logging
import signal
import sys
from typing import Callable, Optional

import uvicorn

from .app import Service, create_app
from .config import ServiceConfig
from .errors import Problem

__all__ = ["serve"]


def _logging() -> None:
    # the access log is one JSON object a line on stderr; it never holds a header, a key or a body
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    for name in ("signoff.access", "signoff.service", "signoff.audit", "signoff.reload"):
        lg = logging.getLogger(name)
        lg.handlers[:] = [handler]
        lg.setLevel(logging.INFO)
        lg.propagate = False


def serve(policy: str, store: str, host: str = "127.0.0.1", port: int = 8000,
          config: Optional[ServiceConfig] = None, say: Callable[[str], None] = print) -> None:
    """Run the service until SIGINT/SIGTERM (in-flight requests finish first). Raises PolicyError, StoreError
    or ConfigError before it listens when the policy, store or config cannot be used."""
    _logging()
    app = create_app(policy, store, config)
    svc: Service = app.state.service
    ucfg = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, lifespan="on",
                          timeout_graceful_shutdown=30, server_header=False, date_header=True, proxy_headers=False)
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
            await asyncio.sleep(0.05)
        await task

    # uvicorn drains on SIGINT/SIGTERM, then raises the signal again under the handlers it found: these make
    # that a clean return (exit status 0, never a KeyboardInterrupt traceback); one that comes before uvicorn
    # took over stops it as soon as it starts
    def _done(signum: int, frame: object) -> None:
        server.should_exit = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _done)
    asyncio.run(main())


def _json(s: str) -> str:
    import json
    return json.dumps(s)
