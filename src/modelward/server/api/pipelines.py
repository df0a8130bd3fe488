"""/api/v1/pipelines: the history of pipeline runs, for clients of a team server.

A writer records (starts a run, records its steps, ends it); a reader reads. Who
started a run is the token's name, not what the client says. Each run keeps the
client's host and pid, so the client that starts the next run of a pipeline can tell
an earlier one whose process died (see `pipelines.history`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from modelward.identity import current_user
from modelward.pipelines.history import SqlPipelineHistory
from modelward.pipelines.run_records import (
    FINAL_STATUSES,
    MAX_RUNS_LISTED,
    MAX_TRIGGER,
    STEP_STATUSES,
    StepRecord,
)
from modelward.server.api.base import new_router, workspace_of
from modelward.server.api.runs import DIGEST, NO_NUL, Finite

router = new_router(tags=["pipelines"])

PIPELINE_RUN_ID = r"^[0-9a-f]{32}$"
STEP_NAME = r"^[a-z][a-z0-9_-]{0,31}$"
MAX_ERROR = 100_000

RunIdPath = Annotated[str, Path(pattern=PIPELINE_RUN_ID, description="a pipeline run's id")]
StepPath = Annotated[str, Path(pattern=STEP_NAME, description="a step's name")]
KeyPath = Annotated[str, Path(pattern=DIGEST, description="a step's key (sha256 hex)")]
ErrorText = Annotated[str, Field(max_length=MAX_ERROR, pattern=NO_NUL)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NewPipelineRun(_Body):
    """A run of a pipeline file that starts now."""

    pipeline: str = Field(min_length=1, max_length=128, pattern=NO_NUL)
    path: str = Field(min_length=1, max_length=4096, pattern=NO_NUL)
    spec_digest: str = Field(pattern=DIGEST)
    trigger: str = Field(min_length=1, max_length=MAX_TRIGGER, pattern=NO_NUL)
    host: str = Field(default="", max_length=255, pattern=NO_NUL)
    pid: int | None = Field(default=None, ge=1, le=2**31 - 1)


class StepBody(_Body):
    """One step of a run: its key, how it went, what it produced."""

    key: str = Field(pattern=DIGEST)
    status: Literal[STEP_STATUSES]  # type: ignore[valid-type]
    outputs: dict[Annotated[str, Field(max_length=250, pattern=NO_NUL)], Any] = Field(
        max_length=100
    )
    seconds: Finite = Field(ge=0)
    error: ErrorText | None = None


class FinishBody(_Body):
    """How a run ended."""

    status: Literal[FINAL_STATUSES]  # type: ignore[valid-type]
    error: ErrorText | None = None


def _history(request: Request) -> SqlPipelineHistory:
    return SqlPipelineHistory(workspace_of(request).db)


@router.post("/pipelines/runs", status_code=201, summary="Start a pipeline run")
def start_run(request: Request, body: NewPipelineRun) -> dict[str, Any]:
    run = _history(request).start(
        pipeline=body.pipeline,
        path=body.path,
        spec_digest=body.spec_digest,
        trigger=body.trigger,
        started_by=current_user(),
        host=body.host,
        pid=body.pid,
    )
    return run.to_dict()


@router.put("/pipelines/runs/{run_id}/steps/{name}", summary="Record a step of a run")
def record_step(
    request: Request, run_id: RunIdPath, name: StepPath, body: StepBody
) -> dict[str, Any]:
    step = StepRecord(name, body.key, body.status, body.outputs, body.seconds, body.error)
    _history(request).record_step(run_id, step)
    return step.to_dict()


@router.put("/pipelines/runs/{run_id}/status", summary="End a pipeline run")
def finish_run(request: Request, run_id: RunIdPath, body: FinishBody) -> dict[str, Any]:
    return _history(request).finish(run_id, body.status, body.error).to_dict()


@router.get("/pipelines/runs/{run_id}", summary="One pipeline run with its steps")
def get_run(request: Request, run_id: RunIdPath) -> dict[str, Any]:
    return _history(request).get(run_id).to_dict()


@router.get("/pipelines/runs", summary="The newest pipeline runs, newest first")
def list_runs(
    request: Request,
    pipeline: Annotated[str | None, Query(min_length=1, max_length=128, pattern=NO_NUL)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_RUNS_LISTED)] = 50,
) -> dict[str, Any]:
    runs = _history(request).runs(pipeline, limit=limit)
    return {"runs": [run.to_dict() for run in runs]}


@router.get("/pipelines/steps/{name}/{key}", summary="The step whose outputs a rerun reuses")
def cached_step(request: Request, name: StepPath, key: KeyPath) -> dict[str, Any]:
    found = _history(request).cached_step(name, key)
    return {"step": None if found is None else found.to_dict()}
