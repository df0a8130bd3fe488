"""Experiment tracking: experiments, runs, params, tags, metrics, inputs, artifacts, search.

import modelward as mw
with mw.start_run(experiment="churn", seed=7) as run:
    run.log_params({"C": 1.0})
    run.log_metric("loss", 0.31, step=1)
mw.tracking.search_runs("metrics.loss < 0.5", order_by=["-metrics.loss"])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelward.tracking.entities import MetricPoint, Run
    from modelward.tracking.ports import RunStore
    from modelward.tracking.run import ActiveRun

__all__ = ["get_run", "metric_history", "search_runs", "start_run"]


def _repository() -> RunStore:
    from modelward.store.workspace import open_workspace
    from modelward.tracking.ports import run_store

    return run_store(open_workspace())


def start_run(
    experiment: str = "default",
    *,
    name: str | None = None,
    tags: Mapping[str, Any] | None = None,
    seed: int | None = None,
) -> ActiveRun:
    """Start a run; use it as a context manager so it ends (failed if the block raises).

    `seed`, when given, is recorded and seeds Python's and NumPy's global generators.
    """
    from modelward.store.workspace import open_workspace
    from modelward.tracking.run import ActiveRun

    return ActiveRun(open_workspace(), experiment=experiment, name=name, tags=tags, seed=seed)


def get_run(run_id: str) -> Run:
    """A run by id (or a unique prefix of it)."""
    return _repository().get(run_id)


def search_runs(
    filter: str | None = None,
    *,
    order_by: Sequence[str] | str | None = None,
    experiment: str | None = None,
    limit: int = 1000,
) -> list[Run]:
    """Runs matching a filter such as `metrics.f1 > 0.8 and params.optimizer = 'adam'`."""
    from modelward.tracking.search import parse_filter, parse_order_by

    return _repository().search(
        where=parse_filter(filter),
        order_by=parse_order_by(order_by),
        experiment=experiment,
        limit=limit,
    )


def metric_history(run_id: str, key: str) -> list[MetricPoint]:
    """Every point of one metric series of a run."""
    repository = _repository()
    return repository.metric_history(repository.get(run_id).id, key)
