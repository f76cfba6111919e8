"""Load a policy and the files it `use`s, depth-first, each file once, cycles reported."""
from __future__ import annotations

import contextlib
import errno
import gc
import hashlib
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any, Dict, Iterable, Iterator, List, Optional

from . import ast as A
from .errors import Diagnostic, PolicyError, did_you_mean
from .astcache import parse_cached
from .printer import format_module

STDLIB_DIR = FsPath(__file__).resolve().parent.parent / "stdlib_policies"
# the largest policy or schema file read (docs/language.md): a bounded read, so `/dev/zero` or a
# huge file cannot exhaust memory
MAX_FILE_BYTES = 10 * 1024 * 1024
POLICY_SUFFIX = ".policy"


@dataclass
class LoadedFile:
    """One file of a policy as read: where it is, its text and parsed module, and whether it is the root."""
    path: str            # absolute path on disk
    rel: str             # as shown to users: relative to the root policy's folder
    text: str
    module: A.Module
    is_root: bool = False
    parsed: bool = True  # False: the text did not parse (its module is empty; the parse errors say why)
    formatted: Optional[str] = None   # format_module(module), when the AST cache already had or made it


@dataclass
class Loaded:
    """A policy's files in load order (imports before their importers) and the problems met loading them."""
    root_dir: str
    files: List[LoadedFile] = field(default_factory=list)   # load order: imports before importers
    diagnostics: List[Diagnostic] = field(default_factory=list)

    @property
    def sources(self) -> Dict[str, str]:
        """Each file's text by its shown path, for quoting source lines in diagnostics."""
        return {f.rel: f.text for f in self.files}


def stdlib_modules() -> List[str]:
    """The names of the standard modules (`use stdlib.NAME`), sorted."""
    if not STDLIB_DIR.is_dir():
        return []
    return sorted(p.stem for p in STDLIB_DIR.glob("*.policy"))


def display_path(path: str, root_dir: str) -> str:
    """A path as users see it: `stdlib/NAME.policy` for a standard module, else relative to the root's folder."""
    p = FsPath(path).resolve()
    try:
        return p.relative_to(STDLIB_DIR).as_posix().join(("stdlib/", ""))
    except ValueError:
        pass
    rel = os.path.relpath(p, root_dir)
    return FsPath(rel).as_posix()


def expand_paths(paths: Iterable[str], pattern: str = "*.policy") -> List[str]:
    """Files as given; folders searched recursively for `pattern`, each folder's matches sorted."""
    out: List[str] = []
    for p in paths:
        if os.path.isdir(p):
            out.extend(sorted(str(f) for f in FsPath(p).rglob(pattern) if f.is_file()))
        else:
            out.append(p)
    return out


def _size_text(n: int) -> str:
    return f"{n // (1024 * 1024)} MiB" if n % (1024 * 1024) == 0 else f"{n:,} bytes"


def read_regular(path: str, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a regular file of at most `limit` bytes; OSError (with a lowercase `strerror`)
    for anything else. Opened non-blocking, then checked with fstat on the open descriptor, so a
    FIFO cannot hang the open and nothing is swapped between the check and the read; the read itself
    stops past `limit` (a /proc file reports size 0 and can still be long)."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, "is a directory", path)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", path)
        too_big = OSError(errno.EFBIG, f"larger than {_size_text(limit)}", path)
        if st.st_size > limit:
            raise too_big
        chunks: List[bytes] = []
        n = 0
        while True:
            b = os.read(fd, min(1 << 20, limit + 1 - n))
            if not b:
                break
            chunks.append(b)
            n += len(b)
            if n > limit:
                raise too_big
        return b"".join(chunks)
    finally:
        os.close(fd)


def reason_of(e: OSError) -> str:
    """Why a file could not be read, in lowercase prose (`no such file or directory`); the limits'
    own reasons keep their units (`larger than 10 MiB`)."""
    text = e.strerror or "cannot read"
    return text[:1].lower() + text[1:]


