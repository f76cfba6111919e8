"""Deprecated: moved to engine.live.sdk; this re-export goes in the next release."""
from .live.sdk import *  # noqa: F401,F403
