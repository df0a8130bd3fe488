"""The port through which `train` scores a fitted model on its held-out rows.

Training comes before evaluation in the lifecycle, so the trainer does not
import the metric functions. It defines what it needs, a `Scorer`, and the
composition root (`modelward/__init__.py`) plugs evaluation's
`holdout_metrics` in once per process; a caller may pass its own.
"""

from __future__ import annotations

from typing import Any, Protocol

from modelward.errors import InvalidInput


class Scorer(Protocol):
    """Metrics of a fitted estimator on held-out rows X, y for a task."""

    def __call__(self, estimator: Any, X: Any, y: Any, task: str) -> dict[str, float]:
        """`task` is "classification" or "regression"; returns metric name -> value."""
        ...


_default: Scorer | None = None


def use_scorer(scorer: Scorer | None) -> None:
    """Make `scorer` the one `train` uses when it was not given its own."""
    global _default
    _default = scorer


def default_scorer() -> Scorer:
    """The scorer the composition root installed; InvalidInput if there is none."""
    if _default is None:
        raise InvalidInput("no held-out scorer is wired into this process: pass score= to train")
    return _default
