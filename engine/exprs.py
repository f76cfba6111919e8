"""Deprecated: moved to engine.decide.exprs; this re-export goes in the next release."""
from .decide.exprs import *  # noqa: F401,F403
