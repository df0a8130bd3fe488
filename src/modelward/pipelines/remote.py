"""Pipeline history on a team server (`/api/v1/pipelines`), behind `PipelineHistory`.

The server cannot see this machine's processes: before a run starts, this client
marks the pipeline's runs that it started here and whose process is gone as failed
("interrupted"), as the local repository does, and reads report them so meanwhile.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import quote

from modelward.pipelines.run_records import (
    MAX_RUNS_LISTED,
    PipelineRun,
    StepRecord,
    as_seen,
    interrupted_error,
    is_interrupted,
    this_host,
    validate_finish,
    validate_limit,
    validate_run_id,
    validate_start,
    validate_step,
)
from modelward.store.remote import ServerClient


class RemotePipelineHistory:
    """Pipeline runs of a team server."""

    def __init__(self, client: ServerClient) -> None:
        self.client = client

    def start(
        self, *, pipeline: str, path: str, spec_digest: str, trigger: str, started_by: str
    ) -> PipelineRun:
        """Record a new "running" run on the server (`started_by` is the token's name
        there), after marking this host's interrupted runs of the pipeline failed."""
        validate_start(pipeline=pipeline, path=path, spec_digest=spec_digest, trigger=trigger)
        for run in self._recorded(pipeline, MAX_RUNS_LISTED):
            if is_interrupted(run):
                self.finish(run.id, "failed", interrupted_error(run))
        body = {
            "pipeline": pipeline,
            "path": path,
            "spec_digest": spec_digest,
            "trigger": trigger,
            "host": this_host(),
            "pid": os.getpid(),
        }
        return PipelineRun.from_dict(self.client.post("/pipelines/runs", body))

    def record_step(self, run_id: str, step: StepRecord) -> None:
        """Record one step of a run on the server (a resend replaces it: safe to retry)."""
        validate_step(step)
        validate_run_id(run_id)
        body = {key: value for key, value in step.to_dict().items() if key != "name"}
        self.client.put(f"/pipelines/runs/{run_id}/steps/{quote(step.name, safe='')}", body)

    def finish(self, run_id: str, status: str, error: str | None = None) -> PipelineRun:
        """End a run on the server as "succeeded", "failed" or "refused"."""
        validate_finish(status)
        validate_run_id(run_id)
        body = {"status": status, "error": error}
        return PipelineRun.from_dict(self.client.put(f"/pipelines/runs/{run_id}/status", body))

    def get(self, run_id: str) -> PipelineRun:
        """One run with its steps; NotFound for an unknown id."""
        validate_run_id(run_id)
        return as_seen(PipelineRun.from_dict(self.client.get(f"/pipelines/runs/{run_id}")))

    def runs(self, pipeline: str | None = None, *, limit: int = 50) -> list[PipelineRun]:
        """The newest `limit` runs (of one pipeline, or all), newest first."""
        validate_limit(limit)
        return [as_seen(run) for run in self._recorded(pipeline, limit)]

    def cached_step(self, name: str, key: str) -> StepRecord | None:
        """The newest step of that name and key whose outputs can be reused, if any."""
        found = self.client.get(f"/pipelines/steps/{quote(name, safe='')}/{quote(key, safe='')}")[
            "step"
        ]
        return None if found is None else StepRecord.from_dict(found)

    def _recorded(self, pipeline: str | None, limit: int) -> list[PipelineRun]:
        params: dict[str, Any] = {"limit": limit}
        if pipeline is not None:
            params["pipeline"] = pipeline
        found = self.client.get("/pipelines/runs", params)
        return [PipelineRun.from_dict(run) for run in found["runs"]]
