"""The OpenAPI document of /api/v1, saying what the API really answers on errors.

FastAPI documents a 422 with its own validation body on every route that takes
input; this API answers 400 with modelward's error body instead, and every route
may answer 401 (no valid token) and 403 (the token's role is not enough). The
document is rewritten once so that clients, `/docs` and schemathesis read the
truth: the 422s go, the error body is a component, the common errors are listed.
"""

from __future__ import annotations

from typing import Any

ERROR_SCHEMA_NAME = "Error"
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "What went wrong, in one line, and the field it is about.",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "type": {"type": "string", "description": "e.g. malformed_request, not_found"},
                "message": {"type": "string", "description": "what was wrong, what to do"},
                "field": {"type": ["string", "null"], "description": "the field, if one"},
            },
            "required": ["type", "message", "field"],
        }
    },
    "required": ["error"],
}
_ALWAYS = {
    "401": "No valid API token (send `Authorization: Bearer <token>`)",
    "403": "The token's role does not allow this",
}
_WITH_INPUT = {"400": "Malformed input: the message names the field and the problem"}
_WITH_BODY = {
    "413": "The body is over the size limit",
    "415": "The body is not of the content type this route takes",
}
_WITH_PATH_PARAMETER = {"404": "No such resource"}
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def describe_errors(document: dict[str, Any]) -> dict[str, Any]:
    """`document` with modelward's error answers in place of FastAPI's 422 (in place)."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas[ERROR_SCHEMA_NAME] = ERROR_SCHEMA
    error = {
        "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_SCHEMA_NAME}"}}
        }
    }
    for path, item in document.get("paths", {}).items():
        for method in _METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            statuses = dict(_ALWAYS)
            if operation.get("parameters") or "requestBody" in operation:
                statuses.update(_WITH_INPUT)
            if "requestBody" in operation:
                statuses.update(_WITH_BODY)
            if "{" in path:
                statuses.update(_WITH_PATH_PARAMETER)
            for status, description in statuses.items():
                responses.setdefault(status, {"description": description, **error})
    for unused in ("HTTPValidationError", "ValidationError"):
        if not _referenced(document, unused):
            schemas.pop(unused, None)
    return document


def _referenced(document: dict[str, Any], name: str) -> bool:
    target = f"#/components/schemas/{name}"

    def walk(node: Any) -> bool:
        if isinstance(node, dict):
            return node.get("$ref") == target or any(walk(value) for value in node.values())
        if isinstance(node, list):
            return any(walk(value) for value in node)
        return False

    return walk(document.get("paths", {})) or any(
        walk(schema) for other, schema in document["components"]["schemas"].items() if other != name
    )
