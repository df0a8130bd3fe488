"""The epoch loop of the built-in trainers: batches, shuffling, early stopping, divergence.

Pure numpy, no I/O. `run_epochs` feeds an `Optimizer` (`training.optimizers`) batches of
rows and records the loss once per epoch; plain "sgd" on a `RowObjective` runs each epoch
as blocks of composed one-row steps (`OneRowSteps`) instead of row by row.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from modelward.training.optimizers import (
    DIVERGENCE_FACTOR,
    FloatArray,
    GradientDescent,
    History,
    Objective,
    OneRowSteps,
    Optimizer,
    RowObjective,
    split_validation,
)


def run_epochs(
    objective: Objective,
    theta0: FloatArray,
    X: FloatArray,
    y: np.ndarray,
    *,
    optimizer: Optimizer,
    batch_size: int | None,
    max_epochs: int,
    tol: float | None = 1e-6,
    n_iter_no_change: int = 5,
    validation_fraction: float | None = None,
    rng: np.random.Generator,
    on_epoch: Callable[[int, float], None] | None = None,
) -> tuple[FloatArray, History]:
    """Minimise `objective` from `theta0` with `optimizer`, one pass over the rows per epoch.

    Each epoch steps once per batch of `batch_size` rows (None: one full-batch
    step, unshuffled; otherwise rows are shuffled every epoch with `rng`), then
    computes the full training loss once and calls `on_epoch(epoch, loss)`
    (epoch counts from 0, so `history.losses[epoch] == loss`).

    Stopping: with `tol` set, the loop ends when the monitored loss (the
    validation loss if `validation_fraction` is set, else the training loss)
    has not fallen below best - tol for `n_iter_no_change` epochs in a row.
    With validation the parameters of the best validation epoch are returned;
    otherwise the last ones.

    Divergence raises ValueError: a training loss that turns NaN or infinite, or
    grows past `DIVERGENCE_FACTOR` times the loss at `theta0`.
    """
    if max_epochs < 1:
        raise ValueError(f"max_epochs must be >= 1, got {max_epochs!r}")
    if n_iter_no_change < 1:
        raise ValueError(f"n_iter_no_change must be >= 1, got {n_iter_no_change!r}")
    if tol is not None and not tol >= 0:
        raise ValueError(f"tol must be >= 0 or None, got {tol!r}")
    X_val: FloatArray | None = None
    y_val: np.ndarray | None = None
    if validation_fraction is not None:
        train_idx, val_idx = split_validation(X.shape[0], validation_fraction, rng)
        X, X_val = X[train_idx], X[val_idx]
        y, y_val = y[train_idx], y[val_idx]
    n_rows = X.shape[0]
    step_rows = n_rows if batch_size is None else min(batch_size, n_rows)
    shuffle = step_rows < n_rows

    one_row = None
    if (
        step_rows == 1
        and isinstance(optimizer, GradientDescent)
        and isinstance(objective, RowObjective)
    ):
        one_row = OneRowSteps(objective, optimizer.lr)

    theta = np.array(theta0, dtype=np.float64)  # a copy: the caller's array is never changed
    initial_loss = objective.loss(theta, X, y)
    ceiling = DIVERGENCE_FACTOR * max(initial_loss, 1e-12)
    best_theta = theta
    losses: list[float] = []
    val_losses: list[float] = []
    best, best_epoch, stale, converged = math.inf, 0, 0, False
    with np.errstate(over="ignore", invalid="ignore"):
        for epoch in range(max_epochs):
            if one_row is not None and shuffle:
                order = rng.permutation(n_rows)
                theta = one_row.epoch(theta, X[order], y[order])
            elif shuffle:
                order = rng.permutation(n_rows)
                Xs, ys = X[order], y[order]
                for start in range(0, n_rows, step_rows):
                    Xb, yb = Xs[start : start + step_rows], ys[start : start + step_rows]
                    theta = optimizer.step(theta, objective.gradient(theta, Xb, yb))
            else:
                theta = optimizer.step(theta, objective.gradient(theta, X, y))
            loss = objective.loss(theta, X, y)
            monitored = loss
            if X_val is not None and y_val is not None:
                monitored = objective.loss(theta, X_val, y_val)
                val_losses.append(monitored)
            if not (math.isfinite(loss) and math.isfinite(monitored) and loss <= ceiling):
                raise ValueError(
                    f"training diverged: the loss went from {initial_loss:.6g} to {loss:.6g} "
                    f"by epoch {epoch}; lower the learning rate"
                )
            losses.append(loss)
            if on_epoch is not None:
                on_epoch(epoch, loss)
            stale = stale + 1 if tol is not None and monitored > best - tol else 0
            if monitored < best:
                best, best_epoch = monitored, epoch
                if X_val is not None:
                    best_theta = theta.copy()
            if tol is not None and stale >= n_iter_no_change:
                converged = True
                break
    result = best_theta if X_val is not None else theta
    history = History(initial_loss, tuple(losses), tuple(val_losses), best_epoch, converged)
    return result, history
