"""JSON Schemas in the witness search: an example instance to lay candidates over, and the bounds and enum
values of the properties as extra boundaries; which keywords the search understands."""
from __future__ import annotations

from typing import Any, List, Set, Tuple

HANDLED_SCHEMA_KEYS = {"type", "properties", "required", "additionalProperties", "enum", "const", "minimum",
                       "maximum", "exclusiveMinimum", "exclusiveMaximum", "items", "title", "description",
                       "$comment", "$schema", "default", "$defs", "$ref", "anyOf", "examples"}


def schema_example(s: Any, root: Any, depth: int = 0) -> Any:
    """A small instance of a JSON Schema (the common keywords); None when none is found."""
    if depth > 8 or not isinstance(s, dict):
        return {} if s is True or s is None else None
    if "$ref" in s and isinstance(s["$ref"], str) and s["$ref"].startswith("#/"):
        node: Any = root
        for part in s["$ref"][2:].split("/"):
            node = node.get(part) if isinstance(node, dict) else None
        return schema_example(node, root, depth + 1)
    if "const" in s:
        return s["const"]
    if "enum" in s and s["enum"]:
        return s["enum"][0]
    for key in ("anyOf", "oneOf"):
        if key in s and s[key]:
            return schema_example(s[key][0], root, depth + 1)
    t = s.get("type")
    if isinstance(t, list):
        t = t[0] if t else None
    if t == "object" or (t is None and "properties" in s):
        out = {}
        for name in s.get("required", []):
            sub = s.get("properties", {}).get(name, {})
            out[name] = schema_example(sub, root, depth + 1)
        return out
    if t == "array":
        n = s.get("minItems", 0)
        item = schema_example(s.get("items", {}), root, depth + 1)
        return [item] * n
    if t in ("number", "integer"):
        lo = s.get("minimum", s.get("exclusiveMinimum", 0))
        return int(lo) + (1 if "exclusiveMinimum" in s else 0) if isinstance(lo, (int, float)) else 0
    if t == "string":
        return "x" * s.get("minLength", 1)
    if t == "boolean":
        return False
    if t == "null":
        return None
    return {}


def schema_consts(s: Any, prefix: Tuple[str, ...], root: Any, out: List[Tuple[Tuple[str, ...], Any]],
                   unhandled: Set[str], depth: int = 0) -> None:
    """Bounds and enum values of a schema's properties: extra boundaries for the partition."""
    if not isinstance(s, dict) or depth > 8:
        return
    for k in s:
        if k not in HANDLED_SCHEMA_KEYS:
            unhandled.add(k)
    if "$ref" in s and isinstance(s["$ref"], str) and s["$ref"].startswith("#/"):
        node: Any = root
        for part in s["$ref"][2:].split("/"):
            node = node.get(part) if isinstance(node, dict) else None
        schema_consts(node, prefix, root, out, unhandled, depth + 1)
    for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "const"):
        if k in s:
            out.append((prefix, s[k]))
    for v in s.get("enum", []) or []:
        out.append((prefix, v))
    for name, sub in (s.get("properties") or {}).items():
        schema_consts(sub, prefix + (name,), root, out, unhandled, depth + 1)
    for sub in s.get("anyOf", []) or []:
        schema_consts(sub, prefix, root, out, unhandled, depth + 1)
    if "items" in s:
        unhandled.add("items")  # array element constraints are not partitioned
        schema_consts(s["items"], prefix + ("[]",), root, [], set(), depth + 1)
