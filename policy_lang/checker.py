"""Semantic checks over a loaded policy; collects every problem, then yields one merged `Program`."""
from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any, Dict, List, NoReturn, Optional, Tuple, Union

from . import ast as A
from .errors import Diagnostic, PolicyError, did_you_mean
from .loader import Loaded, LoadedFile, digest, load_files, paused_gc, read_regular, reason_of
from .regex import problem as regex_problem
from . import tables
from .schemas import SCHEMA_SUFFIX, SchemaProblem, SchemaProblemError, SchemaSet, resolve as resolve_refs

ROOTS = tables.ROOTS
FUNCTIONS = tables.FUNCTION_ARITIES  # name -> (min args, max args)
DEFAULT_LEVELS = ("low", "medium", "high")
MAX_REGEX = 1000


@dataclass
class ResolvedSchema:
    """A tool's schema as loaded: its JSON value, where it was declared, and the documents its `$ref`s read."""
    value: Any
    span: A.Span
    base_dir: str
    refs: Optional[SchemaSet] = None   # the preloaded registry every `$ref` resolves through

    def validator(self) -> Any:
        """A validator that resolves references only through the registry read at load (no I/O)."""
        from .schemas import build_validator
        return build_validator(self.value, self.refs)


@dataclass
class Program:
    """The merged, checked policy: what the compiler and the reference interpreter work from."""
    name: str
    version: Optional[str]
    mode: str
    mode_span: Optional[A.Span]
    levels: Tuple[str, ...]
    consts: Dict[str, A.Const]
    routes: Dict[str, A.Route]
    tools: Dict[str, A.Tool]
    categories: Dict[str, A.Category]
    checks: Dict[str, A.Check]
    unknown: Optional[A.UnknownTools]
    schemas: Dict[str, ResolvedSchema]
    files: List[LoadedFile]
    root_dir: str
    digest: str
    policy_span: A.Span
    aliases: Dict[str, A.ToolAlias] = field(default_factory=dict)   # `tool NAME as TARGET`, by NAME

    @property
    def first_route(self) -> Optional[A.Route]:
        """The route declared first: where `require approval` without `via` (and assisted mode) sends actions."""
        return next(iter(self.routes.values()), None)

    @property
    def sources(self) -> Dict[str, str]:
        """Each loaded file's text by its shown path, for quoting source lines in diagnostics."""
        return {f.rel: f.text for f in self.files}


def strict_json_loads(text: str) -> Any:
    """JSON with duplicate keys and NaN/Infinity rejected (they are input errors everywhere here)."""
    def pairs(items: List[Tuple[str, Any]]) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        for k, v in items:
            if k in out:
                raise ValueError(f"duplicate key `{k}`")
            out[k] = v
        return out

    def bad_constant(name: str) -> NoReturn:
        raise ValueError(f"`{name}` is not a JSON number")

    def integer(digits: str) -> int:
        if len(digits.lstrip("-")) > 4300:  # int() would raise with a message about sys.set_int_max_str_digits
            raise ValueError("an integer of more than 4,300 digits")
        return int(digits)

    value = json.loads(text, object_pairs_hook=pairs, parse_constant=bad_constant, parse_int=integer)
    try:  # a lone surrogate escape (`"\\ud800"`) decodes, then breaks whatever encodes it (the digest)
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("a `\\uXXXX` escape of a lone surrogate, which is not a character") from None
    return value


