"""The layering of the house (issue 11): which package may import which, read from every module's imports with ast."""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterator, List, NamedTuple, Optional, Tuple

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHIM_DOC = '"""Deprecated: moved to engine.'      # one-line re-exports at the old paths, kept for one release


class Import(NamedTuple):
    """One import statement's target, as an absolute dotted name (`from a import b` gives a and a.b)."""
    module: str      # the importing module
    target: str
    where: str       # path:line


class Rule(NamedTuple):
    """Modules under `who` import nothing under any of `never` (dotted prefixes)."""
    name: str
    who: Tuple[str, ...]
    never: Tuple[str, ...]


RULES = [
    Rule("policy_lang is the bottom layer", ("policy_lang",), ("engine", "cli")),
    Rule("engine never imports the CLI", ("engine",), ("cli",)),
    Rule("decide imports only policy_lang and decide", ("engine.decide",),
         ("engine.replay", "engine.live", "engine.diff", "engine.report", "engine.service", "engine.adapters")),
    Rule("replay imports decide, not live or report", ("engine.replay",),
         ("engine.live", "engine.diff", "engine.report", "engine.service", "engine.adapters")),
    Rule("live imports decide, not replay or report", ("engine.live",),
         ("engine.replay", "engine.diff", "engine.report", "engine.service", "engine.adapters")),
    Rule("diff imports decide and replay", ("engine.diff",),
         ("engine.live", "engine.report", "engine.service", "engine.adapters")),
    Rule("recommend imports decide and replay", ("engine.recommend",),
         ("engine.live", "engine.diff", "engine.report", "engine.service", "engine.adapters")),
    Rule("decide, replay, live and diff never import recommend",
         ("engine.decide", "engine.replay", "engine.live", "engine.diff"), ("engine.recommend",)),
    Rule("nothing in engine imports report", ("engine",), ("engine.report",)),
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> Iterator[Tuple[str, Path]]:
    """Every module of policy_lang, engine and cli except the deprecated re-exports."""
    for top in ("policy_lang", "engine", "cli"):
        for p in sorted((ROOT / top).rglob("*.py")):
            if "__pycache__" in p.parts or p.read_text(encoding="utf-8").startswith(SHIM_DOC):
                continue
            yield module_name(p), p


def imports_of(name: str, path: Path) -> Iterator[Import]:
    """Every import in the module, at any depth (inside functions and `if TYPE_CHECKING:` too)."""
    pkg = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        where = f"{path.relative_to(ROOT).as_posix()}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import):
            for a in node.names:
                yield Import(name, a.name, where)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")[:len(pkg.split(".")) - (node.level - 1)]
                src = ".".join(base + (node.module.split(".") if node.module else []))
            else:
                src = node.module or ""
            yield Import(name, src, where)
            for a in node.names:
                if a.name != "*":
                    yield Import(name, f"{src}.{a.name}", where)


def under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


ALL_IMPORTS: List[Import] = [i for name, path in modules() for i in imports_of(name, path)]


def public_api(module: str = "engine") -> Optional[set]:
    """A module's `__all__` (engine's by default), read from its source without importing it."""
    path = ROOT.joinpath(*module.split("."))
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            return set(ast.literal_eval(node.value))
    return None


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.name)
def test_layering(rule):
    bad = sorted({f"{i.where}: {i.module} imports {i.target}" for i in ALL_IMPORTS
                  if any(under(i.module, w) for w in rule.who) and any(under(i.target, n) for n in rule.never)
                  and not any(under(i.module, n) for n in rule.never)})
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("home", ["engine.service", "engine.adapters"])
def test_homes_import_only_the_public_api(home):
    """The service and the adapters use what a user can: `from engine import <a name in engine.__all__>`."""
    api = public_api() or set()
    bad = sorted(f"{i.where}: {i.target}" for i in ALL_IMPORTS
                 if under(i.module, home) and under(i.target, "engine")
                 and i.target != "engine" and not (i.target.count(".") == 1 and i.target.split(".")[1] in api)
                 and not under(i.target, home))
    assert not bad, "\n".join(bad)


