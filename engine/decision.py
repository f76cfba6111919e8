"""Deprecated: moved to engine.decide.decision; this re-export goes in the next release."""
from .decide.decision import *  # noqa: F401,F403
