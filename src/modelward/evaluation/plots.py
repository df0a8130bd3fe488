"""Evaluation plots as PNG bytes: confusion matrix, ROC curve, residuals, learning curve.

Each function checks its input (bad input raises `MetricInputError`, a
`ValueError`), draws one figure and returns the PNG's bytes; nothing is written
to disk, so callers log the bytes as run artifacts. matplotlib is imported
lazily and used through its object API (a `Figure` on an Agg canvas), never
through pyplot: no global state, safe in threads and in the server.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from modelward.evaluation._checks import (
    FloatArray,
    Label,
    MetricInputError,
    as_float_2d,
    label_list,
)
from modelward.evaluation._classification import binary_position
from modelward.evaluation._regression import regression_inputs
from modelward.evaluation._scores import columns, roc_auc, roc_curve

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["confusion_matrix_png", "learning_curve_png", "residuals_png", "roc_curve_png"]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_DPI = 100
_ANNOTATE_UP_TO = 20  # classes; beyond that the cell counts are unreadable
_SCATTER_UP_TO = 20_000  # points; a larger residual scatter is subsampled


def _render(width: float, height: float, draw: Callable[[Figure], None]) -> bytes:
    """Draw on a fresh Agg-backed figure and return it as PNG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(figure)
    try:
        draw(figure)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=_DPI)
        return buffer.getvalue()
    finally:
        figure.clear()


def confusion_matrix_png(
    matrix: npt.ArrayLike, labels: Sequence[Label], *, title: str = "Confusion matrix"
) -> bytes:
    """A heat map of a confusion matrix (rows: true class, columns: predicted class)."""
    counts = as_float_2d(matrix, "matrix")
    k = len(counts)
    if counts.ndim != 2 or counts.shape != (k, k):
        raise MetricInputError(f"matrix must be square; got shape {counts.shape}")
    if (counts < 0).any():
        raise MetricInputError("matrix holds negative counts")
    if len(labels) != k:
        raise MetricInputError(f"matrix has {k} rows but {len(labels)} labels were given")
    names = [str(label) for label in labels]
    side = min(4.0 + 0.4 * k, 14.0)

    def draw(figure: Figure) -> None:
        ax = figure.add_subplot()
        image = ax.imshow(counts, cmap="Blues", interpolation="nearest", vmin=0.0)
        figure.colorbar(image, ax=ax)
        ticks = np.arange(k)
        if max(map(len, names)) > 3:
            ax.set_xticks(ticks, names, rotation=45, ha="right")
        else:
            ax.set_xticks(ticks, names)
        ax.set_yticks(ticks, names)
        ax.set_xlabel("Predicted label")
        ax.set_ylabel("True label")
        ax.set_title(title)
        if k <= _ANNOTATE_UP_TO:
            threshold = 0.6 * counts.max()  # dark cells get white text
            for (i, j), value in np.ndenumerate(counts):
                color = "white" if value > threshold else "black"
                text = f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"
                ax.text(j, i, text, ha="center", va="center", color=color)

    return _render(side + 1.0, side, draw)


def roc_curve_png(
    y_true: npt.ArrayLike,
    scores: npt.ArrayLike,
    pos_label: Label | None = None,
    *,
    labels: npt.ArrayLike | None = None,
    title: str = "ROC curve",
) -> bytes:
    """ROC curve(s) with their AUC: one for a binary target, one per class (OvR) otherwise.

    `scores` is 1-D (binary) or an (n, k) probability matrix whose columns
    follow `labels` (default: the sorted classes of y_true). A class absent
    from y_true has no curve; when no curve can be drawn it is an error.
    """
    classes, codes, s = columns(y_true, as_float_2d(scores, "scores"), labels, "scores")
    names = label_list(classes)
    if s.ndim == 2 and s.shape[1] > 2:
        targets = [(str(names[j]), codes == j, s[:, j]) for j in range(len(names))]
    else:
        position = binary_position(classes, pos_label)
        if position is None:
            raise MetricInputError(f"pos_label={pos_label!r} does not occur in y_true")
        column = s if s.ndim == 1 else s[:, position]
        targets = [(str(names[position]), codes == position, column)]
    curves: list[tuple[str, FloatArray, FloatArray, float]] = []
    for name, is_pos, column in targets:
        if 0 < is_pos.sum() < len(is_pos):
            fpr, tpr, _ = roc_curve(is_pos, column, pos_label=True)
            curves.append((name, fpr, tpr, roc_auc(is_pos, column, pos_label=True)))
    if not curves:
        raise MetricInputError("a ROC curve needs both positive and negative samples in y_true")

    def draw(figure: Figure) -> None:
        ax = figure.add_subplot()
        for name, fpr, tpr, auc in curves:
            ax.plot(fpr, tpr, linewidth=1.5, label=f"{name} (AUC = {auc:.3f})")
        ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="chance")
        ax.set_xlim(0.0, 1.0)
        ax.set_ylim(0.0, 1.02)
        ax.set_aspect("equal")
        ax.set_xlabel("False positive rate")
        ax.set_ylabel("True positive rate")
        ax.set_title(title)
        ax.legend(loc="lower right", fontsize="small" if len(curves) > 6 else "medium")

    return _render(6.0, 5.5, draw)


