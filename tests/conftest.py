"""Shared fixtures: a policy written to a temp dir and loaded, the store backend, a headless browser."""
import os
import shutil
from pathlib import Path

import pytest

from engine import Policy
from policy_lang.checker import load

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def make_policy(tmp_path):
    def make(text: str, name: str = "p.policy", files: dict = None) -> Policy:
        for rel, content in (files or {}).items():
            target = tmp_path / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
        path = tmp_path / name
        path.write_text(text)
        return Policy(load(str(path)))
    return make


# ---------------------------------------------------------------- the contract suite: every store
# These modules run once on SQLite and once on PostgreSQL (a throwaway cluster, tests/pg.py). Without
# PostgreSQL the second run is skipped, unless SIGNOFF_PG_TESTS=1 (the README's test command), which makes
# it a failure.
STORE_CONTRACT_MODULES = {"test_store", "test_workflow", "test_workflow_e2e", "test_workflow_processes",
                          "test_workflow_transitions", "test_audit_guard"}


def pytest_generate_tests(metafunc):
    # only tests that make a store (they take a temporary folder); pure functions run once
    if ("_store_backend" in metafunc.fixturenames and metafunc.module.__name__ in STORE_CONTRACT_MODULES
            and {"tmp_path", "tmp_path_factory"} & set(metafunc.fixturenames)):
        metafunc.parametrize("_store_backend", ["sqlite", "postgres"], indirect=True)


@pytest.fixture(autouse=True)
def _store_backend(request):
    import workflow_helpers
    backend = getattr(request, "param", "sqlite")
    if backend == "postgres":
        import pg
        pg.postgres_or_skip()
    workflow_helpers.BACKEND = backend
    try:
        yield backend
    finally:
        workflow_helpers.BACKEND = "sqlite"


def pytest_sessionfinish(session, exitstatus):
    import sys
    if "pg" in sys.modules:
        sys.modules["pg"].stop()


@pytest.fixture
def env(tmp_path):
    """A gate on the workflow tests' refund policy, on the store under test, with its clock and a recording
    `issue_refund` executor (a test file may define its own `env`)."""
    from workflow_helpers import Clock, Recorder, make_gate, store_path
    clock = Clock()
    rec = Recorder()
    gate = make_gate(store_path(tmp_path), clock, {"issue_refund": rec})
    yield gate, clock, rec
    gate.store.close()


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium (Debian's) through Playwright, one per test module."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if sync_playwright is None or not os.path.exists(CHROMIUM):
        missing = "the playwright package" if sync_playwright is None else f"`{CHROMIUM}`"
        if os.environ.get("SIGNOFF_BROWSER_TESTS") == "1":
            pytest.fail(f"SIGNOFF_BROWSER_TESTS=1 but {missing} is missing: sh tests/install-browser.sh")
        pytest.skip(f"{missing} not installed (set SIGNOFF_BROWSER_TESTS=1 to require it)")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()
