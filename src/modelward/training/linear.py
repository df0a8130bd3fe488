"""Built-in linear trainers: least-squares and logistic regression by gradient methods.

Both are scikit-learn estimators (fit / predict / get_params / set_params), so
they run in pipelines, `clone` and `cross_val_score`, and are stored like any
other model. Training uses `modelward.training.optimizers` ("gd", "sgd",
"minibatch", "adam"); standardise the features first (z-scores) for the default
learning rates to suit.

Objectives, with n rows, weights w and an unpenalised intercept b:

    LinearRegression     J = 1/(2n) ||X w + b - y||^2 + (l2 / 2) ||w||^2
                         the optimum is scikit-learn's Ridge(alpha = n * l2)
    LogisticRegression   J = mean log loss + (l2 / 2) ||w||^2   (sigmoid with 2 classes,
                         softmax cross-entropy with 3 or more: one weight row per class)
                         the optimum is scikit-learn's LogisticRegression(C = 1 / (n * l2))

`loss_history_` holds J on the training rows after each epoch; pass
`fit(X, y, on_epoch=callback)` to receive `(epoch, loss)` as each epoch ends,
e.g. to log the loss as a metric series. A learning rate too large for the data
raises ValueError ("training diverged ..."); running out of epochs, or ending
above the starting loss, warns with scikit-learn's ConvergenceWarning.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable
from typing import Any, Self

import numpy as np
from scipy.special import expit, softmax
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, check_random_state, validate_data

from modelward.training import advice
from modelward.training.epochs import run_epochs
from modelward.training.objectives import (
    BinaryLogLoss,
    CrossEntropy,
    Penalty,
    SquaredError,
    separates,
)
from modelward.training.optimizers import FloatArray, History, make_plan

EpochCallback = Callable[[int, float], None]


def _check_params(est: _LinearTrainer) -> None:
    """Raise ValueError naming the first constructor parameter with an impossible value."""

    def whole(value: object) -> bool:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)

    def real(value: object) -> bool:
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
        return ok and math.isfinite(float(value))  # type: ignore[arg-type]

    problems = [
        (whole(est.max_epochs) and est.max_epochs >= 1, "max_epochs", "an integer >= 1"),
        (real(est.l2) and est.l2 >= 0, "l2", "a number >= 0"),
        (est.tol is None or (real(est.tol) and est.tol >= 0), "tol", "a number >= 0 or None"),
        (whole(est.n_iter_no_change) and est.n_iter_no_change >= 1, "n_iter_no_change", ">= 1"),
        (isinstance(est.fit_intercept, bool | np.bool_), "fit_intercept", "True or False"),
        (isinstance(est.early_stopping, bool | np.bool_), "early_stopping", "True or False"),
        (
            real(est.validation_fraction) and 0 < est.validation_fraction < 1,
            "validation_fraction",
            "a number in (0, 1)",
        ),
    ]
    for ok, name, expected in problems:
        if not ok:
            raise ValueError(
                f"{type(est).__name__}: {name} must be {expected}, got {getattr(est, name)!r}"
            )


def _non_numeric_columns(X: Any) -> list[str]:
    """Names of the columns of a data frame whose dtype is not numeric or boolean."""
    dtypes = getattr(X, "dtypes", None)
    if dtypes is None or not hasattr(dtypes, "items"):
        return []
    return [
        str(name) for name, dtype in dtypes.items() if getattr(dtype, "kind", "O") not in "biuf"
    ]


def _validate(est: BaseEstimator, X: Any, y: Any = "no_validation", **options: Any) -> Any:
    """scikit-learn's validate_data (float64), with text in the data named in the error."""
    try:
        return validate_data(est, X, y, dtype=np.float64, **options)
    except ValueError as exc:
        if "could not convert" not in str(exc):
            raise
        columns = _non_numeric_columns(X)
        where = f"X has non-numeric columns {columns}" if columns else "the data is not numeric"
        raise ValueError(
            f"{type(est).__name__}: {where} ({exc}); encode text columns first, e.g. one-hot"
        ) from exc


