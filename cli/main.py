"""`signoff` commands: check one action, run policy tests."""
from __future__ import annotations

import os
import sys
from typing import List, Optional

import click

from engine import EPOCH, MemoryLedger, OutputError, parse_timestamp

from . import render
from .output import echo, field, json_text
from .inputs import InputError, load_or_exit, read_action, read_history
from .testrunner import decision_lines, discover, run_file

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def _fail_input(message: str) -> None:
    echo(f"error: {field(message)}", err=True)
    sys.exit(EXIT_USAGE)


class GuardedGroup(click.Group):
    """The last guard of every command: output that cannot be written as valid JSON, and any exception
    a command did not turn into its own error, end as `error: …` with exit 2, never a traceback
    (SIGNOFF_DEBUG=1 lets the exception through, for a bug report)."""

    def invoke(self, ctx: click.Context):
        """Run the command; an unexpected exception becomes a one-line error and an exit code, never a
        traceback (unless SIGNOFF_DEBUG is set)."""
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except OutputError as e:
            if os.environ.get("SIGNOFF_DEBUG"):
                raise
            echo(f"error: cannot write the output: {field(str(e))}", err=True)
            ctx.exit(EXIT_USAGE)
        except Exception:
            if os.environ.get("SIGNOFF_DEBUG"):
                raise
            name = ctx.invoked_subcommand or "signoff"
            echo(f"error: internal error in `signoff {field(name)}` (a bug: please report it, with "
                 "SIGNOFF_DEBUG=1 set for the details)", err=True)
            ctx.exit(EXIT_USAGE)


    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The list of commands as click writes it, with the name column held at its width (a longer name is
        on a line of its own, its help under the others'), so a new command never reflows the whole list."""
        commands = [(name, cmd) for name in self.list_commands(ctx)
                    for cmd in [self.get_command(ctx, name)] if cmd is not None and not cmd.hidden]
        if commands:
            limit = formatter.width - 6 - NAME_COLUMN
            with formatter.section("Commands"):
                formatter.write_dl([(name, cmd.get_short_help_str(limit)) for name, cmd in commands],
                                   col_max=NAME_COLUMN)


NAME_COLUMN = 10   # the longest command names (`completion`, `identities`): the width `signoff --help` keeps


@click.group(cls=GuardedGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="signoff", message="signoff %(version)s")
def cli() -> None:
    """Decide, test and review what AI agents may do on their own."""


@cli.command()
@click.argument("policy", type=click.Path(dir_okay=False))
@click.option("--action", "action_path", required=True, metavar="FILE|-", help="The proposed tool call (JSON).")
@click.option("--history", "history_path", metavar="FILE", help="Earlier executed actions (JSON Lines), for budgets.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Print the decision as text, or as JSON (spec §3).")
@click.option("--explain", is_flag=True, help="Show every rule consulted and each sub-condition's value.")
def check(policy: str, action_path: str, history_path: Optional[str], fmt: str, explain: bool) -> None:
    """Decide one ACTION under POLICY."""
    pol = load_or_exit(policy)
    ledger = MemoryLedger()
    latest = EPOCH
    try:
        if history_path:
            for _, h in read_history(history_path):
                when = None
                if isinstance(h, dict) and h.get("timestamp") is not None:
                    try:
                        when = parse_timestamp(h["timestamp"])
                    except (ValueError, OverflowError):
                        when = None
                when = when or latest
                pol.record(h, ledger, now=when)
                latest = max(latest, when)
        action, problem = read_action(action_path)
    except InputError as e:
        _fail_input(f"{e.where}: {e.message}")
        return
    if problem:
        decision = pol.input_error(None, problem)
        trace: List = []
    elif explain:
        decision, trace = pol.explain(action, ledger, now=latest)
    else:
        decision, trace = pol.decide(action, ledger, now=latest), []
    d = decision.to_dict()
    if fmt == "json":
        out = dict(d)
        if explain:
            out["trace"] = trace
        echo(json_text(out, indent=2, default=str))
    else:
        echo(render.decision_text(d))
        if explain:
            echo(render.trace_text(trace))


@cli.command(name="test")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Failures and a summary (text), or every case with expected and got (json).")
@click.option("--coverage", is_flag=True, help="List the rules no case made fire.")
@click.option("-v", "--verbose", is_flag=True, help="List passing cases too.")
def test_cmd(paths: List[str], fmt: str, coverage: bool, verbose: bool) -> None:
    """Run policy tests (*.test.yaml files, or folders holding them)."""
    files = discover(list(paths))
    if not files:
        _fail_input("no *.test.yaml files found")
    results = [run_file(f, coverage) for f in files]
    passed = sum(r.passed for r in results)
    failed = sum(r.failed for r in results)
    uncovered = []
    if coverage:
        for r in results:
            for at, label in r.rules.items():
                if at not in r.fired:
                    uncovered.append({"file": r.file, "at": at, "rule": label})
    if fmt == "json":
        out = {
            "files": [{"file": r.file, "policy": r.policy, "error": r.error,
                       "cases": [{"name": c.name, "passed": c.passed, "message": c.message,
                                  "expected": c.expected, "got": c.got} for c in r.cases]} for r in results],
            "passed": passed, "failed": failed,
        }
        if coverage:
            total = sum(len(r.rules) for r in results)
            out["coverage"] = {"rules": total, "fired": total - len(uncovered), "uncovered": uncovered}
        echo(json_text(out, indent=2, default=str))
    else:
        for r in results:
            if r.error:  # several lines (a policy's diagnostics, each already escaped by their renderer)
                echo(f"ERROR {field(r.file)}\n  " + r.error.replace("\n", "\n  "))
            for c in r.cases:
                if not c.passed:
                    echo(f"FAIL  {field(r.file)} :: {field(c.name)}\n      {field(c.message)}")
                    got = decision_lines(c.got)
                    if got:  # what the policy actually decided, to compare with what was expected
                        echo("      got:\n" + "\n".join("        " + line for line in got))
                elif verbose:
                    echo(f"ok    {field(r.file)} :: {field(c.name)}")
        if coverage:
            total = sum(len(r.rules) for r in results)
            echo(f"coverage: {total - len(uncovered)}/{total} rules fired")
            for u in uncovered:
                echo(f"  not fired: {field(u['at'])}  {field(u['rule'])}  ({field(u['file'])})")
        echo(f"{passed} passed, {failed} failed")
    if any(r.unreadable for r in results):
        sys.exit(EXIT_USAGE)  # a test file, or the policy one names, cannot be read
    sys.exit(EXIT_FAIL if failed else EXIT_OK)


from .fmt_cmd import fmt  # noqa: E402
from .graph_cmd import graph  # noqa: E402
from .approvals_cmd import approvals  # noqa: E402
from .audit_cmd import audit  # noqa: E402
from .store_cmd import store  # noqa: E402
from .simulate_cmd import simulate  # noqa: E402
from .diff_cmd import diff  # noqa: E402
from .recommend_cmd import recommend  # noqa: E402
from .lint_cmd import lint  # noqa: E402
from .worker_cmd import worker  # noqa: E402
from .init_cmd import completion, init  # noqa: E402
from .serve_cmd import identities, serve  # noqa: E402
from .report_cmd import report  # noqa: E402
from .mcp_cmd import import_tools, mcp_proxy  # noqa: E402

cli.add_command(fmt)
cli.add_command(graph)
cli.add_command(approvals)
cli.add_command(audit)
cli.add_command(store)
cli.add_command(simulate)
cli.add_command(diff)
cli.add_command(recommend)
cli.add_command(lint)
cli.add_command(worker)
cli.add_command(init)
cli.add_command(completion)
cli.add_command(serve)
cli.add_command(identities)
cli.add_command(report)
cli.add_command(mcp_proxy)
cli.add_command(import_tools)


def main() -> None:
    """The `signoff` script's entry point."""
    cli(prog_name="signoff")
