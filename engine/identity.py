"""Deprecated: moved to engine.live.identity; this re-export goes in the next release."""
from .live.identity import *  # noqa: F401,F403
from .live.identity import _fold  # noqa: F401
