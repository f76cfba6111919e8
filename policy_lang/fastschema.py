"""`jsonschema-rs` for the verdict, `jsonschema` for the message, on schemas where the two agree.

`jsonschema` is the reference: its verdicts are the spec's, its messages are the ones users read.
`jsonschema-rs` (when installed) answers "valid?" some 40 times faster. They do not agree
everywhere: rs reads `pattern` as ECMA-262 (`\\d`, `\\w`, `\\s` ASCII; `.` stops at `\\r` and
U+2028; `$` only at the very end) where jsonschema uses Python's `re` (Unicode classes; `$` also
before a final newline), and rs computes `multipleOf` of a fraction exactly where jsonschema
divides doubles (`0.3` is a multiple of `0.1` for rs, not for jsonschema). So rs is used only for
schemas built from constructs where it is proven to agree (`tests/test_fastschema.py` runs
generated schemas and instances through both), and never where one of its verdicts could let
through what jsonschema refuses:

- regular expressions only of ASCII literals, escaped punctuation, classes of those, groups,
  alternation and counted repeats, which both engines read the same way; `$` and `.` (where rs is
  stricter) only in a `pattern` that is not under `not`, `oneOf`, `if` or a `contains` with
  `maxContains` — places where a stricter part cannot make the whole looser;
- `$ref` only to `#`, `#/$defs/NAME` or `#/definitions/NAME`, and none under those places when a
  pattern uses `$` or `.`; no `$id` below the root, no dynamic or recursive references;
- no `multipleOf` but an integer one, no `unevaluated*`, no `content*` keywords; formats are
  annotations in both (no format is asserted).

Any other schema, a schema rs cannot compile, or `SIGNOFF_JSONSCHEMA_RS=0` in the environment:
jsonschema alone. When rs says "valid" the answer stands; when it says "invalid", jsonschema
validates again and its errors (or its "valid", where rs is stricter) are the answer.
"""
from __future__ import annotations

import os
from typing import Any, Iterator, List, Optional, Tuple

_SUBSCHEMA_MAPS = ("properties", "$defs", "definitions", "dependentSchemas")
_SUBSCHEMA_ONE = ("additionalProperties", "items", "additionalItems", "contains", "propertyNames", "then", "else")
_SUBSCHEMA_LISTS = ("allOf", "anyOf", "prefixItems")
_UNSAFE = ("$dynamicRef", "$recursiveRef", "$dynamicAnchor", "$recursiveAnchor", "unevaluatedProperties",
           "unevaluatedItems", "contentEncoding", "contentMediaType", "contentSchema")
_DRAFTS = ("https://json-schema.org/draft/2020-12/schema", "https://json-schema.org/draft/2019-09/schema",
           "http://json-schema.org/draft-07/schema#", "http://json-schema.org/draft-07/schema")
_LITERAL = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _-,:;'\"=<>!@#%&~`/")
_ESCAPABLE = set(".^$*+?()[]{}|\\/-")


def regex_kind(pattern: str) -> Optional[str]:
    """"exact" when both engines read `pattern` alike, "stricter" when rs may refuse more strings
    than Python's `re` (it uses `$` or `.`), None when they may disagree either way."""
    kind = "exact"
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            if i + 1 >= n or pattern[i + 1] not in _ESCAPABLE and pattern[i + 1] not in "ntr":
                return None
            i += 2
            continue
        if c == "[":
            j = i + 1
            if j < n and pattern[j] == "^":
                j += 1
            if j < n and pattern[j] == "]":
                return None                       # `[]…]`: a literal `]` in Python, an empty class in ECMA
            while j < n and pattern[j] != "]":
                d = pattern[j]
                if d == "\\":
                    if j + 1 >= n or pattern[j + 1] not in _ESCAPABLE and pattern[j + 1] not in "ntr":
                        return None
                    j += 2
                    continue
                if d == "[" or (d not in _LITERAL and d not in ".^$*+?(){}|"):
                    return None
                j += 1
            if j >= n:
                return None
            i = j + 1
            continue
        if c == "(":
            if pattern.startswith("(?", i) and not pattern.startswith("(?:", i):
                return None
            i += 3 if pattern.startswith("(?:", i) else 1
            continue
        if c == "{":
            j = i + 1
            while j < n and pattern[j].isascii() and (pattern[j].isdigit() or pattern[j] == ","):
                j += 1
            body = pattern[i + 1:j]
            if j >= n or pattern[j] != "}" or not body or not body[0].isdigit() or body.count(",") > 1:
                return None
            i = j + 1
            continue
        if c in ")|*+?^":
            i += 1
            continue
        if c in "$.":
            kind = "stricter"
            i += 1
            continue
        if c not in _LITERAL:
            return None
        i += 1
    return kind


