"""Pipelines: a declared data -> transform -> train -> register -> promote run, each
step cached by a digest of its inputs, candidates trained in parallel.

import modelward as mw
run = mw.pipelines.run("pipeline.yaml")          # a PipelineRun: its steps, keys, outputs
mw.pipelines.show("pipeline.yaml")               # each step's key and whether it is cached
mw.pipelines.runs("churn")                       # recorded runs, newest first
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelward.pipelines.run_records import PipelineRun

__all__ = ["run", "runs", "show"]


def run(
    path: str | Path,
    *,
    force: bool = False,
    cluster: str | None = None,
    workers: int | None = None,
) -> PipelineRun:
    """Run a pipeline file (`mw pipeline run`); the recorded run. A failed or refused run
    is recorded too (`runs`), then its error is raised (GateFailed when the gate said no)."""
    from modelward.pipelines.runner import run_pipeline
    from modelward.pipelines.spec import load_pipeline
    from modelward.store.workspace import open_workspace

    workspace = open_workspace()
    spec = load_pipeline(
        path, checked=workspace.settings.home / "cache" / "checked-candidates.json"
    )
    outcome = run_pipeline(workspace, spec, force=force, cluster=cluster, workers=workers)
    if outcome.error is not None:
        raise outcome.error
    run_record: PipelineRun = outcome.run
    return run_record


def show(path: str | Path) -> list[dict[str, Any]]:
    """Each step of a pipeline file with its cache key and whether it is cached."""
    from modelward.pipelines.runner import plan_pipeline
    from modelward.pipelines.spec import load_pipeline
    from modelward.store.workspace import open_workspace

    return [step.to_dict() for step in plan_pipeline(open_workspace(), load_pipeline(path))]


def runs(pipeline: str | None = None, *, limit: int = 50) -> list[PipelineRun]:
    """Recorded runs (of one pipeline, or all), newest first."""
    from modelward.pipelines.ports import pipeline_history
    from modelward.store.workspace import open_workspace

    return pipeline_history(open_workspace()).runs(pipeline, limit=limit)
