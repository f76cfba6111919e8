"""`signoff import-tools`: a policy with a `tool` block per tool of an MCP server or an OpenAI tools file,
each tool's JSON Schema in a file beside it and a first risk level from its annotations.

Read-only tools start at `low` (allowed), destructive ones at `high` and the rest at `medium` (both wait for
a person of the `review` route); undeclared tools are denied. The policy text is printed by policy_lang's
formatter and is checked to load before anything is written: a schema the policy could not load (not a
JSON Schema, or with a `$ref` outside itself) is replaced by a plain object schema, with a note saying so.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

import jsonschema

from engine import load_policy
from policy_lang import PolicyError, format_source, schema_file, tool_ref

__all__ = ["ToolDef", "ToolImportError", "ImportPlan", "from_mcp_tools", "from_openai", "plan_policy",
           "risk_of"]

_POLICY_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")
_PLAIN_OBJECT: Dict[str, Any] = {"type": "object"}


class ToolImportError(ValueError):
    """Tool definitions that cannot be imported (the message says which and why)."""


@dataclass(frozen=True)
class ToolDef:
    """One imported tool: its name, description, input JSON Schema and annotation hints (MCP spelling)."""
    name: str
    description: str = ""
    schema: Optional[Dict[str, Any]] = None
    annotations: Dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ImportPlan:
    """The files to write, by path relative to the folder; `notes` say what was changed on the way."""
    files: Dict[str, str]
    policy: str
    notes: List[str]


def risk_of(tool: ToolDef) -> str:
    """The first risk level: `high` when destructive, else `low` when read-only, else `medium`.

    MCP's `destructiveHint` defaults to true but only means something for a tool that is not read-only, so a
    tool marked read-only is `low`, one marked `destructiveHint: true` (and not read-only) `high`, and a tool
    with no annotations `medium`: annotations are hints from the server, a starting point to review."""
    ann = tool.annotations
    if ann.get("readOnlyHint") is True:
        return "low"
    if ann.get("destructiveHint") is True:
        return "high"
    return "medium"


def from_mcp_tools(tools: Sequence[Any]) -> List[ToolDef]:
    """ToolDefs from MCP `Tool` objects (as `list_tools` returns them)."""
    out = []
    for t in tools:
        ann = t.annotations
        hints: Dict[str, Any] = {}
        if ann is not None:
            for key, value in (("readOnlyHint", ann.read_only_hint), ("destructiveHint", ann.destructive_hint),
                               ("idempotentHint", ann.idempotent_hint), ("openWorldHint", ann.open_world_hint)):
                if isinstance(value, bool):
                    hints[key] = value
        out.append(ToolDef(t.name, t.description or "", t.input_schema, hints))
    return out


def from_openai(text: str) -> List[ToolDef]:
    """ToolDefs from an OpenAI tools file: a JSON list of `{"type": "function", "function": {name, description,
    parameters}}` (the Chat Completions shape), of flat `{"type": "function", name, description, parameters}`
    (the Responses shape), or an object holding such a list under `tools`."""
    def constant(word: str) -> Any:
        raise ValueError(f"`{word}` is not a JSON value")
    try:
        data = json.loads(text, parse_constant=constant)
    except ValueError as e:
        raise ToolImportError(f"not JSON ({str(e).lower()})") from None
    if isinstance(data, dict) and isinstance(data.get("tools"), list):
        data = data["tools"]
    if not isinstance(data, list):
        raise ToolImportError("expected a JSON list of tool definitions (or an object with a `tools` list)")
    out = []
    for i, item in enumerate(data):
        if not isinstance(item, dict):
            raise ToolImportError(f"tool {i + 1} is not an object")
        if item.get("type", "function") != "function":
            raise ToolImportError(f"tool {i + 1} is of type `{item.get('type')}`: only function tools import")
        inner = item.get("function")
        fn: Dict[str, Any] = inner if isinstance(inner, dict) else item
        name, params = fn.get("name"), fn.get("parameters", _PLAIN_OBJECT)
        if not isinstance(name, str):
            raise ToolImportError(f"tool {i + 1} has no `name`")
        if not isinstance(params, dict):
            raise ToolImportError(f"the `parameters` of `{name}` are not a JSON Schema object")
        desc = fn.get("description")
        out.append(ToolDef(name, desc if isinstance(desc, str) else "", params))
    return out


def _quoted(text: str) -> str:
    # names and paths hold no control characters (checked): only `"` and `\` need escaping
    return json.dumps(text, ensure_ascii=False)




def _refs_outside(value: Any) -> bool:
    """Whether a schema holds a `$ref` that does not point inside itself (a load error for the policy)."""
    if isinstance(value, dict):
        ref = value.get("$ref")
        if isinstance(ref, str) and not ref.startswith("#"):
            return True
        return any(_refs_outside(v) for v in value.values())
    if isinstance(value, list):
        return any(_refs_outside(v) for v in value)
    return False


def _usable(schema: Any) -> Optional[str]:
    """None when the policy can load `schema`, else why not."""
    if not isinstance(schema, dict):
        return "it is not a JSON object"
    if _refs_outside(schema):
        return "it has a `$ref` outside itself"
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as e:
        return f"it is not a valid JSON Schema ({' '.join(str(e.message).split())[:120]})"
    except Exception:
        return "it is not a valid JSON Schema"
    return None


def _comment(text: str) -> List[str]:
    # the server's words, on one line and without control or bidi characters (which could hide text)
    line = " ".join("".join(c for c in text if not _unsafe(c) or c in "\t\n\r").split())
    if not line:
        return []
    if len(line) > 110:
        line = line[:107].rstrip() + "..."
    return [f"# {line}"]


def _unsafe(name: str) -> bool:
    return any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 or c in "\u2028\u2029\ufeff" or 0x202A <= ord(c) <= 0x202E
               or 0x2066 <= ord(c) <= 0x2069 or 0x200B <= ord(c) <= 0x200F for c in name)


def plan_policy(tools: Sequence[ToolDef], name: str = "tools", source: str = "") -> ImportPlan:
    """The policy NAME.policy and a schema file per tool; ToolImportError for names it cannot use."""
    if not _POLICY_NAME.fullmatch(name) or len(name) > 100:
        raise ToolImportError(f"`{name}` cannot name a policy file: use letters, digits, `_`, `-` and `.`")
    if not tools:
        raise ToolImportError("there are no tools to import")
    seen: List[str] = []
    for t in tools:
        if not t.name or len(t.name) > 200 or _unsafe(t.name) or t.name != t.name.strip():
            raise ToolImportError(f"`{t.name}` cannot be a tool name: it is empty, too long, or holds a control, "
                                  "format or surrounding space character")
        if t.name in seen:
            raise ToolImportError(f"tool `{t.name}` is defined twice")
        seen.append(t.name)
    notes: List[str] = []
    taken: set = set()
    files: Dict[str, str] = {}
    policy_file = f"{name}.policy"
    lines = [
        f"# {name}: imported by `signoff import-tools`{' from ' + source if source else ''}.",
        "# Each tool's first risk level comes from its annotations (read-only low, destructive high, the",
        "# rest medium): review each one, then add checks. Low is allowed; medium and high wait for a",
        "# person of the `review` route; tools this file does not declare are denied.",
        f"policy {_quoted(name)}",
        'version "0.1.0"',
        "mode guarded",
        "",
        "route review {",
        '  approvers "team_lead"',
        "}",
        "",
    ]
    for t in tools:
        path = schema_file(t.name, taken)
        schema = t.schema if t.schema is not None else _PLAIN_OBJECT
        why = _usable(schema)
        if why is not None:
            notes.append(f"the schema of `{t.name}` was replaced by a plain object schema: {why}")
            schema = _PLAIN_OBJECT
        try:
            files[path] = json.dumps(schema, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
        except ValueError:   # NaN or Infinity inside: not JSON, the policy could not read the file
            notes.append(f"the schema of `{t.name}` was replaced by a plain object schema: it holds NaN or Infinity")
            files[path] = json.dumps(_PLAIN_OBJECT, indent=2) + "\n"
        hints = ", ".join(f"{k}: {str(v).lower()}" for k, v in sorted(t.annotations.items()))
        lines += _comment(t.description)
        if hints:
            lines.append(f"# annotations: {hints}")
        lines += [f"tool {tool_ref(t.name)} {{", f"  schema {_quoted(path)}", f"  risk {risk_of(t)}", "}", ""]
    used = {risk_of(t) for t in tools}
    for level, outcome in (("low", "allow"), ("medium", "require approval via review"),
                           ("high", "require approval via review")):
        if level in used:   # a category no tool reaches is a lint warning (W108)
            lines += [f"category {level} {{", f"  {outcome}", "}", ""]
    lines += ["unknown tools deny", ""]
    text = format_source("\n".join(lines), policy_file)
    _check_loads(text, policy_file, files)
    return ImportPlan({policy_file: text, **files}, policy_file, notes)


def _check_loads(text: str, policy_file: str, schemas: Dict[str, str]) -> None:
    """Load the planned policy from a scratch folder: what is written must load (fail closed)."""
    with tempfile.TemporaryDirectory(prefix="signoff-import-") as tmp:
        for rel, body in {policy_file: text, **schemas}.items():
            path = os.path.join(tmp, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8", newline="\n") as f:
                f.write(body)
        try:
            load_policy(os.path.join(tmp, policy_file))
        except PolicyError as e:
            first = e.diagnostics[0].message if e.diagnostics else "load errors"
            raise ToolImportError(f"the imported policy would not load: {first}") from None