class _Checker:
    def __init__(self, loaded: Loaded):
        self.loaded = loaded
        self.diags: List[Diagnostic] = list(loaded.diagnostics)

    def err(self, code: str, message: str, span: A.Span, help: Optional[str] = None) -> None:
        self.diags.append(Diagnostic(code, message, span, help=help))

    # ------------------------------------------------------------------ merging
    def _define(self, table: Dict[str, Any], kind: str, name: str, decl: Any) -> None:
        override = getattr(decl, "override", False)
        if name in table and not override:
            prev = table[name].span
            self.err("E200", f"{kind} `{name}` is already defined at {prev.at()}", decl.span,
                     help=f"write `override {kind} {name}` to replace it")
        elif name not in table and override:
            self.err("E201", f"`override` of {kind} `{name}`, which is not defined yet", decl.span,
                     help="a definition can only override one loaded before it")
            table[name] = decl
        else:
            table[name] = decl

    def run(self) -> Program:
        program = self.merge()
        if self.diags:
            raise PolicyError(self.diags, self.loaded.sources)
        return program

    def merge(self) -> Program:
        """Every check run, the problems collected in `diags`: the merged program, errors or not."""
        consts: Dict[str, A.Const] = {}
        routes: Dict[str, A.Route] = {}
        declared: Dict[str, Union[A.Tool, A.ToolAlias]] = {}
        cats: Dict[str, A.Category] = {}
        checks: Dict[str, A.Check] = {}
        name = version = None
        mode, mode_span = "guarded", None
        levels_decl: Optional[A.Levels] = None
        unknown: Optional[A.UnknownTools] = None
        policy_span = A.Span(self.loaded.files[-1].rel if self.loaded.files else "<memory>", 1, 1, 1, 1)
        seen_root: Dict[str, A.Span] = {}
        # every route, tool, category and check in load order, gathered in this one walk for the passes
        # below (each kind is checked in a pass of its own, so the diagnostics keep their order)
        route_decls: List[A.Route] = []
        tool_decls: List[Tuple[LoadedFile, A.Tool]] = []
        cat_decls: List[A.Category] = []
        check_decls: List[A.Check] = []
        for f in self.loaded.files:
            for d in f.module.decls:
                # the most common kinds first: the classes are disjoint, so the order changes no outcome
                if isinstance(d, A.Tool):
                    tool_decls.append((f, d))
                    self._define(declared, "tool", d.name, d)  # a tool and an alias share one namespace
                elif isinstance(d, A.Check):
                    check_decls.append(d)
                    self._define(checks, "check", d.name, d)
                elif isinstance(d, (A.PolicyDecl, A.VersionDecl, A.ModeDecl, A.UnknownTools)):
                    if not f.is_root:
                        continue  # an imported file's header lines are ignored (spec §4.2)
                    key = type(d).__name__
                    if key in seen_root:
                        word = {"PolicyDecl": "policy", "VersionDecl": "version", "ModeDecl": "mode",
                                "UnknownTools": "unknown tools"}[key]
                        self.err("E209", f"`{word}` is given more than once (first at {seen_root[key].at()})", d.span)
                        continue
                    seen_root[key] = d.span
                    if isinstance(d, A.PolicyDecl):
                        name, policy_span = d.name, d.span
                    elif isinstance(d, A.VersionDecl):
                        version = d.version
                    elif isinstance(d, A.ModeDecl):
                        mode, mode_span = d.mode, d.span
                    else:
                        unknown = d
                elif isinstance(d, A.Levels):
                    if levels_decl is not None:
                        self.err("E209", f"`levels` is given more than once (first at {levels_decl.span.at()})", d.span)
                    else:
                        levels_decl = d
                elif isinstance(d, A.Const):
                    if d.name in ROOTS:
                        self.err("E215", f"const `{d.name}` hides the action field of the same name", d.span)
                    self._define(consts, "const", d.name, d)
                elif isinstance(d, A.Route):
                    route_decls.append(d)
                    self._define(routes, "route", d.name, d)
                elif isinstance(d, A.ToolAlias):
                    self._define(declared, "tool", d.name, d)
                elif isinstance(d, A.Category):
                    cat_decls.append(d)
                    self._define(cats, "category", d.level, d)
        root = next((f for f in self.loaded.files if f.is_root), None)
        # a root file that did not parse has no declarations: its parse errors say enough
        if name is None and root is not None and root.parsed:
            self.err("E210", "the policy has no name", A.Span(root.rel, 1, 1, 1, 1),
                     help='start the file with `policy "NAME"`')

        aliases = {n: d for n, d in declared.items() if isinstance(d, A.ToolAlias)}
        tools = {n: d for n, d in declared.items() if isinstance(d, A.Tool)}
        for al in aliases.values():
            if al.target not in tools:
                what = "another alias" if al.target in aliases else "not a declared tool"
                self.err("E219", f"alias `{al.name}` names `{al.target}`, which is {what}", al.span,
                         help=did_you_mean(al.target, tools) or "an alias names a `tool` block")
        for ch in check_decls if aliases else ():
            for on in ch.targets or ():
                if on in aliases:
                    self.err("E219", f"check `{ch.name}` is on `{on}`, an alias of `{aliases[on].target}`", ch.span,
                             help=f"write `on {aliases[on].target}`: an alias is decided by its tool's checks")

        levels: Tuple[str, ...] = DEFAULT_LEVELS
        if levels_decl is not None:
            levels = levels_decl.names
            dupes = sorted({n for n in levels if levels.count(n) > 1})
            if dupes:
                self.err("E217", f"level `{dupes[0]}` is listed more than once", levels_decl.span)
        self.consts, self.routes, self.levels = consts, routes, levels

        for route in route_decls:
            self.check_route(route)
        for _, t in tool_decls:
            if t.mode is None:
                pass
            elif t.mode.mode == "assisted" and not routes:
                self.err("E208", f"tool `{t.name}` is in assisted mode, which needs a route, but the policy declares none",
                         t.mode.span, help="declare a `route`")
            for r in t.risks:
                if r.level not in levels:
                    self.err("E203", f"unknown risk level `{r.level}`", r.span,
                             help=did_you_mean(r.level, levels) or f"levels are {', '.join(levels)}")
                elif r.level not in cats:
                    self.err("E204", f"risk level `{r.level}` has no `category` block", r.span,
                             help=f"add `category {r.level} {{ … }}`")
                if r.when is not None:
                    self.check_expr(r.when, ())
        if mode == "assisted" and not routes and mode_span is not None:
            self.err("E208", "assisted mode needs a route, but the policy declares none", mode_span,
                     help="declare a `route`")
        for c in cat_decls:
            if c.level not in levels:
                self.err("E203", f"category for unknown risk level `{c.level}`", c.span,
                         help=did_you_mean(c.level, levels) or f"levels are {', '.join(levels)}")
            for cat_line in c.lines:
                self.check_outcome(cat_line.outcome)
                if cat_line.when is not None:
                    self.check_expr(cat_line.when, ())
        for ch in check_decls:
            for line in ch.lines:
                self.check_outcome(line.outcome)
                if isinstance(line, A.Require):
                    self.check_expr(line.cond, ())
                else:
                    if line.window.seconds <= 0:
                        self.err("E216", "a budget window must be longer than zero", line.window.span or line.span)
                    for k in line.keys:
                        self.check_expr(k, ())
                    if line.path is not None:
                        self.check_expr(line.path, ())
        if unknown is not None:
            self.check_outcome(unknown.outcome)
        schemas = self.resolve_schemas(tools, tool_decls)
        all_schemas = self._all_schema_values()
        return Program(
            name=name or "", version=version, mode=mode, mode_span=mode_span, levels=tuple(levels),
            consts=consts, routes=routes, tools=tools, categories=cats, checks=checks, unknown=unknown,
            schemas=schemas, files=self.loaded.files, root_dir=self.loaded.root_dir,
            digest=digest(self.loaded.files, all_schemas), policy_span=policy_span, aliases=aliases)

    # ------------------------------------------------------------------ pieces
    def check_route(self, r: A.Route) -> None:
        if not r.approvers:
            self.err("E212", f"route `{r.name}` has no approvers", r.span, help='add `approvers "ROLE"`')
        quorum = 1 if r.quorum is None else r.quorum
        distinct = len(set(r.approvers))
        if quorum < 1:
            self.err("E212", f"quorum of route `{r.name}` must be at least 1", r.quorum_span)
        elif r.approvers and quorum > distinct:
            self.err("E212", f"quorum {quorum} is larger than the {distinct} approver"
                     f"{'s' if distinct != 1 else ''} of route `{r.name}`", r.quorum_span)

    def check_outcome(self, o: A.Outcome) -> None:
        if o.kind != "require_approval":
            return
        if o.route is None:
            if not self.routes:
                self.err("E208", "`require approval` needs a route, but the policy declares none", o.span,
                         help="declare a `route`, or write `require approval via ROUTE`")
        elif o.route not in self.routes:
            self.err("E202", f"unknown route `{o.route}`", o.span,
                     help=did_you_mean(o.route, self.routes) or (
                         f"routes are {', '.join(self.routes)}" if self.routes else "the policy declares no route"))

    def check_expr(self, e: A.Expr, scope: Tuple[str, ...]) -> None:
        # a literal, the most common leaf, has nothing to check: it need not go down the whole chain
        # (the classes are disjoint, so which branch is tried first changes no outcome)
        if type(e) is A.Literal:
            return
        if isinstance(e, A.Path):
            if e.root in scope or e.root in ROOTS:
                return
            if e.root in self.consts:
                if e.keys:
                    self.err("E205", f"const `{e.root}` has no fields", e.span)
                return
            self.err("E205", f"unknown name `{e.root}`", e.span,
                     help=did_you_mean(e.root, list(ROOTS) + list(self.consts) + list(scope)))
        elif isinstance(e, A.Call):
            for a in e.args:
                self.check_expr(a, scope)
            if e.fn not in FUNCTIONS:
                self.err("E206", f"unknown function `{e.fn}`", e.span,
                         help=did_you_mean(e.fn, FUNCTIONS) or f"functions are {', '.join(FUNCTIONS)}")
                return
            lo, hi = FUNCTIONS[e.fn]
            if not lo <= len(e.args) <= hi:
                want = str(lo) if lo == hi else f"{lo} or {hi}"
                self.err("E207", f"`{e.fn}` takes {want} argument{'s' if hi > 1 else ''}, got {len(e.args)}", e.span)
            if e.fn in ("hour", "weekday") and len(e.args) == 2:
                tz = self.const_value(e.args[1])
                if isinstance(tz, str) and not valid_zone(tz):
                    self.err("E214", f"unknown time zone `{tz}`", e.args[1].span,
                             help="use an IANA name such as `Europe/Berlin` or `UTC`")
            if e.fn == "sql_read_only" and len(e.args) == 2:
                self.check_sql_dialect(e.args[1])
        elif isinstance(e, A.Presence):
            if not isinstance(e.path, A.Path) or e.path.root in self.consts and e.path.root not in scope:
                word = "present" if e.present else "missing"
                self.err("E211", f"`{word}` applies to a path, as in `args.x {word}`", e.span)
            self.check_expr(e.path, scope)
        elif isinstance(e, A.Compare):
            self.check_expr(e.left, scope)
            self.check_expr(e.right, scope)
            if e.op == "matches":
                pattern = self.const_value(e.right)
                if not isinstance(pattern, str):
                    self.err("E211", "`matches` takes a string literal", e.right.span)
                elif len(pattern) > MAX_REGEX:
                    self.err("E213", f"regular expression longer than {MAX_REGEX} characters", e.right.span)
                else:
                    bad = regex_problem(pattern)  # RE2 syntax (spec §4.7): what RE2 cannot run is refused here
                    if bad is not None:
                        self.err(bad.code, bad.message, e.right.span, help=bad.help)
        elif isinstance(e, A.Quantifier):
            self.check_expr(e.source, scope)
            if e.var in ROOTS or e.var in self.consts or e.var in scope:
                self.err("E215", f"variable `{e.var}` hides a name already in use", e.span,
                         help="choose another variable name")
            self.check_expr(e.body, scope + (e.var,))
        elif isinstance(e, (A.BoolOp, A.Arith)):
            self.check_expr(e.left, scope)
            self.check_expr(e.right, scope)
        elif isinstance(e, (A.Not, A.Neg)):
            self.check_expr(e.operand, scope)
        elif isinstance(e, A.ListExpr):
            for i in e.items:
                self.check_expr(i, scope)

    def check_sql_dialect(self, arg: A.Expr) -> None:
        """`sql_read_only(s, "DIALECT")`: the dialect is a string literal (or const) sqlglot names."""
        name = self.const_value(arg)
        if not isinstance(name, str):
            self.err("E221", "`sql_read_only` takes its dialect as a string literal", arg.span,
                     help='write a sqlglot dialect name such as `"postgres"` or `"mysql"`')
            return
        dialects = sql_dialects()
        if name not in dialects:
            self.err("E221", f"unknown SQL dialect `{name}`", arg.span,
                     help=did_you_mean(name.lower(), dialects) or f"dialects are {', '.join(dialects)}")

    def const_value(self, e: A.Expr) -> Any:
        if isinstance(e, A.Literal):
            return e.value
        if isinstance(e, A.Path) and not e.keys and e.root in self.consts:
            return self.consts[e.root].value
        return None

    def resolve_schemas(self, tools: Dict[str, A.Tool],
                        tool_decls: List[Tuple[LoadedFile, A.Tool]]) -> Dict[str, ResolvedSchema]:
        """Each tool's schema read and checked: `tool_decls` is every tool block with its file, in load order."""
        out: Dict[str, ResolvedSchema] = {}
        self._schema_values: List[Any] = []
        # every tool block of every file (overridden ones too) feeds the digest, in load order
        for f, d in tool_decls:
            if d.schema is not None:
                value = self.load_schema(d.schema, f)
                refs = self.schema_refs(value, d.schema, f) if value is not _BAD else None
                if refs is None:
                    value = _BAD
                else:
                    self._schema_values.append(value)
                    self._schema_values.extend(refs.documents)   # every document read feeds the digest
                if tools.get(d.name) is d and value is not _BAD:
                    out[d.name] = ResolvedSchema(value, d.schema.span, str(FsPath(f.path).parent), refs)
        return out

    def _all_schema_values(self) -> List[Any]:
        return getattr(self, "_schema_values", [])

    def schema_refs(self, value: Any, s: A.Schema, f: LoadedFile) -> Optional[SchemaSet]:
        """Every `$ref` of a tool's schema resolved now, to files below the declaring policy's folder."""
        folder = str(FsPath(f.path).parent)
        base = FsPath(os.path.abspath(os.path.join(folder, s.file)) if s.file is not None else f.path).as_uri()

        def parse(text: str, name: str) -> Any:
            value, problem = self.parse_schema_text(text, name, referenced=True)
            if problem is not None:
                raise SchemaProblemError(problem)
            return value

        try:
            refs, problems = resolve_refs(value, base, folder, f.rel, parse)
        except RecursionError:
            refs, problems = None, [SchemaProblem("E402", "invalid JSON Schema: nested too deeply")]
        for p in problems:
            self.err(p.code, p.message, s.span, help=p.help)
        return refs

    @staticmethod
    def parse_schema_text(text: str, name: str, referenced: bool = False) -> Tuple[Any, Optional[SchemaProblem]]:
        """A schema file's value, or why it is not one (E401 not JSON, E402 not a JSON Schema)."""
        try:
            value = strict_json_loads(text)
        except json.JSONDecodeError as e:
            return _BAD, SchemaProblem("E401", f"schema `{name}` is not valid JSON: {e.msg.lower()} at line "
                                       f"{e.lineno}, column {e.colno}")
        except ValueError as e:
            return _BAD, SchemaProblem("E401", f"schema `{name}` is not valid JSON: {e}")
        except RecursionError:
            return _BAD, SchemaProblem("E401", f"schema `{name}` is nested too deeply")
        problem = schema_problem(value)
        if problem:
            return _BAD, SchemaProblem("E402", f"invalid JSON Schema: {problem}"
                                       + (f" (in `{name}`)" if referenced else ""))
        return value, None

    def load_schema(self, s: A.Schema, f: LoadedFile) -> Any:
        if s.file is not None:
            path = FsPath(f.path).parent / s.file
            if "\x00" in s.file:  # the OS cannot even name it (realpath and open raise ValueError)
                self.err("E400", f"cannot read schema `{s.file}`: the path holds a NUL character", s.span,
                         help=f"schema paths are relative to `{f.rel}`")
                return _BAD
            # a schema file is a regular `*.json` file, by the name written and the file it really is,
            # read with a bounded read (`/dev/zero`, a FIFO or a link to /proc are refused unread)
            if not (path.name.endswith(SCHEMA_SUFFIX) and os.path.realpath(path).endswith(SCHEMA_SUFFIX)):
                self.err("E400", f"cannot read schema `{s.file}`: not a `{SCHEMA_SUFFIX}` file", s.span,
                         help=f"a schema path names a `{SCHEMA_SUFFIX}` file, relative to `{f.rel}`")
                return _BAD
            try:
                text = read_regular(str(path)).decode("utf-8-sig")
            except (OSError, ValueError) as e:  # ValueError: not UTF-8, or a NUL in the path
                reason = ("not valid UTF-8" if isinstance(e, UnicodeDecodeError) else "the path holds a NUL character"
                          if isinstance(e, ValueError) else reason_of(e))
                self.err("E400", f"cannot read schema `{s.file}`: {reason}", s.span,
                         help=f"schema paths are relative to `{f.rel}`")
                return _BAD
            value, problem = self.parse_schema_text(text, s.file)
            if problem is not None:
                self.err(problem.code, problem.message, s.span)
                return _BAD
            return value
        value = s.inline
        invalid = schema_problem(value)
        if invalid:
            self.err("E402", f"invalid JSON Schema: {invalid}", s.span)
            return _BAD
        return value


