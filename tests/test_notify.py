"""Notifications that reach people: signed webhooks, Slack and email, to real receivers on 127.0.0.1."""
from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import json
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from engine import (SIGNATURE_HEADER, DeliveryError, Dispatcher, EmailChannel, Notification, SlackChannel, Target,
                    WebhookChannel, sign_body, slack_escape, verify_signature)
from engine.service.notify import ConfigError, close_channels, load_channels

from workflow_helpers import Clock, make_gate, refund, store_path

SECRET = "s3cret-0123456789abcdef"
BASE = "https://signoff.example.com"


# ---------------------------------------------------------------- a real HTTP receiver on loopback

class Receiver:
    """An HTTP server on 127.0.0.1 with a behaviour per path: /ok answers 204, /flaky answers 503 `fails`
    times then 200, /redirect answers 302 to /ok, /hang holds the request until `release` is set."""

    def __init__(self, tls: Optional[ssl.SSLContext] = None) -> None:
        self.scheme = "https" if tls else "http"
        self.got: List[Dict[str, Any]] = []
        self.fails = 0
        self.release = threading.Event()
        self.hung = threading.Event()
        self.lock = threading.Lock()
        rec = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with rec.lock:
                    rec.got.append({"path": self.path, "headers": dict(self.headers), "body": body})
                if self.path == "/hang":
                    rec.hung.set()
                    rec.release.wait(30)
                    self.send_response(204)
                elif self.path == "/redirect":
                    self.send_response(302)
                    self.send_header("Location", f"http://127.0.0.1:{rec.port}/ok")
                elif self.path == "/flaky":
                    with rec.lock:
                        rec.fails -= 1
                        failing = rec.fails >= 0
                    self.send_response(503 if failing else 200)
                else:
                    self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def paths(self) -> List[str]:
        with self.lock:
            return [g["path"] for g in self.got]

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def rx():
    r = Receiver()
    yield r
    r.close()


def config(*webhooks: Dict[str, Any], **top: Any) -> Dict[str, Any]:
    out: Dict[str, Any] = {"allow_hosts": ["127.0.0.1"], "webhook": list(webhooks)}
    out.update(top)
    return out


ENV = {"HOOK_SECRET": SECRET, "SMTP_PASSWORD": "pa55word"}


def gate_with(tmp_path, table: Dict[str, Any], clock: Optional[Clock] = None, **kw: Any):
    """A gate whose channels come from `table`, recording attempts in its own store."""
    path = store_path(tmp_path)
    gate = make_gate(path, clock or Clock(), {}, channels=[])
    chans = load_channels(table, base_url=BASE, audit=gate.store, digest=lambda: gate.policy.digest, env=ENV, **kw)
    gate.channels = chans
    return gate, chans


def attempts(gate, action_id: str) -> List[Dict[str, Any]]:
    """The `notified` records of delivery attempts (those with a delivery id) for one draft, in order."""
    with gate.store.snapshot() as tx:
        out = [json.loads(e["payload"]) for e in tx.events(action_id) if e["kind"] == "notified"]
    return [p for p in out if "attempt" in p]


def verified_clean(gate) -> None:
    res = gate.verify()
    assert res.ok and res.problems == [], (res.problem, res.problems)


# ---------------------------------------------------------------- webhooks

