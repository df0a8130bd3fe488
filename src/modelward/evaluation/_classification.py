"""Classification metrics over predicted labels: accuracy, confusion matrix, P/R/F1.

Zero division: a class never predicted has precision 0.0, a class never true
has recall 0.0, and F1 = 2·TP / (2·TP + FP + FN) is 0.0 when that denominator
is zero; this is scikit-learn's `zero_division=0`, without its warning.

Averages: "binary" reports the positive class only (`pos_label`, by default the
largest label) and allows at most two classes; "macro" is the unweighted mean
over the classes (the union of `y_true` and `y_pred`, or `labels`); "weighted"
weights each class by its support (its count in `y_true`).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from modelward.evaluation._checks import (
    FloatArray,
    IntArray,
    Label,
    MetricInputError,
    as_1d,
    encode,
    index_of,
    label_list,
    largest,
    same_length,
)

Average = Literal["binary", "macro", "weighted"]
_AVERAGES = ("binary", "macro", "weighted")


def encode_pair(
    y_true: npt.ArrayLike, y_pred: npt.ArrayLike, labels: npt.ArrayLike | None
) -> tuple[npt.NDArray[Any], IntArray, IntArray]:
    """Checked and encoded true and predicted labels: (classes, true codes, predicted codes)."""
    truth, pred = as_1d(y_true, "y_true"), as_1d(y_pred, "y_pred")
    same_length(truth, pred, "y_true and y_pred")
    classes, (t, p) = encode([(truth, "y_true"), (pred, "y_pred")], labels)
    return classes, t, p


def count_matrix(t: IntArray, p: IntArray, k: int) -> npt.NDArray[np.int64]:
    """k x k counts: row = true class, column = predicted class."""
    counts = np.bincount(t * k + p, minlength=k * k)
    return counts.reshape(k, k).astype(np.int64, copy=False)


def safe_divide(num: npt.NDArray[Any], den: npt.NDArray[Any]) -> FloatArray:
    """num / den elementwise, 0.0 where den is 0 (the zero-division rule)."""
    out = np.zeros(np.shape(num), dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


def per_class_scores(matrix: npt.NDArray[np.int64]) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Per-class precision, recall and F1 from a confusion matrix."""
    tp = np.diag(matrix)
    predicted, actual = matrix.sum(axis=0), matrix.sum(axis=1)
    return (
        safe_divide(tp, predicted),
        safe_divide(tp, actual),
        safe_divide(2 * tp, predicted + actual),
    )


def average_scores(scores: FloatArray, support: npt.NDArray[np.int64], average: str) -> float:
    """The macro or weighted average of per-class scores."""
    if average == "macro":
        return float(scores.mean())
    return float(np.average(scores, weights=support)) if support.sum() > 0 else 0.0


def binary_position(classes: npt.NDArray[Any], pos_label: Label | None) -> int | None:
    """The positive class's index for average="binary"; None when it is absent.

    More than two classes is an error, and so is a named `pos_label` that is
    missing while two other classes are present.
    """
    if len(classes) > 2:
        raise MetricInputError(
            f"average='binary' needs at most two classes; got {len(classes)}: "
            "use average='macro' or 'weighted'"
        )
    if pos_label is None:
        return largest(classes)
    position = index_of(classes, pos_label)
    if position is None and len(classes) == 2:
        raise MetricInputError(
            f"pos_label={pos_label!r} is not one of the labels {label_list(classes)}"
        )
    return position


def _score(
    which: int,
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    average: Average,
    pos_label: Label | None,
    labels: npt.ArrayLike | None,
) -> float:
    if average not in _AVERAGES:
        raise MetricInputError(f"average={average!r}: use one of {', '.join(_AVERAGES)}")
    classes, t, p = encode_pair(y_true, y_pred, labels)
    matrix = count_matrix(t, p, len(classes))
    scores = per_class_scores(matrix)[which]
    if average == "binary":
        position = binary_position(classes, pos_label)
        # A positive class absent from both arrays has no TP, FP or FN: 0.0.
        return 0.0 if position is None else float(scores[position])
    return average_scores(scores, matrix.sum(axis=1), average)


def accuracy(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> float:
    """The fraction of predictions equal to the true label."""
    _, t, p = encode_pair(y_true, y_pred, None)
    return float(np.mean(t == p))


def confusion_matrix(
    y_true: npt.ArrayLike, y_pred: npt.ArrayLike, labels: npt.ArrayLike | None = None
) -> tuple[npt.NDArray[np.int64], list[Label]]:
    """Counts of (true, predicted) pairs and the labels of its rows and columns.

    `matrix[i, j]` is the number of samples of true class `labels[i]`
    predicted as `labels[j]`. Without `labels` the classes are the sorted union
    of both arrays; with them, the order is theirs (unlike scikit-learn, a
    value outside `labels` is an error, not silently dropped).
    """
    classes, t, p = encode_pair(y_true, y_pred, labels)
    return count_matrix(t, p, len(classes)), label_list(classes)


def precision(
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    *,
    average: Average = "binary",
    pos_label: Label | None = None,
    labels: npt.ArrayLike | None = None,
) -> float:
    """TP / (TP + FP); 0.0 for a class never predicted (see the module docstring)."""
    return _score(0, y_true, y_pred, average, pos_label, labels)


def recall(
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    *,
    average: Average = "binary",
    pos_label: Label | None = None,
    labels: npt.ArrayLike | None = None,
) -> float:
    """TP / (TP + FN); 0.0 for a class absent from y_true (see the module docstring)."""
    return _score(1, y_true, y_pred, average, pos_label, labels)


def f1(
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    *,
    average: Average = "binary",
    pos_label: Label | None = None,
    labels: npt.ArrayLike | None = None,
) -> float:
    """2·TP / (2·TP + FP + FN), the harmonic mean of precision and recall; 0.0 if undefined."""
    return _score(2, y_true, y_pred, average, pos_label, labels)


def is_classification_target(y: npt.ArrayLike, *, max_classes: int = 20) -> bool:
    """Whether a target column looks like class labels rather than a quantity.

    The rule: booleans, strings, categoricals and other non-numeric values are
    classes. Numbers (integer or float) are classes when every value is
    integral and there are at most `max_classes` distinct values (missing
    values ignored); otherwise they are a regression target, so integer
    prices or counts with many values regress.
    """
    if str(getattr(y, "dtype", "")) == "category":
        return True
    arr = as_1d(y, "the target")
    if arr.dtype.kind in "bUS":
        return True
    if arr.dtype.kind == "O":
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError):
            return True
    if arr.dtype.kind not in "iuf":
        raise MetricInputError(f"cannot tell the task of a target of dtype {arr.dtype}")
    values = arr[~np.isnan(arr)] if arr.dtype.kind == "f" else arr
    if values.size == 0:
        raise MetricInputError("the target has no values")
    if arr.dtype.kind == "f" and not (np.isfinite(values).all() and (values % 1 == 0).all()):
        return False
    return bool(np.unique(values).size <= max_classes)
