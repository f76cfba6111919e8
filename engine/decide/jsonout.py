"""Strict JSON output: every JSON text signoff writes parses with a strict parser and is valid UTF-8."""
from __future__ import annotations

import json
from typing import Any


class OutputError(ValueError):
    """A value that cannot be written as strict JSON (NaN or infinity, a lone surrogate, a value that is
    not JSON, nesting too deep). Writers turn it into an error; they never write invalid JSON."""


def dumps(value: Any, **kw: Any) -> str:
    """`json.dumps` with `allow_nan=False` and `ensure_ascii=False`, then proven encodable as UTF-8 (a
    lone surrogate is not: it would be written as invalid UTF-8 or escaped into text a strict reader
    refuses). Keyword arguments go to json.dumps (indent, sort_keys, separators, default).
    Raises OutputError naming what could not be written."""
    kw.setdefault("ensure_ascii", False)
    try:
        text = json.dumps(value, allow_nan=False, **kw)
    except RecursionError:
        raise OutputError("a value is nested too deeply to write as JSON") from None
    except ValueError as e:  # allow_nan=False: "Out of range float values are not JSON compliant"
        raise OutputError("a number is NaN or infinite, which JSON cannot hold" if "float" in str(e)
                          else "a value cannot be written as JSON") from None
    except TypeError:
        raise OutputError("a value is not JSON (not an object, list, string, number, boolean or null)") from None
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise OutputError("a string holds a lone surrogate, which is not Unicode text") from None
    return text


def dumps_bytes(value: Any, **kw: Any) -> bytes:
    """`dumps` as UTF-8 bytes."""
    return dumps(value, **kw).encode("utf-8")