def residuals_png(
    y_true: npt.ArrayLike, y_pred: npt.ArrayLike, *, title: str = "Residuals"
) -> bytes:
    """Residuals (y_true - y_pred) against the prediction, and their histogram."""
    truth, pred = regression_inputs(y_true, y_pred)
    residual = truth - pred
    shown = np.arange(len(pred))
    if len(shown) > _SCATTER_UP_TO:  # a fixed seed keeps the artifact reproducible
        shown = np.sort(np.random.default_rng(0).choice(shown, _SCATTER_UP_TO, replace=False))
    bins = int(min(50, max(10, np.sqrt(len(residual)))))

    def draw(figure: Figure) -> None:
        scatter, histogram = figure.subplots(1, 2, width_ratios=[3, 2])
        scatter.scatter(pred[shown], residual[shown], s=8, alpha=0.5, linewidths=0)
        scatter.axhline(0.0, color="grey", linestyle="--", linewidth=1)
        scatter.set_xlabel("Predicted value")
        scatter.set_ylabel("Residual (true - predicted)")
        scatter.set_title("Residuals vs predicted")
        histogram.hist(residual, bins=bins, color="tab:blue", alpha=0.8)
        histogram.axvline(0.0, color="grey", linestyle="--", linewidth=1)
        histogram.set_xlabel("Residual (true - predicted)")
        histogram.set_ylabel("Count")
        histogram.set_title("Residual distribution")
        figure.suptitle(title)

    return _render(10.0, 4.5, draw)


def _series_points(name: str, points: Sequence[tuple[int, float]]) -> FloatArray:
    """A series as an (m, 2) array of (step, value) sorted by step; inf becomes a gap."""
    try:
        array = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError):
        raise MetricInputError(f"series {name!r} must be a list of (step, value) pairs") from None
    if array.ndim != 2 or array.shape[1] != 2 or len(array) == 0:
        raise MetricInputError(f"series {name!r} must be a non-empty list of (step, value) pairs")
    if not np.isfinite(array[:, 0]).all():
        raise MetricInputError(f"series {name!r} has a step that is not a finite number")
    array = array[np.argsort(array[:, 0], kind="stable")]
    array[~np.isfinite(array[:, 1]), 1] = np.nan  # a diverged value is drawn as a gap
    return array


def learning_curve_png(
    series: Mapping[str, Sequence[tuple[int, float]]],
    title: str = "Learning curve",
    *,
    xlabel: str = "step",
    ylabel: str = "value",
) -> bytes:
    """One line per series of (step, value) pairs, e.g. the loss per epoch of each run."""
    if not series:
        raise MetricInputError("series is empty: give at least one name -> [(step, value), ...]")
    lines = [(str(name), _series_points(str(name), points)) for name, points in series.items()]

    def draw(figure: Figure) -> None:
        ax: Axes = figure.add_subplot()
        for name, points in lines:
            marker = "o" if len(points) <= 30 else None
            ax.plot(points[:, 0], points[:, 1], marker=marker, markersize=3, label=name)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small" if len(lines) > 6 else "medium")

    return _render(7.0, 4.5, draw)
