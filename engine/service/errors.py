"""Problem details (RFC 9457): the one shape of every error the service sends, with its stable code."""
from __future__ import annotations

import json
from typing import Any, Dict, Optional

from starlette.responses import Response

__all__ = ["Problem", "CODES", "problem_response"]

# code -> (status, title): stable, documented in docs/server.md, listed in /openapi.json
CODES: Dict[str, tuple] = {
    "invalid_json": (400, "the body is not readable JSON"),
    "unauthorized": (401, "missing or bad credentials"),
    "forbidden": (403, "not allowed"),
    "not_found": (404, "not found"),
    "method_not_allowed": (405, "method not allowed"),
    "body_too_large": (413, "the body is over 1 MiB"),
    "unsupported_media_type": (415, "the body must be JSON"),
    "invalid_body": (422, "the body is not valid"),
    "invalid_action": (422, "the action is not valid"),
    "invalid_policy": (422, "the policy has errors"),
    "state_conflict": (409, "the draft's state does not allow this"),
    "hash_conflict": (409, "the draft changed since it was viewed"),
    "lease_conflict": (409, "the lease is not current"),
    "idempotency_conflict": (409, "the idempotency key was used for another action"),
    "tampered": (409, "the draft disagrees with its audit records"),
    "csrf": (403, "the form's CSRF token is missing or wrong"),
    "internal_error": (500, "internal error"),
    "unavailable": (503, "the service is shutting down"),
    "store_unavailable": (503, "the store cannot be used"),
}


class Problem(Exception):
    """An error to send as problem+json: a stable `code` (one of CODES) and a lowercase `detail`."""

    def __init__(self, code: str, detail: str, headers: Optional[Dict[str, str]] = None):
        super().__init__(detail)
        self.code = code
        self.status, self.title = CODES[code]
        self.detail = detail
        self.headers = headers or {}

    def body(self) -> Dict[str, Any]:
        """The problem document: type, title, status, detail and code."""
        return {"type": f"https://signoff.dev/problems/{self.code}", "title": self.title, "status": self.status,
                "detail": self.detail, "code": self.code}


def problem_response(p: Problem) -> Response:
    """The response for a Problem: `application/problem+json`, its status and headers."""
    return Response(json.dumps(p.body(), ensure_ascii=False), status_code=p.status, headers=p.headers,
                    media_type="application/problem+json")
