"""Everything the CLI prints goes through here, so no command can print a raw control character.

Text is passed through `policy_lang.safe_text` in its multi-line form: the layout's own newlines and
tabs stay, every other control, format (bidi) or separator character is shown escaped. Commands
also escape each untrusted field with `field` where they build a line, so that a newline inside a
field cannot start a line of its own; this module is the net under them. JSON is printed with
`json_text`: valid JSON whose strings carry the same values, with every character `safe_text`
escapes written as a `\\uXXXX` escape (json.dumps already does so for C0 controls, not for DEL, C1,
bidi or separator characters, nor for lone surrogates, which could not even be encoded).
"""
from __future__ import annotations

from typing import Any, Optional

import click

from engine import dumps as json_dumps
from policy_lang.safe_text import escape_json_text, safe_text

__all__ = ["echo", "field", "json_text", "write_report"]


def field(value: Any) -> str:
    """One untrusted value inside a line of text: every control character escaped, newlines included."""
    return safe_text(value)


def echo(text: Any = "", err: bool = False, nl: bool = True) -> None:
    """`click.echo` for text output: the layout's newlines and tabs kept, everything else escaped."""
    click.echo(safe_text(text, lines=True), err=err, nl=nl)


def json_text(value: Any, **kwargs: Any) -> str:
    """JSON for output: strict (`engine.dumps`: no NaN or infinity, no lone surrogate, else
    `OutputError`), with every character `safe_text` escapes written as a `\\uXXXX` escape."""
    return escape_json_text(json_dumps(value, **kwargs))


def write_file(text: str, path: str) -> Optional[OSError]:
    """`text` to the file `path` (UTF-8); the OSError when it cannot be written, else None."""
    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        return exc
    return None


def write_report(text: str, out: Optional[str]) -> Optional[str]:
    """A report to the file `out` (then `report written to OUT` on stderr), or to stdout without one; the
    OS's reason, lowercase, when the file cannot be written (nothing is printed then)."""
    if not out:
        echo(text, nl=False)
        return None
    exc = write_file(text, out)
    if exc is not None:
        return (exc.strerror or "cannot write").lower()
    echo(f"report written to {field(out)}", err=True)
    return None
