"""Deprecated: moved to engine.live.audit; this re-export goes in the next release."""
from .live.audit import *  # noqa: F401,F403
from .live.audit import read_checkpoint, required_routes  # noqa: F401