class _Walk:
    def __init__(self) -> None:
        self.ok = True
        self.stricter_patterns = False
        self.ref_where_not_monotone = False
        self.refs: List[str] = []
        self.owner = "#"                    # the root, or the definition being walked
        self.edges: List[Tuple[str, str]] = []   # (owner, ref) reached without descending into the instance

    def schema(self, s: Any, monotone: bool, root: bool = False, same: bool = True) -> None:
        if isinstance(s, bool):
            return
        if not isinstance(s, dict):
            self.ok = False
            return
        for key in _UNSAFE:
            if key in s:
                self.ok = False
        if "$id" in s and not root:
            self.ok = False
        if "$schema" in s and (not root or s["$schema"] not in _DRAFTS):
            self.ok = False
        if "$ref" in s:
            ref = s["$ref"]
            if not isinstance(ref, str) or not (ref == "#" or _local_def(ref)):
                self.ok = False
            else:
                self.refs.append(ref)
                if same:
                    self.edges.append((self.owner, ref))
            if not monotone:
                self.ref_where_not_monotone = True
        if "multipleOf" in s and type(s["multipleOf"]) is not int:
            self.ok = False
        if "pattern" in s:
            kind = regex_kind(s["pattern"]) if isinstance(s["pattern"], str) else None
            if kind is None or (kind == "stricter" and not monotone):
                self.ok = False
            elif kind == "stricter":
                self.stricter_patterns = True
        if "patternProperties" in s:
            pp = s["patternProperties"]
            if not isinstance(pp, dict) or any(regex_kind(k) != "exact" for k in pp):
                self.ok = False
            else:
                for sub in pp.values():
                    self.schema(sub, monotone)
        if "dependencies" in s and isinstance(s["dependencies"], dict):
            for sub in s["dependencies"].values():
                if not isinstance(sub, list):
                    self.schema(sub, monotone)
        for key in _SUBSCHEMA_MAPS:
            if isinstance(s.get(key), dict):
                for name, sub in s[key].items():
                    if key in ("$defs", "definitions"):
                        # definitions count where they are used: `$ref`s under `not` & co. are flagged
                        outer, self.owner = self.owner, f"#/{key}/{name}" if root else "?"
                        self.schema(sub, True)
                        self.owner = outer
                    else:
                        self.schema(sub, monotone, same=key == "dependentSchemas" and same)
        for key in _SUBSCHEMA_ONE:
            if key in s:
                if key == "items" and isinstance(s[key], list):
                    for sub in s[key]:
                        self.schema(sub, monotone, same=False)
                else:
                    # a `contains` bounded above counts matches: a stricter match can make it pass
                    self.schema(s[key], monotone and not (key == "contains" and "maxContains" in s),
                                same=same and key in ("then", "else"))
        for key in _SUBSCHEMA_LISTS:
            if isinstance(s.get(key), list):
                for sub in s[key]:
                    self.schema(sub, monotone, same=same and key != "prefixItems")
        for key in ("not", "if"):
            if key in s:
                self.schema(s[key], False, same=same)
        if isinstance(s.get("oneOf"), list):
            for sub in s["oneOf"]:
                self.schema(sub, False, same=same)


def _local_def(ref: str) -> bool:
    for prefix in ("#/$defs/", "#/definitions/"):
        if ref.startswith(prefix):
            name = ref[len(prefix):]
            return bool(name) and "/" not in name and "~" not in name and "%" not in name
    return False


def rs_eligible(schema: Any) -> bool:
    """Whether jsonschema-rs's verdicts on `schema` can stand for jsonschema's (see the module's text)."""
    w = _Walk()
    w.schema(schema, True, root=True)
    for ref in w.refs:      # each must name a definition of the root itself
        if ref != "#":
            where, name = ref[2:].split("/", 1)
            if not isinstance(schema, dict) or not isinstance(schema.get(where), dict) or name not in schema[where]:
                return False
    # a `$ref` cycle that never descends into the instance makes jsonschema recurse without end
    # (an internal error, so a deny): rs must not answer for such a schema
    graph: dict = {}
    for a, b in w.edges:
        graph.setdefault(a, []).append(b)
    for start in graph:
        stack, path = [start], set()   # type: ignore[var-annotated]
        while stack:
            node = stack.pop()
            if node == start and path:
                return False
            if node in path:
                continue
            path.add(node)
            stack.extend(graph.get(node, []))
    return w.ok and not (w.stricter_patterns and w.ref_where_not_monotone)


def _rs_module() -> Any:
    if os.environ.get("SIGNOFF_JSONSCHEMA_RS", "") == "0":
        return None
    try:
        import jsonschema_rs
    except ImportError:
        return None
    return jsonschema_rs


class DualValidator:
    """A jsonschema validator that asks jsonschema-rs first: rs's "valid" stands, anything else is
    jsonschema's. Everything but `iter_errors` and `is_valid` is the jsonschema validator's."""

    def __init__(self, slow: Any, fast: Any):
        self.slow = slow
        self.fast = fast

    def is_valid(self, instance: Any) -> bool:
        """The verdict of jsonschema, reached through rs's when rs says valid."""
        return self.fast.is_valid(instance) or self.slow.is_valid(instance)

    def iter_errors(self, instance: Any) -> Iterator[Any]:
        """The errors of jsonschema (none when rs says valid)."""
        if self.fast.is_valid(instance):
            return iter(())
        return self.slow.iter_errors(instance)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.slow, name)


def faster(slow: Any, value: Any, documents: Optional[List[Any]] = None) -> Any:
    """`slow` (a jsonschema validator of `value`) with jsonschema-rs in front where that is exact,
    else `slow` itself. `documents`: the other files its references read (rs is then not used)."""
    rs = _rs_module()
    if rs is None or documents or not rs_eligible(value):
        return slow
    try:
        fast = rs.validator_for(value, validate_formats=False)
    except Exception:  # a schema rs does not compile (a pattern ECMA refuses): jsonschema alone
        return slow
    return DualValidator(slow, fast)
