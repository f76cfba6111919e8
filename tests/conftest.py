"""Shared fixtures: write a policy to a temp dir and load it."""
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
