"""The request body of /predict described in OpenAPI, from the model's signature."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

_JSON_TYPES = {"number": "number", "integer": "number", "boolean": "boolean", "string": "string"}


def _value_schema(column: dict[str, str]) -> dict[str, Any]:
    # null (a missing value) is accepted too, but only models that take missing values
    # answer it with 200, so the documented form is the value itself.
    return {"type": _JSON_TYPES.get(column.get("kind", "number"), "string")}


def _error() -> dict[str, Any]:
    return {
        "description": "the problem, naming the field",
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
                        }
                    },
                }
            }
        },
    }


def predict_openapi(inputs: Sequence[dict[str, str]]) -> dict[str, Any]:
    """`openapi_extra` for the prediction routes: body, answers and errors."""
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
    body = {
        "oneOf": [
            {
                "type": "object",
                "properties": {
                    "instances": {
                        "type": "array",
                        "minItems": 1,
                        "items": {"oneOf": [row_list, row_object]},
                    }
                },
                "required": ["instances"],
                "additionalProperties": False,
            },
            {
                "type": "object",
                "properties": {
                    "dataframe_split": {
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
                        },
                        "required": ["columns", "data"],
                    }
                },
                "required": ["dataframe_split"],
                "additionalProperties": False,
            },
        ]
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
        },
    }
    return {
        "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
        "responses": {
            "200": {
                "description": "predictions",
                "content": {"application/json": {"schema": answer}},
            },
            "400": _error(),
            "413": _error(),
            "422": _error(),
        },
    }