def test_a_signed_webhook_reaches_an_allowed_host_and_the_receiver_can_verify_it(tmp_path, rx):
    gate, chans = gate_with(tmp_path, config({"url": rx.url("/ok"), "secret_env": "HOOK_SECRET"}))
    h = gate.propose(refund(50, confidence=0.5))
    assert h.state == "drafted"
    assert chans[0].flush(10)
    [got] = rx.got
    body, headers = got["body"], got["headers"]
    note = json.loads(body)
    assert note["action_id"] == h.id and note["kind"] == "approval_needed" and note["roles"] == ["team_lead"]
    assert note["link"] == f"{BASE}/inbox/drafts/{h.id}"
    sig = headers[SIGNATURE_HEADER]
    stamp = int(sig.split(",")[0].removeprefix("t="))
    assert abs(stamp - time.time()) < 60
    assert verify_signature(SECRET.encode(), sig, body)
    # what a receiver must refuse: another body, another secret, a replay outside the window, no header
    assert not verify_signature(SECRET.encode(), sig, body.replace(b"team_lead", b"team_leaD"))
    assert not verify_signature(b"another-secret-of-16+", sig, body)
    assert not verify_signature(SECRET.encode(), sig, body, now=stamp + 301)
    assert verify_signature(SECRET.encode(), sig, body, now=stamp + 299)
    assert not verify_signature(SECRET.encode(), None, body)
    assert headers["Signoff-Delivery"].startswith("n_") and headers["Signoff-Event"] == "approval_needed"
    [a] = attempts(gate, h.id)
    assert (a["channel"], a["name"], a["attempt"], a["ok"], a["status"]) == ("webhook", "webhook", 1, True, 204)
    assert a["delivery"] == headers["Signoff-Delivery"] and a["target"] == f"http://127.0.0.1:{rx.port}"
    with gate.store.snapshot() as tx:
        log = json.dumps([e["payload"] for e in tx.events()])
    assert SECRET not in log and "/ok" not in log
    close_channels(chans)
    verified_clean(gate)


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body():
    import hashlib
    import hmac
    body = b'{"a": 1}'
    want = hmac.new(b"k" * 16, b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign_body(b"k" * 16, body, 1700000000) == f"t=1700000000,v1={want}"


def test_a_failing_webhook_is_retried_with_backoff_and_every_attempt_recorded(tmp_path, rx):
    rx.fails = 2
    gate, chans = gate_with(tmp_path, config({"url": rx.url("/flaky"), "secret_env": "HOOK_SECRET", "retries": 3,
                                              "backoff": 0.05}))
    h = gate.propose(refund(50, confidence=0.5))
    assert chans[0].flush(10)
    got = attempts(gate, h.id)
    assert [(a["attempt"], a["ok"], a["status"], a["retry_in"]) for a in got] == \
        [(1, False, 503, 0.05), (2, False, 503, 0.1), (3, True, 200, None)]
    assert len({a["delivery"] for a in got}) == 1
    # the same delivery id on every request, each signed anew
    assert [g["headers"]["Signoff-Delivery"] for g in rx.got] == [got[0]["delivery"]] * 3
    assert all(verify_signature(SECRET.encode(), g["headers"][SIGNATURE_HEADER], g["body"]) for g in rx.got)
    assert chans[0].stats()["webhook"] == {"sent": 1, "failed": 2, "dropped": 0}
    close_channels(chans)
    verified_clean(gate)


def test_retries_stop_at_the_limit(tmp_path, rx):
    rx.fails = 10
    gate, chans = gate_with(tmp_path, config({"url": rx.url("/flaky"), "retries": 1, "backoff": 0.01}))
    h = gate.propose(refund(50, confidence=0.5))
    assert chans[0].flush(10)
    assert [(a["attempt"], a["ok"], a["retry_in"]) for a in attempts(gate, h.id)] == [(1, False, 0.01), (2, False, None)]
    assert rx.paths() == ["/flaky", "/flaky"]
    close_channels(chans)


def test_a_redirect_is_never_followed_nor_retried(tmp_path, rx):
    gate, chans = gate_with(tmp_path, config({"url": rx.url("/redirect"), "retries": 3, "backoff": 0.01}))
    h = gate.propose(refund(50, confidence=0.5))
    assert chans[0].flush(10)
    [a] = attempts(gate, h.id)
    assert (a["ok"], a["status"], a["retry_in"]) == (False, 302, None) and "not followed" in a["error"]
    assert rx.paths() == ["/redirect"]          # /ok, where it pointed, never got the body
    close_channels(chans)
    verified_clean(gate)


def test_a_hanging_receiver_never_blocks_the_draft_nor_the_other_channels(tmp_path, rx):
    gate, chans = gate_with(tmp_path, config({"url": rx.url("/hang"), "timeout": 3, "retries": 0, "name": "slow"},
                                             {"url": rx.url("/ok"), "name": "fast"}))
    h = gate.propose(refund(50, confidence=0.5))
    # propose has returned, a draft waits, and the slow receiver still holds its request: a synchronous send
    # would have waited the 3 s timeout before propose could return
    assert h.state == "drafted" and gate.get(h.id).state == "drafted"
    assert rx.hung.wait(10)
    assert not [a for a in attempts(gate, h.id) if a["name"] == "slow"]
    deadline = time.monotonic() + 10
    while not [a for a in attempts(gate, h.id) if a["name"] == "fast"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [(a["name"], a["ok"]) for a in attempts(gate, h.id)] == [("fast", True)]
    assert rx.hung.is_set() and not rx.release.is_set()
    assert chans[0].flush(15)
    slow = [a for a in attempts(gate, h.id) if a["name"] == "slow"]
    assert [(a["ok"], a["status"]) for a in slow] == [(False, "timeout")]
    # approving goes on as if nothing happened
    assert gate.approve(h.id, by="lea").state == "approved"
    rx.release.set()
    close_channels(chans)
    verified_clean(gate)


def test_a_full_queue_drops_the_note_and_records_it(tmp_path, rx):
    gate, chans = gate_with(tmp_path, config({"url": rx.url("/hang"), "timeout": 5, "retries": 0}, queue_size=1))
    first = gate.propose(refund(50, confidence=0.5))
    assert rx.hung.wait(10)                     # the first is being delivered, out of the queue
    second = gate.propose(refund(51, confidence=0.5))   # waits in the queue
    third = gate.propose(refund(52, confidence=0.5))    # finds it full
    [drop] = attempts(gate, third.id)
    assert (drop["ok"], drop["status"], drop["attempt"]) == (False, "queue-full", 0)
    rx.release.set()
    assert chans[0].flush(15)
    assert [a["ok"] for a in attempts(gate, first.id)] == [True]
    assert [a["ok"] for a in attempts(gate, second.id)] == [True]
    assert chans[0].stats()["webhook"]["dropped"] == 1
    close_channels(chans)
    verified_clean(gate)


def test_close_cuts_a_retry_wait_short_and_records_it(tmp_path, rx):
    rx.fails = 10
    gate, chans = gate_with(tmp_path, config({"url": rx.url("/flaky"), "retries": 5, "backoff": 30}))
    h = gate.propose(refund(50, confidence=0.5))
    deadline = time.monotonic() + 10
    while not attempts(gate, h.id) and time.monotonic() < deadline:
        time.sleep(0.02)
    started = time.monotonic()
    chans[0].close(timeout=5)
    assert time.monotonic() - started < 5       # not the 30 s backoff
    got = attempts(gate, h.id)
    assert [(a["attempt"], a["ok"], a["status"]) for a in got] == [(1, False, 503), (2, False, "abandoned")]
    later = gate.propose(refund(60, confidence=0.5))
    assert [(a["ok"], a["status"]) for a in attempts(gate, later.id)] == [(False, "closed")]
    assert rx.paths() == ["/flaky"]
    verified_clean(gate)


def test_https_webhooks_check_the_receiver_s_certificate(tmp_path):
    cert, key = _cert(tmp_path)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    rx = Receiver(tls)
    try:
        gate, chans = gate_with(tmp_path, config(
            {"url": rx.url("/ok"), "secret_env": "HOOK_SECRET", "ca_file": cert, "name": "trusted"},
            {"url": rx.url("/ok"), "secret_env": "HOOK_SECRET", "name": "untrusted", "retries": 2, "backoff": 0.01}))
        h = gate.propose(refund(50, confidence=0.5))
        assert chans[0].flush(15)
        got = {a["name"]: (a["ok"], a["status"], a["retry_in"], a["target"]) for a in attempts(gate, h.id)}
        assert got == {"trusted": (True, 204, None, f"https://127.0.0.1:{rx.port}"),
                       "untrusted": (False, "tls", None, f"https://127.0.0.1:{rx.port}")}
        assert rx.paths() == ["/ok"]                # the untrusted server never saw the body
        assert verify_signature(SECRET.encode(), rx.got[0]["headers"][SIGNATURE_HEADER], rx.got[0]["body"])
        close_channels(chans)
        verified_clean(gate)
    finally:
        rx.close()


def test_webhook_urls_are_checked_against_the_allow_list():
    WebhookChannel("https://hooks.example.com/x", allow_hosts=["hooks.example.com"])
    WebhookChannel("https://HOOKS.example.com:8443/x", allow_hosts=["hooks.example.com:8443"])
    for url, allow, why in [
        ("https://evil.example.com/x", ["hooks.example.com"], "allow-list"),
        ("https://hooks.example.com.evil.net/x", ["hooks.example.com"], "allow-list"),
        ("https://hooks.example.com:8443/x", ["hooks.example.com:443"], "allow-list"),
        ("http://hooks.example.com/x", ["hooks.example.com"], "https"),
        ("https://user:pw@hooks.example.com/x", ["hooks.example.com"], "user or password"),
        ("ftp://hooks.example.com/x", ["hooks.example.com"], "http"),
        ("https://hooks.example.com/x", None, "loopback"),
    ]:
        with pytest.raises(ValueError, match=why):
            WebhookChannel(url, allow_hosts=allow)


# ---------------------------------------------------------------- Slack

def test_slack_gets_an_escaped_message_with_a_link_to_the_draft(tmp_path, rx):
    gate, chans = gate_with(tmp_path, {"allow_hosts": ["127.0.0.1"],
                                       "slack": [{"url": rx.url("/slack"), "include_args": True}]})
    evil = "acme <!channel> <http://evil.example|click> & *now*"
    h = gate.propose(refund(50, confidence=0.5, invoice="<!here> <@U123>", tenant=evil))
    assert h.state == "drafted"
    assert chans[0].flush(10)
    [got] = rx.got
    msg = json.loads(got["body"])
    text = msg["text"]
    assert msg["unfurl_links"] is False and msg["unfurl_media"] is False
    assert f"<{BASE}/inbox/drafts/{h.id}|Open draft {h.id}>" in text
    assert "&lt;!channel&gt;" in text and "&lt;http://evil.example|click&gt;" in text and " &amp; " in text
    assert "&lt;!here&gt;" in text and "&lt;@U123&gt;" in text
    # the only `<` in the message opens the draft's link
    assert text.count("<") == 1
    assert "team_lead" in text and "issue_refund" in text
    [a] = attempts(gate, h.id)
    assert (a["channel"], a["ok"], a["status"]) == ("slack", True, 204)
    close_channels(chans)
    verified_clean(gate)


def test_slack_leaves_arguments_out_unless_asked():
    ch = SlackChannel("https://hooks.slack.com/services/T/B/X", allow_hosts=["hooks.slack.com"])
    note = Notification("approval_needed", "d_1", "acme", "issue_refund", {"card": "4111-1111"},
                        roles=["team_lead"], routes=["team_review"])
    text = ch.message(note)["text"]
    assert "4111" not in text and "draft d_1" in text
    assert ch.target == "https://hooks.slack.com"   # what the log shows: no secret path
    assert slack_escape("a\x1b[2J<b>&") == "a\\x1b[2J&lt;b&gt;&amp;"


# ---------------------------------------------------------------- email over SMTP

def _cert(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                        x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


class Mailbox:
    """An aiosmtpd handler that keeps every message, its envelope and whether the session was encrypted."""

    def __init__(self) -> None:
        self.messages: List[Dict[str, Any]] = []
        self.logins: List[str] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos),
                              "data": envelope.content.decode("utf-8"), "tls": session.ssl is not None})
        return "250 OK"

    def authenticate(self, server, session, envelope, mechanism, data):
        if isinstance(data, LoginPassword) and data.login == b"signoff" and data.password == b"pa55word":
            self.logins.append(data.login.decode())
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_tls(tmp_path):
    cert, key = _cert(tmp_path)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    box = Mailbox()
    port = _free_port()
    c = Controller(box, hostname="127.0.0.1", port=port, tls_context=ctx, require_starttls=True,
                   authenticator=box.authenticate, auth_require_tls=True)
    c.start()
    yield box, port, cert
    c.stop()