def read_text(path: str) -> str:
    """A policy file's text: a regular file of at most MAX_FILE_BYTES, UTF-8 (a BOM is dropped). A
    `*.policy` name that is a link to a file of another name is refused unread: `lint .` or `fmt
    --check .` in CI must not quote `/proc/self/environ` through `env.policy -> /proc/self/environ`."""
    if path.endswith(POLICY_SUFFIX) and not os.path.realpath(path).endswith(POLICY_SUFFIX):
        raise OSError(errno.EINVAL, f"a link to a file not named `*{POLICY_SUFFIX}`", path)
    return read_regular(path).decode("utf-8-sig")


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """The cyclic GC off for the block (and back on after it, if it was on).

    Loading allocates a few hundred thousand objects that all live on: every collection the
    allocations trigger walks them again, for nothing (a third of a large load's time). A load
    makes no reference cycles worth collecting early; what it leaves is collected as usual later."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def load_files(root: str, text: Optional[str] = None) -> Loaded:
    """Read and parse the root file and everything it uses. Problems are collected, not raised."""
    with paused_gc():
        return _load_files(root, text)


def _load_files(root: str, text: Optional[str]) -> Loaded:
    root_abs = str(FsPath(root).resolve())
    root_dir = str(FsPath(root_abs).parent)
    loaded = Loaded(root_dir)
    done: Dict[str, bool] = {}
    stack: List[str] = []

    def visit(path: str, via: Optional[A.Span], is_root: bool, given: Optional[str] = None) -> None:
        if path in done:
            return
        if path in stack:
            cycle = stack[stack.index(path):] + [path]
            names = " → ".join(display_path(p, root_dir) for p in cycle)
            loaded.diagnostics.append(Diagnostic("E301", f"import cycle: {names}", via or A.NO_SPAN))
            return
        rel = display_path(path, root_dir)
        try:
            src = given if given is not None else read_text(path)
        except (OSError, UnicodeDecodeError) as e:
            reason = "not valid UTF-8" if isinstance(e, UnicodeDecodeError) else reason_of(e)
            span = via or A.Span(rel, 1, 1, 1, 1)
            code = "E302"
            loaded.diagnostics.append(Diagnostic(code, f"cannot read `{rel}`: {reason}", span))
            done[path] = True
            return
        try:
            module, formatted = parse_cached(src, rel)
        except PolicyError as e:
            loaded.diagnostics.extend(e.diagnostics)
            loaded.files.append(LoadedFile(path, rel, src, A.Module((), rel), is_root, parsed=False))
            done[path] = True
            return
        stack.append(path)
        for d in module.decls:
            if isinstance(d, A.Use):
                try:
                    target = resolve_use(d, path, loaded)
                except (OSError, ValueError) as e:  # a NUL in the path, a name too long: the OS refuses it
                    reason = "it holds a NUL character" if isinstance(e, ValueError) else (e.strerror or "cannot read").lower()
                    loaded.diagnostics.append(Diagnostic("E300", f"cannot use `{_short_path(d.path or d.module or '')}`: {reason}",
                                                         d.span))
                    target = None
                if target is not None:
                    visit(target, d.span, False)  # noqa: F821 (deleted only once the walk is done)
        stack.pop()
        done[path] = True
        loaded.files.append(LoadedFile(path, rel, src, module, is_root, formatted=formatted))

    try:
        visit(root_abs, None, True, text)
    finally:
        # `visit` calls itself through its closure cell: a cycle holding `loaded`, and so every parsed
        # file, that only the cyclic GC frees. Broken here, the files go when the caller drops them.
        del visit
    return loaded


def _short_path(path: str, limit: int = 80) -> str:
    """A path for a message: cut when long, a NUL shown escaped."""
    path = path.replace("\0", "\\u0000")
    return path if len(path) <= limit else f"{path[:limit]}… ({len(path)} characters)"


def resolve_use(d: A.Use, importer: str, loaded: Loaded) -> Optional[str]:
    """The absolute path of the file a `use` names, or None with the reason recorded in `loaded`.

    A quoted path is relative to the importing file and must name a `*.policy` file (by the name
    written and by the file it resolves to)."""
    if d.module is not None:
        parts = d.module.split(".")
        if len(parts) != 2 or parts[0] != "stdlib":
            loaded.diagnostics.append(Diagnostic(
                "E300", f"unknown module `{d.module}`", d.span,
                help="modules are named `stdlib.NAME`; use a quoted path for a file"))
            return None
        target = STDLIB_DIR / f"{parts[1]}.policy"
        if not target.is_file():
            loaded.diagnostics.append(Diagnostic(
                "E300", f"no standard module `{d.module}`", d.span,
                help=did_you_mean(parts[1], stdlib_modules())))
            return None
        return str(target.resolve())
    written = FsPath(importer).parent / (d.path or "")
    target = written.resolve()
    # only policy files, by the name written and by the file it really is (a `x.policy` link to
    # /proc/self/environ is refused): the content of any other file is never read, so never quoted
    if not (written.name.endswith(POLICY_SUFFIX) and target.name.endswith(POLICY_SUFFIX)):
        what = (f"`{d.path}` is not a `{POLICY_SUFFIX}` file" if not written.name.endswith(POLICY_SUFFIX)
                else f"`{d.path}` is a link to a file not named `*{POLICY_SUFFIX}`")
        loaded.diagnostics.append(Diagnostic(
            "E303", f"`use` takes a policy file: {what}", d.span,
            help=f"`use` names a file ending in `{POLICY_SUFFIX}`, or a standard module as `stdlib.NAME`"))
        return None
    if not target.exists():
        loaded.diagnostics.append(Diagnostic("E300", f"file `{d.path}` not found", d.span,
                                             help=f"paths are relative to `{display_path(importer, loaded.root_dir)}`"))
        return None
    return str(target)


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces: one text per value, for the policy digest."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def digest(files: List[LoadedFile], schemas: List[object]) -> str:
    """The SHA-256 over each file (relative path, NUL, formatted text) in load order, then each schema."""
    h = hashlib.sha256()
    for f in files:
        h.update(f.rel.encode("utf-8"))
        h.update(b"\0")
        h.update((f.formatted if f.formatted is not None else format_module(f.module)).encode("utf-8"))
    for s in schemas:
        h.update(canonical_json(s).encode("utf-8"))
    return "sha256:" + h.hexdigest()
