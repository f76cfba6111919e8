"""A cache of parsed files: the AST of a policy text as JSON, keyed by the text's SHA-256 (no pickle).

Only parsing is skipped: the checker still runs on every load, and a cached module is rebuilt with
the file name of the load at hand. An entry is trusted no more than the text it came from could
be: it is read only from a private directory (created 0700; an entry owned by another user or
writable by others is ignored), and only if its header names this parser (format, package
version, and the SHA-256 of the grammar, the parser and the AST classes), the text's own digest,
and decodes into nothing but the AST's own classes. Anything else — a truncated file, another
version's entry, a hand-edited one that does not decode — is ignored and written anew from a fresh
parse. Where the cache lives: `SIGNOFF_CACHE_DIR`, else `$XDG_CACHE_HOME/signoff`, else
`~/.cache/signoff`; `SIGNOFF_NO_CACHE=1` turns it off (docs/design.md argues the choice).
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import operator
import os
import stat
import tempfile
from collections import deque
from itertools import chain, compress, repeat
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple, cast

from . import ast as A
from .parser import parse
from .printer import format_module

FORMAT = 2
MIN_CACHED = 16 * 1024      # smaller texts parse in a few milliseconds: not worth a file
MAX_ENTRY = 64 * 1024 * 1024

_CLASSES: Dict[str, type] = {c.__name__: c for c in vars(A).values()
                             if isinstance(c, type) and dataclasses.is_dataclass(c) and c is not A.Span}
_FIELDS: Dict[type, Tuple[str, ...]] = {c: tuple(f.name for f in dataclasses.fields(c)) for c in _CLASSES.values()}
_BIG = 2 ** 53              # larger integers are written as text: not every JSON reader keeps them exact


def _source_tag() -> str:
    """What an entry depends on: this format, the package version, the parser's and printer's files."""
    h = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for name in ("grammar.lark", "parser.py", "lalr.py", "ast.py", "printer.py", "astcache.py"):
        h.update((here / name).read_bytes())
    try:
        from importlib.metadata import version
        pkg = version("signoff")
    except Exception:  # not installed (a checkout on PYTHONPATH): the source digest still tells versions apart
        pkg = "unknown"
    return f"signoff-ast/{FORMAT}/{pkg}/{h.hexdigest()}"


@functools.lru_cache(maxsize=None)
def tag() -> str:
    """The header every entry must carry (computed once per process)."""
    return _source_tag()


def cache_dir() -> Optional[Path]:
    """The folder of AST entries, or None when caching is off (`SIGNOFF_NO_CACHE`) or no home is known."""
    if os.environ.get("SIGNOFF_NO_CACHE", "") not in ("", "0"):
        return None
    given = os.environ.get("SIGNOFF_CACHE_DIR")
    if given:
        return Path(given) / "ast"
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "signoff" / "ast"
    home = os.path.expanduser("~")
    if home == "~" or not os.path.isabs(home):
        return None
    return Path(home) / ".cache" / "signoff" / "ast"


# ------------------------------------------------------------------ encoding
# An entry holds the AST as tables, one per class, with a column per field, so that decoding builds
# nodes in bulk (`map` over a column: no Python-level step per node for most fields). A node is
# named by its place in the tables (each class's rows in turn: the first class's rows are 0…n-1);
# a field holds, by its kind (`_KINDS`, fixed per class and field):
#
#   "s"  a JSON scalar (an integer within ±2**53, a finite float, a string, a boolean, null);
#   "S"  a span: its row in `spans` (four numbers a span; the file is the load's), or -1 for NO_SPAN;
#   "r"  a node: its row, or -1 for None;
#   "T"  a tuple of nodes: a list of rows;
#   "ts" a tuple of scalars: a list;
#   "g"  any other value, written inline (`_enc`): a scalar, or a list whose first item says what it
#        is: "t" a tuple, "l" a list, "d" an object, "i" a large integer as text, "S" a span's four
#        numbers, "Z" no span, or an AST class's name followed by the node's fields in order (a `span`
#        field as its four numbers, or ["Z"]).
#
# Each table also has a column of heights (a node with no child in the tables is 0, else one more
# than its highest child's). Decoding checks, besides every value's type and range, that no row is
# the child of two nodes (or twice a child), and that every child is lower than its parent and no
# height exceeds MAX_HEIGHT: so whatever an entry says, what it decodes into is a tree no higher
# than that, never a cycle or a graph whose walk would not end.
_SPAN_AT: Dict[type, int] = {c: names.index("span") for c, names in _FIELDS.items() if "span" in names}
_SCALARS = frozenset({str, bool, float, int, type(None)})
MAX_HEIGHT = 256       # the parser refuses anything nested more than 100 levels deep (E104)

_NODE_FIELDS = {      # every field not named here is "g"; the encoder refuses a value its kind does not hold
    "Literal": {"text": "s", "span": "S"},
    "Duration": {"text": "s", "span": "S"},
    "Path": {"root": "s", "keys": "ts", "span": "S"},
    "ListExpr": {"items": "T", "span": "S"},
    "Call": {"fn": "s", "args": "T", "span": "S"},
    "Neg": {"operand": "r", "span": "S"},
    "Not": {"operand": "r", "span": "S"},
    "BoolOp": {"op": "s", "left": "r", "right": "r", "span": "S", "parens": "s"},
    "Arith": {"op": "s", "left": "r", "right": "r", "span": "S", "parens": "s"},
    "Compare": {"op": "s", "left": "r", "right": "r", "span": "S"},
    "Presence": {"path": "r", "present": "s", "span": "S"},
    "Quantifier": {"kind": "s", "var": "s", "source": "r", "body": "r", "span": "S"},
    "Outcome": {"kind": "s", "route": "s", "text": "s", "span": "S"},
    "PolicyDecl": {"name": "s", "span": "S"},
    "VersionDecl": {"version": "s", "span": "S"},
    "ModeDecl": {"mode": "s", "span": "S"},
    "Use": {"module": "s", "path": "s", "span": "S"},
    "Const": {"name": "s", "override": "s", "span": "S", "text": "s"},
    "Route": {"name": "s", "approvers": "ts", "timeout": "r", "escalate_to": "s",
              "grants_never": "s", "override": "s", "span": "S", "quorum_span": "S"},
    "Schema": {"file": "s", "span": "S"},
    "RiskLine": {"level": "s", "when": "r", "otherwise": "s", "span": "S"},
    "Tool": {"name": "s", "schema": "r", "risks": "T", "mode": "r", "override": "s", "span": "S", "quoted": "s"},
    "ToolAlias": {"name": "s", "target": "s", "override": "s", "span": "S"},
    "Levels": {"names": "ts", "span": "S"},
    "CategoryLine": {"outcome": "r", "when": "r", "otherwise": "s", "span": "S"},
    "Category": {"level": "s", "lines": "T", "override": "s", "span": "S"},
    "Require": {"cond": "r", "outcome": "r", "span": "S"},
    "Budget": {"agg": "s", "path": "r", "keys": "T", "window": "r", "outcome": "r", "span": "S", "limit_text": "s"},
    "Check": {"name": "s", "lines": "T", "advisory": "s", "override": "s", "span": "S"},
    "UnknownTools": {"outcome": "r", "span": "S"},
}
# the classes that have tables, in table order, and each one's field kinds in declaration order
_TABLED: Tuple[type, ...] = tuple(_CLASSES[n] for n in sorted(_NODE_FIELDS))
_KINDS: Dict[type, Tuple[str, ...]] = {c: tuple(_NODE_FIELDS[c.__name__].get(f, "g") for f in _FIELDS[c])
                                       for c in _TABLED}


def _scalar(v: Any) -> Any:
    """`v` as a scalar column holds it; TypeError for anything else (the text is then not cached)."""
    t = type(v)
    if t is str or t is bool or v is None:
        return v
    if t is int and -_BIG < v < _BIG:
        return v
    if t is float and math.isfinite(v):
        return v
    raise TypeError(f"not a scalar of the cache: {t.__name__}")


def _enc(v: Any) -> Any:
    """A value of a "g" field (or a comment), written inline."""
    t = type(v)
    if t is str or t is bool or v is None:
        return v
    if t is float:
        if not math.isfinite(v):   # orjson would write null
            raise TypeError("a float that is not finite")
        return v
    if t is int:
        return v if -_BIG < v < _BIG else ["i", str(v)]
    if t is tuple:
        return ["t", *[_enc(x) for x in v]]
    if t is list:
        return ["l", *[_enc(x) for x in v]]
    if t is dict:
        return ["d", {k: _enc(x) for k, x in v.items()}]
    if t is A.Span:
        if v == A.NO_SPAN:
            return ["Z"]
        if v.line <= 0:
            raise TypeError("a span without a place")
        return ["S", v.line, v.column, v.end_line, v.end_column]
    fields = _FIELDS.get(t)
    if fields is None:
        raise TypeError(f"cannot cache a {t.__name__}")
    out: List[Any] = [t.__name__]
    for name in fields:
        x = getattr(v, name)
        if name == "span" and x != A.NO_SPAN:
            if x.line <= 0:
                raise TypeError("a span without a place")
            out.append([x.line, x.column, x.end_line, x.end_column])
        else:
            out.append(_enc(x))
    return out


class _Tables:
    """The tables an entry is written from: each class's rows in the order met, spans numbered once each."""

    def __init__(self) -> None:
        self.rows: Dict[type, List[List[Any]]] = {c: [] for c in _TABLED}
        self.heights: Dict[type, List[int]] = {c: [] for c in _TABLED}
        self.spans: List[int] = []
        self.span_row: Dict[Tuple[int, int, int, int], int] = {}

    def span(self, s: Any) -> int:
        if type(s) is not A.Span:
            raise TypeError("a span field without a span")
        if s == A.NO_SPAN:
            return -1
        if s.line <= 0:
            raise TypeError("a span without a place")
        key = (s.line, s.column, s.end_line, s.end_column)
        at = self.span_row.get(key)
        if at is None:
            at = self.span_row[key] = len(self.spans) // 4
            self.spans.extend(key)
        return at

    def node(self, v: Any) -> Tuple[type, int, int]:
        """Add `v` (and what it holds) to the tables: its class, row within its class, and height."""
        cls = type(v)
        kinds = _KINDS.get(cls)
        if kinds is None:
            raise TypeError(f"not a node of the tables: {cls.__name__}")
        row: List[Any] = []
        height = 0
        for name, kind in zip(_FIELDS[cls], kinds):
            x = getattr(v, name)
            if kind == "s":
                row.append(_scalar(x))
            elif kind == "S":
                row.append(self.span(x))
            elif kind == "r":
                if x is None:
                    row.append(-1)
                else:
                    child = self.node(x)
                    height = max(height, child[2] + 1)
                    row.append(child)
            elif kind == "T":
                if type(x) is not tuple:
                    raise TypeError("a tuple field without a tuple")
                children = [self.node(i) for i in x]
                height = max([height] + [c[2] + 1 for c in children])
                row.append(children)
            elif kind == "ts":
                if type(x) is not tuple:
                    raise TypeError("a tuple field without a tuple")
                row.append([_scalar(i) for i in x])
            else:
                row.append(_enc(x))
        if height > MAX_HEIGHT:
            raise TypeError("nested too deeply for the cache")
        at = len(self.rows[cls])
        self.rows[cls].append(row)
        self.heights[cls].append(height)
        return cls, at, height

    def columns(self, decls: Tuple[Any, ...]) -> Tuple[List[Any], List[int]]:
        """The tables as written (rows numbered across classes, columns of each) and the declarations' rows."""
        made = [self.node(d) for d in decls]
        base: Dict[type, int] = {}
        n = 0
        for c in _TABLED:
            base[c] = n
            n += len(self.rows[c])

        def ref(node: Tuple[type, int, int]) -> int:
            return base[node[0]] + node[1]

        top = [ref(d) for d in made]
        out: List[Any] = []
        for c in _TABLED:
            rows = self.rows[c]
            if not rows:
                continue
            cols: List[Any] = [c.__name__, len(rows), self.heights[c]]
            for i, kind in enumerate(_KINDS[c]):
                col = [r[i] for r in rows]
                if kind == "r":
                    col = [x if x == -1 else ref(x) for x in col]
                elif kind == "T":
                    col = [[ref(x) for x in xs] for xs in col]
                cols.append(col)
            out.append(cols)
        return out, top


