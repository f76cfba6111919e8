"""What every lint step reads: the checked program, its schemas and `Logic`, the facts earlier steps record.

One `LintContext` is made per linted policy; the steps of `steps.STEPS` read it, report through
`warn` and record facts for the steps after them (the reachability steps: which levels each tool
reaches, when each block's lines fire and when none matches).
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Set, Tuple

from .. import ast as A
from ..analysis import DNF, Logic, SchemaView
from ..checker import Program
from ..errors import Diagnostic
from ..loader import LoadedFile
from ..printer import literal_text
from ..tables import OUTCOME_RANK
from .rules import RULES

__all__ = ["LintContext", "STRENGTH", "short", "lit_text", "tools_text", "freeze", "children", "shared_views"]

# how strict an outcome is: a stronger binding outcome wins (W112), a looser one is what W115 guards
STRENGTH = OUTCOME_RANK


class LintContext:
    """The state of one lint run over a checked program.

    Read by every step: `program`, `files` and `root` (the linted file), `module` (the root has no
    `policy` line: whole-policy steps are skipped), `consts`, `logic`, `levels` and `highest`,
    `schemas` (a `SchemaView` per tool with a schema). Recorded by the reachability steps:
    `tool_levels` (the levels each tool can reach), `tool_rest` (when no risk line of a tool matches),
    `cat_fire` (each category line with when it fires), `cat_rest` (when no line of a category
    matches). `out` collects the diagnostics, in the order they are reported."""

    def __init__(self, program: Program, files: List[LoadedFile], root: LoadedFile, module: bool):
        """A fresh context: no facts recorded, no diagnostics."""
        self.program = program
        self.files = files
        self.root = root
        self.module = module
        self.sources = {f.rel: f.text for f in files}
        self._lines: Dict[str, List[str]] = {}
        self.consts = {name: c.value for name, c in program.consts.items()}
        self.logic = Logic(self.consts)
        self.out: List[Diagnostic] = []
        self.levels = program.levels
        self.highest = program.levels[-1] if program.levels else "high"
        self.schemas = shared_views({name: s.value for name, s in program.schemas.items()})
        self.cat_fire: Dict[str, List[Tuple[A.CategoryLine, DNF]]] = {}
        self.tool_levels: Dict[str, Set[str]] = {}
        self.tool_rest: Dict[str, DNF] = {}   # when no risk line matches (W114, W115)
        self.cat_rest: Dict[str, DNF] = {}    # when no category line matches (W115)

    # ---------------------------------------------------------------- reporting and positions
    def warn(self, code: str, message: str, span: A.Span, help: Optional[str] = None) -> None:
        """Report `code` at `span`, with its rule's severity."""
        self.out.append(Diagnostic(code, message, span, RULES[code].severity, help))

    def where(self, span: A.Span, here: A.Span) -> str:
        """How a message at `here` names the place `span`: `line N` in the same file, else `file:line:col`."""
        return f"line {span.line}" if span.file == here.file else span.at()

    def head(self, span: A.Span) -> A.Span:
        """The first line of a block, up to its `{`."""
        lines = self.lines(span.file)
        if lines is None or span.line < 1 or span.line > len(lines):
            return span
        text = lines[span.line - 1]
        start = span.column - 1
        brace = text.find("{", start)
        end = brace if brace >= 0 else len(text)
        seg = text[start:end].rstrip()
        return A.Span(span.file, span.line, span.column, span.line, span.column + max(len(seg), 1))

    def lines(self, file: str) -> Optional[List[str]]:
        """The source lines of a loaded file (None for a file not loaded)."""
        if file not in self._lines:
            src = self.sources.get(file)
            if src is None:
                return None
            self._lines[file] = src.splitlines()
        return self._lines[file]

    def in_root(self, span: A.Span) -> bool:
        """Whether `span` is in the linted file itself (not in a file it uses)."""
        return span.file == self.root.rel

    # ---------------------------------------------------------------- schemas of paths
    def path_schemas(self, p: A.Path, tools: List[str],
                     scope: Dict[str, Any]) -> List[Tuple[str, SchemaView, List[Any], Tuple]]:
        """(tool, view, start nodes, keys) for each tool whose schema describes this path."""
        out = []
        if p.root == "args":
            for t in tools:
                view = self.schemas[t]
                out.append((t, view, [view.root], p.keys))
        elif p.root in scope and scope[p.root]:
            for t, nodes in scope[p.root].items():
                out.append((t, self.schemas[t], nodes, p.keys))
        return out

    def resolve(self, view: SchemaView, nodes: List[Any], keys: Sequence[Any]) -> Tuple[str, Any, int]:
        """Walk `keys` from `nodes`: (status, payload, index of the failing key), as `SchemaView.resolve`."""
        cur = nodes
        for i, k in enumerate(keys):
            status, payload = view.child(cur, k)
            if status != "declared":
                return status, payload, i
            cur = payload
        return "declared", cur, len(keys)

    def item_schemas(self, source: Any, tools: List[str], scope: Dict[str, Any]) -> Dict[str, List[Any]]:
        """The schema nodes of the items of the list `source`, per tool whose schema describes them."""
        out: Dict[str, List[Any]] = {}
        if not isinstance(source, A.Path):
            return out
        for t, view, nodes, keys in self.path_schemas(source, tools, scope):
            status, payload, _ = self.resolve(view, nodes, keys)
            if status != "declared":
                continue
            items: List[Any] = []
            for n in view.expand(payload):
                if isinstance(n, dict) and isinstance(n.get("items"), (dict, bool)):
                    items.append(n["items"])
                elif isinstance(n, dict) and n.get("type") not in (None, "array") and not (
                        isinstance(n.get("type"), list) and "array" in n["type"]):
                    continue
                else:
                    items = []
                    break
            if items:
                out[t] = items
        return out


