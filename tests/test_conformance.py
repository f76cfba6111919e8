"""Conformance cases live as data (tests/conformance/**) and run through the same `signoff test` users run."""
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import cli

ROOT = Path(__file__).resolve().parent.parent
SUITES = sorted((ROOT / "tests" / "conformance").rglob("*.test.yaml")) + \
    sorted((ROOT / "examples").rglob("*.test.yaml"))


@pytest.mark.parametrize("path", SUITES, ids=[str(p.relative_to(ROOT)) for p in SUITES])
def test_suite_passes_through_signoff_test(path):
    r = CliRunner().invoke(cli, ["test", str(path)])
    assert r.exit_code == 0, r.output
    assert r.output.strip().splitlines()[-1].endswith(" 0 failed")


def test_conformance_suite_is_large_enough():
    from cli.testrunner import run_file
    cases = sum(len(run_file(str(p)).cases) for p in SUITES if "conformance" in p.parts)
    assert cases >= 80, cases
