"""The model server described in OpenAPI 3.1, from the served model's signature."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from modelward.registry.entities import ModelVersion
from modelward.serving.feedback import SCHEMA as FEEDBACK_SCHEMA

_JSON_TYPES = {"number": "number", "integer": "number", "boolean": "boolean", "string": "string"}


def _value_schema(column: dict[str, str]) -> dict[str, Any]:
    # null (a missing value) is accepted too, but only models that take missing values
    # answer it with 200, so the documented form is the value itself.
    return {"type": _JSON_TYPES.get(column.get("kind", "number"), "string")}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "error": {
                            "type": "object",
                            "properties": {
                                "type": {"type": "string"},
                                "message": {"type": "string"},
                                "field": {"type": ["string", "null"]},
                            },
                            "required": ["type", "message", "field"],
                        }
                    },
                    "required": ["error"],
                }
            }
        },
    }


_ERRORS = {
    "400": _error("malformed: the body is not what the protocol describes"),
    "413": _error("too large: the body or the batch is over the limit"),
    "415": _error("a content type the route does not read"),
    "422": _error("well-formed, but does not fit the model; the field names the problem"),
}


def _bodies(inputs: Sequence[dict[str, str]]) -> dict[str, Any]:
    names = [column["name"] for column in inputs]
    row_object = {
        "type": "object",
        "properties": {column["name"]: _value_schema(column) for column in inputs},
        "required": names,
        "additionalProperties": False,
    }
    row_list = {
        "type": "array",
        "prefixItems": [_value_schema(column) for column in inputs],
        "items": False,
        "minItems": len(names),
        "maxItems": len(names),
    }
    columns = {
        "type": "object",
        "properties": {
            column["name"]: {"type": "array", "minItems": 1, "items": _value_schema(column)}
            for column in inputs
        },
        "required": names,
        "additionalProperties": False,
    }

    def one(key: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {key: schema},
            "required": [key],
            "additionalProperties": False,
        }

    rows = {"type": "array", "minItems": 1, "items": {"oneOf": [row_list, row_object]}}
    split = {
        "type": "object",
        "properties": {
            "columns": {
                "type": "array",
                "items": {"enum": names},
                "minItems": len(names),
                "maxItems": len(names),
                "uniqueItems": True,
            },
            "data": {"type": "array", "minItems": 1, "items": row_list},
            "index": {"type": "array"},
        },
        "required": ["columns", "data"],
        "additionalProperties": False,
    }
    return {
        "oneOf": [
            one("instances", rows),
            one("inputs", {"oneOf": [rows, columns]}),
            one("dataframe_split", split),
            one(
                "dataframe_records",
                {"type": "array", "minItems": 1, "items": row_object},
            ),
        ]
    }


def _prediction(summary: str, inputs: Sequence[dict[str, str]], csv: bool) -> dict[str, Any]:
    content: dict[str, Any] = {"application/json": {"schema": _bodies(inputs)}}
    if csv:
        content["text/csv"] = {
            "schema": {"type": "string", "description": "a header row naming every column"}
        }
    answer = {
        "type": "object",
        "properties": {
            "predictions": {"type": "array"},
            "model": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "version": {"type": "integer"}},
            },
            "request_id": {"type": "string"},
            "warnings": {
                "type": "array",
                "description": "present when a value was answered with a caveat "
                "(a category not seen in training)",
                "items": {
                    "type": "object",
                    "properties": {
                        "type": {"type": "string"},
                        "field": {"type": "string"},
                        "value": {},
                        "rows": {"type": "array", "items": {"type": "integer"}},
                        "count": {"type": "integer"},
                        "message": {"type": "string"},
                    },
                },
            },
        },
        "required": ["predictions", "model", "request_id"],
    }
    return {
        "post": {
            "summary": summary,
            "requestBody": {"required": True, "content": content},
            "responses": {
                "200": {
                    "description": "predictions, one per row, in order",
                    "content": {"application/json": {"schema": answer}},
                },
                **_ERRORS,
            },
        }
    }


def _get(summary: str, media: str = "application/json") -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "responses": {"200": {"description": summary, "content": {media: {}}}},
        }
    }


def openapi_document(version: ModelVersion, ref: str) -> dict[str, Any]:
    """The OpenAPI document of a server answering for `version` (followed through `ref`)."""
    inputs = version.signature["inputs"]
    feedback = {
        "post": {
            "summary": "The true label of an answered request",
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": FEEDBACK_SCHEMA}},
            },
            "responses": {
                "200": {"description": "stored", "content": {"application/json": {}}},
                "404": _error("no logged prediction has this request id"),
                **_ERRORS,
            },
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"modelward: {version.name}",
            "version": str(version.version),
            "description": f"Predictions from {ref} (a {version.class_name}).",
        },
        "paths": {
            "/predict": _prediction("Predict for a batch of rows", inputs, csv=False),
            "/invocations": _prediction("Predict (MLflow scoring protocol)", inputs, csv=True),
            "/feedback": feedback,
            "/health": _get("Alive"),
            "/ping": _get("Alive (MLflow scoring protocol)"),
            "/version": _get("The server's version (MLflow scoring protocol)", "text/plain"),
            "/ready": _get("A model is loaded and verified"),
            "/metrics": _get("Prometheus metrics", "text/plain"),
        },
    }
