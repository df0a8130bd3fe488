"""Evaluation metrics: pure, vectorised numpy functions and two report aggregates.

    from modelward.evaluation.metrics import classification_report, f1
    f1(y_true, y_pred, average="macro")
    classification_report(y_true, y_pred, proba).to_dict()   # {"accuracy": ..., ...}

The functions live in private modules, one per family, whose docstrings state
the edge-case rules: `_classification` (zero division gives 0.0),
`_scores` (ROC AUC of a single class is NaN, multiclass AUC is one-vs-rest over
the classes present), `_regression` (R² of a constant target is 1.0 or 0.0).
Bad input raises `MetricInputError`, a `ValueError` that modelward's
boundaries also treat as `InvalidInput`.

Every metric is cross-checked against `sklearn.metrics` in the tests;
scikit-learn is never called here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from modelward.evaluation._checks import Label, MetricInputError, label_list
from modelward.evaluation._classification import (
    Average,
    accuracy,
    average_scores,
    binary_position,
    confusion_matrix,
    count_matrix,
    encode_pair,
    f1,
    is_classification_target,
    per_class_scores,
    precision,
    recall,
)
from modelward.evaluation._regression import mae, mse, r2, r2_of, regression_inputs, rmse
from modelward.evaluation._scores import log_loss, roc_auc, roc_curve

__all__ = [
    "Average",
    "ClassificationMetrics",
    "Label",
    "MetricInputError",
    "RegressionMetrics",
    "accuracy",
    "classification_report",
    "confusion_matrix",
    "f1",
    "is_classification_target",
    "log_loss",
    "mae",
    "mse",
    "precision",
    "r2",
    "recall",
    "regression_report",
    "rmse",
    "roc_auc",
    "roc_curve",
]


def _defined(record: object, names: tuple[str, ...]) -> dict[str, float]:
    """The named metrics of `record` that have a finite value, as plain floats."""
    out: dict[str, float] = {}
    for name in names:
        value = getattr(record, name)
        if value is not None and math.isfinite(value):
            out[name] = float(value)
    return out


@dataclass(frozen=True)
class ClassificationMetrics:
    """The metrics of one classifier on one dataset.

    `precision`, `recall` and `f1` are about `pos_label` when there are two
    classes, and equal the macro averages otherwise (`pos_label` is then None).
    `roc_auc` and `log_loss` are None without probabilities; `roc_auc` is NaN
    when y_true holds one class. `confusion_matrix[i][j]` counts true
    `labels[i]` predicted as `labels[j]`; `support[i]` counts true `labels[i]`.
    """

    accuracy: float
    precision: float
    recall: float
    f1: float
    precision_macro: float
    recall_macro: float
    f1_macro: float
    precision_weighted: float
    recall_weighted: float
    f1_weighted: float
    labels: tuple[Label, ...]
    support: tuple[int, ...]
    confusion_matrix: tuple[tuple[int, ...], ...]
    pos_label: Label | None = None
    roc_auc: float | None = None
    log_loss: float | None = None

    METRIC_NAMES: ClassVar[tuple[str, ...]] = (
        "accuracy",
        "precision",
        "recall",
        "f1",
        "precision_macro",
        "recall_macro",
        "f1_macro",
        "precision_weighted",
        "recall_weighted",
        "f1_weighted",
        "roc_auc",
        "log_loss",
    )

    def to_dict(self) -> dict[str, float]:
        """Metric name -> value, ready to log; undefined (None, NaN) metrics are left out."""
        return _defined(self, self.METRIC_NAMES)


@dataclass(frozen=True)
class RegressionMetrics:
    """The metrics of one regressor on one dataset (`r2` is NaN below two samples)."""

    mse: float
    rmse: float
    mae: float
    r2: float

    METRIC_NAMES: ClassVar[tuple[str, ...]] = ("mse", "rmse", "mae", "r2")

    def to_dict(self) -> dict[str, float]:
        """Metric name -> value, ready to log; an undefined (NaN) r2 is left out."""
        return _defined(self, self.METRIC_NAMES)


def classification_report(
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    proba: npt.ArrayLike | None = None,
    *,
    labels: npt.ArrayLike | None = None,
    pos_label: Label | None = None,
) -> ClassificationMetrics:
    """Every classification metric at once; ROC AUC and log loss need `proba`.

    `labels` fixes the classes and their order (pass the model's `classes_`
    when the data may lack some); `proba`'s columns follow it. Without it the
    classes are the sorted union of y_true and y_pred. `pos_label` (default:
    the largest label) matters only with two classes.
    """
    classes, t, p = encode_pair(y_true, y_pred, labels)
    matrix = count_matrix(t, p, len(classes))
    support = matrix.sum(axis=1)
    per_class = per_class_scores(matrix)
    macro = [average_scores(scores, support, "macro") for scores in per_class]
    weighted = [average_scores(scores, support, "weighted") for scores in per_class]
    headline, positive = macro, None
    if len(classes) == 2:
        position = binary_position(classes, pos_label)
        if position is None:  # binary_position refuses this for two classes
            raise MetricInputError(f"pos_label={pos_label!r} is not one of the labels")
        headline = [float(scores[position]) for scores in per_class]
        positive = label_list(classes)[position]
    auc = loss = None
    if proba is not None:
        auc = roc_auc(y_true, proba, labels=classes, pos_label=positive)
        loss = log_loss(y_true, proba, labels=classes)
    return ClassificationMetrics(
        accuracy=float(np.mean(t == p)),
        precision=headline[0],
        recall=headline[1],
        f1=headline[2],
        precision_macro=macro[0],
        recall_macro=macro[1],
        f1_macro=macro[2],
        precision_weighted=weighted[0],
        recall_weighted=weighted[1],
        f1_weighted=weighted[2],
        labels=tuple(label_list(classes)),
        support=tuple(support.tolist()),
        confusion_matrix=tuple(tuple(row) for row in matrix.tolist()),
        pos_label=positive,
        roc_auc=auc,
        log_loss=loss,
    )


def regression_report(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> RegressionMetrics:
    """MSE, RMSE, MAE and R² at once."""
    truth, pred = regression_inputs(y_true, y_pred)
    error = truth - pred
    squared = float(np.mean(error**2))
    return RegressionMetrics(
        mse=squared,
        rmse=math.sqrt(squared),
        mae=float(np.mean(np.abs(error))),
        r2=r2_of(truth, pred),
    )
