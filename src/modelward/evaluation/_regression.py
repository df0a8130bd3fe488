"""Regression metrics: MSE, RMSE, MAE and R².

Inputs are 1-D arrays of finite numbers of equal, non-zero length.

R² = 1 - SS_res / SS_tot. When y_true is constant (SS_tot = 0) R² is 1.0 for
perfect predictions and 0.0 otherwise, scikit-learn's default
(`force_finite=True`). "Constant" is tested exactly (all values equal), where
scikit-learn tests SS_tot != 0, which a rounding error in the mean can defeat
(y_true = [0.1, 0.1, 0.1] then gives it a huge negative R²). With fewer than
two samples R² is NaN, as in scikit-learn.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from modelward.evaluation._checks import FloatArray, as_float_1d, same_length


def regression_inputs(
    y_true: npt.ArrayLike, y_pred: npt.ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """Checked float64 copies of y_true and y_pred."""
    truth, pred = as_float_1d(y_true, "y_true"), as_float_1d(y_pred, "y_pred")
    same_length(truth, pred, "y_true and y_pred")
    return truth, pred


def r2_of(truth: FloatArray, pred: FloatArray) -> float:
    """R² of checked inputs (see the module docstring for the edge cases)."""
    if len(truth) < 2:
        return float("nan")
    ss_res = float(np.sum((truth - pred) ** 2))
    if truth.min() == truth.max():
        return 1.0 if ss_res == 0 else 0.0
    ss_tot = float(np.sum((truth - np.mean(truth)) ** 2))
    return 1.0 - ss_res / ss_tot


def mse(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> float:
    """Mean squared error."""
    truth, pred = regression_inputs(y_true, y_pred)
    return float(np.mean((truth - pred) ** 2))


def rmse(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> float:
    """Root mean squared error, in the target's unit."""
    return float(np.sqrt(mse(y_true, y_pred)))


def mae(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> float:
    """Mean absolute error."""
    truth, pred = regression_inputs(y_true, y_pred)
    return float(np.mean(np.abs(truth - pred)))


def r2(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> float:
    """Coefficient of determination; 1.0/0.0 for a constant y_true, NaN below two samples."""
    truth, pred = regression_inputs(y_true, y_pred)
    return r2_of(truth, pred)
