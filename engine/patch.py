"""Deprecated: moved to engine.live.patch; this re-export goes in the next release."""
from .live.patch import *  # noqa: F401,F403