SMTP_BASE = {"host": "127.0.0.1", "from": "signoff@acme.example", "username": "signoff",
             "password_env": "SMTP_PASSWORD", "to_by_role": {"team_lead": ["lea@acme.example"],
                                                             "ops_oncall": ["ops@acme.example"]}}


def test_email_goes_over_starttls_to_the_role_s_addresses(tmp_path, smtp_tls):
    box, port, cert = smtp_tls
    clock = Clock()
    gate, chans = gate_with(tmp_path, {"smtp": dict(SMTP_BASE, port=port, ca_file=cert)}, clock=clock)
    h = gate.propose(refund(50, confidence=0.5, tenant="acme\r\nBcc: everyone@evil.example"))
    assert chans[0].flush(15)
    [m] = box.messages
    assert m["tls"] and box.logins == ["signoff"]
    assert m["from"] == "signoff@acme.example" and m["to"] == ["lea@acme.example"]
    mail = email.message_from_string(m["data"], policy=email.policy.default)
    assert mail["Subject"] == "[signoff] Approval needed: issue_refund (acme\\r\\nBcc: everyone@evil.example)"
    assert mail["Bcc"] is None and mail["To"] == "lea@acme.example" and mail["X-Signoff-Delivery"].startswith("n_")
    text = mail.get_content()
    assert f"draft: {BASE}/inbox/drafts/{h.id}" in text and "from: team_lead via team_review" in text
    [a] = attempts(gate, h.id)
    assert (a["channel"], a["ok"], a["status"], a["target"]) == ("email", True, 250, f"smtp://127.0.0.1:{port}")
    # the escalation at the timeout goes to the target's address
    clock.advance(hours=5)
    [esc] = gate.expire_due()
    assert esc.state == "escalated"
    assert chans[0].flush(15)
    assert box.messages[-1]["to"] == ["ops@acme.example"] and "Escalated: issue_refund" in box.messages[-1]["data"]
    with gate.store.snapshot() as tx:
        assert "pa55word" not in json.dumps([e["payload"] for e in tx.events()])
    close_channels(chans)
    verified_clean(gate)