# ======================================================================= helpers shared by the steps

def shared_views(values: Dict[str, Any]) -> Dict[str, SchemaView]:
    """A `SchemaView` per tool, one per distinct schema: tools that read the same file share a view,
    and so the walks it keeps. Schemas are the same when their `repr` is: exact for decoded JSON (a
    list is not a tuple, `1` not `1.0` nor `true`, and keys keep their order, which messages show)."""
    by_repr: Dict[str, SchemaView] = {}
    out: Dict[str, SchemaView] = {}
    for name, value in values.items():
        key = f"{type(value).__name__}:{value!r}"
        view = by_repr.get(key)
        if view is None:
            view = by_repr[key] = SchemaView(value)
        out[name] = view
    return out


def short(text: str, limit: int = 60) -> str:
    """`text` on one line, cut to `limit` characters with `…`."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def lit_text(v: Any) -> str:
    """A constant as the policy would write it."""
    try:
        return literal_text(v)
    except TypeError:
        return str(v)


def tools_text(tools: List[str]) -> str:
    """`tool `a`` or `tools `a`, `b`, `c` and 2 more`."""
    if len(tools) == 1:
        return f"tool `{tools[0]}`"
    shown = ", ".join(f"`{t}`" for t in tools[:3])
    return f"tools {shown}" + (f" and {len(tools) - 3} more" if len(tools) > 3 else "")


def freeze(v: Any) -> Any:
    """A JSON value with its lists as tuples, as `Logic.const` gives list constants."""
    return tuple(freeze(x) for x in v) if isinstance(v, list) else v


def children(e: Any) -> List[Any]:
    """The direct subexpressions of an expression."""
    if isinstance(e, (A.BoolOp, A.Arith, A.Compare)):
        return [e.left, e.right]
    if isinstance(e, (A.Not, A.Neg)):
        return [e.operand]
    if isinstance(e, A.Presence):
        return [e.path]
    if isinstance(e, A.Call):
        return list(e.args)
    if isinstance(e, A.ListExpr):
        return list(e.items)
    if isinstance(e, A.Quantifier):
        return [e.source, e.body]
    return []
