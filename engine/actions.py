"""Deprecated: moved to engine.decide.actions; this re-export goes in the next release."""
from .decide.actions import *  # noqa: F401,F403
from .decide.actions import _RFC3339  # noqa: F401
