"""The signoff policy language's public API: parse, check, format and lint policies.

Import these names from `policy_lang` itself; the modules (grammar, parser, AST, checker, printer,
loader, lint/, analysis/) are the implementation. policy_lang is the bottom layer: it never imports
engine or cli. The AST itself is `policy_lang.ast` (a module of node classes, imported as a whole).

Constants (values carry no docstrings of their own):
- `POLICY_SUFFIX`: `.policy`, the suffix of a policy file.
- `RULES`: the lint rules by code (`Rule` records: code, name, severity, summary, help).
- `ALL_CODES`: every code `signoff lint` can report, load errors included, with its one-line summary.
- `RETIRED`: lint codes that no longer report anything, reserved, still accepted by `--select`/`--ignore`.
"""
from .errors import Diagnostic, PolicyError, did_you_mean, render, render_one
from .parser import parse
from .printer import format_module, format_source, print_module
from .checker import Program, load, strict_json_loads
from .loader import POLICY_SUFFIX, expand_paths, read_regular, reason_of
from .loader import read_text as read_policy_text
from .scaffold import Scaffold, ScaffoldError, schema_file, scaffold, tool_ref
from .lint import (ALL_CODES, RETIRED, RULES, Rule, lint_file, lint_paths, lint_text, policy_files, read_error,
                   severity_of)

__all__ = ["Diagnostic", "PolicyError", "render", "render_one", "did_you_mean", "parse", "format_module",
           "format_source", "print_module", "Program", "load",
           # JSON as policies read it (duplicate keys, NaN and lone surrogates refused): for the adapters' input
           "strict_json_loads",
           # reading policy files
           "POLICY_SUFFIX", "expand_paths", "read_policy_text", "read_regular", "reason_of",
           # lint
           "lint_text", "lint_file", "lint_paths", "policy_files", "read_error", "severity_of", "Rule", "RULES",
           "ALL_CODES", "RETIRED",
           # a new policy from tool names (`signoff init`)
           "scaffold", "Scaffold", "ScaffoldError", "tool_ref", "schema_file"]
