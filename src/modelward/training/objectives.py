"""The objectives of the built-in linear trainers, as functions of the parameters theta.

Each is a frozen dataclass over a `Penalty` with `loss` and `gradient` on a
batch of rows, and the `RowObjective` members (`l2`, `n_weights`, `linear`,
`residual`) that let one-row steps run a block at a time
(`modelward.training.optimizers.OneRowSteps`). X carries a trailing ones column
when an intercept is fitted; theta's rows after `n_weights` are not penalised.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import expit, logsumexp, softmax

from modelward.training.optimizers import FloatArray


@dataclass(frozen=True)
class Penalty:
    """(l2 / 2) ||w||^2 over the first `n_weights` rows of theta (the rest is the intercept)."""

    l2: float
    n_weights: int

    def value(self, theta: FloatArray) -> float:
        if self.l2 == 0.0:
            return 0.0
        w = theta[: self.n_weights]
        return 0.5 * self.l2 * float(np.sum(w * w))

    def add_gradient(self, grad: FloatArray, theta: FloatArray) -> FloatArray:
        if self.l2 != 0.0:
            grad[: self.n_weights] += self.l2 * theta[: self.n_weights]
        return grad


@dataclass(frozen=True)
class _Penalised:
    """An objective's penalty, and the two numbers the optimizers read from it."""

    penalty: Penalty

    @property
    def l2(self) -> float:
        return self.penalty.l2

    @property
    def n_weights(self) -> int:
        return self.penalty.n_weights


@dataclass(frozen=True)
class SquaredError(_Penalised):
    """1/(2m) ||X theta - y||^2 + penalty; X carries a ones column when fitting an intercept."""

    @property
    def linear(self) -> bool:
        return True

    def residual(self, z: float, y: float) -> float:
        return z - y

    def residuals(self, z: FloatArray, y: np.ndarray) -> FloatArray:
        r: FloatArray = z - y
        return r

    def loss(self, theta: FloatArray, X: FloatArray, y: np.ndarray) -> float:
        r = X @ theta - y
        return 0.5 * float(r @ r) / len(X) + self.penalty.value(theta)

    def gradient(self, theta: FloatArray, X: FloatArray, y: np.ndarray) -> FloatArray:
        r = X @ theta
        r -= y
        grad: FloatArray = r @ X
        if X.shape[0] != 1:
            grad /= X.shape[0]
        return self.penalty.add_gradient(grad, theta)


@dataclass(frozen=True)
class BinaryLogLoss(_Penalised):
    """Mean log loss of sigmoid(X theta) against y in {0, 1}, plus penalty."""

    @property
    def linear(self) -> bool:
        return False

    def residual(self, z: float, y: float) -> float:
        """sigmoid(z) - y for one row, on Python floats, without overflow."""
        if z >= 0.0:
            return 1.0 / (1.0 + math.exp(-z)) - y
        e = math.exp(z)
        return e / (1.0 + e) - y

    def residuals(self, z: FloatArray, y: np.ndarray) -> FloatArray:
        """sigmoid(z) - y for every row."""
        r: FloatArray = expit(z)
        r -= y
        return r

    def loss(self, theta: FloatArray, X: FloatArray, y: np.ndarray) -> float:
        z = X @ theta
        # log(1 + e^z) - y z is the log loss written on the logit: no log(0), no overflow
        return float(np.mean(np.logaddexp(0.0, z) - y * z)) + self.penalty.value(theta)

    def gradient(self, theta: FloatArray, X: FloatArray, y: np.ndarray) -> FloatArray:
        r: FloatArray = expit(X @ theta)
        r -= y
        grad: FloatArray = r @ X
        if X.shape[0] != 1:
            grad /= X.shape[0]
        return self.penalty.add_gradient(grad, theta)


@dataclass(frozen=True)
class CrossEntropy(_Penalised):
    """Mean cross-entropy of softmax(X theta) against one-hot Y, plus penalty."""

    @property
    def linear(self) -> bool:
        return False

    def residual(self, z: list[float], y: list[float]) -> list[float]:
        """softmax(z) - y for one row's class scores, on Python floats (a few classes)."""
        top = max(z)
        e = [math.exp(v - top) for v in z]
        total = math.fsum(e)
        return [v / total - target for v, target in zip(e, y, strict=True)]

    def residuals(self, z: FloatArray, y: np.ndarray) -> FloatArray:
        """softmax(z) - y for every row (z: rows x classes)."""
        e: FloatArray = np.exp(z - z.max(axis=1, keepdims=True))
        e /= e.sum(axis=1, keepdims=True)
        e -= y
        return e

    def loss(self, theta: FloatArray, X: FloatArray, y: np.ndarray) -> float:
        Z = X @ theta
        per_row = logsumexp(Z, axis=1) - np.sum(Z * y, axis=1)
        return float(np.mean(per_row)) + self.penalty.value(theta)

    def gradient(self, theta: FloatArray, X: FloatArray, y: np.ndarray) -> FloatArray:
        R: FloatArray = softmax(X @ theta, axis=1)
        R -= y
        grad: FloatArray = X.T @ R
        if X.shape[0] != 1:
            grad /= X.shape[0]
        return self.penalty.add_gradient(grad, theta)


def separates(
    objective: SquaredError | BinaryLogLoss | CrossEntropy, scores: FloatArray, y: np.ndarray
) -> bool:
    """Whether the fitted scores classify every training row right (never for regression)."""
    if isinstance(objective, BinaryLogLoss):
        return bool(np.all((scores > 0) == (y > 0.5)))
    if isinstance(objective, CrossEntropy):
        return bool(np.all(np.argmax(scores, axis=1) == np.argmax(y, axis=1)))
    return False
