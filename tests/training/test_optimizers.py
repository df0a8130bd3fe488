"""Optimizers and the epoch loop, checked against their closed-form update rules."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from modelward.training.epochs import run_epochs
from modelward.training.objectives import BinaryLogLoss, CrossEntropy, Penalty, SquaredError
from modelward.training.optimizers import (
    DEFAULT_LEARNING_RATES,
    Adam,
    FloatArray,
    GradientDescent,
    OneRowSteps,
    make_plan,
    split_validation,
)


class Quadratic:
    """J(theta) = 1/(2m) sum_i ||theta - y_i||^2: the optimum is the mean of y's rows."""

    def loss(self, theta: FloatArray, X: FloatArray, y: np.ndarray) -> float:
        return 0.5 * float(np.mean(np.sum((theta - y) ** 2, axis=1)))

    def gradient(self, theta: FloatArray, X: FloatArray, y: np.ndarray) -> FloatArray:
        grad: FloatArray = theta - y.mean(axis=0)
        return grad


class Recording(Quadratic):
    """Quadratic that remembers which rows (by X's single column, the row id) each step saw."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    def gradient(self, theta: FloatArray, X: FloatArray, y: np.ndarray) -> FloatArray:
        self.batches.append([int(v) for v in X[:, 0]])
        return super().gradient(theta, X, y)


def rows(n: int = 100, seed: int = 0) -> tuple[FloatArray, FloatArray]:
    """Row ids as X, and 3-d targets whose mean is the optimum."""
    y = np.random.default_rng(seed).normal(2.0, 1.0, size=(n, 3))
    return np.arange(n, dtype=np.float64).reshape(-1, 1), y


# --- update rules ---------------------------------------------------------------------------


def test_gradient_descent_step_is_exactly_theta_minus_lr_grad() -> None:
    theta = np.array([1.0, -2.0, 0.5])
    grad = np.array([0.3, -0.1, 4.0])
    before = theta.copy()
    out = GradientDescent(0.1).step(theta, grad)
    np.testing.assert_array_equal(out, theta - 0.1 * grad)
    np.testing.assert_array_equal(theta, before)  # the input is left untouched


def test_adam_first_step_moves_each_parameter_by_lr_times_sign_of_grad() -> None:
    # t=1: m_hat = g and v_hat = g^2 exactly, so the step is lr * g / (|g| + eps)
    lr, eps = 0.01, 1e-8
    theta = np.array([0.5, -1.0, 2.0, 0.0])
    grad = np.array([3.0, -0.002, 1e-3, 250.0])
    out = Adam(lr, epsilon=eps).step(theta, grad)
    np.testing.assert_allclose(theta - out, lr * grad / (np.abs(grad) + eps), rtol=1e-12)
    np.testing.assert_allclose(theta - out, lr * np.sign(grad), rtol=1e-5)


def test_adam_matches_the_bias_corrected_recurrence_over_several_steps() -> None:
    lr, b1, b2, eps = 0.05, 0.8, 0.99, 1e-6
    rng = np.random.default_rng(1)
    grads = rng.normal(size=(6, 4))
    adam = Adam(lr, beta1=b1, beta2=b2, epsilon=eps)
    theta = np.zeros(4)
    expected = np.zeros(4)
    m = np.zeros(4)
    v = np.zeros(4)
    for t, g in enumerate(grads, start=1):
        theta = adam.step(theta, g)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        expected = expected - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
        np.testing.assert_allclose(theta, expected, rtol=1e-12, atol=1e-15)


def test_adam_with_a_constant_gradient_moves_lr_every_step() -> None:
    # bias correction makes m_hat = g and v_hat = g^2 for every t when g is constant
    adam = Adam(0.1)
    theta = np.array([0.0, 0.0])
    for t in range(1, 11):
        theta = adam.step(theta, np.array([2.0, -0.5]))
        np.testing.assert_allclose(theta, [-0.1 * t, 0.1 * t], rtol=1e-6)


@settings(max_examples=50, deadline=None)
@given(
    grad=arrays(np.float64, 5, elements=st.floats(-1e6, 1e6, allow_subnormal=False)),
    lr=st.floats(1e-4, 1.0),
)
def test_adam_first_step_never_exceeds_lr_and_goes_downhill(grad: FloatArray, lr: float) -> None:
    step = np.zeros(5) - Adam(lr).step(np.zeros(5), grad)
    assert np.all(np.abs(step) <= lr * (1 + 1e-12))
    assert np.all(step * grad >= 0)


def test_adam_rejects_betas_outside_the_unit_interval() -> None:
    with pytest.raises(ValueError, match="beta1"):
        Adam(0.1, beta1=1.0)


# --- named policies -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "batch_size", "expected_rows", "kind"),
    [
        ("gd", 32, None, GradientDescent),
        ("sgd", 32, 1, GradientDescent),
        ("minibatch", 32, 32, GradientDescent),
        ("minibatch", None, None, GradientDescent),
        ("adam", 16, 16, Adam),
        ("adam", None, None, Adam),
    ],
)
def test_make_plan_resolves_batching_and_default_learning_rate(
    name: str, batch_size: int | None, expected_rows: int | None, kind: type
) -> None:
    plan = make_plan(name, None, batch_size)
    assert plan.batch_size == expected_rows
    assert isinstance(plan.optimizer, kind)
    assert plan.learning_rate == DEFAULT_LEARNING_RATES[name]
    assert make_plan(name, 0.5, batch_size).learning_rate == 0.5


def test_make_plan_gives_a_fresh_adam_each_time() -> None:
    assert make_plan("adam").optimizer is not make_plan("adam").optimizer


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"name": "lbfgs"}, "unknown optimizer 'lbfgs'"),
        ({"name": "gd", "learning_rate": 0.0}, "learning_rate must be a positive"),
        ({"name": "gd", "learning_rate": math.nan}, "learning_rate must be a positive"),
        ({"name": "minibatch", "batch_size": 0}, "batch_size must be a positive"),
        ({"name": "adam", "batch_size": 2.5}, "batch_size must be a positive"),
    ],
)
def test_make_plan_rejects_bad_settings(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make_plan(**kwargs)  # type: ignore[arg-type]


# --- the epoch loop -------------------------------------------------------------------------


def test_full_batch_makes_one_unshuffled_step_per_epoch_and_reports_every_epoch() -> None:
    X, y = rows(50)
    objective = Recording()
    seen: list[tuple[int, float]] = []
    theta, history = run_epochs(
        objective,
        np.zeros(3),
        X,
        y,
        optimizer=GradientDescent(0.5),
        batch_size=None,
        max_epochs=30,
        tol=None,
        rng=np.random.default_rng(0),
        on_epoch=lambda epoch, loss: seen.append((epoch, loss)),
    )
    assert objective.batches == [list(range(50))] * 30
    assert [epoch for epoch, _ in seen] == list(range(30))
    assert tuple(loss for _, loss in seen) == history.losses
    assert history.n_epochs == 30 and not history.converged
    np.testing.assert_allclose(theta, y.mean(axis=0), rtol=1e-8)


@pytest.mark.parametrize(("batch_size", "steps"), [(1, 37), (8, 5), (37, 1), (100, 1)])
def test_each_epoch_visits_every_row_once_in_batches(batch_size: int, steps: int) -> None:
    X, y = rows(37)
    objective = Recording()
    run_epochs(
        objective,
        np.zeros(3),
        X,
        y,
        optimizer=GradientDescent(0.01),
        batch_size=batch_size,
        max_epochs=3,
        tol=None,
        rng=np.random.default_rng(0),
    )
    assert len(objective.batches) == 3 * steps
    epochs = [objective.batches[i * steps : (i + 1) * steps] for i in range(3)]
    orders = [[row for batch in epoch for row in batch] for epoch in epochs]
    for order in orders:
        assert sorted(order) == list(range(37))
        assert all(len(batch) <= batch_size for batch in epochs[0])
    if batch_size < 37:
        assert orders[0] != orders[1]  # reshuffled every epoch


def test_same_generator_seed_replays_the_same_run() -> None:
    X, y = rows(64)

    def once(seed: int) -> FloatArray:
        theta, _ = run_epochs(
            Quadratic(),
            np.zeros(3),
            X,
            y,
            optimizer=Adam(0.05),
            batch_size=4,
            max_epochs=5,
            tol=None,
            rng=np.random.default_rng(seed),
        )
        return theta

    np.testing.assert_array_equal(once(3), once(3))
    assert not np.array_equal(once(3), once(4))


def test_tol_stops_after_n_iter_no_change_epochs_without_improvement() -> None:
    X, y = rows(40)
    _, history = run_epochs(
        Quadratic(),
        np.zeros(3),
        X,
        y,
        optimizer=GradientDescent(1.0),  # reaches the optimum in one step
        batch_size=None,
        max_epochs=100,
        tol=1e-9,
        n_iter_no_change=3,
        rng=np.random.default_rng(0),
    )
    assert history.converged
    assert history.n_epochs == 4  # the first epoch improves, the next three do not
    assert history.best_epoch == 0


def test_validation_split_is_monitored_and_the_best_parameters_are_returned() -> None:
    X, y = rows(100)
    objective = Recording()
    theta, history = run_epochs(
        objective,
        np.zeros(3),
        X,
        y,
        optimizer=GradientDescent(0.3),
        batch_size=None,
        max_epochs=200,
        tol=1e-4,
        n_iter_no_change=4,
        validation_fraction=0.2,
        rng=np.random.default_rng(0),
    )
    train_rows = objective.batches[0]
    assert len(train_rows) == 80
    held_out = sorted(set(range(100)) - set(train_rows))
    assert len(held_out) == 20
    assert history.converged and history.n_epochs < 200
    assert len(history.validation_losses) == history.n_epochs
    assert history.best_epoch == int(np.argmin(history.validation_losses))
    # the returned parameters are those of the best validation epoch, not the last
    best_val = Quadratic().loss(theta, X[held_out], y[held_out])
    assert best_val == pytest.approx(min(history.validation_losses), rel=1e-12)


def test_split_validation_rejects_fractions_that_leave_nothing() -> None:
    rng = np.random.default_rng(0)
    train, val = split_validation(10, 0.25, rng)
    assert len(val) == 3 and len(train) == 7
    assert sorted([*train, *val]) == list(range(10))
    with pytest.raises(ValueError, match="no rows to train on"):
        split_validation(1, 0.5, rng)
    with pytest.raises(ValueError, match=r"in \(0, 1\)"):
        split_validation(10, 1.0, rng)


def test_a_diverging_loss_raises_with_advice() -> None:
    X, y = rows(20)
    with pytest.raises(ValueError, match=r"training diverged.*lower the learning rate"):
        run_epochs(
            Quadratic(),
            np.zeros(3),
            X,
            y,
            optimizer=GradientDescent(3.0),  # |1 - lr| > 1: every step overshoots further
            batch_size=None,
            max_epochs=100,
            tol=None,
            rng=np.random.default_rng(0),
        )


def test_theta0_is_not_modified() -> None:
    X, y = rows(10)
    theta0 = np.zeros(3)
    run_epochs(
        Quadratic(),
        theta0,
        X,
        y,
        optimizer=Adam(0.1),
        batch_size=2,
        max_epochs=2,
        rng=np.random.default_rng(0),
    )
    np.testing.assert_array_equal(theta0, np.zeros(3))


# --- one-row steps a block at a time ------------------------------------------------------


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def _step_by_step(
    kind: str, theta: FloatArray, X: FloatArray, y: np.ndarray, lr: float, l2: float, nw: int
) -> FloatArray:
    """SGD by its definition, one row at a time: theta <- theta - lr * (x r + l2 D theta),
    with r = d loss / d z written out for each loss (no modelward code)."""
    theta = theta.copy()
    for x, target in zip(X, y, strict=True):
        z = x @ theta
        if kind == "squared":
            r = z - target
        elif kind == "binary":
            r = _sigmoid(float(z)) - target
        else:
            e = np.exp(z - z.max())
            r = e / e.sum() - target
        grad = np.outer(x, r).reshape(theta.shape)
        grad[:nw] += l2 * theta[:nw]
        theta = theta - lr * grad
    return theta


@pytest.mark.parametrize("kind", ["squared", "binary", "softmax"])
@pytest.mark.parametrize("l2", [0.0, 0.05])
@pytest.mark.parametrize("intercept", [True, False])
@pytest.mark.parametrize("sweeps", [OneRowSteps.max_sweeps, 1])  # 1: finished row by row
def test_one_row_steps_in_blocks_equal_sgd_step_by_step(
    kind: str, l2: float, intercept: bool, sweeps: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(OneRowSteps, "max_sweeps", sweeps)

    rng = np.random.default_rng(3)
    n, d = 2 * OneRowSteps.block_rows + 13, 4  # two whole blocks and a short one
    X = rng.standard_normal((n, d))
    if intercept:
        X = np.column_stack([X, np.ones(n)])
    penalty = Penalty(l2, d)
    if kind == "squared":
        objective: Any = SquaredError(penalty)
        y: np.ndarray = X[:, :d] @ rng.standard_normal(d) + rng.standard_normal(n)
        theta: FloatArray = np.asarray(rng.standard_normal(X.shape[1]))
    elif kind == "binary":
        objective = BinaryLogLoss(penalty)
        y = (rng.random(n) < 0.5).astype(np.float64)
        theta = np.asarray(rng.standard_normal(X.shape[1]))
    else:
        objective = CrossEntropy(penalty)
        y = np.eye(3)[rng.integers(0, 3, n)]
        theta = rng.standard_normal((X.shape[1], 3))
    lr = 0.05
    expected = _step_by_step(kind, theta, X, y, lr, l2, d)
    got = OneRowSteps(objective, lr).epoch(theta, X, y)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-11)
    assert not np.shares_memory(got, theta)


def test_sgd_epochs_on_a_row_objective_take_the_block_path_and_match_the_batch_loop() -> None:
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.standard_normal((90, 3)), np.ones(90)])
    y = X @ np.array([1.0, -2.0, 0.5, 0.3]) + 0.1 * rng.standard_normal(90)

    class Opaque:  # the same objective without the RowObjective members: stepped row by row
        inner = SquaredError(Penalty(0.01, 3))

        def loss(self, theta: FloatArray, X: FloatArray, y: np.ndarray) -> float:
            return self.inner.loss(theta, X, y)

        def gradient(self, theta: FloatArray, X: FloatArray, y: np.ndarray) -> FloatArray:
            return self.inner.gradient(theta, X, y)

    runs = [
        run_epochs(
            objective,
            np.zeros(4),
            X,
            y,
            optimizer=GradientDescent(0.01),
            batch_size=1,
            max_epochs=7,
            tol=None,
            rng=np.random.default_rng(5),
        )
        for objective in (SquaredError(Penalty(0.01, 3)), Opaque())
    ]
    np.testing.assert_allclose(runs[0][0], runs[1][0], rtol=1e-10)
    assert runs[0][1].losses == pytest.approx(runs[1][1].losses, rel=1e-10)