def test_email_without_a_trusted_certificate_is_not_sent(tmp_path, smtp_tls):
    box, port, _ = smtp_tls
    gate, chans = gate_with(tmp_path, {"smtp": dict(SMTP_BASE, port=port, retries=2, backoff=0.01)})
    h = gate.propose(refund(50, confidence=0.5))
    assert chans[0].flush(15)
    assert [(a["ok"], a["status"], a["retry_in"]) for a in attempts(gate, h.id)] == [(False, "tls", None)]
    assert box.messages == [] and box.logins == []
    close_channels(chans)
    verified_clean(gate)


def test_a_server_without_starttls_gets_nothing(tmp_path):
    box = Mailbox()
    port = _free_port()
    c = Controller(box, hostname="127.0.0.1", port=port)
    c.start()
    try:
        ch = EmailChannel("127.0.0.1", port, sender="signoff@acme.example", to=["ops@acme.example"])
        note = Notification("approval_needed", "d_1", None, "issue_refund", {}, roles=["team_lead"])
        with pytest.raises(DeliveryError) as e:
            ch.send(note)
        assert e.value.status == "no-starttls" and not e.value.retry
        assert box.messages == []
        # plain SMTP, configured explicitly for a loopback host, does deliver
        plain = EmailChannel("127.0.0.1", port, sender="signoff@acme.example", to=["ops@acme.example"],
                             security="plain")
        plain.send(note)
        assert [m["to"] for m in box.messages] == [["ops@acme.example"]] and not box.messages[0]["tls"]
    finally:
        c.stop()


