"""Notification channels: tell a route's approvers (or an escalation target) that a draft needs them."""
from __future__ import annotations

import email.policy
import hashlib
import hmac
import ipaddress
import json
import logging
import smtplib
import socket
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import (Any, Collection, Dict, Iterable, List, Mapping, Optional, Protocol, TextIO, Union,
                    runtime_checkable)

from policy_lang.safe_text import safe_json, safe_text

from .identity import IdentityError, canonical_id

__all__ = ["Notification", "Channel", "ConsoleChannel", "LogChannel", "WebhookChannel", "MemoryChannel",
           "SlackChannel", "EmailChannel", "Delivery", "DeliveryError", "sign_body", "verify_signature",
           "SIGNATURE_HEADER", "draft_link", "slack_escape"]


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
        """The fields as a JSON-ready dict (what a webhook receives)."""
        return asdict(self)


@runtime_checkable
class Channel(Protocol):
    """Anything with a `name` and a `send` that raises when the message did not go out. Behind a Dispatcher a
    channel may also offer `deliver(note, delivery)` (one attempt of a delivery, returning a status, raising
    DeliveryError), `wants(note)` (False: nothing to send) and `target` (what the audit log may show of
    where it sends)."""
    name: str

    def send(self, note: Notification) -> None:
        """Deliver one notification (or queue it); raise DeliveryError when it cannot be delivered."""
        ...


class ConsoleChannel:
    """Writes each notification's text to a stream (stderr by default)."""
    name = "console"

    def __init__(self, stream: Optional[TextIO] = None):
        self.stream = stream

    def send(self, note: Notification) -> None:
        """Write the notification's one-line text to the stream."""
        print(note.text(), file=self.stream or sys.stderr, flush=True)


class LogChannel:
    """Logs each notification to the `signoff.approvals` logger (or the one given), its fields as `extra`."""
    name = "log"

    def __init__(self, logger: Optional[logging.Logger] = None, level: int = logging.WARNING):
        self.logger = logger or logging.getLogger("signoff.approvals")
        self.level = level

    def send(self, note: Notification) -> None:
        """Log the notification's text, with its fields under `extra["signoff"]`."""
        self.logger.log(self.level, note.text(), extra={"signoff": note.to_dict()})


class MemoryChannel:
    """Keeps what it was sent: for tests and for embedding in a UI process."""
    name = "memory"

    def __init__(self) -> None:
        self.sent: List[Notification] = []

    def send(self, note: Notification) -> None:
        """Keep the notification in `sent`."""
        self.sent.append(note)



# ---------------------------------------------------------------- delivering over the network

SIGNATURE_HEADER = "Signoff-Signature"
DELIVERY_HEADER = "Signoff-Delivery"
EVENT_HEADER = "Signoff-Event"


@dataclass(frozen=True)
class Delivery:
    """One notification on its way to one channel: an id that stays the same over the retries (receivers
    deduplicate on it; it is the `Signoff-Delivery` header) and the number of this attempt, from 1."""
    id: str
    attempt: int = 1

    @staticmethod
    def new() -> "Delivery":
        """A fresh delivery id (`n_` and 32 hex digits), first attempt."""
        return Delivery("n_" + uuid.uuid4().hex, 1)


class DeliveryError(RuntimeError):
    """A notification that did not go out. `status` is what the audit log records (an HTTP status such as
    `503`, an SMTP reply code, or a word: `timeout`, `unreachable`, `redirect`, `tls`…); `retry` says
    whether trying again later may help. The message never holds a URL or a secret."""

    def __init__(self, message: str, status: Union[int, str], retry: bool):
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry = retry


def _loopback(host: Optional[str]) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _norm_host(host: str) -> str:
    host = host.strip().lower().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return host.encode("idna").decode("ascii") if host and not host.isascii() else host
    except UnicodeError:
        raise ValueError(f"host `{host}` is not a valid host name") from None


