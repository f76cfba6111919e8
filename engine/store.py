"""Deprecated: moved to engine.live.store; this re-export goes in the next release."""
from .live.store import *  # noqa: F401,F403
from .live.sqlite import SCHEMA_VERSION, SQLiteStore, SQLLedger  # noqa: F401
