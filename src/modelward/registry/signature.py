"""Model signatures: the columns a model takes (before and after its data transform)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

# Steps that need their columns present in the rows they are replayed on.
_READ_IN_PLACE = ("fill_missing", "normalize", "cast")


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


def columns_read(transform: Mapping[str, Any], outputs: Iterable[str]) -> list[str]:
    """The raw columns a stored fitted transform reads to make the columns `outputs`.

    The transform is replayed as a model server replays it: filters skipped, a
    `drop` of an absent column not an error. Walking the steps backwards, a column
    is read if a later step needs it or a step requires it to be present
    (fill_missing, normalize, cast, one_hot and select do; drop does not). A column
    that only a `drop` removes, such as an id or a year, is not read. The result
    is in the order of the columns the transform was fitted on.
    """
    inputs = [str(name) for name in transform.get("input_columns", [])]
    spec_steps = transform.get("spec", {}).get("steps", [])
    fitted_steps = transform.get("steps", [])
    needed = set(outputs)
    for spec_step, fitted in zip(reversed(spec_steps), reversed(fitted_steps), strict=True):
        ((kind, options),) = spec_step.items()
        if kind == "drop":
            needed -= set(options)
        elif kind == "select":
            needed = set(options)
        elif kind == "one_hot":
            made = {f"{c}_{v}" for c, values in fitted["categories"].items() for v in values}
            needed = (needed - made) | set(options["columns"])
        elif kind in _READ_IN_PLACE:
            needed |= set(options["columns"])  # cast's columns map names to dtypes
        elif kind != "filter":  # a step this version does not know: assume it reads all
            return inputs
    return [name for name in inputs if name in needed]
