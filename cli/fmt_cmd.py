"""`signoff fmt`: rewrite policies in the one canonical layout."""
from __future__ import annotations

import difflib
import os
import sys
import tempfile
from typing import List

import click

from policy_lang import PolicyError, expand_paths, format_source

from .inputs import InputError, read_policy
from .output import echo, field


def policy_files(paths: List[str]) -> List[str]:
    """The `*.policy` files the paths name: files as given, folders searched recursively."""
    return expand_paths(paths, "*.policy")


def write_atomically(path: str, text: str) -> None:
    """Write beside the file, then rename over it: a crash leaves the old file or the new, never half."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".signoff-fmt-", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.chmod(tmp, os.stat(path).st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


@click.command(name="fmt")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--check", "check_only", is_flag=True, help="Change nothing; exit 1 if any file would change.")
@click.option("--diff", "show_diff", is_flag=True, help="Change nothing; print a unified diff of what would change.")
def fmt(paths: List[str], check_only: bool, show_diff: bool) -> None:
    """Format policy files (or every *.policy under a folder) in place."""
    files = policy_files(list(paths))
    if not files:
        echo("error: no *.policy files found", err=True)
        sys.exit(2)
    changed: List[str] = []
    broken = unreadable = 0
    for path in files:
        try:
            original = read_policy(path)   # bounded, regular files only, never a link to a non-policy
        except InputError as e:
            echo(f"error: {field(e.where)}: {field(e.message)}", err=True)
            unreadable += 1
            continue
        try:
            formatted = format_source(original, path)
        except PolicyError as e:
            echo(str(e), err=True)   # each diagnostic escapes what the policy controls
            broken += 1
            continue
        if formatted == original:
            continue
        changed.append(path)
        if show_diff:
            # the policy's own lines, shown by `echo`: a control character in a comment is printed escaped
            echo("".join(difflib.unified_diff(original.splitlines(True), formatted.splitlines(True),
                                              fromfile=field(path), tofile=field(path))), nl=False)
        elif check_only:
            echo(f"would reformat {field(path)}")
        else:
            write_atomically(path, formatted)
            echo(f"reformatted {field(path)}")
    verb = "would be reformatted" if (check_only or show_diff) else "reformatted"
    echo(f"{len(changed)} file{'s' if len(changed) != 1 else ''} {verb}, "
               f"{len(files) - len(changed) - broken - unreadable} unchanged"
               + (f", {broken} with errors" if broken else "")
               + (f", {unreadable} could not be read" if unreadable else ""), err=True)
    if unreadable:  # an unreadable file is unreadable input, as for every command: 2 before 1
        sys.exit(2)
    if broken or ((check_only or show_diff) and changed):
        sys.exit(1)
