"""Read-only walks over one tool's JSON Schema: properties, local `$ref`s, combinators."""
from __future__ import annotations

from typing import Any, Dict, Iterable, List, Optional, Sequence, Set, Tuple

import re2

from ..regex import search as regex_search

__all__ = ["SchemaView"]


def _json_type(v: Any) -> str:
    """The JSON Schema type of a decoded JSON value."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


class SchemaView:
    """Read-only walks over one tool's JSON Schema: properties, local `$ref`s, combinators."""

    OPEN = object()  # a `$ref` lint cannot follow: anything may be there

    def __init__(self, root: Any):
        """`root`: the decoded schema."""
        self.root = root
        # `child` and `types` read nothing but the schema: their answers are kept per list of nodes
        # (by the nodes' ids, the nodes kept alive beside the answer so that no id is reused), as lint
        # asks the same questions of one schema for every line of every tool that shares it
        self._children: Dict[Tuple[Tuple[int, ...], type, Any], Tuple[Tuple[Any, ...], Tuple[str, Any]]] = {}
        self._types: Dict[Tuple[int, ...], Tuple[Tuple[Any, ...], Optional[Set[str]]]] = {}

    def deref(self, node: Any, depth: int = 0) -> List[Any]:
        """The node with its local `$ref` followed: the target, plus the node's own keywords; `True` (any) for
        a reference lint cannot follow or one nested too deep."""
        if depth > 20:
            return [True]
        if isinstance(node, dict) and isinstance(node.get("$ref"), str):
            ref = node["$ref"]
            target = self._pointer(ref)
            rest = {k: v for k, v in node.items() if k != "$ref"}
            out = self.deref(target, depth + 1) if target is not self.OPEN else [True]
            return out + ([rest] if any(k in rest for k in ("properties", "type", "enum", "const",
                                                               "additionalProperties")) else [])
        return [node]

    def _pointer(self, ref: str) -> Any:
        if not ref.startswith("#"):
            return self.OPEN
        node = self.root
        for part in [p for p in ref[1:].split("/") if p]:
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return self.OPEN
        return node

    def expand(self, nodes: Iterable[Any], depth: int = 0) -> List[Any]:
        """Every alternative to look properties up in (combinator branches flattened)."""
        out: List[Any] = []
        for n in nodes:
            for d in self.deref(n):
                if not isinstance(d, dict):
                    out.append(d)
                    continue
                combos = [b for k in ("allOf", "anyOf", "oneOf") for b in (d.get(k) or [])
                          if isinstance(d.get(k), list)]
                own = any(k in d for k in ("properties", "additionalProperties", "patternProperties",
                                           "items", "prefixItems"))
                if combos and depth < 20:
                    if own:
                        out.append(d)
                    out.extend(self.expand(combos, depth + 1))
                else:
                    out.append(d)
        return out

    def child(self, nodes: List[Any], key: Any) -> Tuple[str, Any]:
        """("declared", child nodes) | ("undeclared", (forbidden, declared names)) | ("unknown", None).

        The answer is shared between calls with the same nodes and key: never change it."""
        kept = tuple(nodes)
        memo = (tuple(map(id, kept)), type(key), key)
        hit = self._children.get(memo)
        if hit is None:
            hit = self._children[memo] = (kept, self._child(kept, key))
        return hit[1]

    def _child(self, nodes: Sequence[Any], key: Any) -> Tuple[str, Any]:
        declared: List[Any] = []
        open_ = False
        closed: List[bool] = []
        names: List[str] = []
        for n in self.expand(nodes):
            if not isinstance(n, dict):
                open_ = True
                continue
            if isinstance(key, int):
                prefix = n.get("prefixItems")
                if isinstance(prefix, list) and key < len(prefix):
                    declared.append(prefix[key])
                elif isinstance(n.get("items"), (dict, bool)):
                    declared.append(n["items"])
                else:
                    open_ = True
                continue
            props = n.get("properties")
            pats = n.get("patternProperties")
            addl = n.get("additionalProperties")
            if isinstance(props, dict) and key in props:
                declared.append(props[key])
                continue
            if isinstance(pats, dict):
                hit = [v for p, v in pats.items() if _safe_search(p, key)]
                if hit:
                    declared.extend(hit)
                    continue
            if isinstance(addl, dict):
                declared.append(addl)
                continue
            if addl is True or (props is None and addl is not False):
                open_ = True
                continue
            closed.append(addl is False)
            names.extend(props or ())
        if declared:
            return "declared", declared + ([True] if open_ else [])
        if open_ or not closed:
            return "unknown", None
        return "undeclared", (all(closed), names)

    def resolve(self, keys: Sequence[Any]) -> Tuple[str, Any, int]:
        """Walk keys from the root: (status, payload, index of the failing key)."""
        nodes: List[Any] = [self.root]
        for i, k in enumerate(keys):
            status, payload = self.child(nodes, k)
            if status != "declared":
                return status, payload, i
            nodes = payload
        return "declared", nodes, len(keys)

    def types(self, nodes: List[Any], depth: int = 0) -> Optional[Set[str]]:
        """JSON types the nodes allow, or None when any type may be (a new set on every call)."""
        if depth:
            return self._types_of(nodes, depth)
        kept = tuple(nodes)
        memo = tuple(map(id, kept))
        hit = self._types.get(memo)
        if hit is None:
            hit = self._types[memo] = (kept, self._types_of(kept, 0))
        return None if hit[1] is None else set(hit[1])

    def _types_of(self, nodes: Sequence[Any], depth: int) -> Optional[Set[str]]:
        out: Set[str] = set()
        for n in nodes:
            for d in self.deref(n):
                if not isinstance(d, dict):
                    return None
                if "const" in d:
                    out.add(_json_type(d["const"]))
                    continue
                if isinstance(d.get("enum"), list):
                    out.update(_json_type(v) for v in d["enum"])
                    continue
                t = d.get("type")
                if isinstance(t, str):
                    out.add(t)
                elif isinstance(t, list):
                    out.update(x for x in t if isinstance(x, str))
                else:
                    branches = d.get("anyOf") or d.get("oneOf")
                    if isinstance(branches, list) and depth < 20:
                        sub = self.types(branches, depth + 1)
                        if sub is None:
                            return None
                        out |= sub
                    else:
                        return None
        if "integer" in out:
            out.add("number")
        return out

    def enum(self, nodes: List[Any]) -> Optional[List[Any]]:
        """Every value the nodes allow by `enum` / `const`, or None when they allow others."""
        out: List[Any] = []
        for n in nodes:
            for d in self.deref(n):
                if not isinstance(d, dict):
                    return None
                if "const" in d:
                    out.append(d["const"])
                elif isinstance(d.get("enum"), list):
                    out.extend(d["enum"])
                else:
                    return None
        return out


def _safe_search(pattern: str, text: str) -> bool:
    """Whether a `patternProperties` pattern matches; one RE2 refuses may match anything."""
    try:
        return regex_search(pattern, text)
    except (re2.error, UnicodeEncodeError):
        return True

