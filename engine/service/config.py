"""`--config FILE`: the server's TOML settings ([server], [oidc], [notifications]), read and checked once."""
from __future__ import annotations

import ipaddress
import sys
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["ConfigError", "OIDCConfig", "ServiceConfig", "load_config", "parse_config", "secure_url"]

Network = Any   # ipaddress.IPv4Network | ipaddress.IPv6Network


class ConfigError(ValueError):
    """The configuration file cannot be read or holds a setting that is not valid; the message says which."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class OIDCConfig:
    """Bearer JWTs from an OpenID Connect provider: who issues them, for whom, where its keys are, and which
    claims carry the identity's id, roles, tenant and kind."""
    issuer: str
    audience: str
    jwks_file: Optional[str] = None
    jwks_url: Optional[str] = None
    id_claim: str = "sub"
    roles_claim: str = "roles"
    tenant_claim: Optional[str] = "tenant"
    kind_claim: Optional[str] = "signoff_kind"
    algorithms: Tuple[str, ...] = ("RS256", "ES256", "PS256", "EdDSA")
    leeway_seconds: int = 30
    # the inbox's "sign in with your provider" (authorization code flow with PKCE): set `client_id`; the
    # endpoints come from the issuer's discovery document unless given
    client_id: Optional[str] = None
    client_secret: Optional[str] = field(default=None, repr=False)
    authorization_endpoint: Optional[str] = None
    token_endpoint: Optional[str] = None
    scopes: Tuple[str, ...] = ("openid", "profile")

    @property
    def login(self) -> bool:
        """Whether the inbox offers the provider's sign-in."""
        return self.client_id is not None


@dataclass(frozen=True)
class ServiceConfig:
    """Everything `--config` sets, with the defaults a server without a file runs on."""
    public_url: Optional[str] = None
    secure_cookies: Optional[bool] = None      # None: Secure exactly when the request came over https
    metrics_allow: Tuple[Network, ...] = field(default_factory=lambda: (ipaddress.ip_network("127.0.0.0/8"),
                                                                        ipaddress.ip_network("::1/128")))
    trusted_proxies: Tuple[Network, ...] = ()
    lease_seconds: int = 900
    approval_ttl_seconds: int = 86400
    worker_interval: float = 5.0
    session_seconds: int = 8 * 3600
    oidc: Optional[OIDCConfig] = None
    notifications: Dict[str, Any] = field(default_factory=dict)


def _networks(value: Any, where: str) -> Tuple[Network, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"`{where}` must be a list of networks such as \"127.0.0.1/32\"")
    try:
        return tuple(ipaddress.ip_network(v, strict=False) for v in value)
    except ValueError as e:
        raise ConfigError(f"`{where}`: {str(e).lower()}") from None


def _get(table: Dict[str, Any], key: str, kind: Any, where: str, default: Any) -> Any:
    if key not in table:
        return default
    v = table[key]
    if isinstance(v, bool) and kind is not bool or not isinstance(v, kind):
        raise ConfigError(f"`{where}.{key}` has the wrong type")
    return v


def _known(table: Dict[str, Any], keys: Tuple[str, ...], where: str) -> None:
    for k in table:
        if k not in keys:
            raise ConfigError(f"unknown setting `{where}.{k}`")


