"""`signoff init` (a new policy, its tests and schemas from tool names) and `signoff completion` (shell completion)."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import List, Optional, Tuple

import click
from click.shell_completion import get_completion_class

from policy_lang import ScaffoldError, scaffold

from .output import echo, field

EXIT_OK, EXIT_USAGE = 0, 2
COMPLETE_VAR = "_SIGNOFF_COMPLETE"
SHELLS = ("bash", "zsh", "fish")


@click.command(name="init")
@click.argument("tools", nargs=-1, required=True, metavar="TOOL...")
@click.option("--dir", "folder", default=".", show_default=True, type=click.Path(file_okay=False),
              help="The folder to write into (created when missing).")
@click.option("--name", "name", default=None, metavar="NAME",
              help="The policy's name and file stem (default: the folder's name, else `policy`).")
def init(tools: List[str], folder: str, name: Optional[str]) -> None:
    """Scaffold a new policy from tool names.

    Writes NAME.policy, NAME.test.yaml and schemas/TOOL.json for each TOOL. The policy fails closed (every tool needs a human's approval, undeclared tools are denied) and
    passes `signoff check`, `lint` and `test` as written. Existing files are never overwritten:
    if one of the files is already there, nothing is written (exit 2).
    """
    base = Path(folder)
    if name is None:
        stem = base.resolve().name
        name = stem if stem and scaffold_name_ok(stem) else "policy"
    try:
        plan = scaffold(list(tools), name)
    except ScaffoldError as e:
        echo(f"error: {field(str(e))}", err=True)
        sys.exit(EXIT_USAGE)
    targets = [(base / rel, text) for rel, text in plan.files.items()]
    written = write_new_files(targets)
    for path in written:
        echo(f"wrote {field(path.as_posix())}")
    policy, tests = (base / plan.policy).as_posix(), (base / plan.tests).as_posix()
    echo(f"next: `signoff lint {field(policy)}` and `signoff test {field(tests)}`")


def scaffold_name_ok(stem: str) -> bool:
    """Whether a folder's name can be the policy's name."""
    try:
        scaffold(["t"], stem)
    except ScaffoldError:
        return False
    return True


@click.command(name="completion")
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    """Print the shell completion script for SHELL.

    SHELL is bash, zsh or fish. Load it in the current shell with `eval "$(signoff completion bash)"`, or save it where your
    shell reads completions; it is the script `_SIGNOFF_COMPLETE=bash_source signoff` prints.
    """
    from .main import cli
    cls = get_completion_class(shell)
    if cls is None:  # click knows every shell SHELLS lists
        echo(f"error: no completion for `{field(shell)}`", err=True)
        sys.exit(EXIT_USAGE)
    echo(cls(cli, {}, "signoff", COMPLETE_VAR).source())


def write_new_files(targets: List[Tuple[Path, str]]) -> List[Path]:
    """Write every file, all or nothing, never over an existing one (`init`, `import-tools`): the paths written.
    On an existing file or a write error it says so and exits 2, leaving nothing behind."""
    there = [str(p) for p, _ in targets if os.path.lexists(p)]
    if there:
        more = f" (and {len(there) - 1} more of the files to write)" if len(there) > 1 else ""
        echo(f"error: `{field(there[0])}` already exists{more}: nothing was written", err=True)
        sys.exit(EXIT_USAGE)
    written: List[Path] = []
    try:
        for path, text in targets:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "x", encoding="utf-8", newline="\n") as f:   # "x": never replaces a file
                f.write(text)
            written.append(path)
    except OSError as e:
        for p in written:   # all or nothing
            p.unlink(missing_ok=True)
        echo(f"error: cannot write `{field(str(path))}`: {field((e.strerror or str(e)).lower())}", err=True)
        sys.exit(EXIT_USAGE)
    return written