def test_email_only_to_roles_that_have_addresses(tmp_path, smtp_tls):
    box, port, cert = smtp_tls
    gate, chans = gate_with(tmp_path, {"smtp": dict(SMTP_BASE, port=port, ca_file=cert,
                                                    to_by_role={"finance_manager": ["fiona@acme.example"]})})
    h = gate.propose(refund(50, confidence=0.5))        # team_lead: nobody configured
    assert chans[0].flush(15)
    assert box.messages == [] and attempts(gate, h.id) == []
    close_channels(chans)


# ---------------------------------------------------------------- the config table

@pytest.mark.parametrize("table, code, key", [
    ({"webhook": [{"url": "http://127.0.0.1:9/x", "urll": 1}]}, "unknown_key", "notifications.webhook[0].urll"),
    ({"webhok": []}, "unknown_key", "notifications.webhok"),
    ({"webhook": [{"url": "https://evil.example/x", "secret_env": "HOOK_SECRET"}], "allow_hosts": ["a.example"]},
     "host_not_allowed", "notifications.webhook[0].url"),
    ({"webhook": [{"url": "https://a.example/x"}], "allow_hosts": ["a.example"]}, "missing_key",
     "notifications.webhook[0].secret_env"),
    ({"webhook": [{"url": "https://a.example/x", "secret_env": "NOPE"}], "allow_hosts": ["a.example"]},
     "missing_env", "notifications.webhook[0].secret_env"),
    ({"webhook": [{"secret_env": "HOOK_SECRET"}]}, "missing_key", "notifications.webhook[0].url"),
    ({"webhook": [{"url": "http://127.0.0.1:9/x", "retries": -1}]}, "bad_value", "notifications.webhook[0].retries"),
    ({"webhook": [{"url": "http://127.0.0.1:9/x", "kinds": ["approved"]}]}, "bad_value",
     "notifications.webhook[0].kinds"),
    ({"webhook": [{"url": "http://127.0.0.1:9/x"}, {"url": "http://127.0.0.1:9/y", "name": "webhook"}]},
     "bad_value", "notifications.webhook[1].name"),
    ({"slack": {"url_env": "NOPE"}}, "missing_env", "notifications.slack.url_env"),
    ({"smtp": dict(SMTP_BASE, host="mail.example.com", security="plain", username=None, password_env=None)},
     "bad_value", "notifications.smtp.security"),
    ({"smtp": dict(SMTP_BASE, to=["not an address"])}, "bad_value", "notifications.smtp"),
    ({"smtp": dict(SMTP_BASE, security="ssl")}, "bad_value", "notifications.smtp.security"),
    ({"smtp": {"host": "127.0.0.1", "from": "a@b.example"}}, "missing_key", "notifications.smtp.to_by_role"),
    ({"smtp": dict(SMTP_BASE, password_env=None)}, "missing_key", "notifications.smtp.password_env"),
    ({"retry": {"backoff": "1s"}}, "bad_value", "notifications.retry.backoff"),
    ({"queue_size": 0}, "bad_value", "notifications.queue_size"),
    ({"allow_hosts": ["https://hooks.slack.com/"]}, "bad_value", "notifications.allow_hosts"),
])
def test_bad_config_is_refused_naming_the_key(table, code, key):
    table = {k: v for k, v in table.items()}
    if "smtp" in table and isinstance(table["smtp"], dict):
        table["smtp"] = {k: v for k, v in table["smtp"].items() if v is not None}
    table.setdefault("allow_hosts", ["127.0.0.1"])
    with pytest.raises(ConfigError) as e:
        load_channels(table, env=ENV)
    assert (e.value.code, e.value.key) == (code, key)
    assert e.value.message.startswith(f"`{key}`: ") and not e.value.message.endswith(".")


