"""The body of /feedback: a request id and its true label(s), checked against the model.

    {"request_id": "<the id a prediction answer gave>", "label": <one per row>}

A one-row request takes one label (or a list of one); an n-row request a list
of n. A classifier's label must be one of its classes, a regressor's a finite
number. Anything else is refused, naming the problem: labels that can never
match a prediction would only skew live accuracy.
"""

from __future__ import annotations

from typing import Any

from modelward.errors import DoesNotFit, InvalidInput
from modelward.registry.entities import ModelVersion
from modelward.serving.bodies import parse_json, shown
from modelward.serving.request_id import is_request_id

KEYS = ("request_id", "label")

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "request_id": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$"},
        "label": {
            "oneOf": [
                {"type": ["number", "string", "boolean"]},
                {
                    "type": "array",
                    "minItems": 1,
                    "items": {"type": ["number", "string", "boolean"]},
                },
            ]
        },
    },
    "required": list(KEYS),
    "additionalProperties": False,
}


def read_feedback(body: bytes, version: ModelVersion) -> tuple[str, Any]:
    """(request id, label) of a /feedback body; InvalidInput (400) or DoesNotFit (422)."""
    payload = parse_json(body)  # strict: no NaN, no Infinity, no 1e400
    if not isinstance(payload, dict):
        raise InvalidInput("the body must be a JSON object with 'request_id' and 'label'")
    unknown = next((key for key in payload if key not in KEYS), None)
    if unknown is not None:
        raise InvalidInput(
            f"unknown key {shown(unknown)}: the body holds only 'request_id' and 'label'",
            field=str(unknown),
        )
    missing = next((key for key in KEYS if key not in payload), None)
    if missing is not None:
        raise InvalidInput(f"the body lacks {missing!r}", field=missing)
    request_id, label = payload["request_id"], payload["label"]
    if not is_request_id(request_id):
        raise InvalidInput(
            "'request_id' must be the id a prediction answer gave", field="request_id"
        )
    labels = label if isinstance(label, list) else [label]
    if not labels:
        raise InvalidInput("'label' is an empty list: give one label per row", field="label")
    for value in labels:
        check_label(value, version)
    return request_id, label


def check_label(value: Any, version: ModelVersion) -> None:
    """DoesNotFit unless `value` can be a true label of the model's predictions."""
    if not isinstance(value, bool | int | float | str):
        raise InvalidInput(
            f"a label must be a number, text or true/false, not {shown(value)}", field="label"
        )
    if version.task == "regression":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise DoesNotFit(
                f"label {shown(value)} is not a number: {version.ref} is a regression model",
                field="label",
            )
        return
    classes = version.signature.get("classes") or []
    if classes and _key(value) not in {_key(c) for c in classes}:
        listed = ", ".join(shown(c) for c in classes[:20]) + (", ..." if len(classes) > 20 else "")
        raise DoesNotFit(
            f"label {shown(value)} is not a class of {version.ref}: its classes are {listed}",
            field="label",
        )


def _key(value: Any) -> tuple[str, Any]:
    # 1 and 1.0 are one class; True, 1 and "1" are three
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int | float):
        return ("number", value)
    return ("text", str(value))
