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

- rs never sees a schema's regexes as written: each `pattern` and `patternProperties` key is printed
  for the Rust engine from Python's own parse of it (`policy_lang.rsregex`: `\\d`, `\\s`, `\\w`, `.`
  and every class as the explicit set of code points Python's `re` matches, `$` as `\\n?\\z` where
  nothing can follow it); a pattern without such a translation keeps the schema on jsonschema. A
  `$` something can follow is printed `\\z`, stricter than Python's: only in a `pattern` that is not
  under `not`, `oneOf`, `if` or a `contains` with `maxContains` — places where a stricter part
  cannot make the whole looser — and never as a `patternProperties` key;
- `$ref` only to `#`, `#/$defs/NAME` or `#/definitions/NAME`, and none under those places when a
  pattern is stricter; no `$id` below the root, no dynamic or recursive references;
- no `multipleOf` but an integer one, no `unevaluated*`, no `content*` keywords; formats are
  annotations in both (no format is asserted).

Any other schema, a schema rs cannot compile, or `SIGNOFF_JSONSCHEMA_RS=0` in the environment:
jsonschema alone. When rs says "valid" the answer stands; when it says "invalid", jsonschema
validates again and its errors (or its "valid", where rs is stricter) are the answer. A string
holding a lone surrogate (no Rust string can) goes to jsonschema too.
"""
from __future__ import annotations

import os
from typing import Any, Iterator, List, Optional, Tuple

from .rsregex import translate

_SUBSCHEMA_MAPS = ("properties", "$defs", "definitions", "dependentSchemas")
_SUBSCHEMA_ONE = ("additionalProperties", "items", "additionalItems", "contains", "propertyNames", "then", "else")
_SUBSCHEMA_LISTS = ("allOf", "anyOf", "prefixItems")
_UNSAFE = ("$dynamicRef", "$recursiveRef", "$dynamicAnchor", "$recursiveAnchor", "unevaluatedProperties",
           "unevaluatedItems", "contentEncoding", "contentMediaType", "contentSchema")
_DRAFTS = ("https://json-schema.org/draft/2020-12/schema", "https://json-schema.org/draft/2019-09/schema",
           "http://json-schema.org/draft-07/schema#", "http://json-schema.org/draft-07/schema")


def regex_kind(pattern: str) -> Optional[str]:
    """"exact" when the pattern printed for rs (`rsregex.translate`) matches exactly the strings
    Python's `re` does, "stricter" when it may refuse more (a `$` something can follow), None when
    it has no translation."""
    tr = translate(pattern)
    if tr is None:
        return None
    return "exact" if tr.exact else "stricter"


class _Walk:
    """One pass over a schema: whether rs may stand for jsonschema on it, and the copy rs gets (every
    `pattern` and `patternProperties` key printed by `rsregex.translate`)."""

    def __init__(self) -> None:
        self.ok = True
        self.stricter_patterns = False
        self.ref_where_not_monotone = False
        self.refs: List[str] = []
        self.owner = "#"                    # the root, or the definition being walked
        self.edges: List[Tuple[str, str]] = []   # (owner, ref) reached without descending into the instance

    def schema(self, s: Any, monotone: bool, root: bool = False, same: bool = True) -> Any:
        """`s` as rs gets it (only meaningful while `self.ok`)."""
        if isinstance(s, bool):
            return s
        if not isinstance(s, dict):
            self.ok = False
            return s
        out = dict(s)
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
            tr = translate(s["pattern"]) if isinstance(s["pattern"], str) else None
            if tr is None or (not tr.exact and not monotone):
                self.ok = False
            else:
                self.stricter_patterns |= not tr.exact
                out["pattern"] = tr.text
        if "patternProperties" in s:
            pp = s["patternProperties"]
            if not isinstance(pp, dict):
                self.ok = False
            else:
                printed = {}
                for key, sub in pp.items():
                    tr = translate(key)
                    # which keys a pattern selects decides which subschemas apply: only exact ones
                    if tr is None or not tr.exact or tr.text in printed:
                        self.ok = False     # (two patterns printed alike would become one key)
                        continue
                    printed[tr.text] = self.schema(sub, monotone)
                out["patternProperties"] = printed
        if "dependencies" in s and isinstance(s["dependencies"], dict):
            out["dependencies"] = {k: sub if isinstance(sub, list) else self.schema(sub, monotone)
                                   for k, sub in s["dependencies"].items()}
        for key in _SUBSCHEMA_MAPS:
            if isinstance(s.get(key), dict):
                subs = {}
                for name, sub in s[key].items():
                    if key in ("$defs", "definitions"):
                        # definitions count where they are used: `$ref`s under `not` & co. are flagged
                        outer, self.owner = self.owner, f"#/{key}/{name}" if root else "?"
                        subs[name] = self.schema(sub, True)
                        self.owner = outer
                    else:
                        subs[name] = self.schema(sub, monotone, same=key == "dependentSchemas" and same)
                out[key] = subs
        for key in _SUBSCHEMA_ONE:
            if key in s:
                if key == "items" and isinstance(s[key], list):
                    out[key] = [self.schema(sub, monotone, same=False) for sub in s[key]]
                else:
                    # a `contains` bounded above counts matches: a stricter match can make it pass
                    out[key] = self.schema(s[key], monotone and not (key == "contains" and "maxContains" in s),
                                           same=same and key in ("then", "else"))
        for key in _SUBSCHEMA_LISTS:
            if isinstance(s.get(key), list):
                out[key] = [self.schema(sub, monotone, same=same and key != "prefixItems") for sub in s[key]]
        for key in ("not", "if"):
            if key in s:
                out[key] = self.schema(s[key], False, same=same)
        if isinstance(s.get("oneOf"), list):
            out["oneOf"] = [self.schema(sub, False, same=same) for sub in s["oneOf"]]
        return out


def _local_def(ref: str) -> bool:
    for prefix in ("#/$defs/", "#/definitions/"):
        if ref.startswith(prefix):
            name = ref[len(prefix):]
            return bool(name) and "/" not in name and "~" not in name and "%" not in name
    return False


def rs_eligible(schema: Any) -> bool:
    """Whether jsonschema-rs's verdicts on `schema` (as `rs_schema` prints it) can stand for jsonschema's."""
    return rs_schema(schema) is not None


def rs_schema(schema: Any) -> Any:
    """The schema to give jsonschema-rs in place of `schema` (its regexes printed for the Rust engine), or
    None where rs's verdicts could differ from jsonschema's (see the module's text)."""
    w = _Walk()
    printed = w.schema(schema, True, root=True)
    for ref in w.refs:      # each must name a definition of the root itself
        if ref != "#":
            where, name = ref[2:].split("/", 1)
            if not isinstance(schema, dict) or not isinstance(schema.get(where), dict) or name not in schema[where]:
                return None
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
                return None
            if node in path:
                continue
            path.add(node)
            stack.extend(graph.get(node, []))
    if not w.ok or (w.stricter_patterns and w.ref_where_not_monotone):
        return None
    return printed


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
    jsonschema's. Everything but `quick`, `iter_errors` and `is_valid` is the jsonschema validator's."""

    def __init__(self, slow: Any, fast: Any):
        self.slow = slow
        self.fast = fast

    def quick(self, instance: Any) -> bool:
        """True when rs says valid (the answer then stands); False means "ask jsonschema"."""
        try:
            return bool(self.fast.is_valid(instance))
        except ValueError:      # UnicodeEncodeError: a lone surrogate, which no Rust string can hold
            return False

    def is_valid(self, instance: Any) -> bool:
        """The verdict of jsonschema, reached through rs's when rs says valid."""
        return self.quick(instance) or self.slow.is_valid(instance)

    def iter_errors(self, instance: Any) -> Iterator[Any]:
        """The errors of jsonschema (none when rs says valid)."""
        if self.quick(instance):
            return iter(())
        return self.slow.iter_errors(instance)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.slow, name)


def faster(slow: Any, value: Any, documents: Optional[List[Any]] = None) -> Any:
    """`slow` (a jsonschema validator of `value`) with jsonschema-rs in front where that is exact,
    else `slow` itself. `documents`: the other files its references read (rs is then not used)."""
    rs = _rs_module()
    printed = None if rs is None or documents else rs_schema(value)
    if printed is None:
        return slow
    try:
        fast = rs.validator_for(printed, validate_formats=False)
    except Exception:  # a schema rs does not compile (a pattern ECMA refuses): jsonschema alone
        return slow
    return DualValidator(slow, fast)
