"""Deprecated: moved to engine.replay.history; this re-export goes in the next release."""
from .replay.history import *  # noqa: F401,F403
from .replay.history import _TS_SHAPES  # noqa: F401
