"""Deprecated: moved to engine.decide.graph; this re-export goes in the next release."""
from .decide.graph import *  # noqa: F401,F403
