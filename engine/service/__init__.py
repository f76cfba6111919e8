"""The HTTP service (issue 13): `signoff serve`'s API (../shared/spec/HTTP.md), the web inbox, the identities
directory, OIDC, metrics and the config file; `notify` (the `[notifications]` config) and `worker`
(timeouts and leases on a schedule). `app` wires the routes over `service` (what every endpoint shares),
`drafts` and `ops` (the endpoints) and `inbox` (the pages); `server` runs it under uvicorn, with the
`transport` that sends each response in one write.

May import: engine's public API (`engine.__all__`) and policy_lang. The CLI imports only the names listed here.
"""
from .config import ConfigError, ServiceConfig, load_config
from .identities import IdentityRecord, add_identity, list_identities, revoke_identity, rotate_key


def serve(*args, **kwargs):  # noqa: D401 - a thin wrapper so `import engine.service` needs no uvicorn
    """Run `signoff serve` (see engine.service.server.serve)."""
    from .server import serve as run
    return run(*args, **kwargs)


def create_app(*args, **kwargs):
    """The service as an ASGI app (see engine.service.app.create_app)."""
    from .app import create_app as make
    return make(*args, **kwargs)


__all__ = ["ConfigError", "ServiceConfig", "load_config", "IdentityRecord", "add_identity", "list_identities",
           "revoke_identity", "rotate_key", "serve", "create_app"]
