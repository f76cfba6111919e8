"""Deprecated: moved to engine.decide.trace; this re-export goes in the next release."""
from .decide.trace import *  # noqa: F401,F403
