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
import hashlib
import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple, cast

from . import ast as A
from .parser import parse
from .printer import format_module

FORMAT = 1
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
    for name in ("grammar.lark", "parser.py", "ast.py", "printer.py", "astcache.py"):
        h.update((here / name).read_bytes())
    try:
        from importlib.metadata import version
        pkg = version("signoff")
    except Exception:  # not installed (a checkout on PYTHONPATH): the source digest still tells versions apart
        pkg = "unknown"
    return f"signoff-ast/{FORMAT}/{pkg}/{h.hexdigest()}"


_TAG: Optional[str] = None


def tag() -> str:
    """The header every entry must carry (computed once per process)."""
    global _TAG
    if _TAG is None:
        _TAG = _source_tag()
    return _TAG


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
# A value is a JSON scalar, or a list whose first item says what it is: "t" a tuple, "l" a list,
# "d" an object, "i" a large integer as text, "S" a span's four numbers, "Z" no span, or an AST
# class's name followed by the
# node's fields in declaration order, where a `span` field is written as its four numbers inline
# (the file is the one being loaded).
_SPAN_AT: Dict[type, int] = {c: names.index("span") for c, names in _FIELDS.items() if "span" in names}
_SCALARS = frozenset({str, bool, float, int, type(None)})


def _enc(v: Any) -> Any:
    t = type(v)
    if t is str or t is bool or t is float or v is None:
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


def _dumps(body: Dict[str, Any]) -> bytes:
    try:
        import orjson
    except ImportError:
        return json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
    return orjson.dumps(body)


def _loads(data: bytes) -> Any:
    try:
        import orjson
    except ImportError:
        return json.loads(data)
    return orjson.loads(data)


def encode(module: A.Module, text: str, formatted: str) -> bytes:
    """The entry for `module` parsed from `text`: the header, the declarations and comments, and the
    canonical text (`format_module`) the policy digest is computed over."""
    body = {"tag": tag(), "text": hashlib.sha256(text.encode("utf-8")).hexdigest(),
            "decls": _enc(module.decls), "comments": _enc(module.comments), "formatted": formatted}
    return _dumps(body)


class _Bad(Exception):
    """An entry that does not decode into the AST's classes."""


def _decoder(file: str) -> Callable[[Any], Any]:
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
        dec = _decoder(file)
        decls, comments, formatted = dec(body["decls"]), dec(body["comments"]), body["formatted"]
    except (ValueError, KeyError, TypeError, RecursionError, _Bad):
        return None
    if type(decls) is not tuple or not all(isinstance(d, _DECLS) for d in decls) \
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
