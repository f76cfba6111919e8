"""`signoff audit verify|export`: check the hash chain of the audit log; export the history as JSON Lines."""
from __future__ import annotations

import sys
from typing import Optional

import click

from engine import jsonout
from engine.workflow import history

from .approvals_cmd import fail, open_store, store_option


@click.group(name="audit", context_settings={"help_option_names": ["-h", "--help"]})
def audit() -> None:
    """The append-only, hash-chained record of every proposal, decision and human act."""


@audit.command(name="verify")
@store_option
@click.option("--head", "expected_head", default=None, metavar="HASH",
              help="The head hash recorded elsewhere earlier: also catches a log cut short and re-headed.")
def verify_cmd(store_path: str, expected_head: Optional[str]) -> None:
    """Check every record's hash and link; exit 1 at the first record edited, deleted or reordered."""
    store = open_store(store_path)
    with store.snapshot() as tx:
        rows = tx.events()
        head = tx.head()
    from engine.store import verify_events
    res = verify_events(rows, head)
    if not res.ok:
        click.echo(f"error: audit log broken at record {res.bad_seq}: {res.problem}", err=True)
        click.echo(f"{res.count} records verified before it", err=True)
        sys.exit(1)
    if expected_head is not None and expected_head not in {r["hash"] for r in rows}:
        click.echo(f"error: head `{expected_head}` is not in the log: records were removed or rewritten", err=True)
        sys.exit(1)
    click.echo(f"ok: {res.count} records, head {res.head}")


@audit.command(name="export")
@store_option
@click.option("--output", "-o", "output", default="-", metavar="FILE|-", help="Where to write (default stdout).")
@click.option("--tenant", default=None, help="Only this tenant's proposals.")
def export_cmd(store_path: str, output: str, tenant: Optional[str]) -> None:
    """Every proposal as one JSON line (spec §2 history with `human` verdicts and `executed`), oldest first."""
    store = open_store(store_path)
    with store.snapshot() as tx:
        lines = [jsonout.dumps(line, sort_keys=True) for line in history(tx, tenant)]
    text = "".join(ln + "\n" for ln in lines)
    if output == "-":
        click.echo(text, nl=False)
        return
    try:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as e:
        fail(f"cannot write `{output}`: {(e.strerror or 'error').lower()}")
    click.echo(f"{len(lines)} actions written to {output}", err=True)
