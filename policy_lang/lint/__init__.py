"""`signoff lint`: every load error of the checker, plus analysis warnings over the parts the errors leave sound.

What lives here: the entry points (`lint_text`, `lint_file`, `lint_paths`, …), which load and check
a policy, walk the steps of `steps.STEPS` over it, apply suppressions and shape the diagnostics.
Beside them: `rules` (the table of codes, `RULES`, and the retired ones), `context` (what every
step reads), one module per rule family (`reachability`, `checks`, `expressions`, `routes`,
`tools`, `negative`), `suppress` (`# signoff: ignore[…]`) and `partial` (what a policy with load
errors still lets the steps analyse, and the I101 info naming what it does not). The proofs themselves (`Logic`,
`SchemaView`) live in `policy_lang.analysis`. This package may import the rest of policy_lang,
never engine or cli.

Codes are stable and never renumbered; new ones are added at the end of their group. Every
code is documented, with a bad and a fixed example, in docs/lint-rules.md.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import Dict, FrozenSet, Iterable, List, Optional, Set, Tuple

from .. import ast as A
from ..analysis import Logic, SchemaView  # noqa: F401 (importable from here, as before the split)
from ..checker import check_partial
from ..errors import Diagnostic
from ..loader import STDLIB_DIR, expand_paths, load_files, paused_gc, read_text, reason_of
from .context import STRENGTH, LintContext  # noqa: F401 (STRENGTH: as before the split)
from .partial import inside, not_analysed, sound_part
from .rules import ALL_CODES, RETIRED, RULES, Rule, severity_of
from .steps import STEPS, Step, run  # noqa: F401 (the steps, for callers that run a subset)
from .suppress import suppressed, suppressions

__all__ = ["RULES", "ALL_CODES", "RETIRED", "Rule", "lint_file", "lint_paths", "lint_text", "policy_files",
           "severity_of", "read_error"]


def read_error(path: str) -> Optional[str]:
    """Why `path` cannot be read as a policy file (None when it can)."""
    try:
        read_text(path)
    except UnicodeDecodeError:
        return "not valid UTF-8"
    except IsADirectoryError:
        return "is a directory"
    except OSError as e:
        return reason_of(e)
    return None


def _display(path: str, absolute: bool) -> str:
    """A file as diagnostics name it: as given when absolute, else relative to the working directory."""
    if absolute:
        return FsPath(path).as_posix()
    try:
        return FsPath(os.path.relpath(path)).as_posix()
    except ValueError:  # another drive on Windows
        return FsPath(path).as_posix()


def lint_text(text: str, path: str = "<memory>.policy") -> List[Diagnostic]:
    """Lint policy text as if it were the file `path` (imports resolve relative to it)."""
    return _lint(path, text).diagnostics


def lint_file(path: str) -> List[Diagnostic]:
    """Every diagnostic for one policy file (and the files it uses), sorted; suppressions applied."""
    return _lint(path, None).diagnostics


@dataclass
class _Result:
    """One linted file: its diagnostics, and what `lint_paths` needs to report modules once."""

    diagnostics: List[Diagnostic]
    module: bool = False                        # the file has no `policy` line
    uses: FrozenSet[str] = frozenset()          # absolute paths of the files it loaded, itself excluded


def _lint(path: str, text: Optional[str], given: FrozenSet[str] = frozenset()) -> _Result:
    """`given`: the files the user named (normcased, resolved). A standard module's warnings are
    hidden from the policies that use it, unless the module itself is one of them.

    The cyclic GC is paused for the whole lint, as for a load: the analyses allocate while every
    node of the program lives, and each collection would walk them all again. A lint makes no
    reference cycles (tests/test_lint_fast.py), so what it leaves goes by reference counting."""
    with paused_gc():
        return _lint_paused(path, text, given)


def _lint_paused(path: str, text: Optional[str], given: FrozenSet[str]) -> _Result:
    """`_lint`, with the cyclic GC already paused."""
    given_abs = os.path.isabs(path)
    shown_root = _display(os.path.normpath(path), given_abs) if path != "<memory>.policy" else path
    if text is None:
        try:
            text = read_text(path)
        except (OSError, UnicodeDecodeError) as e:
            reason = "not valid UTF-8" if isinstance(e, UnicodeDecodeError) else reason_of(e)
            return _Result([Diagnostic("E302", f"cannot read `{shown_root}`: {reason}",
                                       A.Span(shown_root, 1, 1, 1, 1))])
    loaded = load_files(path, text)
    root = next((f for f in loaded.files if f.is_root), None)
    # a file with no `policy` line is a module: lint it as if it had one
    module = root is not None and root.parsed and not any(isinstance(d, A.PolicyDecl) for d in root.module.decls)
    if module and root is not None:   # (`module` is only true with a root; said again for mypy)
        root.module = dataclasses.replace(root.module, decls=root.module.decls + (
            A.PolicyDecl("<module>", A.Span(root.rel, 1, 1, 1, 1)),))

    names: Dict[str, str] = {}
    stdlib: Set[str] = set()
    for f in loaded.files:
        names[f.rel] = shown_root if f.is_root else _display(f.path, given_abs)
        resolved = FsPath(f.path).resolve()
        try:
            resolved.relative_to(STDLIB_DIR)
            if not f.is_root and os.path.normcase(str(resolved)) not in given:
                stdlib.add(f.rel)
        except ValueError:
            pass

    program, errors = check_partial(loaded)
    errors = [d for d in errors if not (module and d.code == "E210")]
    diags: List[Diagnostic] = list(errors)
    if root is not None:
        # with load errors, the analyses run over the blocks the errors do not touch (`partial`)
        sound = sound_part(program, errors, not loaded.diagnostics and all(f.parsed for f in loaded.files))
        if sound is not None:
            steps = [s for s in STEPS if s.name not in sound.skipped]
            found = run(LintContext(sound.program, loaded.files, root, module), steps)
            found = [d for d in found if d.span.file not in stdlib
                     and not any(inside(d.span, s) for s in sound.spans)]
            diags += found
        if errors and (sound is None or sound.left_out or sound.skipped):
            diags.append(not_analysed(sound, errors, {s.name: s.codes for s in STEPS}))
    table = {f.rel: suppressions(f) for f in loaded.files}
    diags = [d for d in diags if not suppressed(d, table)]

    out: List[Diagnostic] = []
    for d in diags:
        s = d.span
        file = names.get(s.file, shown_root)
        if s.line < 1:
            span = A.Span(file, 1, 1, 1, 1)
        else:
            end_line = max(s.end_line, s.line)
            end_col = s.end_column if (end_line > s.line or s.end_column >= s.column) else s.column
            span = A.Span(file, s.line, max(s.column, 1), end_line, max(end_col, 1))
        sev = d.severity if d.code in RULES else "error"
        out.append(dataclasses.replace(d, span=span, severity=sev))
    uses = frozenset(os.path.normcase(f.path) for f in loaded.files if not f.is_root)
    return _Result(sorted(set(out), key=_order), module, uses)


def _order(d: Diagnostic) -> Tuple:
    """The order of the output: file, line, column, code, message."""
    s = d.span
    return (s.file, s.line, s.column, d.code, d.message)


def policy_files(paths: Iterable[str]) -> List[str]:
    """Files as given; folders recursively for `*.policy`, sorted."""
    return expand_paths(paths, "*.policy")


def matches_code(code: str, selectors: Iterable[str]) -> bool:
    """Whether `code` is one of the selectors or starts with one (`W1` selects W100…W115)."""
    return any(code == s or (s and code.startswith(s)) for s in selectors)


def lint_paths(paths: Iterable[str], select: Optional[Iterable[str]] = None,
               ignore: Optional[Iterable[str]] = None) -> List[Diagnostic]:
    """Lint files and folders (recursively, `*.policy`).

    A module (a file with no `policy` line) that another linted file uses is reported through that
    file, where its names resolve; one that nothing here uses is linted on its own. A diagnostic
    reached twice (a file used by two policies) is reported once."""
    sel = [s.strip().upper() for s in (select or []) if s.strip()]
    ign = [s.strip().upper() for s in (ignore or []) if s.strip()]
    files = policy_files(paths)
    given = frozenset(os.path.normcase(str(FsPath(f).resolve())) for f in files)
    results = [(f, _lint(f, None, given)) for f in files]
    used: Set[str] = set()
    for _, r in results:
        if not r.module:
            used |= r.uses
    seen: Set[Tuple] = set()
    out: List[Diagnostic] = []
    for f, r in results:
        if r.module and os.path.normcase(str(FsPath(f).resolve())) in used:
            continue
        for d in r.diagnostics:
            key = _order(d)
            if key in seen:
                continue
            seen.add(key)
            if sel and not matches_code(d.code, sel):
                continue
            if ign and matches_code(d.code, ign):
                continue
            out.append(d)
    return sorted(out, key=_order)
