"""Lint cases as data: each tests/lint_cases/*.policy marks with `# expect: CODE` every diagnostic lint reports."""
import re
from pathlib import Path

import pytest

from policy_lang.lint import lint_file

CASES = sorted((Path(__file__).resolve().parent / "lint_cases").glob("*.policy"))
EXPECT = re.compile(r"#\s*expect:\s*([A-Z0-9, ]+)\s*$")


def expected(path: Path):
    """The (line, code) pairs a case's comments ask for."""
    out = set()
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        m = EXPECT.search(line)
        if m:
            out |= {(n, c.strip()) for c in m.group(1).split(",") if c.strip()}
    return out


def test_there_are_cases():
    assert len(CASES) >= 3


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_lint_reports_exactly_the_marked_lines(path):
    want = expected(path)
    assert want, "a case marks at least one diagnostic"
    diags = lint_file(str(path))
    got = {(d.span.line, d.code) for d in diags}
    assert got == want, "\n".join(f"{d.span.line}:{d.span.column} {d.code} {d.message}" for d in diags)
    for d in diags:   # house style
        assert d.message[0].islower() or d.message[0] == "`", d.message
        assert not d.message.endswith(".") and (d.help is None or not d.help.endswith("."))
