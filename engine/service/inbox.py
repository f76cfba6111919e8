"""The web inbox at /inbox (placeholder while it is built)."""
from __future__ import annotations

from typing import Any, List

__all__ = ["inbox_routes"]


def inbox_routes() -> List[Any]:
    """The inbox's routes."""
    return []
