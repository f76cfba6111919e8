"""Every public function, class and method in policy_lang, engine and cli has a docstring, in one style.

The style: a first paragraph that is a sentence or a question — it starts with a capital letter, a
digit, a backtick or a quote, and ends with `.`, `?`, `:` or `)` — then, after a blank line, any
details. Public means: a module-level def or class whose name has no leading underscore, and the
methods without a leading underscore of such a class (dunder methods excepted). Nested functions are
implementation details and are not counted.
"""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterator, List, Union

import pytest

ROOT = Path(__file__).resolve().parent.parent

# One entry per folder (its Python files, not its subfolders'); every folder of the three packages is listed.
AREAS = sorted({str(p.parent.relative_to(ROOT)) for top in ("policy_lang", "engine", "cli")
                for p in (ROOT / top).rglob("*.py")})

Def = Union[ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef]


def public_defs(tree: ast.Module) -> Iterator[Def]:
    """The module's public defs and classes, and the public methods of its public classes."""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
            yield node
            if isinstance(node, ast.ClassDef):
                for sub in node.body:
                    if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) \
                            and not sub.name.startswith("_"):
                        yield sub


def in_style(doc: str) -> bool:
    """Whether a docstring's first paragraph starts and ends as the style asks."""
    first = doc.split("\n\n")[0].strip()
    return bool(first) and (first[0].isupper() or first[0].isdigit() or first[0] in "`\"'(") \
        and first.endswith((".", "?", ":", ")"))


def problems(area: str) -> List[str]:
    """What an area's files lack: undocumented public names and docstrings out of style."""
    found = []
    for path in sorted((ROOT / area).glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        rel = path.relative_to(ROOT)
        nodes: List[Union[ast.Module, Def]] = [tree]
        nodes += [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
        for node in nodes:
            doc = ast.get_docstring(node)
            line = getattr(node, "lineno", 1)
            if doc and not in_style(doc):
                found.append(f"{rel}:{line}: docstring out of style: {doc.splitlines()[0][:60]!r}")
        if not ast.get_docstring(tree):
            found.append(f"{rel}:1: no module docstring")
        for node in public_defs(tree):
            if not ast.get_docstring(node):
                found.append(f"{rel}:{node.lineno}: `{node.name}` has no docstring")
    return found


@pytest.mark.parametrize("area", AREAS)
def test_public_names_are_documented_in_one_style(area):
    assert problems(area) == []


def test_the_checker_catches_what_it_should():
    bad = ast.parse('"""Mod."""\ndef f():\n    pass\nclass C:\n    """lowercase start"""\n    def m(self):\n'
                    '        """Fine."""\n')
    assert [n.name for n in public_defs(bad)] == ["f", "C", "m"]
    assert not in_style("lowercase start") and not in_style("No end") and in_style("Ends well.\n\nmore")