def allowed(url: str, allow_hosts: Optional[Collection[str]], what: str = "webhook url") -> str:
    """Check `url` against the allow-list and return it. `allow_hosts` lists host names or `host:port`;
    None means loopback only (127.0.0.1, ::1, localhost). Plain `http` is for loopback hosts only, and a
    URL may carry no user or password (they would end up in logs). ValueError says why not."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValueError(f"{what} is not a valid URL") from None
    host = _norm_host(parts.hostname or "")
    if allow_hosts is None and (parts.scheme not in ("http", "https") or not _loopback(host)):
        raise ValueError(f"{what} `{target(url)}` must be http(s) to a loopback address (127.0.0.1, ::1, "
                         "localhost) unless hosts are allowed (`allow_hosts`)")
    if parts.scheme not in ("http", "https") or not host:
        raise ValueError(f"{what} must be an http(s) URL with a host")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"{what} must not carry a user or password: use a secret instead")
    if allow_hosts is None:
        return url
    names = {_norm_host(h) for h in allow_hosts}
    if host not in names and f"{host}:{port or (443 if parts.scheme == 'https' else 80)}" not in names:
        raise ValueError(f"host `{host}` of the {what} is not on the allow-list (`allow_hosts`)")
    if parts.scheme == "http" and not _loopback(host):
        raise ValueError(f"{what} to `{host}` must use https (plain http is for loopback hosts only)")
    return url


def target(url: str) -> str:
    """What logs and the audit log may show of a URL: scheme, host and port, never the path or query
    (a Slack incoming-webhook URL is itself a secret)."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "?"
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}{port}"


def sign_body(secret: bytes, body: bytes, timestamp: int) -> str:
    """The `Signoff-Signature` header's value: `t=TIMESTAMP,v1=HEX`, HEX being the HMAC-SHA256 under
    `secret` of the text `TIMESTAMP.` followed by the exact body bytes."""
    mac = hmac.new(secret, str(int(timestamp)).encode("ascii") + b"." + body, hashlib.sha256).hexdigest()
    return f"t={int(timestamp)},v1={mac}"


def verify_signature(secret: bytes, header: Optional[str], body: bytes, now: Optional[float] = None,
                     tolerance: float = 300.0) -> bool:
    """Whether a received body carries a valid `Signoff-Signature`: some `v1` matches (compared in constant
    time) and its `t` is within `tolerance` seconds of `now` (the replay window). What a receiver runs."""
    if not header:
        return False
    stamp: Optional[int] = None
    macs: List[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit() and len(value) <= 12:
            stamp = int(value)
        elif key == "v1":
            macs.append(value)
    if stamp is None or not macs:
        return False
    now = time.time() if now is None else now
    if abs(now - stamp) > tolerance:
        return False
    want = sign_body(secret, body, stamp).rpartition("v1=")[2]
    return any(hmac.compare_digest(want.encode("ascii"), m.encode("ascii", "replace")) for m in macs)


def draft_link(base_url: Optional[str], action_id: str) -> Optional[str]:
    """The inbox page of a draft, `{base_url}/inbox/drafts/{id}` (the id percent-encoded), or None."""
    if not base_url:
        return None
    return base_url.rstrip("/") + "/inbox/drafts/" + urllib.parse.quote(action_id, safe="")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # a redirect could send the payload off the machine: a 3xx is an error, never followed
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: D102
        return None


_RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
# no proxies: an allow-listed URL must not be handed to an HTTP proxy from the environment
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


def _opener(context: Optional[ssl.SSLContext]) -> urllib.request.OpenerDirector:
    if context is None:
        return _OPENER
    return urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect(),
                                       urllib.request.HTTPSHandler(context=context))


def _timed_out(e: BaseException) -> bool:
    return isinstance(e, (socket.timeout, TimeoutError)) or "timed out" in str(e).lower()


