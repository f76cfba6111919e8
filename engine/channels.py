"""Deprecated: moved to engine.live.channels; this re-export goes in the next release."""
from .live.channels import *  # noqa: F401,F403
