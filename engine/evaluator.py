"""Deprecated: moved to engine.decide.evaluator; this re-export goes in the next release."""
from .decide.evaluator import *  # noqa: F401,F403
