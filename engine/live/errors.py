"""The gate's refusals: `GateError` and its kinds (input, permission, state, not found, tampering)."""
from __future__ import annotations

__all__ = ["GateError", "InputError", "PermissionDenied", "StateError", "NotFound", "TamperError"]


class GateError(Exception):
    """Base of every refusal by the gate; the message is for the person or agent who asked."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InputError(GateError, ValueError):
    """Malformed input: nothing was stored."""


class PermissionDenied(GateError):
    """The identity may not do this (tenant, proposer, role, grants never): nothing was stored."""


class StateError(GateError):
    """The draft is not in a state that allows this (already closed, changed since viewed, expired)."""


class NotFound(GateError):
    """No draft or grant with that id."""


class TamperError(StateError):
    """The draft's row disagrees with its records in the audit log (spec §6, v1.1): it does not run."""
