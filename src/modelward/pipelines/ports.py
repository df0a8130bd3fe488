"""The pipeline history port: kept in a local store (`SqlPipelineHistory`) or on a team
server (`RemotePipelineHistory`); `pipeline_history(workspace)` picks one."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from modelward.pipelines.run_records import PipelineRun, StepRecord
    from modelward.store.workspace import Workspace


class PipelineHistory(Protocol):
    """Runs of pipelines, the steps each recorded, and the step outputs a rerun reuses."""

    def start(
        self, *, pipeline: str, path: str, spec_digest: str, trigger: str, started_by: str
    ) -> PipelineRun:
        """Record a new "running" run of a pipeline file and return it; this pipeline's
        runs whose process is gone are marked failed ("interrupted") first."""
        ...

    def record_step(self, run_id: str, step: StepRecord) -> None:
        """Record one step of a run (one transaction); recorded again, it is replaced."""
        ...

    def finish(self, run_id: str, status: str, error: str | None = None) -> PipelineRun:
        """End a run as "succeeded", "failed" or "refused" and return it."""
        ...

    def get(self, run_id: str) -> PipelineRun:
        """One run with its steps; an unknown id raises NotFound."""
        ...

    def runs(self, pipeline: str | None = None, *, limit: int = 50) -> list[PipelineRun]:
        """The newest runs (of one pipeline, or all), newest first."""
        ...

    def cached_step(self, name: str, key: str) -> StepRecord | None:
        """The newest step of that name and key that "ran" (or was "cached"): the one
        whose outputs a rerun can reuse; None when there is none."""
        ...


def pipeline_history(workspace: Workspace) -> PipelineHistory:
    """The pipeline history of `workspace`: its team server's, else its own store's."""
    if workspace.remote is not None:
        from modelward.pipelines.remote import RemotePipelineHistory

        return RemotePipelineHistory(workspace.remote)
    from modelward.pipelines.history import SqlPipelineHistory

    return SqlPipelineHistory(workspace.db)
