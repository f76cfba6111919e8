"""Canonical JSON, strict JSON values, JSON Patch (RFC 6902: type-exact diff here, apply via jsonpatch), merge patches."""
from __future__ import annotations

import copy
import hashlib
import json
import math
import re
from typing import Any, List, Mapping

__all__ = ["PatchError", "canonical", "sha256_hex", "json_value", "same", "make_patch", "apply_patch",
           "merge_patch", "escape_pointer"]


_SURROGATE = re.compile("[\ud800-\udfff]").search
_DOUBLE_LIMIT = 2 ** 1024


class PatchError(ValueError):
    """A value that is not JSON, or a patch that is malformed or does not apply."""


def canonical(value: Any) -> str:
    """The one text of a JSON value that hashes use: sorted keys, no spaces, UTF-8, no NaN.
    Floats print as Python's shortest repr, which is stable across platforms for one Python."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def sha256_hex(text: str) -> str:
    """The SHA-256 of the text's UTF-8 bytes, in hex."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


MAX_DEPTH = 100   # objects and lists nested deeper than this are refused (the workflow copies, diffs and
                  # patches values recursively: a bound well inside Python's recursion limit)


def json_value(value: Any, where: str = "$", _depth: int = 0) -> Any:
    """A deep copy of `value` as plain JSON (dict/list/str/int/float/bool/None), or PatchError.
    Stricter than json.dumps, which would silently turn int keys into strings and tuples into lists
    of anything: a value the store could not give back unchanged is refused — as are integers too
    large for a double, strings holding a lone surrogate (not Unicode: neither SQLite nor JSON output
    can hold them) and nesting deeper than MAX_DEPTH."""
    t = value.__class__
    if value is None or t is bool:
        return value
    if t is str:
        if not value.isascii() and _SURROGATE(value):
            raise PatchError(f"`{where}` holds a lone surrogate, which is not Unicode text")
        return value
    if t is int:
        if not -_DOUBLE_LIMIT < value < _DOUBLE_LIMIT:
            raise PatchError(f"`{where}` is an integer too large for a number")
        return value
    if t is float:
        if not math.isfinite(value):
            raise PatchError(f"`{where}` is not a finite number")
        return value
    if isinstance(value, (Mapping, list, tuple)) and _depth >= MAX_DEPTH:
        raise PatchError(f"`{where}` is nested more than {MAX_DEPTH} levels deep")
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise PatchError(f"`{where}` has a key that is not a string: `{k!r}`")
            if not k.isascii() and _SURROGATE(k):
                raise PatchError(f"`{where}` has a key holding a lone surrogate, which is not Unicode text")
            out[k] = json_value(v, f"{where}.{k}", _depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        return [json_value(v, f"{where}[{i}]", _depth + 1) for i, v in enumerate(value)]
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return json_value(int(value), where)
    if isinstance(value, float):
        return json_value(float(value), where)
    if isinstance(value, str):
        return json_value(str(value), where)
    raise PatchError(f"`{where}` is not a JSON value ({type(value).__name__})")


def same(a: Any, b: Any) -> bool:
    """JSON equality that keeps types apart: `1 == True` and `1 == 1.0` are not the same JSON."""
    return canonical(a) == canonical(b)


# ---------------------------------------------------------------- JSON Patch (RFC 6902), via jsonpatch

def escape_pointer(key: str) -> str:
    """One key as a JSON Pointer segment (RFC 6901: `~` and `/` escaped)."""
    return key.replace("~", "~0").replace("/", "~1")


def apply_patch(doc: Any, patch: Any) -> Any:
    """Apply an RFC 6902 patch to a copy of `doc`; the original is never changed. Raises PatchError."""
    import jsonpatch
    import jsonpointer  # type: ignore[import-untyped]  # it ships no type information
    if not isinstance(patch, list):
        raise PatchError("a JSON Patch must be a list of operations")
    for n, op in enumerate(patch):
        if not isinstance(op, dict):
            raise PatchError(f"operation {n} of the patch is not an object")
    try:
        out = jsonpatch.apply_patch(doc, patch, in_place=False)
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as e:
        raise PatchError(f"the patch does not apply: {str(e)[:200]}") from None
    except (TypeError, KeyError, IndexError, ValueError) as e:  # malformed operations the library lets through
        raise PatchError(f"the patch is malformed: {str(e)[:200]}") from None
    return json_value(out)


def make_patch(src: Any, dst: Any, path: str = "") -> List[dict]:
    """A JSON Patch (add/remove/replace) that turns `src` into `dst`. Written here, not taken from
    jsonpatch, because jsonpatch diffs lists with `==` and so drops an edit of `false` to `0` inside a
    list (found by tests/test_store.py's property): an audit record must never lose a human's change.
    Lists that differ are replaced whole, which keeps each human change readable as one operation."""
    if same(src, dst):
        return []
    if isinstance(src, dict) and isinstance(dst, dict):
        ops: List[dict] = []
        for k in sorted(src):
            if k not in dst:
                ops.append({"op": "remove", "path": f"{path}/{escape_pointer(k)}"})
        for k in sorted(dst):
            p = f"{path}/{escape_pointer(k)}"
            if k not in src:
                ops.append({"op": "add", "path": p, "value": copy.deepcopy(dst[k])})
            else:
                ops.extend(make_patch(src[k], dst[k], p))
        return ops
    return [{"op": "replace", "path": path, "value": copy.deepcopy(dst)}]


def merge_patch(doc: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, `null` removes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(doc) if isinstance(doc, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out
