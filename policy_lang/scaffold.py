"""A new policy scaffolded from a list of tool names: the policy, its test file and a schema per tool.

`signoff init` writes what `scaffold` returns. The scaffold fails closed and is clean: every tool
starts at risk `high`, whose category sends each action to a human (`require approval via
review`), undeclared tools are denied, and the result loads, lints without a diagnostic and
passes its own tests — the starting point is to loosen it one rule at a time, with a test each.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Dict, List, Sequence

from .parser import encode_string
from .safe_text import is_unsafe
from .tables import RESERVED

__all__ = ["Scaffold", "scaffold", "ScaffoldError", "tool_ref", "schema_file"]

_BARE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FILE_CHAR = re.compile(r"[^A-Za-z0-9._-]")
_POLICY_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")
SCHEMA = {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "properties": {}}


class ScaffoldError(ValueError):
    """A tool or policy name the scaffold cannot use (the message says which and why)."""


@dataclass(frozen=True)
class Scaffold:
    """The files of a new policy, by path relative to its folder, in the order they are written."""
    files: Dict[str, str]
    policy: str      # the policy file's path, relative to the folder
    tests: str       # the test file's path


def tool_ref(name: str) -> str:
    """A tool name as a policy writes it: bare when it is a plain name, else quoted."""
    return name if _BARE.fullmatch(name) and name not in RESERVED else encode_string(name)


def schema_file(name: str, taken: set) -> str:
    """A schema file name for a tool: its name with unsafe characters replaced, made unique."""
    stem = _FILE_CHAR.sub("_", name).lstrip(".") or "tool"
    out, n = stem, 2
    while out.lower() in taken:
        out, n = f"{stem}_{n}", n + 1
    taken.add(out.lower())
    return f"schemas/{out}.json"


def scaffold(tools: Sequence[str], name: str = "policy") -> Scaffold:
    """The files of a policy named `name` for these tools; ScaffoldError for a name it cannot use."""
    if not _POLICY_NAME.fullmatch(name) or len(name) > 100:
        raise ScaffoldError(f"`{name}` cannot name a policy file: use letters, digits, `_`, `-` and `.`")
    seen: List[str] = []
    for t in tools:
        if not t or len(t) > 200 or any(is_unsafe(c) for c in t) or t != t.strip():
            raise ScaffoldError(f"`{t}` cannot be a tool name: it is empty, too long, or holds a control, "
                                "format or surrounding space character")
        if t in seen:
            raise ScaffoldError(f"tool `{t}` is named twice")
        seen.append(t)
    if not seen:
        raise ScaffoldError("name at least one tool")
    taken: set = set()
    schemas = {t: schema_file(t, taken) for t in seen}
    policy_file, test_file = f"{name}.policy", f"{name}.test.yaml"

    lines = [
        f"# {name}: scaffolded by `signoff init`. It fails closed: every tool is at risk `high`, whose",
        "# category sends each action to a human, and undeclared tools are denied. Loosen it one rule",
        f"# at a time, with a case in {test_file} for each (see docs/tutorial.md).",
        f"policy {encode_string(name)}",
        'version "0.1.0"',
        "mode guarded",
        "",
        "route review {",
        '  approvers "team_lead"',
        "}",
        "",
    ]
    for t in seen:
        lines += [f"tool {tool_ref(t)} {{", f"  schema {encode_string(schemas[t])}", "  risk high", "}", ""]
    lines += ["category high {", "  require approval via review", "}", "", "unknown tools deny", ""]

    cases = [{"name": f"`{t}` waits for a human until its rules are written",
              "action": {"tool": t, "args": {}, "agent": {"id": "agent-1"}},
              "expect": {"outcome": "require_approval", "category": "high", "routes": ["review"]}}
             for t in seen]
    unknown = "a_tool_nobody_declared"
    while unknown in seen:
        unknown += "_"
    cases.append({"name": "a tool the policy does not declare is denied",
                  "action": {"tool": unknown, "args": {}, "agent": {"id": "agent-1"}},
                  "expect": "deny"})
    import yaml
    tests = (f"# Policy tests for {policy_file}: `signoff test {test_file}`\n"
             + yaml.safe_dump({"policy": policy_file, "cases": cases}, sort_keys=False, allow_unicode=True, default_flow_style=None,
                              width=100))
    files = {policy_file: "\n".join(lines), test_file: tests}
    for t in seen:
        files[schemas[t]] = json.dumps(SCHEMA, indent=2) + "\n"
    return Scaffold(files, policy_file, test_file)
