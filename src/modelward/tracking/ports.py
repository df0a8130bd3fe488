"""The runs port: what tracking, training, evaluation, the registry and the CLI need
from wherever runs are kept, a local store (`RunRepository`) or a team server
(`RemoteRunStore`). `run_store(workspace)` picks the adapter once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from modelward.store.workspace import Workspace
    from modelward.tracking.entities import Experiment, MetricPoint, MetricRow, Run
    from modelward.tracking.search import Node, OrderBy


class RunStore(Protocol):
    """Experiments, runs and everything logged to them."""

    def experiment(self, name: str, *, create: bool = False) -> Experiment:
        """The experiment called `name`, created on demand when `create`."""
        ...

    def experiments(self) -> list[Experiment]:
        """Every experiment, by name."""
        ...

    def create_run(self, values: dict[str, Any]) -> None:
        """Record a new running run (`id`, `experiment_id`, `name`, provenance)."""
        ...

    def log_batch(
        self,
        run_id: str,
        *,
        params: Sequence[tuple[str, str]] = (),
        tags: Sequence[tuple[str, str]] = (),
        metrics: Sequence[MetricRow] = (),
        batch_id: str | None = None,
    ) -> bool:
        """Write params, tags and metric points of one run at once.

        A batch sent again with the same `batch_id` is not stored twice; the answer
        says whether this call stored it.
        """
        ...

    def finish_run(self, run_id: str, status: str, error: str | None = None) -> None:
        """Record the final status and end time."""
        ...

    def add_inputs(self, run_id: str, inputs: Iterable[tuple[int, str]]) -> None:
        """Record dataset versions (by id) the run read, with their roles."""
        ...

    def add_artifacts(self, run_id: str, artifacts: Iterable[tuple[str, str, int]]) -> None:
        """Record stored files (path inside the run, digest, size) of the run."""
        ...

    def get(self, run_id: str) -> Run:
        """One run with everything logged to it; a unique id prefix is enough."""
        ...

    def metric_history(self, run_id: str, key: str) -> list[MetricPoint]:
        """Every logged point of one metric, by step then time."""
        ...

    def count_metric_points(self, run_id: str) -> int:
        """How many metric points a run has (all keys)."""
        ...

    def search(
        self,
        *,
        where: Node | None = None,
        order_by: Sequence[OrderBy] = (),
        experiment: str | None = None,
        limit: int = 1000,
    ) -> list[Run]:
        """Runs matching a parsed filter, sorted, newest first by default."""
        ...


def run_store(workspace: Workspace) -> RunStore:
    """The runs of `workspace`: its team server's when it has one, else its own store."""
    if workspace.remote is not None:
        from modelward.tracking.remote import RemoteRunStore

        return RemoteRunStore(workspace.remote)
    from modelward.tracking.repository import RunRepository

    return RunRepository(workspace.db)
