"""One send per response: uvicorn's httptools protocol over a transport that joins the writes of one turn of
the event loop (the status line and headers, then the body) into a single write.

uvicorn writes a response's head and its body separately: two send(2) calls and, with TCP_NODELAY, two
segments the client wakes up for. Under load that was two fifths of the server's time on loopback
(docs/performance.md). The writes of one turn are queued and sent together at its end (`call_soon`), so no
response waits for more than the rest of the turn; `close` sends what is queued first.
"""
from __future__ import annotations

import asyncio
from typing import Any, List, Optional

__all__ = ["JoinedWrites", "protocol_class"]


class JoinedWrites:
    """A transport wrapper: `write` queues, the end of the loop's turn sends the queue as one write; every other
    attribute is the wrapped transport's."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop):
        self._transport = transport
        self._loop = loop
        self._queued: List[bytes] = []

    def write(self, data: bytes) -> None:
        """Queue `data`; the first write of a turn schedules the send."""
        if not self._queued:
            self._loop.call_soon(self._send)
        self._queued.append(data)

    def _send(self) -> None:
        if self._queued:
            data = b"".join(self._queued)
            self._queued.clear()
            if not self._transport.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        """Send what is queued, then close."""
        self._send()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def protocol_class() -> Optional[type]:
    """The httptools protocol of uvicorn with joined writes, or None when httptools is not installed (uvicorn then
    picks its own)."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:
        return None

    class JoinedHttpToolsProtocol(HttpToolsProtocol):
        """`HttpToolsProtocol` writing each response with one send."""

        # uvicorn narrows BaseTransport to Transport (override); JoinedWrites is a Transport by delegation
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            """The connection, over a transport that joins the writes of one turn."""
            super().connection_made(JoinedWrites(transport, self.loop))  # type: ignore[arg-type]

    return JoinedHttpToolsProtocol
