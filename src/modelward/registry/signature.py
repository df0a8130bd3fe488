"""Model signatures: the columns a model takes (before and after its data transform)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def kind_of(dtype: str) -> str:
    """Coarse kind of an Arrow or pandas dtype string: integer, number, boolean, string..."""
    text = dtype.lower()
    if "bool" in text:
        return "boolean"
    if "int" in text and "interval" not in text:
        return "integer"
    if any(word in text for word in ("float", "double", "decimal", "halffloat")):
        return "number"
    if any(word in text for word in ("timestamp", "datetime", "date")):
        return "datetime"
    return "string"


def build_signature(
    *,
    features: Sequence[Mapping[str, str]],
    target: str | None,
    task: str,
    classes: Sequence[Any] = (),
    raw_inputs: Sequence[Mapping[str, str]] | None = None,
) -> dict[str, Any]:
    """The signature stored with a model version.

    `features` are the model's own input columns; `raw_inputs`, when the
    training data came out of a fitted transform, are the columns a caller
    sends (the transform turns them into `features`).
    """
    inputs = raw_inputs if raw_inputs is not None else features
    return {
        "inputs": [
            {"name": c["name"], "dtype": c["dtype"], "kind": kind_of(c["dtype"])} for c in inputs
        ],
        "features": [c["name"] for c in features],
        "target": target,
        "task": task,
        "classes": list(classes),
    }
