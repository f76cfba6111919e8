"""The inbox's sign-in with an OpenID Connect provider: the authorization code flow with PKCE (RFC 7636).

`/inbox/oidc/start` sends the browser to the provider with a fresh `state`, `nonce` and PKCE challenge, kept in
a short-lived HttpOnly cookie; `/inbox/oidc/callback` checks the `state`, trades the code (and the verifier) for
an ID token at the token endpoint, and verifies that token (issuer, `aud` = the client id, the nonce, the JWKS)
before it starts a session. Endpoints come from the issuer's discovery document unless configured.
"""
from __future__ import annotations

import base64
import hashlib
import json
import secrets
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple
from urllib.parse import urlencode

from .config import ConfigError, OIDCConfig, secure_url

__all__ = ["Endpoints", "LoginStart", "discover", "start", "exchange", "LoginError", "FLOW_COOKIE"]

FLOW_COOKIE = "signoff_oidc"
TIMEOUT = 10.0
MAX_ANSWER = 1 << 20


class LoginError(Exception):
    """A sign-in that cannot go on; `message` is for the person, never holds a token."""

    def __init__(self, message: str, status: int = 401):
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Endpoints:
    """Where the browser signs in and where the server trades a code for tokens."""
    authorization: str
    token: str


@dataclass(frozen=True)
class LoginStart:
    """The redirect to the provider and what the flow cookie keeps for the callback."""
    url: str
    cookie: str


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:   # a token endpoint never redirects
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def _get_json(req: urllib.request.Request, what: str) -> Dict[str, Any]:
    try:
        with _opener.open(req, timeout=TIMEOUT) as r:
            body = r.read(MAX_ANSWER + 1)
    except urllib.error.HTTPError as e:
        detail = ""
        try:
            err = json.loads(e.read(4096) or b"{}")
            detail = f": {err.get('error')}" if isinstance(err, dict) and isinstance(err.get("error"), str) else ""
        except ValueError:
            pass
        raise LoginError(f"the provider's {what} answered {e.code}{detail}", 502) from None
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise LoginError(f"the provider's {what} cannot be reached: {str(getattr(e, 'reason', e)).lower()}",
                         502) from None
    if len(body) > MAX_ANSWER:
        raise LoginError(f"the provider's {what} answered more than 1 MiB", 502)
    try:
        data = json.loads(body)
    except ValueError:
        raise LoginError(f"the provider's {what} did not answer json", 502) from None
    if not isinstance(data, dict):
        raise LoginError(f"the provider's {what} did not answer a json object", 502)
    return data


def discover(cfg: OIDCConfig) -> Endpoints:
    """The endpoints: configured, else read from `{issuer}/.well-known/openid-configuration` (whose `issuer`
    must be the configured one). ConfigError when they cannot be found or are not https."""
    auth, tok = cfg.authorization_endpoint, cfg.token_endpoint
    if auth is None or tok is None:
        url = cfg.issuer.rstrip("/") + "/.well-known/openid-configuration"
        try:
            doc = _get_json(urllib.request.Request(url, headers={"Accept": "application/json"}), "discovery document")
        except LoginError as e:
            raise ConfigError(f"`oidc`: {e.message} ({url})") from None
        if doc.get("issuer") != cfg.issuer:
            raise ConfigError(f"`oidc`: the discovery document at {url} is for issuer `{doc.get('issuer')}`, "
                              f"not `{cfg.issuer}`")
        auth = auth or doc.get("authorization_endpoint")
        tok = tok or doc.get("token_endpoint")
    for name, v in (("authorization_endpoint", auth), ("token_endpoint", tok)):
        if not isinstance(v, str) or not secure_url(v):
            raise ConfigError(f"`oidc`: the provider's `{name}` must be an https:// url")
    assert isinstance(auth, str) and isinstance(tok, str)
    return Endpoints(auth, tok)


def _challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode("ascii")


def start(cfg: OIDCConfig, ends: Endpoints, redirect_uri: str) -> LoginStart:
    """A new sign-in: the provider's authorization URL and the flow cookie's value (`state.nonce.verifier`)."""
    state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
    query = urlencode({"response_type": "code", "client_id": cfg.client_id, "redirect_uri": redirect_uri,
                       "scope": " ".join(cfg.scopes), "state": state, "nonce": nonce,
                       "code_challenge": _challenge(verifier), "code_challenge_method": "S256"})
    sep = "&" if "?" in ends.authorization else "?"
    return LoginStart(ends.authorization + sep + query, f"{state}.{nonce}.{verifier}")


def read_flow(cookie: Optional[str]) -> Optional[Tuple[str, str, str]]:
    """(state, nonce, verifier) from the flow cookie, or None."""
    parts = (cookie or "").split(".")
    if len(parts) != 3 or not all(0 < len(p) <= 64 for p in parts):
        return None
    return parts[0], parts[1], parts[2]


def exchange(cfg: OIDCConfig, ends: Endpoints, code: str, verifier: str, redirect_uri: str) -> str:
    """Trade the authorization code for the ID token at the token endpoint (client_secret_post when a secret is
    configured); LoginError when the provider refuses or answers out of spec."""
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
            "client_id": cfg.client_id or "", "code_verifier": verifier}
    if cfg.client_secret:
        form["client_secret"] = cfg.client_secret
    req = urllib.request.Request(ends.token, data=urlencode(form).encode("ascii"), method="POST",
                                 headers={"Content-Type": "application/x-www-form-urlencoded",
                                          "Accept": "application/json"})
    answer = _get_json(req, "token endpoint")
    tok = answer.get("id_token")
    if not isinstance(tok, str) or tok.count(".") != 2:
        raise LoginError("the provider's token endpoint gave no id token", 502)
    return tok
