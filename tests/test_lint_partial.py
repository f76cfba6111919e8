"""Lint over policies with load errors: it never fails, keeps every checker error, and the warnings it
still reports are ones the policy without the error gets too (the partial analysis adds none)."""
import re
import shutil
from pathlib import Path

import pytest

from policy_lang import PolicyError
from policy_lang.checker import load
from policy_lang.lint import lint_file

ROOT = Path(__file__).resolve().parent.parent
ERRORS = sorted((ROOT / "tests" / "errors").glob("*.policy"))
POLICIES = sorted((ROOT / "examples").rglob("*.policy")) + sorted((ROOT / "tests" / "lint").glob("*.policy"))

# one mutation each: a route that does not exist, a level that does not exist, a name that does not exist
MUTATIONS = [
    (re.compile(r"(require approval via )(\w+)"), r"\1no_such_route"),
    (re.compile(r"(\n  risk )(\w+)"), r"\1no_such_level"),
    (re.compile(r"(\n  require )(args\.)"), r"\1no_such_name + \2"),
]


def key(d):
    return (d.code, d.span.line, d.span.column)


@pytest.mark.parametrize("path", ERRORS, ids=[p.stem for p in ERRORS])
def test_every_checker_error_is_reported_with_what_was_not_analysed(path):
    with pytest.raises(PolicyError) as info:
        load(str(path))
    diags = lint_file(str(path))
    errors = {(d.code, d.span.line, d.span.column) for d in diags if d.severity == "error"}
    # E210 (no `policy` line) is the one exception: lint reads such a file as a module
    assert errors == {(d.code, d.span.line, d.span.column) for d in info.value.diagnostics if d.code != "E210"}
    first = min(info.value.diagnostics, key=lambda d: (d.span.file, d.span.line, d.span.column, d.code))
    notes = [d for d in diags if d.code == "I101"]
    assert len(notes) <= 1
    if notes:
        assert (notes[0].span.line, notes[0].span.column) == (first.span.line, first.span.column)


@pytest.mark.parametrize("path", POLICIES, ids=[p.parent.name + "/" + p.stem for p in POLICIES])
@pytest.mark.parametrize("mutation", range(len(MUTATIONS)))
def test_a_broken_block_adds_no_warning_elsewhere(tmp_path, path, mutation):
    pattern, repl = MUTATIONS[mutation]
    text = path.read_text(encoding="utf-8")
    before = {key(d) for d in lint_file(str(path))}
    broken = pattern.sub(repl, text, count=1)
    if broken == text:
        return
    # a copy of the policy's folder, so that `use` and schema files resolve as before
    folder = tmp_path / path.parent.name
    shutil.copytree(path.parent, folder, ignore=shutil.ignore_patterns("*.gz", "*.jsonl", "*.csv", "*.parquet"))
    copy = folder / path.name
    copy.write_text(broken, encoding="utf-8")
    diags = lint_file(str(copy))
    assert any(d.severity == "error" for d in diags)
    assert [d.code for d in diags if d.code == "I101"] == ["I101"]
    extra = {key(d) for d in diags if d.severity != "error" and d.code != "I101"} - before
    assert not extra, [d for d in diags if key(d) in extra]
