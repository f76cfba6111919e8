"""Deprecated: moved to engine.decide.reference; this re-export goes in the next release."""
from .decide.reference import *  # noqa: F401,F403
