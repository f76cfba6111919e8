"""Notification channels: tell a route's approvers (or an escalation target) that a draft needs them."""
from __future__ import annotations

import ipaddress
import json
import logging
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Protocol, TextIO, runtime_checkable

from policy_lang.safe_text import safe_json, safe_text

__all__ = ["Notification", "Channel", "ConsoleChannel", "LogChannel", "WebhookChannel", "MemoryChannel"]


@dataclass
class Notification:
    """What a channel gets. `kind`: approval_needed | escalated | expired. `roles` are the route's approver
    roles (who holds them is the deployment's business); `to` is an escalation target."""
    kind: str
    action_id: str
    tenant: Optional[str]
    tool: str
    args: Dict[str, Any]
    roles: List[str] = field(default_factory=list)
    routes: List[str] = field(default_factory=list)
    to: Optional[str] = None
    reasons: List[str] = field(default_factory=list)
    deadline: Optional[str] = None

    def text(self) -> str:
        """One line for a console or a log. The tool, arguments, tenant and reasons are the agent's and the
        policy's: each is shown through `safe_text`, so no control or bidi character reaches a terminal."""
        s = safe_text
        args = safe_json(self.args, sort_keys=True)
        why = "; ".join(s(r) for r in self.reasons)
        if self.kind == "approval_needed":
            head = f"approval needed from {', '.join(s(r) for r in self.roles)} via {', '.join(s(r) for r in self.routes)}"
        elif self.kind == "escalated":
            head = f"escalated to {s(self.to)}"
        else:
            head = s(self.kind)
        tenant = f" [{s(self.tenant)}]" if self.tenant else ""
        return f"signoff: {head}: {s(self.tool)} {args}{tenant} (draft {s(self.action_id)}){': ' + why if why else ''}"

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)


@runtime_checkable
class Channel(Protocol):
    """Anything with a `name` and a `send` that raises when the message did not go out."""
    name: str

    def send(self, note: Notification) -> None: ...


class ConsoleChannel:
    """Writes each notification's text to a stream (stderr by default)."""
    name = "console"

    def __init__(self, stream: Optional[TextIO] = None):
        self.stream = stream

    def send(self, note: Notification) -> None:
        print(note.text(), file=self.stream or sys.stderr, flush=True)


class LogChannel:
    """Logs each notification to the `signoff.approvals` logger (or the one given), its fields as `extra`."""
    name = "log"

    def __init__(self, logger: Optional[logging.Logger] = None, level: int = logging.WARNING):
        self.logger = logger or logging.getLogger("signoff.approvals")
        self.level = level

    def send(self, note: Notification) -> None:
        self.logger.log(self.level, note.text(), extra={"signoff": note.to_dict()})


class MemoryChannel:
    """Keeps what it was sent: for tests and for embedding in a UI process."""
    name = "memory"

    def __init__(self) -> None:
        self.sent: List[Notification] = []

    def send(self, note: Notification) -> None:
        self.sent.append(note)


def _loopback(host: Optional[str]) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # a redirect could send the payload off the machine: a 3xx is an error, never followed
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: D102
        return None


class WebhookChannel:
    """POSTs the notification as JSON to a local relay. Loopback only: the relay that reaches chat or email
    is the deployment's, so a policy's data never leaves the machine from inside the engine."""
    name = "webhook"

    def __init__(self, url: str, timeout: float = 2.0, headers: Optional[Dict[str, str]] = None):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not _loopback(parts.hostname):
            raise ValueError(f"webhook url `{url}` must be http(s) to a loopback address (127.0.0.1, ::1, localhost)")
        self.url = url
        self.timeout = timeout
        self.headers = dict(headers or {})

    def send(self, note: Notification) -> None:
        body = json.dumps(note.to_dict(), sort_keys=True, ensure_ascii=False).encode("utf-8")
        req = urllib.request.Request(self.url, data=body, method="POST",
                                     headers={"Content-Type": "application/json", **self.headers})
        # no proxies: a loopback URL must not be handed to an HTTP proxy from the environment
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())
        with opener.open(req, timeout=self.timeout) as resp:
            if not 200 <= resp.status < 300:
                raise RuntimeError(f"webhook answered {resp.status}")