def test_the_homes_and_subpackages_exist():
    for pkg in ("decide", "replay", "live", "report", "service", "adapters"):
        init = ROOT / "engine" / pkg / "__init__.py"
        assert init.is_file(), init
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc and "import" in doc, f"{init}: the docstring says what lives there and what it may import"


# What the CLI may import from the library: the two public APIs, plus the rendering layer. Each exception is
# imported as `from <module> import <name in its __all__>` and has a reason.
CLI_API = ("engine", "policy_lang")
CLI_EXCEPTIONS = {
    "engine.report": "reports for people (diff Markdown, graph export) are the CLI's rendering layer, not the "
                     "library API a user, the service or an adapter calls",
    "engine.service": "the `serve`, `identities` and `worker` commands start the HTTP service and manage its "
                      "directory: the service is a library the CLI runs, never the other way round",
    "policy_lang.safe_text": "escaping of untrusted text for the terminal and for JSON output, a rendering "
                             "helper; its main function has the module's name, so the package does not re-export it",
    "engine.service.worker": "`signoff worker` runs the service's worker where no server runs; the service is not "
                             "part of the library API a user imports",
    "engine.service.notify": "`signoff worker` reads the service's `[notifications]` config into channels",
    "engine.adapters.mcp_proxy": "`signoff mcp-proxy` runs the MCP adapter and `import-tools --from mcp` lists an MCP "
                                 "server's tools with it: the adapter is a library the CLI runs",
    "engine.adapters.import_tools": "`signoff import-tools` writes the policy the adapter plans from tool definitions",
}


def cli_imports() -> Iterator[Tuple[str, str, str]]:
    """(module imported from, name, path:line) for every import of engine or policy_lang in cli, at any depth;
    a plain `import engine.x` gives name `*`."""
    for name, path in modules():
        if not under(name, "cli"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            where = f"{path.relative_to(ROOT).as_posix()}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Import):
                for a in node.names:
                    if any(under(a.name, top) for top in CLI_API):
                        yield a.name, "*", where
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module \
                    and any(under(node.module, top) for top in CLI_API):
                for a in node.names:
                    yield node.module, a.name, where


def test_cli_imports_only_public_names():
    """cli imports `from engine import X` / `from policy_lang import X` with X in that package's `__all__`, or a
    name in the `__all__` of one of CLI_EXCEPTIONS; never a module path below them, never a star."""
    seen = list(cli_imports())
    assert seen, "the walk found no import of engine or policy_lang in cli"
    bad = []
    for module, name, where in seen:
        if module not in CLI_API and module not in CLI_EXCEPTIONS:
            bad.append(f"{where}: from {module} import {name}: not a public API (import it from {CLI_API})")
        elif name not in (public_api(module) or set()):
            bad.append(f"{where}: from {module} import {name}: `{name}` is not in {module}.__all__")
    assert not bad, "\n".join(bad)


def documented(obj: object) -> bool:
    """Whether a class or function carries its own docstring (not an inherited one, not a dataclass's
    generated signature)."""
    doc = obj.__dict__.get("__doc__") if isinstance(obj, type) else getattr(obj, "__doc__", None)
    name = getattr(obj, "__name__", "")
    return bool(doc and doc.strip()) and not doc.startswith(f"{name}(")


@pytest.mark.parametrize("package", ["engine", "policy_lang", "engine.report"])
def test_every_public_name_has_a_docstring(package):
    """Functions and classes in `__all__` have their own docstring; a constant (whose value has no docstring
    of its own) is described, as `NAME`, in the package's docstring."""
    import importlib
    mod = importlib.import_module(package)
    missing = []
    for name in mod.__all__:
        obj = getattr(mod, name)
        if callable(obj):
            if not documented(obj):
                missing.append(f"{package}.{name}: no docstring")
        elif f"`{name}`" not in (mod.__doc__ or ""):
            missing.append(f"{package}.{name}: a constant not described in the package docstring")
    assert not missing, "\n".join(missing)


@pytest.mark.parametrize("package", ["engine", "policy_lang", "engine.report"])
def test_all_names_exist(package):
    import importlib
    mod = importlib.import_module(package)
    assert len(set(mod.__all__)) == len(mod.__all__), "a name is listed twice"
    assert [n for n in mod.__all__ if not hasattr(mod, n)] == []
