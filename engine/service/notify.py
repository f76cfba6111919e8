"""The `[notifications]` table of the service's TOML config, read into channels behind one Dispatcher."""
from __future__ import annotations

import math
import os
import ssl
import urllib.parse
from datetime import datetime
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from engine import (Channel, Dispatcher, EmailChannel, SlackChannel, Store, Target, WebhookChannel, canonical_id,
                    IdentityError)

__all__ = ["ConfigError", "load_channels", "close_channels", "KINDS", "MIN_SECRET"]

KINDS = ("approval_needed", "escalated", "expired")   # the notes a channel may choose with `kinds`
MIN_SECRET = 16                                      # characters of a webhook secret, at least


class ConfigError(ValueError):
    """A `[notifications]` table that cannot be used. `code` is stable (`unknown_key`, `missing_key`,
    `bad_value`, `missing_env`, `host_not_allowed`); `key` is the key path (`notifications.webhook[0].url`);
    the message names both."""

    def __init__(self, code: str, key: str, message: str):
        super().__init__(f"`{key}`: {message}")
        self.code = code
        self.key = key
        self.message = f"`{key}`: {message}"


# ---------------------------------------------------------------- reading one table

class _Table:
    """A TOML table with its key path: typed getters, and a check that no key was left unread."""

    def __init__(self, data: Any, path: str):
        if not isinstance(data, Mapping):
            raise ConfigError("bad_value", path, "must be a table")
        self.data, self.path = data, path
        self.seen: set = set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}"

    def raw(self, name: str) -> Any:
        self.seen.add(name)
        return self.data.get(name)

    def has(self, name: str) -> bool:
        return name in self.data

    def text(self, name: str, default: Optional[str] = None, required: bool = False) -> Optional[str]:
        v = self.raw(name)
        if v is None:
            if required:
                raise ConfigError("missing_key", self.key(name), "is required")
            return default
        if not isinstance(v, str) or not v.strip():
            raise ConfigError("bad_value", self.key(name), "must be a non-empty string")
        return v

    def num(self, name: str, default: float, low: float, high: float, integer: bool = False) -> float:
        v = self.raw(name)
        if v is None:
            return default
        if isinstance(v, bool) or not isinstance(v, (int, float)) or (integer and not isinstance(v, int)) \
                or not math.isfinite(v) or not low <= v <= high:
            what = "an integer" if integer else "a number"
            raise ConfigError("bad_value", self.key(name), f"must be {what} from {low:g} to {high:g}")
        return v

    def flag(self, name: str, default: bool = False) -> bool:
        v = self.raw(name)
        if v is None:
            return default
        if not isinstance(v, bool):
            raise ConfigError("bad_value", self.key(name), "must be true or false")
        return v

    def strings(self, name: str) -> Optional[List[str]]:
        v = self.raw(name)
        if v is None:
            return None
        if not isinstance(v, list) or not all(isinstance(x, str) and x.strip() for x in v):
            raise ConfigError("bad_value", self.key(name), "must be a list of non-empty strings")
        return list(v)

    def done(self) -> None:
        extra = sorted(str(k) for k in self.data if k not in self.seen)
        if extra:
            raise ConfigError("unknown_key", self.key(extra[0]), "is not a known key (a typo?)")


def _tables(data: Any, path: str) -> List[_Table]:
    """`[[notifications.X]]` (a list of tables) or a single `[notifications.X]` table."""
    if data is None:
        return []
    if isinstance(data, Mapping):
        return [_Table(data, path)]
    if isinstance(data, list):
        return [_Table(d, f"{path}[{i}]") for i, d in enumerate(data)]
    raise ConfigError("bad_value", path, "must be a table or a list of tables")


def _env(t: _Table, name: str, env: Mapping[str, str]) -> Optional[str]:
    var = t.text(name)
    if var is None:
        return None
    value = env.get(var)
    if not value:
        raise ConfigError("missing_env", t.key(name), f"the environment variable `{var}` is not set")
    return value