def test_no_table_or_an_empty_one_gives_no_channels():
    assert load_channels(None) == [] and load_channels({}) == []
    with pytest.raises(ConfigError) as e:
        load_channels({}, base_url="ftp://signoff.example.com")
    assert (e.value.code, e.value.key) == ("bad_value", "server.public_url")


def test_roles_and_kinds_choose_the_notes_a_channel_gets(tmp_path, rx):
    gate, chans = gate_with(tmp_path, config({"url": rx.url("/ok"), "roles": ["Finance_Manager"], "name": "fin"},
                                             {"url": rx.url("/ok"), "kinds": ["escalated"], "name": "esc"}))
    team = gate.propose(refund(50, confidence=0.5))       # team_lead
    fin = gate.propose(refund(300))                        # finance_manager, cfo
    assert chans[0].flush(10)
    assert [a["name"] for a in attempts(gate, team.id)] == []
    assert [a["name"] for a in attempts(gate, fin.id)] == ["fin"]
    close_channels(chans)
    verified_clean(gate)


def test_a_plain_channel_behind_a_dispatcher(tmp_path):
    from engine import MemoryChannel
    gate = make_gate(store_path(tmp_path), Clock(), {}, channels=[])
    mem = MemoryChannel()
    d = Dispatcher([Target(mem, "mem")], store=gate.store)
    gate.channels = [d]
    h = gate.propose(refund(50, confidence=0.5))
    assert d.flush(10) and [n.action_id for n in mem.sent] == [h.id]
    [a] = attempts(gate, h.id)
    assert (a["channel"], a["name"], a["ok"], a["status"]) == ("memory", "mem", True, "sent")
    d.close()
    assert d.closed
    verified_clean(gate)