class _LinearTrainer(BaseEstimator):  # type: ignore[misc]
    """Shared parameters and the training loop of the built-in linear trainers."""

    def __init__(
        self,
        *,
        optimizer: str = "gd",
        learning_rate: float | None = None,
        max_epochs: int = 1000,
        batch_size: int | None = 32,
        l2: float = 0.0,
        fit_intercept: bool = True,
        tol: float | None = 1e-6,
        n_iter_no_change: int = 5,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.l2 = l2
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.random_state = random_state

    def _design(self, X: FloatArray) -> FloatArray:
        """X with a trailing ones column when an intercept is fitted (theta's last row)."""
        if not self.fit_intercept:
            return X
        return np.hstack([X, np.ones((X.shape[0], 1))])

    def _train(
        self,
        objective: SquaredError | BinaryLogLoss | CrossEntropy,
        X: FloatArray,
        y: np.ndarray,
        n_outputs: int | None,
        on_epoch: EpochCallback | None,
    ) -> FloatArray:
        """Run the optimizer; set loss_history_, n_epochs_ and learning_rate_; return theta.

        Warns (ConvergenceWarning) when the loss rose or the epochs ran out, with the
        advice that fits the data (see `modelward.training.advice`).
        """
        _check_params(self)
        plan = make_plan(self.optimizer, self.learning_rate, self.batch_size)
        # the seed comes from random_state, so the same random_state replays the same run
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        n_params = X.shape[1] + (1 if self.fit_intercept else 0)
        theta0 = np.zeros(n_params if n_outputs is None else (n_params, n_outputs))
        design = self._design(X)
        names = getattr(self, "feature_names_in_", None)
        try:
            theta, history = run_epochs(
                objective,
                theta0,
                design,
                y,
                optimizer=plan.optimizer,
                batch_size=plan.batch_size,
                max_epochs=int(self.max_epochs),
                tol=None if self.tol is None else float(self.tol),
                n_iter_no_change=int(self.n_iter_no_change),
                validation_fraction=float(self.validation_fraction)
                if self.early_stopping
                else None,
                rng=np.random.default_rng(seed),
                on_epoch=on_epoch,
            )
        except ValueError as exc:
            if "diverged" not in str(exc):
                raise
            raise ValueError(f"{exc}{advice.standardise_hint(X, names)}") from None
        self._record(history, plan.learning_rate)
        end = history.losses[history.best_epoch if self.early_stopping else -1]
        if end > history.initial_loss:
            warnings.warn(
                f"{type(self).__name__}: the loss rose from {history.initial_loss:.6g} to "
                f"{end:.6g}; lower learning_rate{advice.standardise_hint(X, names)}",
                ConvergenceWarning,
                stacklevel=3,
            )
        elif self.tol is not None and not history.converged:
            message = advice.not_converged(
                name=type(self).__name__,
                max_epochs=int(self.max_epochs),
                tol=float(self.tol),
                losses=history.losses,
                separable=separates(objective, design @ theta, y),
                l2=float(self.l2),
                X=X,
                names=names,
            )
            warnings.warn(message, ConvergenceWarning, stacklevel=3)
        return theta

    def _record(self, history: History, learning_rate: float) -> None:
        self.learning_rate_ = learning_rate
        self.loss_history_ = list(history.losses)
        self.n_epochs_ = history.n_epochs
        if self.early_stopping:
            self.validation_loss_history_ = list(history.validation_losses)

    def _split_theta(self, theta: FloatArray, n_features: int) -> tuple[FloatArray, FloatArray]:
        """(weights, intercept) from theta, the intercept zero when it is not fitted."""
        weights = theta[:n_features]
        if self.fit_intercept:
            return weights, np.asarray(theta[n_features], dtype=np.float64)
        return weights, np.zeros(theta.shape[1:])


class LinearRegression(RegressorMixin, _LinearTrainer):  # type: ignore[misc]
    """Least squares (optionally ridge, `l2`) fitted by gradient descent, SGD, mini-batch or Adam.

    Minimises J = 1/(2n) ||X w + b - y||^2 + (l2 / 2) ||w||^2, the optimum of
    scikit-learn's Ridge(alpha = n * l2) and, with l2 = 0, of ordinary least squares.

    Parameters: `optimizer` ("gd", "sgd", "minibatch", "adam"); `learning_rate`
    (None: 0.1 for gd and minibatch, 0.01 for sgd and adam); `max_epochs`;
    `batch_size` (minibatch and adam; None: all rows); `l2` (penalty on the
    weights, never the intercept); `fit_intercept`; `tol` and `n_iter_no_change`
    (stop once the loss has not improved by more than tol for that many epochs;
    tol=None runs every epoch); `early_stopping` (watch the loss on a held-out
    `validation_fraction` of the rows instead, and keep the best epoch's
    weights); `random_state` (shuffling and the held-out split).

    Attributes after fit: `coef_` (n_features,), `intercept_` (float),
    `n_features_in_`, `loss_history_`, `n_epochs_`, `learning_rate_`, and
    `validation_loss_history_` with early stopping.
    """

    def fit(self, X: Any, y: Any, *, on_epoch: EpochCallback | None = None) -> Self:
        """Fit on X (n_samples, n_features) and y; calls `on_epoch(epoch, loss)` per epoch."""
        X, y = _validate(self, X, y, y_numeric=True)
        n_features = X.shape[1]
        objective = SquaredError(Penalty(float(self.l2), n_features))
        theta = self._train(objective, X, np.asarray(y, dtype=np.float64), None, on_epoch)
        coef, intercept = self._split_theta(theta, n_features)
        self.coef_ = coef
        self.intercept_ = float(intercept)
        return self

    def predict(self, X: Any) -> FloatArray:
        """Predicted targets, X @ coef_ + intercept_."""
        check_is_fitted(self)
        X = _validate(self, X, reset=False)
        prediction: FloatArray = X @ self.coef_ + self.intercept_
        return prediction


class LogisticRegression(ClassifierMixin, _LinearTrainer):  # type: ignore[misc]
    """Logistic regression (sigmoid for 2 classes, softmax for more) fitted by gradient methods.

    Minimises J = mean log loss + (l2 / 2) ||W||^2 (intercepts unpenalised),
    the optimum of scikit-learn's LogisticRegression(C = 1 / (n * l2)). With 3
    or more classes there is one weight row per class (softmax cross-entropy),
    as in scikit-learn; without l2 that problem has no unique optimum.

    Parameters as `LinearRegression`. Attributes after fit: `classes_`,
    `coef_` (1, n_features) for 2 classes else (n_classes, n_features),
    `intercept_` (1,) or (n_classes,), `n_features_in_`, `loss_history_`,
    `n_epochs_`, `learning_rate_`, and `validation_loss_history_` with early stopping.
    """

    def fit(self, X: Any, y: Any, *, on_epoch: EpochCallback | None = None) -> Self:
        """Fit on X (n_samples, n_features) and labels y; `on_epoch(epoch, loss)` per epoch."""
        X, y = _validate(self, X, y)
        check_classification_targets(y)
        classes, encoded = np.unique(y, return_inverse=True)
        if classes.shape[0] < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes in y; "
                f"got 1 class ({classes[0]!r})"
            )
        n_features = X.shape[1]
        penalty = Penalty(float(self.l2), n_features)
        if classes.shape[0] == 2:
            target = encoded.astype(np.float64)
            theta = self._train(BinaryLogLoss(penalty), X, target, None, on_epoch)
            coef, intercept = self._split_theta(theta, n_features)
            self.coef_ = coef.reshape(1, -1)
            self.intercept_ = intercept.reshape(1)
        else:
            one_hot = np.eye(classes.shape[0])[encoded]
            theta = self._train(CrossEntropy(penalty), X, one_hot, classes.shape[0], on_epoch)
            coef, intercept = self._split_theta(theta, n_features)
            # softmax ignores a shift shared by all classes: centre it away, as scikit-learn
            # does, so the answer is unique even where the penalty does not pin it down
            self.coef_ = np.ascontiguousarray((coef - coef.mean(axis=1, keepdims=True)).T)
            self.intercept_ = intercept - intercept.mean()
        self.classes_ = classes
        return self

    def decision_function(self, X: Any) -> FloatArray:
        """Logits: (n_samples,) for 2 classes (positive means classes_[1]), else (n, n_classes)."""
        check_is_fitted(self)
        X = _validate(self, X, reset=False)
        scores: FloatArray = X @ self.coef_.T + self.intercept_
        return scores.ravel() if scores.shape[1] == 1 else scores

    def predict_proba(self, X: Any) -> FloatArray:
        """Class probabilities, one column per entry of `classes_`; rows sum to 1."""
        scores = self.decision_function(X)
        if scores.ndim == 1:
            positive: FloatArray = expit(scores)
            return np.column_stack([1.0 - positive, positive])
        proba: FloatArray = softmax(scores, axis=1)
        return proba

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each row."""
        scores = self.decision_function(X)
        index = (scores > 0).astype(np.intp) if scores.ndim == 1 else np.argmax(scores, axis=1)
        labels: np.ndarray = self.classes_[index]
        return labels
