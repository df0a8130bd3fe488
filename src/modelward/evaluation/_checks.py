"""Input checks and label encoding shared by the metric functions.

Every check raises `MetricInputError`, which is both a `ValueError` (what
numpy-style callers expect) and an `InvalidInput` (exit 2 / HTTP 400 at
modelward's boundaries).

Class labels may be integers, floats, booleans or strings; all arrays of one
call must hold the same kind (numbers, which include booleans, or strings).
Labels are encoded to codes 0..k-1 with `np.unique(return_inverse=True)`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from modelward.errors import InvalidInput

Label = int | float | str | bool
"""A class label as a plain Python value."""

IntArray = npt.NDArray[np.intp]
FloatArray = npt.NDArray[np.float64]


class MetricInputError(InvalidInput, ValueError):
    """The arrays given to a metric or a plot are malformed or inconsistent."""


def as_1d(values: npt.ArrayLike, name: str) -> npt.NDArray[Any]:
    """`values` as a non-empty 1-D array; an (n, 1) column is flattened."""
    arr = np.asarray(values)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise MetricInputError(f"{name} must be one-dimensional; got shape {arr.shape}")
    if arr.size == 0:
        raise MetricInputError(f"{name} is empty")
    return arr


def same_length(first: npt.NDArray[Any], second: npt.NDArray[Any], names: str) -> None:
    """Refuse arrays of different lengths (`names` like "y_true and y_pred")."""
    if len(first) != len(second):
        raise MetricInputError(f"{names} differ in length: {len(first)} != {len(second)}")


def as_float_1d(values: npt.ArrayLike, name: str) -> FloatArray:
    """`values` as a non-empty 1-D float64 array of finite numbers."""
    arr = as_1d(values, name)
    return _finite_float(arr, name)


def as_float_2d(values: npt.ArrayLike, name: str) -> FloatArray:
    """`values` as a non-empty float64 array with one or two dimensions, all finite."""
    arr = np.asarray(values)
    if arr.ndim not in (1, 2) or arr.size == 0:
        raise MetricInputError(f"{name} must be a non-empty 1-D or 2-D array; got {arr.shape}")
    return _finite_float(arr, name)


def _finite_float(arr: npt.NDArray[Any], name: str) -> FloatArray:
    if arr.dtype.kind not in "biuf":
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError):
            raise MetricInputError(f"{name} must be numeric; got dtype {arr.dtype}") from None
    out = arr.astype(np.float64, copy=False)
    if not np.isfinite(out).all():
        raise MetricInputError(f"{name} contains NaN or infinite values")
    return out


def _label_kind(arr: npt.NDArray[Any], name: str) -> str:
    """ "number" or "string"; refuses NaN, missing values and mixed types."""
    kind = arr.dtype.kind
    if kind in "biu":
        return "number"
    if kind == "f":
        if np.isnan(arr).any():
            raise MetricInputError(f"{name} contains NaN; class labels must not be missing")
        return "number"
    if kind in "US":
        return "string"
    if kind != "O":
        raise MetricInputError(f"{name} has dtype {arr.dtype}, which cannot hold class labels")
    try:
        uniques = np.unique(arr)
    except TypeError:
        raise MetricInputError(f"{name} mixes label types (e.g. strings and numbers)") from None
    # A loop over the distinct labels, not over the rows.
    if all(isinstance(u, str) for u in uniques):
        return "string"
    if all(isinstance(u, int | float | np.number | np.bool_) for u in uniques):
        return _label_kind(uniques.astype(np.float64), name)
    raise MetricInputError(f"{name} holds values that are neither numbers nor strings")


def encode(
    arrays: list[tuple[npt.NDArray[Any], str]], labels: npt.ArrayLike | None = None
) -> tuple[npt.NDArray[Any], list[IntArray]]:
    """The classes and, per array, the code (index into the classes) of each value.

    Without `labels` the classes are the sorted union of the arrays' values;
    with `labels` they are `labels` in the order given, and a value outside
    them is an error.
    """
    kinds = {_label_kind(arr, name) for arr, name in arrays}
    parts = [arr for arr, _ in arrays]
    given: npt.NDArray[Any] | None = None
    if labels is not None:
        given = as_1d(labels, "labels")
        kinds.add(_label_kind(given, "labels"))
        parts.insert(0, given)
    if len(kinds) > 1:
        names = " and ".join(name for _, name in arrays)
        raise MetricInputError(
            f"{names}{' and labels' if given is not None else ''} mix string and numeric labels"
        )
    joined = np.concatenate(parts) if len(parts) > 1 else parts[0]
    uniques, inverse = np.unique(joined, return_inverse=True)
    inverse = inverse.reshape(-1).astype(np.intp, copy=False)
    if given is None:
        classes, codes = uniques, inverse
    else:
        k = len(given)
        if np.unique(inverse[:k]).size != k:
            raise MetricInputError("labels contains duplicates")
        position = np.full(len(uniques), -1, dtype=np.intp)
        position[inverse[:k]] = np.arange(k)
        classes, codes = given, position[inverse[k:]]
        if (codes < 0).any():
            unknown = np.unique(joined[k:][codes < 0])[:5].tolist()
            raise MetricInputError(f"values {unknown} are not in labels; add them to labels")
    bounds = np.cumsum([len(arr) for arr, _ in arrays])[:-1]
    return classes, list(np.split(codes, bounds))


def index_of(classes: npt.NDArray[Any], label: Any) -> int | None:
    """Position of `label` among `classes`, or None when it is not one of them."""
    hits = np.flatnonzero(classes == np.asarray(label))
    return int(hits[0]) if hits.size else None


def largest(classes: npt.NDArray[Any]) -> int:
    """Position of the largest class: the positive class when none is named."""
    return int(np.argsort(classes, kind="stable")[-1])


def label_list(classes: npt.NDArray[Any]) -> list[Label]:
    """The classes as plain Python values."""
    values: list[Label] = classes.tolist()
    return values
