"""`signoff audit verify|export|keygen|checkpoint`: check the audit log and the state against it, export, sign heads."""
from __future__ import annotations

import sys
from typing import List, Optional, Tuple

import click

from engine import (CheckpointError, generate_keypair, load_private_key, load_public_key, make_checkpoint,
                    read_checkpoint, replay_problems, verify_checkpoint, verify_events, VerifyResult)
from engine import event_history as history

from .approvals_cmd import EXIT_REFUSED, EXIT_USAGE, fail, open_store, store_option
from .output import echo, field, json_text, write_file


@click.group(name="audit", context_settings={"help_option_names": ["-h", "--help"]})
def audit() -> None:
    """The append-only, hash-chained record of every proposal, decision and human act."""


@audit.command(name="verify")
@store_option
@click.option("--head", "expected_head", default=None, metavar="HASH",
              help="The head hash recorded elsewhere earlier: also catches a log cut short and re-headed.")
@click.option("--checkpoint", "checkpoint_path", default=None, metavar="FILE", type=click.Path(dir_okay=False),
              help="A checkpoint from `audit checkpoint`: catches truncation, rewriting and re-hashing up to it.")
@click.option("--public-key", "public_key_path", default=None, metavar="PUB", type=click.Path(dir_okay=False),
              help="The Ed25519 public key (PEM) the checkpoint was signed with.")
def verify_cmd(store_path: str, expected_head: Optional[str], checkpoint_path: Optional[str],
               public_key_path: Optional[str]) -> None:
    """Check every record's hash and link (exit 1 at the first record edited, deleted or reordered), then that
    the drafts, approvals, grants and executions are what replaying the log yields (each discrepancy listed)."""
    if (checkpoint_path is None) != (public_key_path is None):
        fail("`--checkpoint` and `--public-key` go together")
    cp = key = None
    if checkpoint_path is not None:
        try:
            cp = read_checkpoint(checkpoint_path)
            key = load_public_key(public_key_path)
        except CheckpointError as e:
            fail(str(e))
    rows, res, problems = _check(store_path)
    if not res.ok:
        echo(f"error: audit log broken at record {field(res.bad_seq)}: {field(res.problem)}", err=True)
        echo(f"{res.count} records verified before it", err=True)
        sys.exit(EXIT_REFUSED)
    bad = False
    if cp is not None:
        why = verify_checkpoint(cp, key, rows)
        if why is not None:
            echo(f"error: checkpoint `{field(checkpoint_path)}`: {why}", err=True)
            bad = True
    if expected_head is not None and expected_head not in {r["hash"] for r in rows}:
        echo(f"error: head `{field(expected_head)}` is not in the log: records were removed or rewritten",
                   err=True)
        bad = True
    for p in problems:
        echo(f"error: the state disagrees with the audit log: {field(p)}", err=True)
    if problems:
        echo(f"{len(problems)} discrepancies between the state tables and the log", err=True)
    if bad or problems:
        sys.exit(EXIT_REFUSED)
    echo(f"ok: {res.count} records, head {field(res.head)}")
    if cp is not None:
        echo(f"ok: the checkpoint of record {cp['seq']} signed at {field(cp['time'])} holds")


def _check(store_path: str) -> Tuple[List[dict], VerifyResult, List[str]]:
    """The log's records, the verdict on their chain, and (for an intact chain) every discrepancy between
    the state tables and a replay of the log: what `verify` reports and `checkpoint` refuses to sign over."""
    with open_store(store_path).snapshot() as tx:
        rows = tx.events()
        res = verify_events(rows, tx.head())
        return rows, res, (replay_problems(tx) if res.ok else [])


@audit.command(name="keygen")
@click.option("--out", "out", required=True, metavar="KEY", type=click.Path(dir_okay=False),
              help="Where the private key goes (mode 0600); the public key is written to KEY.pub.")
def keygen_cmd(out: str) -> None:
    """Create an Ed25519 key pair for signing checkpoints. Keep the private key off the store's machine."""
    try:
        private, public = generate_keypair(out)
    except CheckpointError as e:
        fail(str(e))
    echo(f"private key {field(private)} (mode 0600), public key {field(public)}")


@audit.command(name="checkpoint")
@store_option
@click.option("--key", "key_path", required=True, metavar="KEYFILE", type=click.Path(dir_okay=False),
              help="The Ed25519 private key (PEM, from `audit keygen`).")
@click.option("--out", "out", default="-", metavar="FILE|-", help="Where to write the checkpoint (default stdout).")
def checkpoint_cmd(store_path: str, key_path: str, out: str) -> None:
    """Sign the log's head (record number, hash, time) after checking it, for `audit verify --checkpoint`."""
    try:
        key = load_private_key(key_path)
    except CheckpointError as e:
        fail(str(e))
    _, res, problems = _check(store_path)
    if not res.ok or problems:
        # signing a log that does not verify would vouch for the tampering
        why = f"audit log broken at record {res.bad_seq}: {res.problem}" if not res.ok else \
            f"the state disagrees with the audit log ({len(problems)} discrepancies)"
        fail(f"{why}; run `signoff audit verify`: nothing was signed", EXIT_REFUSED)
    text = json_text(make_checkpoint((res.count, res.head), key), sort_keys=True) + "\n"
    if _write(text, out):
        echo(f"checkpoint of record {res.count} written to {field(out)}", err=True)


def _write(text: str, out: str) -> bool:
    """`text` to stdout (`-`) or to the file `out`; True when it went to a file. Exit 2 if it cannot be written."""
    if out == "-":
        echo(text, nl=False)
        return False
    e = write_file(text, out)
    if e is not None:
        fail(f"cannot write `{field(out)}`: {(e.strerror or 'error').lower()}", EXIT_USAGE)
    return True


@audit.command(name="export")
@store_option
@click.option("--output", "-o", "output", default="-", metavar="FILE|-", help="Where to write (default stdout).")
@click.option("--tenant", default=None, help="Only this tenant's proposals.")
@click.option("--since", "since", default=None, type=click.IntRange(min=0), metavar="SEQ",
              help="Instead: the raw audit records after record SEQ, one JSON line each (incremental archives).")
def export_cmd(store_path: str, output: str, tenant: Optional[str], since: Optional[int]) -> None:
    """Every proposal as one JSON line (spec §2 history with `human` verdicts and `executed`), oldest first;
    with `--since SEQ` the audit records numbered after SEQ instead, exactly as stored (the first links to
    record SEQ's hash, so archives chain on)."""
    store = open_store(store_path)
    if since is not None:
        if tenant is not None:
            fail("`--since` exports the whole log: it does not take `--tenant`")
        with store.snapshot() as tx:
            every = tx.events()
            res = verify_events(every, tx.head())
            if not res.ok:
                fail(f"audit log broken at record {res.bad_seq}: {res.problem}", EXIT_REFUSED)
            rows = [r for r in every if r["seq"] > since]
        text = "".join(json_text({k: r[k] for k in ("seq", "action_id", "kind", "actor", "at", "policy", "payload",
                                                    "prev", "hash")}, sort_keys=True) + "\n" for r in rows)
        if _write(text, output):
            last = rows[-1]["seq"] if rows else since
            echo(f"{len(rows)} audit records written to {field(output)}; next: --since {last}", err=True)
        return
    with store.snapshot() as tx:
        lines = [json_text(line, sort_keys=True) for line in history(tx, tenant)]
    if _write("".join(ln + "\n" for ln in lines), output):
        echo(f"{len(lines)} actions written to {field(output)}", err=True)
