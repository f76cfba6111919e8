"""Golden checker messages: each tests/errors/X.policy renders exactly as tests/errors/X.err."""
import os
from pathlib import Path

import pytest

from policy_lang import PolicyError
from policy_lang.checker import load

HERE = Path(__file__).parent / "errors"
CASES = sorted(p for p in HERE.glob("*.policy"))
UPDATE = os.environ.get("SIGNOFF_UPDATE_GOLDEN") == "1"


def rendered(path: Path) -> str:
    with pytest.raises(PolicyError) as info:
        load(str(path))
    return str(info.value) + "\n"


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_error_message_matches_golden(path: Path):
    got = rendered(path)
    golden = path.with_suffix(".err")
    if UPDATE:
        golden.write_text(got)
    assert golden.exists(), f"missing golden file {golden.name} (run with SIGNOFF_UPDATE_GOLDEN=1)"
    assert got == golden.read_text()


def test_every_code_in_the_golden_files_is_documented():
    from policy_lang.errors import CODES
    for golden in HERE.glob("*.err"):
        for line in golden.read_text().splitlines():
            if "error[" in line:
                code = line.split("error[", 1)[1].split("]", 1)[0]
                assert code in CODES, (golden.name, code)


def test_checker_collects_every_problem_not_just_the_first():
    with pytest.raises(PolicyError) as info:
        load(str(HERE / "many_errors.policy"))
    assert sorted(info.value.codes) == sorted(["E212", "E203", "E205", "E207", "E202", "E213", "E200"])