def parse_config(data: Dict[str, Any]) -> ServiceConfig:
    """Check a parsed TOML document and build the ServiceConfig; ConfigError names the bad setting."""
    _known(data, ("server", "oidc", "notifications"), "config")
    srv = data.get("server", {})
    if not isinstance(srv, dict):
        raise ConfigError("`server` must be a table")
    _known(srv, ("public_url", "secure_cookies", "metrics_allow", "trusted_proxies", "lease_seconds",
                 "approval_ttl_seconds", "worker_interval", "session_seconds"), "server")
    kw: Dict[str, Any] = {}
    kw["public_url"] = _get(srv, "public_url", str, "server", None)
    kw["secure_cookies"] = _get(srv, "secure_cookies", bool, "server", None)
    if "metrics_allow" in srv:
        kw["metrics_allow"] = _networks(srv["metrics_allow"], "server.metrics_allow")
    if "trusted_proxies" in srv:
        kw["trusted_proxies"] = _networks(srv["trusted_proxies"], "server.trusted_proxies")
    for key in ("lease_seconds", "approval_ttl_seconds", "session_seconds"):
        v = _get(srv, key, int, "server", None)
        if v is not None:
            if v <= 0:
                raise ConfigError(f"`server.{key}` must be positive")
            kw[key] = v
    wi = _get(srv, "worker_interval", (int, float), "server", None)
    if wi is not None:
        if not 0 < wi <= 3600:
            raise ConfigError("`server.worker_interval` must be between 0 and 3600 seconds")
        kw["worker_interval"] = float(wi)
    oidc = data.get("oidc")
    if oidc is not None:
        if not isinstance(oidc, dict):
            raise ConfigError("`oidc` must be a table")
        fields = ("issuer", "audience", "jwks_file", "jwks_url", "id_claim", "roles_claim", "tenant_claim",
                  "kind_claim", "algorithms", "leeway_seconds", "client_id", "client_secret",
                  "authorization_endpoint", "token_endpoint", "scopes")
        _known(oidc, fields, "oidc")
        for need in ("issuer", "audience"):
            if not isinstance(oidc.get(need), str) or not oidc[need]:
                raise ConfigError(f"`oidc.{need}` is required")
        if ("jwks_file" in oidc) == ("jwks_url" in oidc):
            raise ConfigError("`oidc` needs exactly one of `jwks_file` and `jwks_url`")
        url = _get(oidc, "jwks_url", str, "oidc", None)
        if url is not None and not url.startswith("https://"):
            raise ConfigError("`oidc.jwks_url` must be an https:// url")
        client_id = _get(oidc, "client_id", str, "oidc", None)
        ends = {k: _get(oidc, k, str, "oidc", None) for k in ("authorization_endpoint", "token_endpoint")}
        for k, v in ends.items():
            if v is not None and not secure_url(v):
                raise ConfigError(f"`oidc.{k}` must be an https:// url (http:// only on a loopback address)")
            if v is not None and client_id is None:
                raise ConfigError(f"`oidc.{k}` needs `oidc.client_id`")
        if client_id is not None and None in ends.values() and not secure_url(oidc["issuer"]):
            raise ConfigError("`oidc.issuer` must be an https:// url to discover its endpoints "
                              "(or set `oidc.authorization_endpoint` and `oidc.token_endpoint`)")
        scopes = _get(oidc, "scopes", list, "oidc", list(OIDCConfig.scopes))
        if not all(isinstance(x, str) and x and " " not in x for x in scopes) or "openid" not in scopes:
            raise ConfigError("`oidc.scopes` must be a list of scope names including \"openid\"")
        algs = _get(oidc, "algorithms", list, "oidc", list(OIDCConfig.algorithms))
        if not algs or not all(isinstance(a, str) for a in algs) or any(a.lower() in ("none",) or
                                                                         a.startswith("HS") for a in algs):
            raise ConfigError("`oidc.algorithms` must list asymmetric algorithms (RS256, ES256, ...)")
        kw["oidc"] = OIDCConfig(
            issuer=oidc["issuer"], audience=oidc["audience"], jwks_file=_get(oidc, "jwks_file", str, "oidc", None),
            jwks_url=url, id_claim=_get(oidc, "id_claim", str, "oidc", "sub"),
            roles_claim=_get(oidc, "roles_claim", str, "oidc", "roles"),
            tenant_claim=_get(oidc, "tenant_claim", str, "oidc", "tenant"),
            kind_claim=_get(oidc, "kind_claim", str, "oidc", "signoff_kind"), algorithms=tuple(algs),
            leeway_seconds=_get(oidc, "leeway_seconds", int, "oidc", 30), client_id=client_id,
            client_secret=_get(oidc, "client_secret", str, "oidc", None), scopes=tuple(scopes), **ends)
    notes = data.get("notifications", {})
    if not isinstance(notes, dict):
        raise ConfigError("`notifications` must be a table")
    kw["notifications"] = notes
    return ServiceConfig(**kw)


def secure_url(url: str) -> bool:
    """An https:// url, or http:// to a loopback address (a provider on the same machine, as in tests)."""
    from urllib.parse import urlsplit
    try:
        u = urlsplit(url)
        host = u.hostname or ""
    except ValueError:
        return False
    if u.scheme == "https" and host:
        return True
    if u.scheme != "http":
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_config(path: Optional[str]) -> ServiceConfig:
    """Read `--config FILE` (TOML); no file: the defaults."""
    if path is None:
        return ServiceConfig()
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as e:
        raise ConfigError(f"cannot read config `{path}`: {(e.strerror or str(e)).lower()}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config `{path}` is not valid toml: {str(e).lower()}") from None
    try:
        return parse_config(data)
    except ConfigError as e:
        raise ConfigError(f"config `{path}`: {e.message}") from None


def networks_text(nets: List[Network]) -> str:
    """Networks as written in the config, for messages."""
    return ", ".join(str(n) for n in nets)