def _dumps(body: Dict[str, Any]) -> bytes:
    try:
        import orjson
    except ImportError:
        return json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
    return orjson.dumps(body)


def _no_constant(name: str) -> Any:
    raise ValueError(f"`{name}` in an entry")


def _loads(data: bytes) -> Any:
    try:
        import orjson
    except ImportError:   # orjson refuses NaN and Infinity; so must the fallback
        return json.loads(data, parse_constant=_no_constant)
    return orjson.loads(data)


def encode(module: A.Module, text: str, formatted: str) -> bytes:
    """The entry for `module` parsed from `text`: the header, the declarations and comments, and the
    canonical text (`format_module`) the policy digest is computed over. TypeError (or ValueError)
    for an AST the format does not hold."""
    tables = _Tables()
    classes, decls = tables.columns(module.decls)
    body = {"tag": tag(), "text": hashlib.sha256(text.encode("utf-8")).hexdigest(), "spans": tables.spans,
            "classes": classes, "decls": decls, "comments": _enc(module.comments), "formatted": formatted}
    return _dumps(body)


class _Bad(Exception):
    """An entry that does not decode into the AST's classes."""


def _inline_decoder(file: str) -> Callable[[Any], Any]:
    """The decoder of values written by `_enc`, for spans in file `file`."""
    new = object.__new__
    scalars, classes, fields, span_at = _SCALARS, _CLASSES, _FIELDS, _SPAN_AT

    def span_of(v: Any) -> A.Span:
        if type(v) is list and len(v) == 4:
            line, column, end_line, end_column = v
            if type(line) is int and type(column) is int and type(end_line) is int and type(end_column) is int \
                    and 0 < line <= end_line and column > 0 and end_column > 0:
                span: Any = new(A.Span)
                span.__dict__.update(file=file, line=line, column=column, end_line=end_line, end_column=end_column)
                return cast(A.Span, span)
        if v == ["Z"]:
            return A.NO_SPAN
        raise _Bad("span")

    def dec(v: Any) -> Any:
        if type(v) in scalars:
            return v
        if type(v) is not list or not v or type(v[0]) is not str:
            raise _Bad(repr(v)[:40])
        head = v[0]
        cls = classes.get(head)
        if cls is not None:
            names = fields[cls]
            if len(v) != len(names) + 1:
                raise _Bad(head)
            at = span_at.get(cls)
            if at is not None:
                span = span_of(v[at + 1])
                v[at + 1] = None          # the loaded JSON is ours to change
            values = [x if type(x) in scalars else dec(x) for x in v[1:]]
            if at is not None:
                values[at] = span
            obj: Any = new(cls)
            obj.__dict__.update(zip(names, values))   # frozen: no __setattr__, and no __init__ to run
            return obj
        if head == "t":
            return tuple([x if type(x) in scalars else dec(x) for x in v[1:]])
        if head == "l":
            return [x if type(x) in scalars else dec(x) for x in v[1:]]
        if head == "d":
            if len(v) != 2 or type(v[1]) is not dict:
                raise _Bad("object")
            return {k: (x if type(x) in scalars else dec(x)) for k, x in v[1].items()}
        if head == "i":
            if len(v) != 2 or type(v[1]) is not str or len(v[1]) > 400 or not v[1].lstrip("-").isdigit():
                raise _Bad("integer")
            return int(v[1])
        if head == "S":
            return span_of(v[1:])
        if head == "Z":
            return A.NO_SPAN
        raise _Bad(head[:40])
    return dec


