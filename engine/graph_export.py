"""Deprecated: moved to engine.report.graph_export; this re-export goes in the next release."""
from .report.graph_export import *  # noqa: F401,F403