_BAD = object()


def schema_problem(value: Any) -> Optional[str]:
    """Why a value is not a valid JSON Schema (checked against its metaschema), or None when it is one."""
    if not isinstance(value, (dict, bool)):
        return "a schema must be an object or a boolean"
    try:
        key = json.dumps(value, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError):
        return "a schema must be JSON"
    return _schema_problem_cached(key)


@functools.lru_cache(maxsize=4096)
def _schema_problem_cached(key: str) -> Optional[str]:
    """Checking a schema against its metaschema costs ~1 ms; policies repeat the same schemas."""
    import jsonschema
    value = json.loads(key)
    try:
        cls = jsonschema.validators.validator_for(value, default=jsonschema.Draft202012Validator)
        cls.check_schema(value)
    except jsonschema.SchemaError as e:
        where = "/".join(str(p) for p in e.absolute_path)
        return e.message + (f" (at `{where}`)" if where else "")
    except Exception as e:  # unresolvable metaschema and the like
        return str(e).splitlines()[0] if str(e) else "cannot be checked"
    return None


@functools.lru_cache(maxsize=None)
def sql_dialects() -> Tuple[str, ...]:
    """The dialect names `sql_read_only` takes: every dialect sqlglot names (imported only when used)."""
    from sqlglot.dialects.dialect import Dialects
    return tuple(sorted(d.value for d in Dialects if d.value))


def valid_zone(name: str) -> bool:
    """Whether `name` is a time zone zoneinfo knows (IANA names, for `hour` and `weekday`)."""
    from zoneinfo import ZoneInfo
    try:
        ZoneInfo(name)
        return True
    except Exception:  # ZoneInfoNotFoundError, ValueError for odd keys
        return False


def check(loaded: Loaded) -> Program:
    """Check a loaded policy: every problem found is raised together in one PolicyError, else the Program."""
    with paused_gc():
        return _Checker(loaded).run()


def check_partial(loaded: Loaded) -> Tuple[Program, List[Diagnostic]]:
    """The merged program and every problem found, without raising: lint analyses the parts of a
    policy with errors that the errors do not touch. Never compile or evaluate such a program."""
    with paused_gc():
        checker = _Checker(loaded)
        program = checker.merge()
    return program, checker.diags


def load(path: str, text: Optional[str] = None) -> Program:
    """Load, parse and check a policy file and its imports. Raises PolicyError with every problem."""
    # one pause over both steps: between two pauses the first allocation of the check would start a
    # collection that walks the whole AST just read (most of a cached load's GC time), for nothing
    with paused_gc():
        return check(load_files(path, text))
