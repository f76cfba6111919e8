"""Deprecated: moved to engine.replay.simulate; this re-export goes in the next release."""
from .replay.simulate import *  # noqa: F401,F403
