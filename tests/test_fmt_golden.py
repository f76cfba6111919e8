"""Formatter golden files: tests/fmt/X.policy formats to tests/fmt/X.policy.formatted, and stays there."""
import os
from pathlib import Path

import pytest

from policy_lang import PolicyError, format_source, parse
from policy_lang.checker import load

HERE = Path(__file__).parent / "fmt"
CASES = sorted(HERE.glob("*.policy"))
ERRORS = sorted((HERE / "errors").glob("*.policy"))
UPDATE = os.environ.get("SIGNOFF_UPDATE_GOLDEN") == "1"


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_format_matches_golden_and_is_stable(path: Path):
    src = path.read_text()
    out = format_source(src, path.name)
    golden = Path(str(path) + ".formatted")
    if UPDATE:
        golden.write_text(out)
    assert out == golden.read_text()
    assert format_source(out, path.name) == out                # idempotent
    assert parse(out).decls == parse(src).decls                # same AST (spans and comments aside)
    comments = [c.text for c in parse(src).comments]
    assert [c.text for c in parse(out).comments] == comments   # every comment kept, in order


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_formatting_keeps_the_digest(path: Path, tmp_path):
    original = tmp_path / path.name
    original.write_text(path.read_text())
    before = load(str(original)).digest
    original.write_text(format_source(path.read_text()))
    assert load(str(original)).digest == before


@pytest.mark.parametrize("path", ERRORS, ids=[p.stem for p in ERRORS])
def test_format_refuses_broken_policies(path: Path):
    with pytest.raises(PolicyError) as info:
        format_source(path.read_text(), path.name)
    assert info.value.codes[0] in ("E100", "E101", "E103")
