"""`signoff serve` and `signoff identities add|list|revoke|rotate`: the HTTP service and its directory."""
from __future__ import annotations

import sys
from typing import Optional, Tuple

import click

from engine import StoreError, load_policy
from engine.service import (ConfigError, add_identity, list_identities, load_config, revoke_identity, rotate_key,
                            serve as run_server)
from policy_lang import PolicyError

from .approvals_cmd import open_store, store_option
from .output import echo, field

EXIT_OK, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2


def _fail(message: str, code: int = EXIT_USAGE) -> None:
    echo(f"error: {field(message)}", err=True)
    sys.exit(code)


@click.command()
@click.argument("policy", type=click.Path(dir_okay=False))
@click.option("--store", "store_path", required=True, envvar="SIGNOFF_STORE", metavar="STORE",
              help="The approval store: an SQLite file (created if missing) or a `postgresql://` URL.")
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535),
              help="The port to listen on (0: any free port, shown in the `listening on` line).")
@click.option("--config", "config_path", metavar="FILE", type=click.Path(dir_okay=False),
              help="Settings (TOML): [server], [oidc], [notifications].")
@click.option("--shadow", "shadow", multiple=True, metavar="NEW.policy", type=click.Path(dir_okay=False),
              help="A candidate policy that decides every proposal too, recorded in the audit log and never "
                   "enforced (repeatable; compare with `signoff report --shadow`).")
def serve(policy: str, store_path: str, host: str, port: int, config_path: Optional[str],
          shadow: Tuple[str, ...]) -> None:
    """Serve the approval API and the web inbox (see docs/server.md)."""
    try:
        config = load_config(config_path)
    except ConfigError as e:
        _fail(e.message)
    for cand in shadow:
        # a candidate with errors is refused before anything listens, like the policy itself
        try:
            c = load_policy(cand)
        except PolicyError as e:
            echo(str(e), err=True)
            _fail(f"shadow policy `{cand}` has errors: nothing is served", EXIT_REFUSED)
            raise
        echo(f"shadow policy `{field(cand)}`: {field(c.name or '')} {field(c.version or '(no version)')}, "
             "decides every proposal too, never enforced", err=True)
    try:
        run_server(policy, store_path, host=host, port=port, config=config, say=lambda s: echo(s, err=True),
                   shadow=shadow)
    except PolicyError as e:
        echo(str(e), err=True)
        _fail(f"policy `{policy}` has errors: nothing is served", EXIT_REFUSED)
    except (StoreError, ConfigError) as e:
        _fail(getattr(e, "message", str(e)))
    except OSError as e:
        _fail(f"cannot listen on {host}:{port}: {(e.strerror or str(e)).lower()}")


@click.group()
def identities() -> None:
    """Agents and people the service knows, and their API keys."""


@identities.command(name="add")
@click.argument("ident_id", metavar="ID")
@click.option("--role", "roles", multiple=True, required=True, help="A route role it holds (repeatable).")
@click.option("--tenant", default=None, help="Its tenant (none: a deployment without tenants).")
@click.option("--kind", type=click.Choice(["agent", "human"]), default="human", show_default=True,
              help="Agents propose and execute; humans approve.")
@store_option
def add_cmd(ident_id: str, roles: Tuple[str, ...], tenant: Optional[str], kind: str, store_path: str) -> None:
    """Register an identity; its new API key is the last line printed (shown once)."""
    from engine import open_store as open_store_spec
    try:
        store = open_store_spec(store_path)
    except StoreError as e:
        _fail(str(e))
        raise
    try:
        key = add_identity(store, ident_id, list(roles), tenant, kind)
    except ValueError as e:
        _fail(str(e))
        raise
    finally:
        store.close()
    echo(f"added {kind} `{field(ident_id)}` (roles {', '.join(field(r) for r in sorted(roles))}"
         + (f", tenant `{field(tenant)}`" if tenant else "") + "); its api key, shown once:")
    echo(key)


@identities.command(name="list")
@store_option
def list_cmd(store_path: str) -> None:
    """List identities: id, kind, roles, tenant, live keys, revoked."""
    store = open_store(store_path)
    try:
        rows = list_identities(store)
    finally:
        store.close()
    for r in rows:
        echo(f"{field(r.id)}\t{r.kind}\troles={','.join(field(x) for x in r.roles)}\t"
             f"tenant={field(r.tenant or '-')}\tkeys={r.keys}" + ("\trevoked" if r.revoked else ""))
    if not rows:
        echo("no identities")


@identities.command(name="revoke")
@click.argument("ident_id", metavar="ID")
@store_option
def revoke_cmd(ident_id: str, store_path: str) -> None:
    """Revoke an identity and all its keys (a running server refuses them within a second)."""
    store = open_store(store_path)
    try:
        revoke_identity(store, ident_id)
    except StoreError as e:
        _fail(str(e), EXIT_REFUSED)
    finally:
        store.close()
    echo(f"revoked `{field(ident_id)}`")


@identities.command(name="rotate")
@click.argument("ident_id", metavar="ID")
@store_option
def rotate_cmd(ident_id: str, store_path: str) -> None:
    """Replace an identity's API key; the new key is the last line printed (shown once)."""
    store = open_store(store_path)
    try:
        key = rotate_key(store, ident_id)
    except StoreError as e:
        _fail(str(e), EXIT_REFUSED)
        raise
    finally:
        store.close()
    echo(f"rotated the key of `{field(ident_id)}`; the old keys no longer work; its new api key, shown once:")
    echo(key)
