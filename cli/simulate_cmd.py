"""`signoff simulate`: replay action histories through a policy and report what it would have done."""
from __future__ import annotations

import shutil
import sys
import time
from typing import List, Optional, Tuple

import click

from engine import (ENGINES, FORMATS, MAX_RECORD_BYTES, EngineUnavailable, History, HistoryError, Policy,
                    SparkError, parse_filters, parse_when, run_simulation, simulate_columnar, simulate_spark)

from .inputs import load_or_exit
from .output import echo, field, json_text, write_report

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def _load(path: str) -> Policy:
    return load_or_exit(path)


class Progress:
    """A one-line progress bar on stderr, only on a terminal and only once a run has taken a second."""

    def __init__(self, history: History, stream=None):
        self.history = history
        self.stream = stream or sys.stderr
        self.start = time.monotonic()
        self.shown = False
        self.last = 0.0

    @staticmethod
    def wanted(stream=None) -> bool:
        """Whether to show progress at all: only when the stream (stderr by default) is a terminal."""
        s = stream or sys.stderr
        return bool(getattr(s, "isatty", lambda: False)())

    def __call__(self, n: int) -> None:
        now = time.monotonic()
        if now - self.start < 1.0 or now - self.last < 0.2:
            return
        self.last = now
        done, total = self.history.stats.progress()
        rate = n / (now - self.start)
        if total:
            frac = min(1.0, done / total)
            bar = "#" * int(frac * 30)
            line = f"\rsimulating [{bar:<30}] {frac * 100:3.0f}%  {n:,} actions  {rate:,.0f}/s"
        else:
            line = f"\rsimulating  {n:,} actions  {rate:,.0f}/s"
        self.stream.write(line)
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        """Clear the progress line, if one was shown."""
        if self.shown:
            self.stream.write("\r" + " " * 79 + "\r")
            self.stream.flush()


@click.command(name="simulate")
@click.argument("policy", type=click.Path(dir_okay=False))
@click.argument("more", nargs=-1, metavar="", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--history", "histories", multiple=True, metavar="FILE...",
              help="Histories: JSON Lines, CSV or Parquet, gzip or not, - for stdin (repeatable; extra "
                   "file arguments after it are histories too).")
@click.option("--decisions", metavar="FILE", help="Write one decision per action (JSON Lines, replay order).")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "html"]), default="text", show_default=True,
              help="The report as text, JSON (the reference) or one HTML page.")
@click.option("--out", metavar="FILE", help="Write the report to FILE instead of stdout.")
@click.option("--on-error", type=click.Choice(["skip", "fail"]), default="fail", show_default=True,
              help="What a malformed history line does: reported and skipped, or fatal.")
@click.option("--assume-approved/--no-assume-approved", default=False, show_default=True,
              help="Count every requested approval as granted (else only those the history says a human "
                   "approved or edited).")
@click.option("--sample", type=click.IntRange(min=1), metavar="N", help="Replay a deterministic sample of N actions.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of --sample.")
@click.option("--since", metavar="TIME", help="Only actions at or after TIME (RFC 3339 or YYYY-MM-DD).")
@click.option("--until", metavar="TIME", help="Only actions before TIME (RFC 3339 or YYYY-MM-DD).")
@click.option("--filter", "filters", multiple=True, metavar="KEY=V[,V]",
              help="Only actions whose KEY (tool, tenant, agent or a dotted path) is one of the values; repeatable.")
@click.option("--history-format", type=click.Choice(list(FORMATS)), default="auto", show_default=True,
              help="The histories' format (auto: from each file's bytes and name).")
@click.option("--max-record-bytes", type=click.IntRange(min=1), default=MAX_RECORD_BYTES, show_default=True,
              metavar="N", help="The largest history record (a JSON line, a CSV or Parquet row) read; a larger "
                                "one is a malformed line, found while reading or decompressing.")
@click.option("--external-sort", is_flag=True,
              help="Sort the history on disk first (for unsorted stdin; files are re-sorted automatically).")
@click.option("--engine", type=click.Choice(list(ENGINES)), default="row", show_default=True,
              help="The replay engine: row by row; columnar (Parquet as Arrow columns; needs signoff[sim]); or "
                   "spark (Apache Spark: the signoff[spark] extra and Java). The report is the same.")
def simulate(policy: str, more: Tuple[str, ...], histories: Tuple[str, ...], decisions: Optional[str], fmt: str,
             out: Optional[str], on_error: str, assume_approved: bool, sample: Optional[int], seed: int,
             since: Optional[str], until: Optional[str], filters: Tuple[str, ...], history_format: str,
             max_record_bytes: int, external_sort: bool, engine: str) -> None:
    """Replay HISTORY through POLICY and report what it would have decided."""
    paths: List[str] = list(histories) + list(more)
    if not paths:
        _usage("give at least one history with --history FILE")
    if paths.count("-") > 1:
        _usage("stdin (`-`) can be read only once")
    try:
        t_since = parse_when(since) if since else None
        t_until = parse_when(until) if until else None
    except ValueError as exc:
        _usage(f"--since/--until: {exc}")
        return
    try:
        flt = parse_filters(filters)
    except ValueError as exc:
        _usage(str(exc))
        return
    pol = _load(policy)
    history = History(paths, on_error=on_error, since=t_since, until=t_until, filters=flt, sample=sample,
                      seed=seed, fmt=history_format, max_record_bytes=max_record_bytes)
    progress = Progress(history) if Progress.wanted() and engine != "spark" else None
    try:
        if engine == "spark":
            report = simulate_spark(pol, history, assume_approved=assume_approved, decisions=decisions,
                                    external_sort=external_sort)
        else:
            run = simulate_columnar if engine == "columnar" else run_simulation
            report = run(pol, history, assume_approved=assume_approved, decisions=decisions,
                         progress=progress, external_sort=external_sort)
    except SparkError as exc:
        echo(f"error: {field(exc.message)}", err=True)
        sys.exit(EXIT_FAIL if exc.code == "spark_job_failed" else EXIT_USAGE)
    except EngineUnavailable as exc:
        if progress:
            progress.close()
        _usage(exc.message)
        return
    except HistoryError as exc:
        if progress:
            progress.close()
        _usage(f"{exc.where}: {exc.message}")
        return
    except OSError as exc:
        if progress:
            progress.close()
        _usage(f"{getattr(exc, 'filename', None) or decisions}: {(exc.strerror or 'cannot write').lower()}")
        return
    if progress:
        progress.close()
    from engine.report import html_report, text_report
    if fmt == "json":
        text = json_text(report, indent=2) + "\n"
    elif fmt == "html":
        text = html_report(report)
    else:
        # wrapped to the terminal's width only on a terminal: a file or a pipe gets whole lines
        width = shutil.get_terminal_size().columns if not out and sys.stdout.isatty() else None
        text = text_report(report, width=width)
    problem = write_report(text, out)
    if problem is not None:
        _usage(f"{out}: {problem}")
    sys.exit(EXIT_OK)


def _usage(message: str) -> None:
    echo(f"error: {field(message)}", err=True)
    sys.exit(EXIT_USAGE)