def post_json(url: str, body: bytes, headers: Mapping[str, str], timeout: float,
              ssl_context: Optional[ssl.SSLContext] = None) -> int:
    """POST `body` once; the 2xx status, or DeliveryError (redirects are never followed, no proxy is used).
    `ssl_context` decides which certificates an https URL may present (default: the system's CAs)."""
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": "application/json", "User-Agent": "signoff", **headers})
    try:
        with _opener(ssl_context).open(req, timeout=timeout) as resp:
            status = resp.status
            resp.read(65536)
    except urllib.error.HTTPError as e:
        code = e.code
        e.close()
        if 300 <= code < 400:
            raise DeliveryError(f"webhook answered {code} (a redirect, not followed)", code, False) from None
        raise DeliveryError(f"webhook answered {code}", code, code in _RETRY_STATUS) from None
    except urllib.error.URLError as e:
        reason = e.reason
        if _timed_out(reason if isinstance(reason, BaseException) else e):
            raise DeliveryError(f"no answer within {timeout:g}s", "timeout", True) from None
        if isinstance(reason, ssl.SSLError):
            raise DeliveryError("tls handshake failed", "tls", False) from None
        raise DeliveryError("cannot connect", "unreachable", True) from None
    except (socket.timeout, TimeoutError):
        raise DeliveryError(f"no answer within {timeout:g}s", "timeout", True) from None
    except (OSError, ValueError) as e:  # a reset connection, a malformed answer
        raise DeliveryError(f"connection failed ({type(e).__name__})", "error", True) from None
    if not 200 <= status < 300:
        raise DeliveryError(f"webhook answered {status}", status, status in _RETRY_STATUS)
    return status


class WebhookChannel:
    """POSTs the notification as JSON. Without `allow_hosts`, to loopback only (a local relay); with it, to
    a host on that list, over https unless the host is loopback. With `secret`, each attempt is signed
    (`Signoff-Signature: t=…,v1=…`, see `sign_body`). A redirect is never followed; no proxy is used."""
    name = "webhook"

    def __init__(self, url: str, timeout: float = 2.0, headers: Optional[Dict[str, str]] = None, *,
                 secret: Union[str, bytes, None] = None, allow_hosts: Optional[Collection[str]] = None,
                 base_url: Optional[str] = None, clock: Optional[Any] = None,
                 ssl_context: Optional[ssl.SSLContext] = None):
        self.url = allowed(url, allow_hosts)
        self.ssl_context = ssl_context
        self.timeout = timeout
        self.headers = dict(headers or {})
        self.secret = secret.encode("utf-8") if isinstance(secret, str) else secret
        self.base_url = base_url
        self.clock = clock or time.time
        self.target = target(url)

    def body(self, note: Notification) -> bytes:
        """The JSON body: the notification's fields, and `link` to the draft's inbox page when known."""
        data = note.to_dict()
        link = draft_link(self.base_url, note.action_id)
        if link:
            data["link"] = link
        return json.dumps(data, sort_keys=True, ensure_ascii=False).encode("utf-8")

    def deliver(self, note: Notification, delivery: Delivery) -> Union[int, str]:
        """One attempt of `delivery`; returns the HTTP status, raises DeliveryError."""
        body = self.body(note)
        headers = {DELIVERY_HEADER: delivery.id, EVENT_HEADER: note.kind, **self.headers}
        if self.secret:
            headers[SIGNATURE_HEADER] = sign_body(self.secret, body, int(self.clock()))
        return post_json(self.url, body, headers, self.timeout, self.ssl_context)

    def send(self, note: Notification) -> None:
        """One attempt, now (a Dispatcher adds the queue and the retries)."""
        self.deliver(note, Delivery.new())


