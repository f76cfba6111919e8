"""`signoff recommend`: a smaller policy from a history with human verdicts, with the evidence for each change."""
from __future__ import annotations

import os
import sys
from typing import List, Optional, Tuple

import click

from engine import (FORMATS, MAX_RECORD_BYTES, History, HistoryError, RecommendError, check_recommended,
                    recommend_report, recommended_policy, run_recommend)
from engine.report import recommend_html, recommend_text

from .inputs import load_or_exit
from .output import echo, field, json_text

EXIT_OK, EXIT_NONE, EXIT_USAGE, EXIT_BUG = 0, 1, 2, 3


def _fail(code: str, message: str, status: int = EXIT_USAGE) -> None:
    echo(f"error[{code}]: {message}", err=True)
    sys.exit(status)


@click.command(name="recommend")
@click.argument("policy", type=click.Path(dir_okay=False))
@click.argument("more", nargs=-1, metavar="", type=click.Path(dir_okay=False))
@click.option("--history", "histories", multiple=True, metavar="FILE...",
              help="Histories with human verdicts (spec §2; `signoff audit export` writes them); repeatable; "
                   "files, not stdin (they are read twice).")
@click.option("--out", metavar="NEW.policy", type=click.Path(dir_okay=False),
              help="Write the recommended policy here (checked to load and lint first).")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "html"]), default="text", show_default=True,
              help="The report as text, JSON or one HTML page.")
@click.option("--confidence", type=click.FloatRange(min=0, max=1, min_open=True, max_open=True), default=0.95,
              show_default=True, help="Confidence of the one-sided Clopper-Pearson upper bound.")
@click.option("--max-risk", type=click.FloatRange(min=0, max=1, min_open=True, max_open=True), default=0.01,
              show_default=True, help="The largest upper bound on the rate of let-through actions humans changed.")
@click.option("--holdout", type=click.FloatRange(min=0, max=1, max_open=True), default=0.3, show_default=True,
              help="Share of the history, latest first, kept out of the fit and reported on.")
@click.option("--on-error", type=click.Choice(["skip", "fail"]), default="fail", show_default=True,
              help="What a malformed history line does: reported and skipped, or fatal.")
@click.option("--history-format", type=click.Choice(list(FORMATS)), default="auto", show_default=True,
              help="The histories' format (auto: from each file's bytes and name).")
@click.option("--max-record-bytes", type=click.IntRange(min=1), default=MAX_RECORD_BYTES, show_default=True,
              metavar="N", help="The largest history record read (as for `signoff simulate`).")
def recommend(policy: str, more: Tuple[str, ...], histories: Tuple[str, ...], out: Optional[str], fmt: str,
              confidence: float, max_risk: float, holdout: float, on_error: str, history_format: str,
              max_record_bytes: int) -> None:
    """Recommend loosenings of POLICY that HISTORY's human verdicts support."""
    paths: List[str] = list(histories) + list(more)
    if not paths:
        _fail("no_history", "give at least one history with --history FILE")
    if "-" in paths:
        _fail("stdin_history", "recommend reads the history twice (the search, then the exact replay): "
                               "give a file, not stdin (`-`)")
    pol = load_or_exit(policy)
    history = History(paths, on_error=on_error, fmt=history_format, max_record_bytes=max_record_bytes)
    try:
        result = run_recommend(pol, history, confidence=confidence, max_risk=max_risk, holdout=holdout)
    except HistoryError as exc:
        _fail("bad_history", f"{field(exc.where)}: {field(exc.message)}")
        return
    except RecommendError as exc:
        _fail(exc.code, field(exc.message))
        return
    written = None
    if out and (result.recommendations or result.quorum):
        text = recommended_policy(result)
        try:
            check_recommended(text, out, policy)
        except RecommendError as exc:
            _fail(exc.code, field(exc.message), EXIT_BUG)
        try:
            with open(out, "w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            _fail("cannot_write", f"`{field(out)}`: {(exc.strerror or 'cannot write').lower()}")
        written = os.path.normpath(out)
    rep = recommend_report(result, written)
    if fmt == "json":
        echo(json_text(rep, indent=2))
    elif fmt == "html":
        echo(recommend_html(rep), nl=False)
    else:
        echo(recommend_text(rep), nl=False)
        if out and not (result.recommendations or result.quorum):
            what = "no policy change recommended" if result.grants else "nothing recommended"
            echo(f"{what}: `{field(out)}` not written", err=True)
    sys.exit(EXIT_OK if result.recommendations or result.quorum or result.grants else EXIT_NONE)