_INTS = frozenset({int})
_LISTS = frozenset({list})
_SPAN_FIELDS = ("line", "column", "end_line", "end_column")


def _ints(col: Any, lo: int, hi: int) -> List[int]:
    """`col` if it is a list of integers in lo..hi (each type exactly int: no booleans), else _Bad."""
    if type(col) is not list or not set(map(type, col)) <= _INTS or (col and (min(col) < lo or max(col) > hi)):
        raise _Bad("integers")
    return col


def _spans(flat: Any, file: str) -> List[A.Span]:
    """The spans of an entry's `spans` (four numbers each), built in bulk, with NO_SPAN last (row -1)."""
    if type(flat) is not list or len(flat) % 4:
        raise _Bad("spans")
    _ints(flat, 1, _BIG)
    n = len(flat) // 4
    lines, ends = flat[0::4], flat[2::4]
    if not all(map(operator.le, lines, ends)):
        raise _Bad("a span that ends before it starts")
    sa = object.__setattr__
    spans: List[Any] = list(map(object.__new__, repeat(A.Span, n)))
    # field by field, as the dataclass's own __init__ sets them (no __dict__ made: the values stay inline;
    # spans written as the dicts to set as `__dict__`, one call a span, cost 13% more instructions in all)
    deque(map(sa, spans, repeat("file"), repeat(file, n)), 0)
    for i, name in enumerate(_SPAN_FIELDS):
        deque(map(sa, spans, repeat(name), flat[i::4]), 0)
    spans.append(A.NO_SPAN)
    return cast(List[A.Span], spans)