def _url(t: _Table, env: Mapping[str, str]) -> Tuple[str, str]:
    """The channel's URL, written in the file (`url`) or read from the environment (`url_env`), and the key
    it came from. A secret URL (Slack's) belongs in the environment."""
    if t.has("url") and t.has("url_env"):
        raise ConfigError("bad_value", t.key("url_env"), "give `url` or `url_env`, not both")
    if t.has("url_env"):
        return _env(t, "url_env", env) or "", t.key("url_env")
    return t.text("url", required=True) or "", t.key("url")


def _build(make: Callable[[], Any], key: str, url: bool = True) -> Any:
    try:
        return make()
    except ValueError as e:
        msg = str(e)
        code = "host_not_allowed" if url and ("allow-list" in msg or "loopback" in msg) else "bad_value"
        raise ConfigError(code, key, msg) from None


def _roles(t: _Table) -> Optional[frozenset]:
    roles = t.strings("roles")
    if roles is None:
        return None
    out = set()
    for r in roles:
        try:
            out.add(canonical_id(r))
        except IdentityError:
            raise ConfigError("bad_value", t.key("roles"), f"`{r}` is not a valid role name") from None
    return frozenset(out)


def _kinds(t: _Table) -> Optional[frozenset]:
    kinds = t.strings("kinds")
    if kinds is None:
        return None
    bad = [k for k in kinds if k not in KINDS]
    if bad:
        raise ConfigError("bad_value", t.key("kinds"), f"`{bad[0]}` is not one of {', '.join(KINDS)}")
    return frozenset(kinds)


def _target(t: _Table, channel: Any, label: str, retry: Mapping[str, float]) -> Target:
    target = Target(channel, label, _roles(t), _kinds(t),
                    int(t.num("retries", retry["retries"], 0, 20, integer=True)),
                    t.num("backoff", retry["backoff"], 0, 3600), t.num("max_backoff", retry["max_backoff"], 0, 86400))
    t.done()
    return target


def _ca(t: _Table) -> Optional[ssl.SSLContext]:
    """`ca_file`: the certificates (PEM) a TLS server may present, instead of the system's CAs."""
    ca_file = t.text("ca_file")
    if ca_file is None:
        return None
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError):
        raise ConfigError("bad_value", t.key("ca_file"), f"cannot read certificates from `{ca_file}`") from None


def _loopback_url(url: str) -> bool:
    host = (urllib.parse.urlsplit(url).hostname or "").lower()
    return host in ("localhost", "::1") or host.startswith("127.")


# ---------------------------------------------------------------- the table

