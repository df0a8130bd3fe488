"""modelward's own trainers as a plain .npz: constructor params as JSON, fitted arrays as
NumPy arrays. Loading builds only classes from an allow-list and never unpickles."""

from __future__ import annotations

import importlib
import io
import json
from typing import Any

import numpy as np

from modelward.errors import InvalidInput

ALLOWED_CLASSES = (
    "modelward.training.linear.LinearRegression",
    "modelward.training.linear.LogisticRegression",
)
_META = "__modelward__"


def _name(model: Any) -> str:
    return f"{type(model).__module__}.{type(model).__qualname__}"


def supports(model: Any) -> bool:
    """Whether `model` is one of modelward's built-in trainers."""
    return _name(model) in ALLOWED_CLASSES


def dumps(model: Any) -> bytes:
    """Params and every fitted attribute (names ending in `_`) in one .npz."""
    arrays: dict[str, np.ndarray] = {}
    scalars: dict[str, Any] = {}
    for key, value in vars(model).items():
        if not key.endswith("_") or key.startswith("_"):
            continue
        if isinstance(value, np.ndarray):
            if value.dtype == object:
                value = value.astype(str)
            arrays[key] = value
        elif isinstance(value, (int, float, str, bool, list, tuple)) or value is None:
            scalars[key] = list(value) if isinstance(value, tuple) else value
        elif isinstance(value, np.generic):
            scalars[key] = value.item()
    meta = {"class": _name(model), "params": model.get_params(deep=False), "scalars": scalars}
    buffer = io.BytesIO()
    arrays[_META] = np.array(json.dumps(meta))
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


def loads(data: bytes) -> Any:
    """Rebuild a trainer from `dumps` output (no pickle, allow-listed classes only)."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            meta = json.loads(str(archive[_META]))
            arrays = {key: archive[key] for key in archive.files if key != _META}
    except (ValueError, OSError, KeyError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"not a readable modelward model file: {exc}") from None
    name = meta.get("class")
    if name not in ALLOWED_CLASSES:
        raise InvalidInput(f"refusing to build {name!r}: not one of modelward's trainers")
    module_name, _, class_name = name.rpartition(".")
    cls = getattr(importlib.import_module(module_name), class_name)
    model = cls(**meta["params"])
    for key, value in {**meta["scalars"], **arrays}.items():
        setattr(model, key, value)
    return model