def _nodes(tables: Any, spans: List[A.Span], top: Any, file: str) -> List[Any]:
    """Every node of an entry's tables, fields set, with None last (row -1); _Bad for anything amiss,
    and for declarations (rows `top`) that are not distinct roots of the tree."""
    if type(tables) is not list:
        raise _Bad("tables")
    sa, new = object.__setattr__, object.__new__
    nodes: List[Any] = []
    parts: List[Tuple[type, List[Any], int, List[Any]]] = []
    heights: List[int] = []
    for t in tables:
        if type(t) is not list or len(t) < 3 or type(t[0]) is not str or type(t[1]) is not int or t[1] < 0:
            raise _Bad("table")
        cls = _CLASSES.get(t[0])
        if cls is None or cls not in _KINDS or len(t) != 3 + len(_KINDS[cls]):
            raise _Bad("table")
        n = t[1]
        heights += _ints(t[2], 0, MAX_HEIGHT)
        made: List[Any] = list(map(new, repeat(cls, n)))
        parts.append((cls, made, len(nodes), t[3:]))
        nodes += made
    if len(heights) != len(nodes):
        raise _Bad("heights")
    total = len(nodes)
    nodes.append(None)
    kids: List[int] = []       # every child row, and its parent's row beside it
    parents: List[int] = []
    dec = _inline_decoder(file)
    for cls, made, base, cols in parts:
        n = len(made)
        rows = range(base, base + n)
        for name, kind, col in zip(_FIELDS[cls], _KINDS[cls], cols):
            if type(col) is not list or len(col) != n:
                raise _Bad("column")
            values: Any
            if kind == "s":
                if not set(map(type, col)) <= _SCALARS:
                    raise _Bad("scalar")
                values = col
            elif kind == "S":
                values = map(spans.__getitem__, _ints(col, -1, len(spans) - 2))
            elif kind == "r":
                _ints(col, -1, total - 1)
                has = list(map((-1).__lt__, col))
                kids += compress(col, has)
                parents += compress(rows, has)
                values = map(nodes.__getitem__, col)
            elif kind == "T":
                if not set(map(type, col)) <= _LISTS:
                    raise _Bad("tuple")
                flat = _ints(list(chain.from_iterable(col)), 0, total - 1)
                kids += flat
                parents += chain.from_iterable(map(repeat, rows, map(len, col)))
                values = map(tuple, map(map, repeat(nodes.__getitem__), col))
            elif kind == "ts":
                if not set(map(type, col)) <= _LISTS or not set(map(type, chain.from_iterable(col))) <= _SCALARS:
                    raise _Bad("tuple")
                values = map(tuple, col)
            else:
                values = [x if type(x) in _SCALARS else dec(x) for x in col]
            deque(map(sa, made, repeat(name), values), 0)
    # a tree no higher than MAX_HEIGHT: no row a child twice (or a child and a declaration), every
    # child lower than its parent
    _ints(top, 0, total - 1)
    if len(set(kids).union(top)) != len(kids) + len(top) \
            or not all(map(operator.lt, map(heights.__getitem__, kids), map(heights.__getitem__, parents))):
        raise _Bad("not a tree")
    return nodes


