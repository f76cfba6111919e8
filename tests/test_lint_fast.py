"""What keeps `signoff lint` fast without changing a finding: no reference cycles, shared schema and text caches."""
import gc
from pathlib import Path

from policy_lang.lint import lint_file

ROOT = Path(__file__).resolve().parent.parent
LINTED = sorted((ROOT / "tests" / "lint").glob("*.policy")) + sorted((ROOT / "tests" / "lint_cases").glob("*.policy"))


def test_a_lint_leaves_no_reference_cycles():
    """lint runs with the cyclic GC paused (a collection walks every node of a large policy again and
    again, for nothing), so what one lint allocates must go by reference counting alone: a cycle (a
    recursive closure holding the lint context, the loader's `visit`) would keep the whole program."""
    for f in LINTED:       # imports and module-level caches first: they live on by design
        lint_file(str(f))
    gc.collect()
    was = gc.isenabled()
    gc.disable()
    try:
        for f in LINTED:
            assert lint_file(str(f)) is not None
        assert gc.collect() == 0
    finally:
        if was:
            gc.enable()
