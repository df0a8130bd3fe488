"""The evaluation records port: kept in a local store (`EvaluationRepository`) or on a
team server (`RemoteEvaluationStore`); `evaluation_store(workspace)` picks one."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from modelward.evaluation.records import EvaluationRecord
    from modelward.store.workspace import Workspace


class EvaluationStore(Protocol):
    """Which model was scored on which dataset version, with what result."""

    def add(self, values: dict[str, Any]) -> EvaluationRecord:
        """Record one evaluation (`run_id`, `model_ref`, `dataset_version_id`, `target`,
        `task`, `n_rows`, `metrics`, `plots`) and return it."""
        ...

    def for_run(self, run_id: str) -> list[EvaluationRecord]:
        """Every evaluation of the model a run trained, oldest first."""
        ...


def evaluation_store(workspace: Workspace) -> EvaluationStore:
    """The evaluation records of `workspace`: its team server's, else its own store's."""
    if workspace.remote is not None:
        from modelward.evaluation.remote import RemoteEvaluationStore

        return RemoteEvaluationStore(workspace.remote)
    from modelward.evaluation.records import EvaluationRepository

    return EvaluationRepository(workspace.db)