_DECLS = tuple(_CLASSES[n] for n in ("PolicyDecl", "VersionDecl", "ModeDecl", "Use", "Const", "Route", "Tool",
                                     "ToolAlias", "Levels", "Category", "Check", "UnknownTools"))


def decode(data: bytes, text: str, file: str) -> Optional[Tuple[A.Module, str]]:
    """The module and canonical text an entry holds, for `text` as file `file`; None when the entry
    is not one of ours for this text."""
    try:
        body = _loads(data)
        if type(body) is not dict or body.get("tag") != tag() \
                or body.get("text") != hashlib.sha256(text.encode("utf-8")).hexdigest():
            return None
        spans = _spans(body["spans"], file)
        top = body["decls"]
        nodes = _nodes(body["classes"], spans, top, file)
        decls = tuple(map(nodes.__getitem__, top))
        comments, formatted = _inline_decoder(file)(body["comments"]), body["formatted"]
    except (ValueError, KeyError, TypeError, IndexError, RecursionError, _Bad):
        return None
    if not all(isinstance(d, _DECLS) for d in decls) \
            or type(comments) is not tuple or not all(type(c) is A.Comment for c in comments) \
            or type(formatted) is not str:
        return None
    return A.Module(decls, file, comments), formatted


# ------------------------------------------------------------------ files
def _entry_path(root: Path, text: str) -> Path:
    key = hashlib.sha256((tag() + "\0" + text).encode("utf-8")).hexdigest()
    return root / key[:2] / f"{key}.json"