def load_channels(table: Optional[Mapping[str, Any]], *, base_url: Optional[str] = None,
                  audit: Optional[Store] = None, digest: Optional[Callable[[], str]] = None,
                  env: Optional[Mapping[str, str]] = None, clock: Optional[Callable[[], datetime]] = None
                  ) -> List[Channel]:
    """The channels of a `[notifications]` table (None or empty: none), as one Dispatcher (a list of one),
    ready for `Gate(channels=...)`; call its `close()` at shutdown. `base_url` (the config's
    `server.public_url`) is where the inbox is reached, for links to drafts; `audit` is the store whose log records every
    delivery attempt, and `digest` gives the policy digest those records carry; secrets are read from
    `env` (the process environment by default). Bad config raises ConfigError, naming the key path."""
    env = os.environ if env is None else env
    if table is None:
        return []
    top = _Table(table, "notifications")
    allow = top.strings("allow_hosts") or []
    for h in allow:
        if any(c in h for c in "/@?#") or not h.strip(" .:"):
            raise ConfigError("bad_value", "notifications.allow_hosts",
                              f"`{h}` is not a host name or host:port (no scheme, no path)")
    base = base_url
    if base is not None:
        parts = urllib.parse.urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
            raise ConfigError("bad_value", "server.public_url",
                              "must be an http(s) URL such as `https://signoff.example.com`")
    queue_size = int(top.num("queue_size", 1000, 1, 1_000_000, integer=True))
    rt = _Table(top.raw("retry") or {}, "notifications.retry")
    retry = {"retries": rt.num("retries", 3, 0, 20, integer=True), "backoff": rt.num("backoff", 1.0, 0, 3600),
             "max_backoff": rt.num("max_backoff", 60.0, 0, 86400)}
    rt.done()
    targets: List[Target] = []
    labels: Dict[str, str] = {}

    def label(t: _Table, kind: str, i: int) -> str:
        name = t.text("name") or (kind if i == 0 else f"{kind}-{i + 1}")
        if name in labels:
            raise ConfigError("bad_value", t.key("name"), f"`{name}` is already the name of `{labels[name]}`")
        labels[name] = t.path
        return name

    for i, t in enumerate(_tables(top.raw("webhook"), "notifications.webhook")):
        url, ukey = _url(t, env)
        secret = _env(t, "secret_env", env)
        if secret is not None and len(secret) < MIN_SECRET:
            raise ConfigError("bad_value", t.key("secret_env"), f"the secret must be at least {MIN_SECRET} characters")
        timeout = t.num("timeout", 5.0, 0.1, 120)
        ctx = _ca(t)
        ch = _build(lambda: WebhookChannel(url, timeout, secret=secret, allow_hosts=allow, base_url=base,
                                           ssl_context=ctx), ukey)
        if secret is None and not _loopback_url(url):
            raise ConfigError("missing_key", t.key("secret_env"),
                              "a webhook that leaves the machine must be signed: name the secret's variable")
        targets.append(_target(t, ch, label(t, "webhook", i), retry))

    for i, t in enumerate(_tables(top.raw("slack"), "notifications.slack")):
        url, ukey = _url(t, env)
        timeout = t.num("timeout", 5.0, 0.1, 120)
        include = t.flag("include_args")
        sctx = _ca(t)
        ch = _build(lambda: SlackChannel(url, base_url=base, allow_hosts=allow, timeout=timeout,
                                         include_args=include, ssl_context=sctx), ukey)
        targets.append(_target(t, ch, label(t, "slack", i), retry))

    for i, t in enumerate(_tables(top.raw("smtp"), "notifications.smtp")):
        targets.append(_smtp(t, label(t, "email", i), base, env, retry))

    top.done()
    if not targets:
        return []
    return [Dispatcher(targets, store=audit, digest=digest, queue_size=queue_size, clock=clock)]


def _smtp(t: _Table, name: str, base: Optional[str], env: Mapping[str, str], retry: Mapping[str, float]) -> Target:
    host = t.text("host", required=True) or ""
    security = t.text("security", "starttls")
    if security not in ("starttls", "tls", "plain"):
        raise ConfigError("bad_value", t.key("security"), "must be `starttls`, `tls` or `plain`")
    if security == "plain" and not _loopback_url(f"smtp://{host}"):
        raise ConfigError("bad_value", t.key("security"), f"plain SMTP (no TLS) is for a loopback host only, not "
                                                          f"`{host}`")
    port = int(t.num("port", 465 if security == "tls" else 587, 1, 65535, integer=True))
    username = t.text("username")
    password = _env(t, "password_env", env)
    if (username is None) != (password is None):
        raise ConfigError("missing_key", t.key("password_env" if password is None else "username"),
                          "`username` and `password_env` go together")
    sender = t.text("from", required=True) or ""
    to = t.strings("to") or []
    by_role_t = _Table(t.raw("to_by_role") or {}, t.key("to_by_role"))
    by_role: Dict[str, List[str]] = {}
    for role in list(by_role_t.data):
        addrs = by_role_t.strings(str(role))
        by_role[str(role)] = addrs or []
    by_role_t.done()
    if not to and not by_role:
        raise ConfigError("missing_key", t.key("to_by_role"), "name who gets the mail (`to` or `to_by_role`)")
    context = _ca(t)
    timeout = t.num("timeout", 10.0, 0.1, 300)
    include = t.flag("include_args")
    ch = _build(lambda: EmailChannel(host, port, sender=sender, to=to, to_by_role=by_role, security=security or "",
                                     username=username, password=password, timeout=timeout, ssl_context=context,
                                     base_url=base, include_args=include), t.path, url=False)
    return _target(t, ch, name, retry)


def close_channels(channels: Sequence[Any], timeout: float = 10.0) -> None:
    """Close every channel that can be closed (the Dispatcher of `load_channels`): at shutdown."""
    for ch in channels:
        close = getattr(ch, "close", None)
        if callable(close):
            close(timeout)
