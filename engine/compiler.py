"""Deprecated: moved to engine.decide.compiler; this re-export goes in the next release."""
from .decide.compiler import *  # noqa: F401,F403
