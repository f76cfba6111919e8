"""Bounded fuzzing of every untrusted input class (policy text, action JSON, test YAML, histories, store rows).

The targets and their invariants live in tests/fuzz/targets.py; tests/fuzz/run.py runs the same
targets for much longer (nightly). SIGNOFF_FUZZ_SCALE multiplies the example counts here.
"""
import os
import sys

import pytest
from hypothesis import HealthCheck, given, settings

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "fuzz"))

from targets import targets  # noqa: E402

SCALE = max(1, int(os.environ.get("SIGNOFF_FUZZ_SCALE", "1")))
COUNTS = {"policy-text": 40, "action-json": 60, "test-yaml": 25, "history": 20, "store-rows": 20}
NAMES = list(COUNTS)


@pytest.mark.parametrize("name", NAMES)
def test_fuzz_target(name, tmp_path):
    by_name = {t.name: t for t in targets(str(tmp_path))}
    assert set(by_name) == set(NAMES), "every target has a bounded run here"
    t = by_name[name]
    conf = settings(max_examples=COUNTS[name] * SCALE, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))
    conf(given(t.strategy())(t.check))()
