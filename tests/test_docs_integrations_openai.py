"""The OpenAI Agents SDK section of the integration docs: its blocks run, and its first example is short."""
from __future__ import annotations

import ast
import runpy
from pathlib import Path

import pytest

from test_docs import freeze_workflow, parse_blocks, parse_console, run_doc

pytest.importorskip("agents", reason="the openai-agents extra is not installed")

ROOT = Path(__file__).resolve().parent.parent
HEADING = "## OpenAI Agents SDK"
# the names a reader writes to use signoff (the rest of an example is the SDK's own code)
SIGNOFF_NAMES = {"Gate", "Identity", "SQLiteStore", "load_policy", "Signoff", "gate", "signoff"}


def section() -> tuple:
    """(the docs file that holds the section, its text up to the next heading of the same level)."""
    for name in ("integrations.md",):
        path = ROOT / "docs" / name
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            if HEADING in text:
                rest = text[text.index(HEADING):]
                end = rest.find("\n## ", len(HEADING))
                return path, rest if end < 0 else rest[:end + 1]
    raise AssertionError(f"no docs file holds `{HEADING}`")


def signoff_lines(code: str) -> int:
    """Lines of the top-level statements that import from engine or use a signoff name."""
    count = 0
    for stmt in ast.parse(code).body:
        names = {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name)}
        imports_engine = isinstance(stmt, ast.ImportFrom) and (stmt.module or "").split(".")[0] == "engine"
        if imports_engine or names & SIGNOFF_NAMES:
            count += stmt.end_lineno - stmt.lineno + 1
    return count


def test_the_section_runs(tmp_path, monkeypatch):
    path, text = section()
    # the sections before it run first: the docs harness numbers new ids across the whole file, and the
    # section's `signoff approvals approve ID` names the id the file as a whole gives its draft
    whole = path.read_text(encoding="utf-8")
    before = whole[:whole.index(HEADING)]
    monkeypatch.chdir(tmp_path)
    freeze_workflow(monkeypatch)
    counts = run_doc(before + text, f"docs/{path.name}", tmp_path)
    assert not counts.failures, "\n\n".join(counts.failures)
    mine = parse_blocks(text, "section")
    scripts = sum(1 for b in mine if b.attrs.get("run") == "true")
    commands = sum(len(parse_console(b)) for b in mine if b.lang == "console")
    assert (scripts, commands) == (3, 2)                     # nothing of the section silently skipped
    assert counts.scripts >= scripts and counts.commands >= commands


def test_the_first_example_has_at_most_ten_lines_of_signoff_code():
    _, text = section()
    first = next(b for b in parse_blocks(text, "section") if b.attrs.get("run") == "true")
    assert signoff_lines(first.body) <= 10
    assert signoff_lines("from engine import Gate\nx = 1\ngate = Gate(\n  None)\n") == 3   # the counter counts


def test_the_first_example_runs_as_a_user_runs_it(tmp_path, monkeypatch):
    """With the real clock and random ids, not the docs harness's frozen ones (in this interpreter: a fresh one
    spends seconds importing the SDK)."""
    _, text = section()
    first = next(b for b in parse_blocks(text, "section") if b.attrs.get("run") == "true")
    (tmp_path / "examples").symlink_to(ROOT / "examples", target_is_directory=True)
    script = tmp_path / first.attrs["file"]
    script.write_text(first.body, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    runpy.run_path(str(script), run_name="__main__")
    assert (tmp_path / "agents.db").is_file()