def slack_escape(text: Any) -> str:
    """Untrusted text for Slack mrkdwn: control and bidi characters escaped (`safe_text`), then `&`, `<`, `>`
    as Slack asks, so nothing in it can become a link, a mention (`<!channel>`) or a user reference."""
    return safe_text(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_HEADS = {"approval_needed": "Approval needed", "escalated": "Escalated", "expired": "Expired"}


def _summary(note: Notification) -> Dict[str, str]:
    """The parts every message shows, untrusted text not yet escaped."""
    out = {"head": _HEADS.get(note.kind, note.kind), "tool": note.tool}
    if note.kind == "approval_needed":
        out["who"] = ", ".join(note.roles)
        out["routes"] = ", ".join(note.routes)
    if note.to:
        out["to"] = note.to
    if note.tenant:
        out["tenant"] = note.tenant
    if note.deadline:
        out["deadline"] = note.deadline
    return out


class SlackChannel:
    """Posts a message to a Slack incoming webhook: what waits, for whom, why, and a link to the draft's
    inbox page. Every untrusted string is escaped for mrkdwn; arguments are left out unless `include_args`
    (they would leave for Slack's servers). The URL must be on `allow_hosts` (hooks.slack.com, usually)."""
    name = "slack"

    def __init__(self, url: str, *, base_url: Optional[str] = None, allow_hosts: Optional[Collection[str]] = None,
                 timeout: float = 5.0, include_args: bool = False, ssl_context: Optional[ssl.SSLContext] = None):
        self.url = allowed(url, allow_hosts, "slack url")
        self.ssl_context = ssl_context
        self.base_url = base_url
        self.timeout = timeout
        self.include_args = include_args
        self.target = target(url)

    def message(self, note: Notification) -> Dict[str, Any]:
        """The Slack message (`text` in mrkdwn, no unfurling of links)."""
        e = slack_escape
        s = _summary(note)
        lines = [f"*{e(s['head'])}*: `{e(s['tool']).replace('`', 'ˋ')}`"
                 + (f" for {e(s['tenant'])}" if "tenant" in s else "")]
        if "who" in s:
            lines.append(f"from {e(s['who'])} via {e(s['routes'])}")
        if "to" in s:
            lines.append(f"to {e(s['to'])}")
        for r in note.reasons:
            lines.append(f"• {e(r)}")
        if "deadline" in s:
            lines.append(f"deadline {e(s['deadline'])}")
        if self.include_args:
            lines.append("arguments: " + e(safe_json(note.args, sort_keys=True)))
        link = draft_link(self.base_url, note.action_id)
        if link:
            # the link is the deployment's base URL and a percent-encoded id: no `|` or `>` can end it early
            lines.append(f"<{link}|Open draft {e(note.action_id)}>")
        else:
            lines.append(f"draft {e(note.action_id)}")
        return {"text": "\n".join(lines), "unfurl_links": False, "unfurl_media": False}

    def deliver(self, note: Notification, delivery: Delivery) -> Union[int, str]:
        """One attempt; returns the HTTP status, raises DeliveryError."""
        body = json.dumps(self.message(note), ensure_ascii=False).encode("utf-8")
        return post_json(self.url, body, {}, self.timeout, self.ssl_context)

    def send(self, note: Notification) -> None:
        """One attempt, now."""
        self.deliver(note, Delivery.new())


# SMTP line endings; header lines up to 998 octets (RFC 5322), so a 200-character subject is never folded
_MAIL_POLICY = email.policy.SMTP.clone(max_line_length=998)


def _role_key(role: str) -> str:
    try:
        return canonical_id(role)
    except IdentityError:
        return role


def _address(text: str) -> str:
    try:
        a = Address(addr_spec=text)
    except (ValueError, IndexError, TypeError) as e:
        raise ValueError(f"`{safe_text(text)}` is not an email address") from e
    if not a.username or not a.domain:
        raise ValueError(f"`{safe_text(text)}` is not an email address")
    return a.addr_spec


class EmailChannel:
    """Sends a plain-text email over SMTP to the addresses configured for the note's roles (and escalation
    target), plus `to`. `security`: `starttls` (the default; the session is upgraded or nothing is sent),
    `tls` (SMTPS), or `plain`, which only a loopback host may use (tests, a local relay)."""
    name = "email"

    def __init__(self, host: str, port: int = 587, *, sender: str, to: Iterable[str] = (),
                 to_by_role: Optional[Mapping[str, Iterable[str]]] = None, security: str = "starttls",
                 username: Optional[str] = None, password: Optional[str] = None, timeout: float = 10.0,
                 ssl_context: Optional[ssl.SSLContext] = None, base_url: Optional[str] = None,
                 include_args: bool = False):
        if security not in ("starttls", "tls", "plain"):
            raise ValueError("security must be `starttls`, `tls` or `plain`")
        if security == "plain" and not _loopback(_norm_host(host)):
            raise ValueError(f"plain SMTP (no TLS) is for a loopback host only, not `{safe_text(host)}`")
        if security == "plain" and username is not None:
            raise ValueError("a password is never sent over plain SMTP: use starttls or tls")
        self.host, self.port, self.security = host, int(port), security
        self.sender = _address(sender)
        self.to = [_address(a) for a in to]
        self.to_by_role = {_role_key(r): [_address(a) for a in v] for r, v in (to_by_role or {}).items()}
        self.username, self.password = username, password
        self.timeout = timeout
        self.ssl_context = ssl_context or ssl.create_default_context()
        self.base_url = base_url
        self.include_args = include_args
        self.target = f"smtp://{host}:{self.port}"

    def recipients(self, note: Notification) -> List[str]:
        """Who gets this note: `to`, then the addresses of each role and of the escalation target."""
        out: List[str] = []
        keys = [_role_key(k) for k in list(note.roles) + ([note.to] if note.to else [])]
        for a in self.to + [a for k in keys for a in self.to_by_role.get(k, [])]:
            if a not in out:
                out.append(a)
        return out

    def wants(self, note: Notification) -> bool:
        """Whether anyone is configured to receive this note."""
        return bool(self.recipients(note))

    def message(self, note: Notification, delivery: Delivery) -> EmailMessage:
        """The email: headers from trusted parts only where they could inject (untrusted text escaped first)."""
        s = _summary(note)
        msg = EmailMessage(policy=_MAIL_POLICY)
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.recipients(note))
        subject = f"[signoff] {s['head']}: {s['tool']}" + (f" ({s['tenant']})" if "tenant" in s else "")
        msg["Subject"] = safe_text(subject)[:200]
        msg["Date"] = format_datetime(datetime.now(timezone.utc))
        msg["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2])
        msg["X-Signoff-Delivery"] = delivery.id
        lines = [f"{s['head']}: {s['tool']}"]
        if "tenant" in s:
            lines.append(f"tenant: {s['tenant']}")
        if "who" in s:
            lines.append(f"from: {s['who']} via {s['routes']}")
        if "to" in s:
            lines.append(f"to: {s['to']}")
        if note.reasons:
            lines.append("why:")
            lines.extend(f"  - {r}" for r in note.reasons)
        if "deadline" in s:
            lines.append(f"deadline: {s['deadline']}")
        if self.include_args:
            lines.append("arguments: " + safe_json(note.args, sort_keys=True))
        link = draft_link(self.base_url, note.action_id)
        lines.append(f"draft: {link or note.action_id}")
        msg.set_content("\n".join(safe_text(x) for x in lines) + "\n")
        return msg

    def deliver(self, note: Notification, delivery: Delivery) -> Union[int, str]:
        """One attempt; returns the SMTP reply code of the accepted message (250), raises DeliveryError."""
        rcpt = self.recipients(note)
        if not rcpt:
            raise DeliveryError("no recipient is configured for these roles", "no-recipient", False)
        msg = self.message(note, delivery)
        try:
            if self.security == "tls":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                                      context=self.ssl_context)
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with smtp:
                smtp.ehlo()
                if self.security == "starttls":
                    if not smtp.has_extn("starttls"):
                        raise DeliveryError("the server does not offer STARTTLS: nothing was sent", "no-starttls",
                                            False)
                    smtp.starttls(context=self.ssl_context)
                    smtp.ehlo()
                if self.username is not None:
                    smtp.login(self.username, self.password or "")
                refused = smtp.send_message(msg, from_addr=self.sender, to_addrs=rcpt)
            if refused:
                raise DeliveryError(f"{len(refused)} of {len(rcpt)} recipients refused", "partial", False)
            return 250
        except DeliveryError:
            raise
        except smtplib.SMTPAuthenticationError as e:
            raise DeliveryError("the server refused the login", e.smtp_code, False) from None
        except smtplib.SMTPResponseException as e:
            raise DeliveryError(f"the server answered {e.smtp_code}", e.smtp_code, 400 <= e.smtp_code < 500) from None
        except smtplib.SMTPRecipientsRefused:
            raise DeliveryError("every recipient was refused", "refused", False) from None
        except smtplib.SMTPNotSupportedError:
            raise DeliveryError("the server does not support what was asked", "unsupported", False) from None
        except ssl.SSLError:
            raise DeliveryError("tls handshake failed", "tls", False) from None
        except (socket.timeout, TimeoutError):
            raise DeliveryError(f"no answer within {self.timeout:g}s", "timeout", True) from None
        except (smtplib.SMTPException, OSError) as e:
            if _timed_out(e):
                raise DeliveryError(f"no answer within {self.timeout:g}s", "timeout", True) from None
            raise DeliveryError(f"cannot talk to the server ({type(e).__name__})", "unreachable", True) from None

    def send(self, note: Notification) -> None:
        """One attempt, now."""
        self.deliver(note, Delivery.new())
