"""Who is calling: API keys (256-bit random, kept as SHA-256 hashes, compared in constant time) and OIDC JWTs."""
from __future__ import annotations

import hmac
import json
import threading
import time
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

import jwt

from engine import Identity, IdentityError, StoreError, canonical_id, open_store

from .config import OIDCConfig
from .keys import KEY_PREFIX, KINDS, key_hash, new_key
from .errors import Problem

__all__ = ["KINDS", "Principal", "Authenticator", "new_key", "key_hash"]

CACHE_SECONDS = 1.0   # a revoked key stops working within this long in a running server


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: its identity (id, roles, tenant), its kind and how it proved it (`key`, `oidc`)."""
    identity: Identity
    kind: str
    via: str
    expires: Optional[float] = None   # JWTs: their `exp`

    @property
    def id(self) -> str:
        """The identity's id, as registered."""
        return self.identity.id

    @property
    def tenant(self) -> Optional[str]:
        """The identity's tenant (None: a deployment without tenants)."""
        return self.identity.tenant

    def has_role(self, role: str) -> bool:
        """Whether the identity holds `role` (compared as ids are)."""
        try:
            k = canonical_id(role)
        except IdentityError:
            return False
        return any(canonical_id(r) == k for r in self.identity.roles)


class Authenticator:
    """Turns a bearer token into a Principal: API keys against the store's hashes, JWTs against the OIDC config."""

    def __init__(self, store_path: str, oidc: Optional[OIDCConfig] = None):
        self.store = open_store(store_path)   # its own connection: reads never wait for the gate's writes
        self.oidc = oidc
        self._cache: Dict[str, Tuple[float, Principal]] = {}
        self._lock = threading.Lock()
        self._jwks: Any = None
        if oidc is not None:
            if oidc.jwks_file is not None:
                try:
                    with open(oidc.jwks_file, encoding="utf-8") as f:
                        self._jwks = jwt.PyJWKSet.from_dict(json.load(f))
                except (OSError, ValueError, jwt.PyJWTError) as e:
                    raise StoreError(f"cannot read the jwks file `{oidc.jwks_file}`: {str(e).lower()}") from None
            else:
                self._jwks = jwt.PyJWKClient(oidc.jwks_url or "", cache_keys=True, lifespan=300)

    def close(self) -> None:
        """Close the directory's connection."""
        self.store.close()

    def authenticate(self, token: Optional[str]) -> Principal:
        """The Principal for a bearer token; Problem `unauthorized` when it is missing, unknown or revoked."""
        if not token:
            raise Problem("unauthorized", "send `authorization: bearer KEY`",
                          {"WWW-Authenticate": 'Bearer realm="signoff"'})
        if token.startswith(KEY_PREFIX):
            return self._api_key(token)
        if self.oidc is not None and token.count(".") == 2:
            return self._jwt(token)
        raise Problem("unauthorized", "the credentials are not valid", {"WWW-Authenticate": 'Bearer realm="signoff"'})

    def session_principal(self, via: str, key_h: Optional[str], who: Dict[str, Any]) -> Principal:
        """The Principal of an inbox session: an API-key session is checked against the directory again (a
        revoked key or identity ends it); an OIDC session is who the token said, until the token's expiry.
        Problem `unauthorized` when it no longer holds."""
        if via == "key" and key_h:
            return self._by_hash(key_h)
        bad = Problem("unauthorized", "the session is over")
        if via != "oidc" or self.oidc is None:
            raise bad
        exp = who.get("expires")
        if not isinstance(exp, (int, float)) or exp <= time.time():
            raise bad
        try:
            ident = Identity(who["id"], frozenset(who.get("roles") or ()), who.get("tenant"))
        except (KeyError, TypeError, ValueError):
            raise bad from None
        kind = who.get("kind")
        if kind not in KINDS:
            raise bad
        return Principal(ident, str(kind), "oidc", float(exp))

    def _api_key(self, token: str) -> Principal:
        return self._by_hash(key_hash(token))

    def _by_hash(self, h: str) -> Principal:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(h)
        if hit is not None and hit[0] > now:
            return hit[1]
        with self.store.snapshot() as tx:
            info = tx.api_key_owner(h)
        if info is None or not hmac.compare_digest(info["key_hash"], h):
            raise Problem("unauthorized", "the credentials are not valid",
                          {"WWW-Authenticate": 'Bearer realm="signoff", error="invalid_token"'})
        p = Principal(Identity(info["id"], frozenset(info["roles"]), info["tenant"]), info["kind"], "key")
        with self._lock:
            if len(self._cache) > 10000:
                self._cache.clear()
            self._cache[h] = (now + CACHE_SECONDS, p)
        return p

    def id_token(self, token: str, nonce: str) -> Principal:
        """The Principal of an ID token the provider gave the inbox's sign-in: issued for this client (`aud` is the
        `client_id`), carrying the `nonce` the sign-in sent; Problem `unauthorized` otherwise."""
        cfg = self.oidc
        if cfg is None or cfg.client_id is None:
            raise Problem("unauthorized", "this server has no oidc sign-in")
        return self._jwt(token, cfg.client_id, nonce)

    def _jwt(self, token: str, audience: Optional[str] = None, nonce: Optional[str] = None) -> Principal:
        cfg = self.oidc
        assert cfg is not None
        bad = Problem("unauthorized", "the token is not valid",
                      {"WWW-Authenticate": 'Bearer realm="signoff", error="invalid_token"'})
        try:
            if isinstance(self._jwks, jwt.PyJWKClient):
                key = self._jwks.get_signing_key_from_jwt(token).key
            else:
                kid = jwt.get_unverified_header(token).get("kid")
                keys = [k for k in self._jwks.keys if kid is None or k.key_id == kid]
                if len(keys) != 1:
                    raise bad
                key = keys[0].key
            claims = jwt.decode(token, key, algorithms=list(cfg.algorithms), audience=audience or cfg.audience,
                                issuer=cfg.issuer, leeway=cfg.leeway_seconds,
                                options={"require": ["exp", "iss", "aud", cfg.id_claim]})
        except (jwt.PyJWTError, ValueError, KeyError):
            raise bad from None
        if nonce is not None and not (isinstance(claims.get("nonce"), str)
                                      and hmac.compare_digest(claims["nonce"], nonce)):
            raise bad   # an ID token replayed from another sign-in
        sub = claims.get(cfg.id_claim)
        roles = claims.get(cfg.roles_claim, [])
        tenant = claims.get(cfg.tenant_claim) if cfg.tenant_claim else None
        kind = claims.get(cfg.kind_claim, "human") if cfg.kind_claim else "human"
        if isinstance(roles, str):
            roles = roles.split()
        if not isinstance(sub, str):
            raise bad
        if not isinstance(roles, list) or kind not in KINDS or (tenant is not None and not isinstance(tenant, str)):
            raise bad
        try:
            ident = Identity(sub, frozenset(r for r in roles if isinstance(r, str) and r), tenant or None)
        except ValueError:
            raise bad from None
        return Principal(ident, kind, "oidc", float(claims["exp"]))
