"""`signoff report`: trends by ISO week from a store or from histories, and the shadow candidates against the record."""
from __future__ import annotations

import sys
from typing import Any, Dict, List, Optional, Tuple

import click

from engine import FORMATS, MAX_RECORD_BYTES, History, HistoryError, StoreError
from engine import event_history

from .approvals_cmd import open_store
from .inputs import load_or_exit
from .output import echo, field, json_text, write_report

EXIT_OK, EXIT_USAGE = 0, 2


def _usage(message: str) -> None:
    echo(f"error: {field(message)}", err=True)
    sys.exit(EXIT_USAGE)


@click.command(name="report")
@click.option("--store", "store_path", default=None, metavar="STORE",
              help="The approval store to read (an SQLite file or a `postgresql://` URL).")
@click.option("--history", "histories", multiple=True, metavar="FILE...",
              help="Histories instead of a store: `signoff audit export` output, or spec §2 histories decided "
                   "with --policy (repeatable; - for stdin).")
@click.argument("more", nargs=-1, metavar="", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--policy", "policy_path", default=None, metavar="POLICY", type=click.Path(dir_okay=False),
              help="Decide the history records that carry no recorded decision with this policy.")
@click.option("--shadow", is_flag=True,
              help="Add the shadow candidates' decisions against the live ones and the humans' verdicts.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "html"]), default="text", show_default=True,
              help="The report as text, JSON (the reference) or one HTML page.")
@click.option("--out", metavar="FILE", help="Write the report to FILE instead of stdout.")
@click.option("--on-error", type=click.Choice(["skip", "fail"]), default="fail", show_default=True,
              help="What a malformed history record does: counted and skipped, or fatal.")
@click.option("--history-format", type=click.Choice(list(FORMATS)), default="auto", show_default=True,
              help="The histories' format (auto: from each file's bytes and name).")
def report(store_path: Optional[str], histories: Tuple[str, ...], more: Tuple[str, ...], policy_path: Optional[str],
           shadow: bool, fmt: str, out: Optional[str], on_error: str, history_format: str) -> None:
    """Trends by ISO week: automation, verdicts per tool and route, time to approval, escalations, denials, with
    each policy change marked; `--shadow` compares shadow candidates with the live decisions and the humans."""
    from engine.report import TrendError, proposals_from_history, proposals_from_lines, trends, trends_html, \
        trends_text
    paths: List[str] = list(histories) + list(more)
    if (store_path is None) == (not paths):
        _usage("give either `--store STORE` or `--history FILE…`")
    if store_path is not None and policy_path is not None:
        _usage("`--policy` decides history records: a store's proposals carry their own decisions")
    if paths.count("-") > 1:
        _usage("stdin (`-`) can be read only once")
    source: Dict[str, Any]
    try:
        if store_path is not None:
            store = open_store(store_path)
            try:
                with store.snapshot() as tx:
                    lines = list(event_history(tx))
            finally:
                store.close()
            proposals, skipped = proposals_from_lines(lines, "store"), 0
            source = {"store": store_path}
        else:
            pol = load_or_exit(policy_path, "no report is made") if policy_path is not None else None
            history = History(paths, on_error=on_error, fmt=history_format, max_record_bytes=MAX_RECORD_BYTES)
            proposals, skipped = proposals_from_history(history, pol, on_error)
            source = {"histories": paths, "policy": dict(pol.graph.policy) if pol is not None else None}
            skipped += history.stats.skipped
    except TrendError as e:
        _usage(f"{e.where}: {e.message}")
        return
    except HistoryError as e:
        _usage(f"{e.where}: {e.message}")
        return
    except StoreError as e:
        _usage(str(e))
        return
    r = trends(proposals, source, shadow=shadow, skipped=skipped)
    text = json_text(r, indent=2) + "\n" if fmt == "json" else trends_html(r) if fmt == "html" else trends_text(r)
    problem = write_report(text, out)
    if problem is not None:
        _usage(f"`{out}`: {problem}")
    sys.exit(EXIT_OK)
