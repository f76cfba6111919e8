"""Deprecated: moved to engine.decide.ledger; this re-export goes in the next release."""
from .decide.ledger import *  # noqa: F401,F403
