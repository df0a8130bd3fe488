"""A model as a plain .npz: constructor params as JSON, fitted arrays as NumPy arrays.

Holds modelward's own trainers and the scikit-learn estimators whose whole state
is that simple (LogisticRegression, Ridge, GaussianNB, ...: every attribute a
constructor param or a fitted `name_` array or number). Anything else goes to
skops. Loading builds only allow-listed classes (modelward's trainers, the
exact scikit-learn classes of `skops_allowlist`), sets only `name_` attributes,
and never unpickles. It needs no skops, whose import alone takes most of a
second (it walks every scikit-learn module to list the estimators).
"""

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
    """Whether `model` is one of modelward's trainers, or a listed scikit-learn estimator
    whose state this format holds whole (see `plain_state`)."""
    name = _name(model)
    if name in ALLOWED_CLASSES:
        return True
    return _is_listed_sklearn(name) and plain_state(model)


def plain_state(model: Any) -> bool:
    """Every attribute is a constructor param with a JSON value that reads back equal, or a
    fitted `name_` holding a number, text, None or a numeric (or all-text) array."""
    try:
        params = model.get_params(deep=False)
        if json.loads(json.dumps(params, allow_nan=False)) != params:
            return False  # a tuple, an estimator, NaN...: would not come back the same
    except (TypeError, ValueError):
        return False
    for key, value in vars(model).items():
        if key in params:
            continue
        if not _fitted_name(key) or not _plain_value(value):
            return False
    return True


def _fitted_name(key: str) -> bool:
    return key.endswith("_") and not key.startswith("_")


def _plain_value(value: Any) -> bool:
    if value is None or isinstance(value, bool | int | float | str | np.generic):
        return not isinstance(value, np.generic) or value.dtype.kind in "biuf"
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            return all(isinstance(item, str) for item in value.ravel())
        return value.dtype.kind in "biufU"
    return False


def _is_listed_sklearn(name: str) -> bool:
    """Whether `module.Class` is exactly a class scikit-learn exports and the allow-list names."""
    from modelward.serialization.skops_allowlist import PUBLIC_ESTIMATORS

    module, _, class_name = name.rpartition(".")
    if not module.startswith("sklearn."):
        return False
    for package, classes in PUBLIC_ESTIMATORS.items():
        if class_name in classes:
            exported = getattr(importlib.import_module(package), class_name, None)
            if isinstance(exported, type) and _name_of_class(exported) == name:
                return True
    return False


def _name_of_class(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def flavor(model: Any) -> str:
    """`builtin` for modelward's trainers, `sklearn` for scikit-learn's estimators."""
    return "builtin" if _name(model) in ALLOWED_CLASSES else "sklearn"


def dumps(model: Any) -> bytes:
    """Params and every fitted attribute (names ending in `_`) in one .npz."""
    arrays: dict[str, np.ndarray] = {}
    scalars: dict[str, Any] = {}
    for key, value in vars(model).items():
        if not _fitted_name(key):
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
    name = meta.get("class") if isinstance(meta, dict) else None
    if not isinstance(name, str) or not (name in ALLOWED_CLASSES or _is_listed_sklearn(name)):
        raise InvalidInput(
            f"refusing to build {name!r}: not one of modelward's trainers or an allow-listed "
            "scikit-learn estimator"
        )
    params, scalars = meta.get("params"), meta.get("scalars")
    if not isinstance(params, dict) or not isinstance(scalars, dict):
        raise InvalidInput("not a readable modelward model file: malformed params")
    fitted = {**scalars, **arrays}
    odd = sorted(key for key in fitted if not _fitted_name(key))
    if odd:
        raise InvalidInput(f"refusing to load the model: it sets attribute {odd[0]!r}")
    module_name, _, class_name = name.rpartition(".")
    cls = getattr(importlib.import_module(module_name), class_name)
    try:
        model = cls(**params)
    except TypeError as exc:
        raise InvalidInput(f"not a readable modelward model file: {exc}") from None
    for key, value in fitted.items():
        setattr(model, key, value)
    return model
