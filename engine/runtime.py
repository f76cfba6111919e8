"""Deprecated: moved to engine.decide.runtime; this re-export goes in the next release."""
from .decide.runtime import *  # noqa: F401,F403
