"""The OpenAPI 3.1 document of the service, served at `/openapi.json` (a test checks it lists every route)."""
from __future__ import annotations

from typing import Any, Dict, List, Tuple

from .errors import CODES

__all__ = ["document", "OPERATIONS"]

_OBJ: Dict[str, Any] = {"type": "object"}
_HASH_BODY = {"type": "object", "required": ["hash"], "additionalProperties": False,
              "properties": {"hash": {"type": "string"}, "comment": {"type": "string"}}}
_ID = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]


def _ref(name: str) -> Dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


# (method, path, who, summary, request body schema or None, success status, response schema, parameters)
OPERATIONS: List[Tuple[str, str, str, str, Any, str, Any, List[Dict[str, Any]]]] = [
    ("post", "/v1/decide", "agent", "Decide an action; nothing is stored and no budget used",
     _ref("Action"), "200", _ref("Decision"), []),
    ("post", "/v1/proposals", "agent", "Propose an action: decided, recorded, drafted when it waits for humans",
     _ref("Action"), "201", _ref("Proposal"),
     [{"name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string"}}]),
    ("get", "/v1/drafts", "human", "The caller's tenant's drafts that a route lets the caller act on",
     None, "200", {"type": "object", "properties": {"drafts": {"type": "array", "items": _ref("DraftSummary")}}},
     [{"name": "state", "in": "query", "required": False, "schema": {"type": "string", "default": "drafted"}}]),
    ("get", "/v1/drafts/{id}", "agent or human", "One draft: arguments, approvals, routes, events",
     None, "200", _ref("Draft"), _ID),
    ("post", "/v1/drafts/{id}/approve", "human", "Approve the draft's current arguments",
     _HASH_BODY, "200", _ref("Draft"), _ID),
    ("post", "/v1/drafts/{id}/reject", "human", "Reject the draft", _HASH_BODY, "200", _ref("Draft"), _ID),
    ("post", "/v1/drafts/{id}/edit", "human", "Edit the arguments (RFC 6902 or RFC 7386); decided again",
     {"type": "object", "required": ["hash", "patch"], "additionalProperties": False,
      "properties": {"hash": {"type": "string"}, "comment": {"type": "string"},
                     "patch": {"oneOf": [{"type": "array"}, {"type": "object"}]}}}, "200", _ref("Draft"), _ID),
    ("get", "/v1/drafts/{id}/wait", "agent", "Long-poll until the draft leaves `drafted` (at most 60 s)",
     None, "200", _ref("Draft"),
     _ID + [{"name": "timeout", "in": "query", "required": False,
             "schema": {"type": "number", "minimum": 0, "maximum": 60, "default": 30}}]),
    ("post", "/v1/drafts/{id}/claim", "agent (the proposer)", "Claim an approved draft for a lease",
     None, "200", {"type": "object", "required": ["lease", "args", "idempotency_key"],
                   "properties": {"lease": {"type": "string"}, "args": _OBJ, "idempotency_key": {"type": "string"},
                                  "attempt": {"type": "integer"}, "lease_until": {"type": "string"}}}, _ID),
    ("post", "/v1/drafts/{id}/complete", "agent (the proposer)", "Report what the execution did",
     {"type": "object", "required": ["lease", "ok"], "additionalProperties": False,
      "properties": {"lease": {"type": "string"}, "ok": {"type": "boolean"}, "result": {}}}, "200", _ref("Draft"),
     _ID),
    ("get", "/v1/audit/verify", "human (auditor)", "Verify the audit log's chain and state",
     None, "200", {"type": "object", "properties": {"ok": {"type": "boolean"}, "records": {"type": "integer"},
                                                   "head": {"type": "string"}}}, []),
    ("get", "/v1/policy", "anyone authenticated", "The policy in force", None, "200", _OBJ, []),
    ("post", "/v1/policy", "admin", "Reload the policy (its file, or `source`): checked, then swapped",
     {"type": "object", "additionalProperties": False, "properties": {"source": {"type": "string"}}},
     "200", _OBJ, []),
    ("get", "/healthz", "anyone", "Up, and the policy in force", None, "200",
     {"type": "object", "properties": {"ok": {"type": "boolean"}, "policy": _OBJ,
                                       "policy_problem": {"type": "string"}}}, []),
    ("get", "/metrics", "the configured networks", "Prometheus text", None, "200", {"type": "string"}, []),
    ("get", "/openapi.json", "anyone", "This document", None, "200", _OBJ, []),
]

_PUBLIC = {"/healthz", "/metrics", "/openapi.json"}


def document() -> Dict[str, Any]:
    """The OpenAPI document, built from OPERATIONS."""
    paths: Dict[str, Dict[str, Any]] = {}
    for method, path, who, summary, body, status, schema, params in OPERATIONS:
        op: Dict[str, Any] = {"summary": summary, "description": f"Who: {who}.",
                              "operationId": method + path.replace("/", "_").replace("{", "").replace("}", ""),
                              "responses": {status: {"description": "success", "content": {
                                  "text/plain" if path == "/metrics" else "application/json": {"schema": schema}}}}}
        for code in ("400", "401", "403", "404", "409", "413", "422"):
            if path in _PUBLIC and code != "403":
                continue
            op["responses"][code] = {"$ref": "#/components/responses/Problem"}
        if params:
            op["parameters"] = params
        if body is not None:
            op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
        if path not in _PUBLIC:
            op["security"] = [{"bearer": []}]
        paths.setdefault(path, {})[method] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "signoff", "version": "1", "description": "The approval service: agents propose over "
                 "HTTP, humans approve in the inbox; see ../shared/spec/HTTP.md."},
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "An API key (`signoff identities add`) or an OIDC JWT"}},
            "responses": {"Problem": {"description": "RFC 9457 problem details",
                                      "content": {"application/problem+json": {"schema": _ref("Problem")}}}},
            "schemas": {
                "Problem": {"type": "object", "required": ["type", "title", "status", "detail", "code"],
                            "properties": {"type": {"type": "string"}, "title": {"type": "string"},
                                           "status": {"type": "integer"}, "detail": {"type": "string"},
                                           "code": {"type": "string", "enum": sorted(CODES)}}},
                "Action": {"type": "object", "required": ["tool"], "description": "An action (spec §2)",
                           "properties": {"tool": {"type": "string"}, "args": _OBJ, "confidence": {"type": "number"},
                                          "tenant": _OBJ, "agent": _OBJ, "context": _OBJ, "id": {"type": "string"}}},
                "Decision": {"type": "object", "description": "A decision (spec §3)",
                             "properties": {"outcome": {"type": "string"}, "reasons": {"type": "array"},
                                            "policy": _OBJ}},
                "Proposal": {"type": "object", "required": ["id", "state", "hash", "decision"],
                             "properties": {"id": {"type": "string"}, "state": {"type": "string"},
                                            "hash": {"type": "string"}, "decision": _ref("Decision")}},
                "DraftSummary": {"type": "object",
                                 "required": ["id", "state", "tool", "hash", "decision", "proposed_at"],
                                 "properties": {"id": {"type": "string"}, "state": {"type": "string"},
                                                "tool": {"type": "string"}, "hash": {"type": "string"},
                                                "decision": _ref("Decision"), "proposed_at": {"type": "string"}}},
                "Draft": {"allOf": [_ref("DraftSummary"), {
                    "type": "object", "required": ["args", "approvals", "events"],
                    "properties": {"args": _OBJ, "approvals": {"type": "array"}, "events": {"type": "array"},
                                   "routes": {"type": "array"}, "proposer": {"type": "string"}}}]},
            },
        },
    }
