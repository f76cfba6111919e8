"""`signoff diff`: what changes between two policy versions, in policy terms, on history, and by witness."""
from __future__ import annotations

import sys
from typing import Optional, Tuple

import click

from engine import MAX_RECORD_BYTES, History, HistoryError, Policy, run_diff
from engine.report import markdown

from .inputs import load_or_exit
from .output import echo, field, json_text

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_UNKNOWN = 0, 1, 2, 3


def _load(path: str) -> Policy:
    return load_or_exit(path, f"`{field(path)}` cannot be compared")


@click.command(name="diff")
@click.argument("old", type=click.Path(dir_okay=False))
@click.argument("new", type=click.Path(dir_okay=False))
@click.argument("more", nargs=-1, metavar="", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--history", "histories", multiple=True, metavar="FILE...",
              help="Replay these histories through both versions (the transition table).")
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json"]), default="text", show_default=True,
              help="Markdown (text and markdown are the same), or JSON with every detail.")
@click.option("--fail-on", type=click.Choice(["looser", "stricter", "any"]),
              help="Exit 1 when a change of this kind exists, 3 when one could be neither found nor ruled "
                   "out (for CI).")
@click.option("--allow-unknown", is_flag=True,
              help="With --fail-on: exit 0, not 3, when a change could be neither found nor ruled out.")
@click.option("--solver-timeout", type=click.FloatRange(min=0.01), default=10.0, show_default=True,
              metavar="SECONDS", help="The solver's time limit per tool and direction (an answer past it is "
                                      "unknown, never a pass).")
@click.option("--on-error", type=click.Choice(["skip", "fail"]), default="fail", show_default=True,
              help="What a malformed history line does.")
@click.option("--assume-approved/--no-assume-approved", default=False, show_default=True,
              help="In the history replay, count every requested approval as granted (else only those "
                   "a human approved or edited).")
@click.option("--max-record-bytes", type=click.IntRange(min=1), default=MAX_RECORD_BYTES, show_default=True,
              metavar="N", help="The largest history record read (as for `signoff simulate`).")
@click.option("--no-witness", is_flag=True, help="Skip the witness search.")
def diff(old: str, new: str, more: Tuple[str, ...], histories: Tuple[str, ...], fmt: str, fail_on: Optional[str],
         allow_unknown: bool, solver_timeout: float, on_error: str, assume_approved: bool, max_record_bytes: int,
         no_witness: bool) -> None:
    """Compare policy OLD with policy NEW."""
    paths = list(histories) + list(more)
    if more and not histories:
        echo("error: extra arguments: give histories with --history FILE", err=True)
        sys.exit(EXIT_USAGE)
    a, b = _load(old), _load(new)
    history = History(paths, on_error=on_error, max_record_bytes=max_record_bytes) if paths else None
    try:
        report = run_diff(a, b, history, witnesses=not no_witness, assume_approved=assume_approved,
                          solver_timeout=solver_timeout)
    except HistoryError as e:
        echo(f"error: {field(e.where)}: {field(e.message)}", err=True)
        sys.exit(EXIT_USAGE)
    if fmt == "json":
        echo(json_text(report, indent=2, default=str))
    else:
        echo(markdown(report), nl=False)
    s = report["summary"]
    if fail_on is not None and s[fail_on]:
        if fmt != "json":
            echo(f"signoff diff: the new policy is {fail_on if fail_on != 'any' else 'different'} "
                 f"(--fail-on {fail_on})", err=True)
        sys.exit(EXIT_FAIL)
    kinds = ["looser", "stricter"] if fail_on == "any" else [fail_on] if fail_on else []
    open_kinds = [k for k in kinds if s["undecided"][k]]
    if open_kinds and not allow_unknown:
        if fmt != "json":
            tools = ", ".join(f"`{field(t)}`" for t in s["unknown"]) or "every tool (no witness search)"
            echo(f"signoff diff: whether the new policy is {' or '.join(open_kinds)} is unknown for {tools} "
                 f"(--fail-on {fail_on}; --allow-unknown to pass)", err=True)
        sys.exit(EXIT_UNKNOWN)
    sys.exit(EXIT_OK)
