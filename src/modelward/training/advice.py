"""What to tell a user whose training run did not end well, from what the data shows.

Advice is only given when the data supports it: "standardise the features"
only when a feature is far from unit scale (and names it), "add l2" only when
the training rows are separable and no penalty is set, "lower the learning
rate" only when the loss went up or wanders between epochs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

# A feature whose root mean square is outside this range is far from unit scale.
SCALE_RANGE = (1e-2, 10.0)


def scale_problem(X: FloatArray, names: Sequence[str] | None = None) -> str | None:
    """`column 'income' has values of order 5.2e+04` for the feature farthest from unit
    scale, or None when every non-constant feature is within SCALE_RANGE."""
    if X.size == 0:
        return None
    rms = np.sqrt(np.mean(np.square(X), axis=0))
    spread = np.ptp(X, axis=0)
    low, high = SCALE_RANGE
    off = np.where((spread > 0) & ((rms > high) | (rms < low)), np.abs(np.log10(rms + 1e-300)), 0)
    if not off.any():
        return None
    worst = int(np.argmax(off))
    label = repr(str(names[worst])) if names is not None else str(worst)
    return f"column {label} has values of order {rms[worst]:.1e}"


def standardise_hint(X: FloatArray, names: Sequence[str] | None = None) -> str:
    """'; standardise the features (...)' when they need it, else ''."""
    problem = scale_problem(X, names)
    return f"; standardise the features ({problem})" if problem else ""


def not_converged(
    *,
    name: str,
    max_epochs: int,
    tol: float,
    losses: Sequence[float],
    separable: bool,
    l2: float,
    X: FloatArray,
    names: Sequence[str] | None,
) -> str:
    """The warning for a run that used every epoch with the loss still moving."""
    recent = np.diff(np.asarray(losses[-6:], dtype=np.float64))
    change = float(np.mean(recent)) if recent.size else 0.0
    head = (
        f"{name} did not converge in {max_epochs} epochs: the loss "
        f"{'falls' if change < 0 else 'changes'} by {abs(change):.2g} per epoch, more than "
        f"tol={tol:g}"
    )
    if separable and l2 == 0:
        return (
            f"{head}. Every training row is classified right and the weights keep growing: "
            "with separable classes an unpenalised log loss has no minimum. Set l2 "
            "(e.g. l2=0.001) for a definite fit, or raise tol to stop sooner"
        )
    hint = scale_problem(X, names)
    if hint:
        return f"{head}; standardise the features ({hint})"
    if recent.size >= 2 and (recent > 0).any() and (recent < 0).any():
        return (
            f"{head}, up and down between epochs: lower learning_rate, use a larger "
            "batch (optimizer minibatch or adam), or raise tol"
        )
    return f"{head}; raise max_epochs or learning_rate"
