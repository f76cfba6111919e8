"""Long fuzz run for nightly use: every target of tests/fuzz/targets.py with many examples.

    python tests/fuzz/run.py                 # every target, 2,000 examples each
    python tests/fuzz/run.py --examples 20000 --target action-json

Failures are shrunk by hypothesis and printed with the input that broke the invariant; the
examples database (`.hypothesis-fuzz/` in the working directory) keeps them, so the next run
(and `python -m pytest tests/test_fuzz.py` run from the same folder with
SIGNOFF_FUZZ_DB=.hypothesis-fuzz) tries them first. Ends with `N passed, M failed`, exit 1 on
any failure.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, HERE)

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis.database import DirectoryBasedExampleDatabase  # noqa: E402

from targets import targets  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=2000, help="examples per target")
    ap.add_argument("--target", action="append", help="run only this target (repeatable)")
    ap.add_argument("--db", default=".hypothesis-fuzz", help="hypothesis examples database folder")
    args = ap.parse_args()
    passed = failed = 0
    with tempfile.TemporaryDirectory() as folder:
        for t in targets(folder):
            if args.target and t.name not in args.target:
                continue
            conf = settings(max_examples=args.examples, deadline=None, database=DirectoryBasedExampleDatabase(args.db),
                            suppress_health_check=list(HealthCheck))
            run = conf(given(t.strategy())(t.check))
            start = time.monotonic()
            try:
                run()
            except Exception:
                failed += 1
                print(f"FAILED {t.name}")
                traceback.print_exc()
            else:
                passed += 1
                print(f"ok {t.name}: {args.examples} examples in {time.monotonic() - start:.0f} s")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
