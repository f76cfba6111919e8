"""Deprecated: moved to engine.decide.values; this re-export goes in the next release."""
from .decide.values import *  # noqa: F401,F403
