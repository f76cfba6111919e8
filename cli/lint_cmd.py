"""`signoff lint`: load errors and analysis warnings, as text, JSON, SARIF or GitHub annotations."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Dict, Iterable, List, Optional
from urllib.parse import quote

import click

from policy_lang import (ALL_CODES, POLICY_SUFFIX, RETIRED, RULES, Diagnostic, did_you_mean, lint_paths, policy_files,
                         read_error, read_policy_text, render_one, severity_of)

from .output import echo, field, json_text

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_LEVEL = {"error": "error", "warning": "warning", "info": "note"}
GITHUB_LEVEL = {"error": "error", "warning": "warning", "info": "notice"}


def _codes(values: Iterable[str], option: str) -> List[str]:
    """`--select W100,W101 --select I` → ["W100", "W101", "I"]; an unknown code is a usage error."""
    out: List[str] = []
    for value in values:
        for part in value.split(","):
            code = part.strip().upper()
            if not code:
                continue
            if not any(c.startswith(code) for c in ALL_CODES) and code not in RETIRED:
                hint = did_you_mean(code, ALL_CODES)
                # click prints this itself: the code is shown escaped here
                raise click.BadParameter(f"unknown code `{field(code)}`" + (f" ({hint})" if hint else ""),
                                         param_hint=option)
            out.append(code)
    return out


def _version() -> str:
    try:
        from importlib.metadata import version
        return version("signoff")
    except Exception:  # not installed as a distribution
        return "0"


def _rule_help(code: str) -> str:
    if code in RULES:
        return RULES[code].help
    return f"{ALL_CODES[code]}: the policy does not load until this is fixed"


def _rule_name(code: str) -> str:
    if code in RULES:
        return RULES[code].name
    return ALL_CODES[code].replace(" ", "-")


def _uri(file: str) -> str:
    p = Path(file)
    if p.is_absolute():
        return p.as_uri()
    return quote(p.as_posix())


def to_sarif(diags: List[Diagnostic]) -> dict:
    """The diagnostics as a SARIF 2.1.0 log, with every lint and error code described as a rule."""
    codes = sorted(ALL_CODES)
    index = {c: i for i, c in enumerate(codes)}
    rules = [{
        "id": c,
        "name": _rule_name(c),
        "shortDescription": {"text": ALL_CODES[c]},
        "help": {"text": _rule_help(c), "markdown": f"{_rule_help(c)}\n\nSee `docs/lint-rules.md#{c.lower()}`."},
        "defaultConfiguration": {"level": SARIF_LEVEL[severity_of(c)]},
    } for c in codes]
    results = []
    for d in diags:
        s = d.span
        text = d.message + (f"\nhelp: {d.help}" if d.help else "")
        results.append({
            "ruleId": d.code,
            "ruleIndex": index[d.code],
            "level": SARIF_LEVEL[d.severity],
            "message": {"text": text},
            "locations": [{"physicalLocation": {
                "artifactLocation": {"uri": _uri(s.file)},
                "region": {"startLine": s.line, "startColumn": s.column,
                           "endLine": s.end_line, "endColumn": s.end_column},
            }}],
        })
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "signoff", "version": _version(), "rules": rules}},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    }


def _gh_data(text: str) -> str:
    """GitHub's workflow-command escaping of a message: `%`, CR and LF percent-encoded."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_prop(text: str) -> str:
    return _gh_data(field(text)).replace(":", "%3A").replace(",", "%2C")


def to_github(diags: List[Diagnostic]) -> str:
    """The diagnostics as GitHub Actions workflow commands (`::warning file=…::message`), one a line."""
    lines = []
    for d in diags:
        s = d.span
        # message and help are one line each: their own newlines and other controls shown escaped (a log
        # renders ANSI sequences); the one newline of the layout, before `help:`, becomes %0A
        msg = field(d.message) + (f"\nhelp: {field(d.help)}" if d.help else "")
        lines.append(f"::{GITHUB_LEVEL[d.severity]} file={_gh_prop(s.file)},line={s.line},col={s.column},"
                     f"endLine={s.end_line},endColumn={s.end_column},title={_gh_prop(d.code)}::{_gh_data(msg)}")
    return "\n".join(lines)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _sources(diags: List[Diagnostic]) -> Dict[str, Optional[str]]:
    """The text of each policy file a diagnostic names, for its snippet. Only `*.policy` files, read
    with the loader's bounded read: a diagnostic never quotes a file that is not a policy."""
    out: Dict[str, Optional[str]] = {}
    for d in diags:
        f = d.span.file
        if f not in out:
            out[f] = None
            if not (f.endswith(POLICY_SUFFIX) and os.path.realpath(f).endswith(POLICY_SUFFIX)):
                continue
            try:
                out[f] = read_policy_text(f)
            except (OSError, UnicodeDecodeError):
                pass
    return out


@click.command(name="lint")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--format", "fmt", type=click.Choice(["text", "json", "sarif", "github"]), default="text",
              show_default=True, help="How to print the diagnostics.")
@click.option("--strict", is_flag=True, help="Fail (exit 1) on warnings too.")
@click.option("--select", "select", multiple=True, metavar="CODE",
              help="Only these codes (or code prefixes, as `W1`); repeat or separate with commas.")
@click.option("--ignore", "ignore", multiple=True, metavar="CODE",
              help="Leave out these codes (or code prefixes); repeat or separate with commas.")
def lint(paths: List[str], fmt: str, strict: bool, select: List[str], ignore: List[str]) -> None:
    """Check policies (files, or every *.policy under a folder) for errors and likely mistakes.

    Exit status: 0 clean (info and, without --strict, warnings allowed), 1 errors (or warnings with
    --strict), 2 bad usage or an unreadable file.
    """
    sel = _codes(select, "--select")
    ign = _codes(ignore, "--ignore")
    files = policy_files(list(paths))
    if not files:
        echo("error: no *.policy files found", err=True)
        sys.exit(EXIT_USAGE)
    readable: List[str] = []
    for f in files:
        problem = read_error(f)
        if problem is not None:
            echo(f"error: {field(f)}: {field(problem)}", err=True)
        else:
            readable.append(f)
    unreadable = len(files) - len(readable)
    diags = lint_paths(readable, sel, ign) if readable else []

    if fmt == "json":
        echo(json_text([d.to_dict() for d in diags], indent=2))
    elif fmt == "sarif":
        echo(json_text(to_sarif(diags), indent=2))
    elif fmt == "github":
        text = to_github(diags)
        if text:
            echo(text)
    else:
        sources = _sources(diags)
        for d in diags:
            echo(render_one(d, sources.get(d.span.file)))
            echo("")
    errors = sum(d.severity == "error" for d in diags)
    warnings = sum(d.severity == "warning" for d in diags)
    infos = sum(d.severity == "info" for d in diags)
    if fmt == "text":
        checked = len(files) - unreadable
        found = [_plural(errors, "error"), _plural(warnings, "warning"), _plural(infos, "info")]
        summary = ", ".join(found) if diags else "no problems"
        echo(f"{_plural(checked, 'file')} checked: {summary}"
                   + (f"; {_plural(unreadable, 'file')} could not be read" if unreadable else ""), err=True)
    if unreadable:
        sys.exit(EXIT_USAGE)
    if errors or (strict and warnings):
        sys.exit(EXIT_FAIL)
    sys.exit(EXIT_OK)
