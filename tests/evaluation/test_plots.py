"""The evaluation plots: valid PNG bytes of a plausible size; bad input is a ValueError."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

from modelward.evaluation import plots
from modelward.evaluation.metrics import confusion_matrix

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
RNG = np.random.default_rng(7)


def decoded(png: bytes) -> np.ndarray[Any, Any]:
    """The image, after checking that it is a PNG of a plausible size."""
    from matplotlib.image import imread

    assert png.startswith(PNG_SIGNATURE)
    image = imread(io.BytesIO(png), format="png")
    height, width = image.shape[:2]
    assert 300 <= height <= 2000 and 300 <= width <= 2000
    assert image.std() > 0  # something was drawn
    return image


def test_confusion_matrix_png() -> None:
    y_true = RNG.choice(["cat", "dog", "mouse"], 100)
    y_pred = np.where(RNG.random(100) < 0.6, y_true, "dog")
    matrix, labels = confusion_matrix(y_true, y_pred)
    decoded(plots.confusion_matrix_png(matrix, labels))
    decoded(plots.confusion_matrix_png(np.ones((30, 30)), list(range(30))))  # no annotations


def test_roc_curve_png_binary_and_multiclass() -> None:
    y_true = RNG.integers(0, 2, 200)
    scores = np.clip(y_true * 0.3 + RNG.random(200) * 0.7, 0, 1)
    decoded(plots.roc_curve_png(y_true, scores))
    decoded(plots.roc_curve_png(y_true, np.column_stack([1 - scores, scores]), pos_label=0))
    classes = RNG.choice(["a", "b", "c", "d"], 200)
    proba = RNG.dirichlet(np.ones(4), 200)
    decoded(plots.roc_curve_png(classes, proba))
    # a class of the model missing from the data just has no curve
    decoded(plots.roc_curve_png(classes, RNG.dirichlet(np.ones(5), 200), labels=list("abcde")))


def test_residuals_png() -> None:
    y_true = RNG.normal(size=500)
    decoded(plots.residuals_png(y_true, y_true + RNG.normal(scale=0.3, size=500)))
    big = RNG.normal(size=50_000)  # subsampled scatter
    decoded(plots.residuals_png(big, big * 0.9))


def test_learning_curve_png() -> None:
    series = {
        "run-1": [(epoch, 1.0 / (epoch + 1)) for epoch in range(20)],
        "run-2": [(epoch, 2.0 / (epoch + 1)) for epoch in reversed(range(100))],
        "diverged": [(0, 1.0), (1, float("inf")), (2, float("nan"))],
    }
    decoded(plots.learning_curve_png(series, "Loss per epoch", ylabel="loss"))


@pytest.mark.parametrize(
    "call",
    [
        lambda: plots.confusion_matrix_png(np.ones((2, 3)), ["a", "b"]),
        lambda: plots.confusion_matrix_png(np.ones((2, 2)), ["a"]),
        lambda: plots.confusion_matrix_png(np.empty((0, 0)), []),
        lambda: plots.confusion_matrix_png(-np.ones((2, 2)), ["a", "b"]),
        lambda: plots.roc_curve_png([0, 1, 1], [0.2, 0.4]),
        lambda: plots.roc_curve_png([], []),
        lambda: plots.roc_curve_png([1, 1, 1], [0.2, 0.4, 0.6]),  # one class: no curve
        lambda: plots.roc_curve_png([0, 1, 2], np.eye(3)[:, :2]),
        lambda: plots.residuals_png([1.0, 2.0], [1.0]),
        lambda: plots.residuals_png([], []),
        lambda: plots.residuals_png([1.0, np.nan], [1.0, 2.0]),
        lambda: plots.learning_curve_png({}),
        lambda: plots.learning_curve_png({"run": []}),
        lambda: plots.learning_curve_png({"run": [(1, 2, 3)]}),  # type: ignore[list-item]
        lambda: plots.learning_curve_png({"run": [("one", 0.5)]}),  # type: ignore[list-item]
    ],
)
def test_bad_input_raises_value_error(call: Any) -> None:
    with pytest.raises(ValueError):
        call()


def test_matplotlib_is_lazy_and_pyplot_never_used() -> None:
    code = (
        "import sys\n"
        "from modelward.evaluation import metrics, plots\n"
        "assert 'matplotlib' not in sys.modules, 'imported eagerly'\n"
        "plots.learning_curve_png({'a': [(0, 1.0), (1, 0.5)]})\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )
    assert completed.returncode == 0, completed.stderr
