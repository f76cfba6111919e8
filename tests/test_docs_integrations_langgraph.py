"""docs/integrations.md's `## LangGraph` section: its example runs as written and stays under ten lines of signoff."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytest.importorskip("langchain", reason="the example needs the `langgraph` extra: pip install 'signoff[langgraph]'")

from test_docs import parse_blocks, run_script, freeze_workflow  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "integrations.md"


def section() -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index("\n## LangGraph\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else len(text)]


def example() -> str:
    blocks = [b for b in parse_blocks(section(), "integrations.md") if b.lang == "python"]
    assert len(blocks) == 1 and blocks[0].attrs.get("run") == "true", "one runnable example"
    return blocks[0].body


def test_the_example_holds_at_most_ten_lines_of_signoff_code():
    """signoff's statements, by their whole line span: the imports from engine, the middleware's construction
    and the statement that plugs it in (the asserts are the reader's check, the rest the agent's own code)."""
    body = example()
    tree = ast.parse(body)
    ours = []
    for node in tree.body:
        src = ast.get_source_segment(body, node) or ""
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "engine":
            ours.append(node)
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) \
                and getattr(node.value.func, "id", None) == "SignoffMiddleware":
            ours.append(node)
        elif "middleware=[signoff]" in src:
            ours.append(node)
    lines = sum((n.end_lineno or n.lineno) - n.lineno + 1 for n in ours)
    assert len(ours) == 4 and lines <= 10, lines


def test_the_example_runs_and_the_refund_ran_once_after_the_approval(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    freeze_workflow(monkeypatch)
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    script = tmp_path / "langgraph_agent.py"
    script.write_text(example(), encoding="utf-8")
    assert run_script(script) is None
    from engine import Gate, SQLiteStore
    store = SQLiteStore(str(tmp_path / "signoff.db"))
    try:
        [line] = list(Gate(None, store).history())
        assert line["executed"] and line["human"]["approved_by"] == ["lea"]
        with store.snapshot() as tx:
            kinds = [e["kind"] for e in tx.events(line["signoff"]["draft"])]
        assert kinds == ["proposed", "decided", "approved", "decided", "executing", "executed"]
    finally:
        store.close()


def test_the_section_names_what_each_outcome_does_and_the_traps():
    text = section()
    for outcome in ("`allow`", "`require approval`", "`ask`, `escalate`, `deny`"):
        assert f"| {outcome} |" in text, outcome
    assert "**The traps the adapter removes.**" in text and "re-runs on resume" in text
