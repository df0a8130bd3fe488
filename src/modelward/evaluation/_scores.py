"""Metrics over predicted scores and probabilities: ROC curve, ROC AUC, log loss.

* ROC AUC (binary) is the Mann-Whitney statistic U / (n_pos · n_neg), tied
  scores taking their average rank, so a positive and a negative with the same
  score count one half; it equals the area under `roc_curve`.
* ROC AUC is NaN when y_true holds only one class (scikit-learn also returns
  NaN, with a warning). Multiclass AUC is one-vs-rest, the unweighted mean over
  the classes that occur in y_true; scikit-learn instead returns NaN as soon as
  one class of `labels` is missing from y_true.
* Columns of a probability matrix follow `labels` in the order given, or the
  sorted classes of y_true when `labels` is not given; a 1-D array is the
  score or probability of the positive class.
* Log loss uses the natural log and clips probabilities to [eps, 1 - eps],
  eps the machine epsilon of proba's dtype (float32 or float64), like
  scikit-learn. Probability rows must sum to 1 (within 1e-4).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from modelward.evaluation._checks import (
    FloatArray,
    IntArray,
    Label,
    MetricInputError,
    as_1d,
    as_float_1d,
    as_float_2d,
    encode,
    label_list,
)
from modelward.evaluation._classification import binary_position

BoolArray = npt.NDArray[np.bool_]
_SUM_TOLERANCE = 1e-4


def _average_ranks(x: FloatArray) -> FloatArray:
    """1-based ranks of x, tied values sharing the mean of their ranks."""
    order = np.argsort(x, kind="mergesort")
    ordered = x[order]
    starts_mask = np.r_[True, ordered[1:] != ordered[:-1]]
    starts = np.flatnonzero(starts_mask)
    ends = np.r_[starts[1:], len(x)]
    group = np.cumsum(starts_mask) - 1
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = ((starts + 1 + ends) / 2.0)[group]
    return ranks


def _binary_auc(is_pos: BoolArray, scores: FloatArray) -> float:
    n_pos = int(is_pos.sum())
    n_neg = len(is_pos) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    u = _average_ranks(scores)[is_pos].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def _binary_target(y_true: npt.ArrayLike, n: int, pos_label: Label | None, what: str) -> BoolArray:
    """Whether each sample is of the positive class, for a binary y_true."""
    truth = as_1d(y_true, "y_true")
    if len(truth) != n:
        raise MetricInputError(f"y_true and scores differ in length: {len(truth)} != {n}")
    classes, (codes,) = encode([(truth, "y_true")])
    if len(classes) > 2:
        raise MetricInputError(
            f"{what} needs a binary y_true; got {len(classes)} classes: "
            "compute one curve per class (one-vs-rest)"
        )
    position = binary_position(classes, pos_label)
    return codes == position if position is not None else np.zeros(n, dtype=np.bool_)


def roc_curve(
    y_true: npt.ArrayLike,
    scores: npt.ArrayLike,
    *,
    pos_label: Label | None = None,
    drop_intermediate: bool = True,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(fpr, tpr, thresholds) of a binary classifier, like `sklearn.metrics.roc_curve`.

    The positive class is `pos_label`, by default the largest label. The first
    threshold is +inf (nothing predicted positive). `drop_intermediate` drops
    points on a straight segment. With no negatives (positives) in y_true, fpr
    (tpr) is all NaN.
    """
    s = as_float_1d(scores, "scores")
    is_pos = _binary_target(y_true, len(s), pos_label, "roc_curve")
    order = np.argsort(s, kind="mergesort")[::-1]
    ordered = s[order]
    last = np.r_[np.flatnonzero(np.diff(ordered)), len(s) - 1]
    tps = np.cumsum(is_pos[order])[last]
    fps = 1 + last - tps
    thresholds = ordered[last]
    if drop_intermediate and len(fps) > 2:
        bends = np.logical_or(np.diff(fps, 2), np.diff(tps, 2))
        keep = np.flatnonzero(np.r_[True, bends, True])
        fps, tps, thresholds = fps[keep], tps[keep], thresholds[keep]
    fps, tps = np.r_[0, fps], np.r_[0, tps]
    thresholds = np.r_[np.inf, thresholds]
    nan = np.full(len(fps), np.nan)
    fpr = fps / fps[-1] if fps[-1] > 0 else nan
    tpr = tps / tps[-1] if tps[-1] > 0 else nan
    return fpr.astype(np.float64), tpr.astype(np.float64), thresholds.astype(np.float64)


