"""`signoff store migrate`: move an SQLite store into PostgreSQL, the audit chain copied and verified."""
from __future__ import annotations

import click

from engine import StoreError, copy_store, is_postgres_url, open_store

from .approvals_cmd import EXIT_USAGE, fail
from .output import echo, field


@click.group(name="store", context_settings={"help_option_names": ["-h", "--help"]})
def store() -> None:
    """Manage approval stores."""


@store.command(name="migrate")
@click.option("--from", "src", required=True, metavar="sqlite:PATH", help="The SQLite store to copy.")
@click.option("--to", "dst", required=True, metavar="URL", help="An empty PostgreSQL store (`postgresql://…`).")
def migrate_cmd(src: str, dst: str) -> None:
    """Copy every draft, approval, grant, identity, budget row and audit record into PostgreSQL; verified."""
    if not src.startswith("sqlite:") or is_postgres_url(src):
        fail(f"--from must be `sqlite:PATH`, not `{src}`", EXIT_USAGE)
    if not is_postgres_url(dst):
        fail(f"--to must be a `postgresql://` URL, not `{dst}`", EXIT_USAGE)
    try:
        source = open_store(src, create=False)
    except StoreError as e:
        fail(str(e))
        raise
    try:
        target = open_store(dst)
    except StoreError as e:
        source.close()
        fail(str(e))
        raise
    try:
        res = copy_store(source, target)
    except StoreError as e:
        fail(str(e))
        raise
    finally:
        source.close()
        target.close()
    counts = ", ".join(f"{n} {t}" for t, n in res.rows.items())
    echo(f"copied {counts} and {res.records} audit records; the chain verifies, head {field(res.head)}")