def _read_private(path: Path) -> Optional[bytes]:
    """An entry's bytes: a regular file of ours that nobody else may write, else None."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_ENTRY:
            return None
        if hasattr(os, "getuid") and (st.st_uid != os.getuid() or st.st_mode & 0o022):
            return None
        chunks: List[bytes] = []
        while True:
            b = os.read(fd, 1 << 20)
            if not b:
                return b"".join(chunks)
            chunks.append(b)
    except OSError:
        return None
    finally:
        os.close(fd)


def _write(path: Path, data: bytes) -> None:
    """Write an entry atomically (a temporary file renamed over it); a cache that cannot be written is no error."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        pass


def parse_cached(text: str, file: str = "<memory>", root: Optional[Path] = None) -> Tuple[A.Module, Optional[str]]:
    """`parse(text, file)` through the cache, with the module's canonical text when the cache gave
    or computed it (None: not cached, the caller formats the module itself when it needs to).

    The cache is used when a folder is known and the text is at least MIN_CACHED long (`root`
    given: always, there). Raises what `parse` raises: a text that does not parse is never cached."""
    if root is None:
        if len(text) < MIN_CACHED:
            return parse(text, file), None
        root = cache_dir()
        if root is None:
            return parse(text, file), None
    path = _entry_path(root, text)
    data = _read_private(path)
    if data is not None:
        hit = decode(data, text, file)
        if hit is not None:
            return hit
    module = parse(text, file)
    formatted = format_module(module)
    try:
        data = encode(module, text, formatted)
    except (TypeError, ValueError):   # a value the format does not hold: parse it every time
        return module, formatted
    _write(path, data)
    return module, formatted