def columns(
    y_true: npt.ArrayLike, matrix: FloatArray, labels: npt.ArrayLike | None, name: str
) -> tuple[npt.NDArray[np.generic], IntArray, FloatArray]:
    """Classes, class codes of y_true and the matrix, its columns matching the classes."""
    truth = as_1d(y_true, "y_true")
    if len(truth) != len(matrix):
        raise MetricInputError(f"y_true and {name} differ in length: {len(truth)} != {len(matrix)}")
    classes, (codes,) = encode([(truth, "y_true")], labels)
    if matrix.ndim == 2 and matrix.shape[1] == 1:
        matrix = matrix[:, 0]
    if matrix.ndim == 2 and matrix.shape[1] != len(classes):
        shown = label_list(classes)[:10]
        raise MetricInputError(
            f"{name} has {matrix.shape[1]} columns but there are {len(classes)} classes "
            f"{shown}; pass labels= in column order (e.g. the model's classes_)"
        )
    if matrix.ndim == 1 and len(classes) > 2:
        raise MetricInputError(
            f"1-D {name} is for a binary target; y_true has {len(classes)} classes: "
            "pass an (n, k) matrix of class probabilities"
        )
    return classes, codes, matrix


def roc_auc(
    y_true: npt.ArrayLike,
    scores: npt.ArrayLike,
    *,
    labels: npt.ArrayLike | None = None,
    pos_label: Label | None = None,
) -> float:
    """Area under the ROC curve; NaN when y_true holds one class only.

    `scores` is 1-D (the positive class's score, binary only) or an (n, k)
    probability matrix whose columns follow `labels` (one-vs-rest macro average
    when k > 2, the positive class's column when k == 2).
    """
    classes, codes, s = columns(y_true, as_float_2d(scores, "scores"), labels, "scores")
    if s.ndim == 2 and s.shape[1] > 2:
        aucs = np.array([_binary_auc(codes == j, s[:, j]) for j in range(s.shape[1])])
        defined = aucs[~np.isnan(aucs)]
        return float(defined.mean()) if defined.size else float("nan")
    position = binary_position(classes, pos_label)
    if position is None:
        return float("nan")
    column = s if s.ndim == 1 else s[:, position]
    return _binary_auc(codes == position, column)


def log_loss(
    y_true: npt.ArrayLike, proba: npt.ArrayLike, *, labels: npt.ArrayLike | None = None
) -> float:
    """Mean negative log-likelihood of the true class (natural log, clipped).

    `proba` is an (n, k) matrix whose columns follow `labels` (default: the
    sorted classes of y_true), or 1-D: the probability of the second class.
    """
    raw = np.asarray(proba)
    eps = float(np.finfo(np.float32 if raw.dtype == np.float32 else np.float64).eps)
    p = as_float_2d(raw, "proba")
    if p.min() < 0 or p.max() > 1:
        raise MetricInputError("proba must hold probabilities in [0, 1]")
    classes, codes, p = columns(y_true, p, labels, "proba")
    if p.ndim == 1:
        if len(classes) != 2:
            raise MetricInputError(
                "1-D proba needs two classes; y_true has one: pass labels=[negative, positive]"
            )
        p = np.column_stack([1.0 - p, p])
    elif (np.abs(p.sum(axis=1) - 1.0) > _SUM_TOLERANCE).any():
        raise MetricInputError("proba rows must sum to 1; pass probabilities, not scores")
    picked = np.clip(p[np.arange(len(p)), codes], eps, 1.0 - eps)
    return float(-np.mean(np.log(picked)))
