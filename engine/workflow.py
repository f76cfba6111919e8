"""Deprecated: moved to engine.live.workflow; this re-export goes in the next release."""
from .live.workflow import *  # noqa: F401,F403
