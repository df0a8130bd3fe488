"""Running a pipeline: each step keyed by a digest of its inputs, reused when cached,
recorded as it goes.

    spec = load_pipeline("pipeline.yaml")
    outcome = run_pipeline(open_workspace(), spec, progress=print)
    outcome.run.status        # succeeded | failed | refused

A step's key digests what it reads: the data's content (a file's sha256 through
the stat cache, a version's digest), the spec, params and candidates, the
modelward version, and the key of the step before it. A key recorded as ran
before, whose outputs still exist, is not run again (`force` reruns all). The
data steps that query a source (`import_sql`, `feedback`) run every time, and
their key is the digest of what they read, so the steps after them are cached
when the rows did not change.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from modelward.errors import GateFailed, ModelwardError
from modelward.pipelines.keys import (
    QUERIED,
    dataset_record,
    static_key,
    step_key,
    still_there,
    upstream_of,
)
from modelward.pipelines.spec import PipelineSpec
from modelward.pipelines.steps import STEPS, Progress, StepContext
from modelward.store.workspace import Workspace

log = logging.getLogger("modelward.pipelines")

RAN, CACHED, FAILED, REFUSED = "ran", "cached", "failed", "refused"


def _quiet(_text: str) -> None:
    return None


@dataclass(frozen=True)
class PlannedStep:
    """A step as `mw pipeline show` describes it before running anything."""

    name: str
    key: str | None  # None: only known once the steps before it ran
    cached: bool
    outputs: Mapping[str, Any] = field(default_factory=dict)
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description."""
        return {
            "step": self.name,
            "key": self.key,
            "cached": self.cached,
            "outputs": dict(self.outputs),
            "note": self.note,
        }


# -- the run ----------------------------------------------------------------------
@dataclass(frozen=True)
class PipelineOutcome:
    """A finished pipeline run, as recorded, and the error that ended it (if any)."""

    run: Any  # pipelines.history.PipelineRun
    error: ModelwardError | None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description: every step's key, status and outputs."""
        run = self.run
        return {
            "pipeline": run.pipeline,
            "run_id": run.id,
            "status": run.status,
            "trigger": run.trigger,
            "started_by": run.started_by,
            "error": run.error,
            "steps": [
                {
                    "step": step.name,
                    "key": step.key,
                    "status": step.status,
                    "outputs": dict(step.outputs),
                    "seconds": round(step.seconds, 3),
                    "error": step.error,
                }
                for step in run.steps
            ],
        }


def run_pipeline(
    workspace: Workspace,
    spec: PipelineSpec,
    *,
    force: bool = False,
    trigger: str = "manual",
    cluster: str | None = None,
    workers: int | None = None,
    progress: Progress = _quiet,
    started_by: str | None = None,
    executor: Any = None,
) -> PipelineOutcome:
    """Run the steps of `spec` in order, reusing cached ones; recorded in the history.

    A step that fails ends the run (status failed, or refused when the gate said no);
    what earlier steps made stays, so the next run resumes from them. `executor` trains
    the candidates (default: `candidates.executor_for(cluster, workers)`, made as the
    run starts when the train step is not cached, so local workers boot meanwhile).
    """
    from modelward.identity import current_user
    from modelward.pipelines.ports import pipeline_history
    from modelward.pipelines.run_records import StepRecord

    history = pipeline_history(workspace)
    record = history.start(
        pipeline=spec.name,
        path=str(spec.path),
        spec_digest=spec.digest,
        trigger=trigger,
        started_by=started_by or current_user(),
    )
    ctx = StepContext(workspace, spec, progress, record.id, trigger, cluster, workers)
    ctx.executor = executor
    error: ModelwardError | None = None
    status = "succeeded"
    for name in spec.steps:
        started = time.perf_counter()
        key = static_key(ctx.keys, spec, name, workspace)
        cached = None if force or key is None else history.cached_step(name, key)
        if key is not None and cached is not None and still_there(workspace, name, cached.outputs):
            ctx.keys[name], ctx.outputs[name] = key, dict(cached.outputs)
            history.record_step(
                record.id,
                StepRecord(name, key, CACHED, dict(cached.outputs), time.perf_counter() - started),
            )
            ctx.say(name, f"cached ({_summary(name, cached.outputs)})")
            continue
        queried = name == "data" and spec.data.kind in QUERIED  # may well read nothing new
        if ctx.executor is None and spec.train and "train" not in ctx.keys and not queried:
            # a step must run and training may follow: local workers boot meanwhile
            from modelward.pipelines.candidates import executor_for

            ctx.executor = executor_for(cluster, workers)
        ctx.partial = {}
        try:
            outputs = STEPS[name](ctx)
        except Exception as exc:  # recorded as the step's failure, then reported
            if isinstance(exc, ModelwardError):
                error = exc
            else:
                log.exception("pipeline %s: step %s failed", spec.name, name)
                error = ModelwardError(f"step {name} failed: {type(exc).__name__}: {exc}")
            refused = isinstance(exc, GateFailed)
            status = "refused" if refused else "failed"
            made = dict(ctx.partial)
            history.record_step(
                record.id,
                StepRecord(
                    name,
                    key or step_key(name, ctx.keys.get(upstream_of(spec, name) or ""), {}),
                    REFUSED if refused else FAILED,
                    made,
                    time.perf_counter() - started,
                    error.message[:2000],
                ),
            )
            ctx.say(name, f"{'refused' if refused else 'failed'}: {error.message}")
            break
        status_of_step = RAN
        if key is None:  # a querying data step: keyed by what it read
            key = step_key(
                name,
                None,
                {
                    "kind": spec.data.kind,
                    "name": spec.data.name,
                    "content": _dataset_digest(workspace, outputs),
                },
            )
            if not outputs.get("new") and history.cached_step(name, key) is not None:
                status_of_step = CACHED  # it read what an earlier run read: nothing new
        ctx.keys[name], ctx.outputs[name] = key, outputs
        history.record_step(
            record.id, StepRecord(name, key, status_of_step, outputs, time.perf_counter() - started)
        )
        ctx.say(name, f"{status_of_step} ({_summary(name, outputs)})")
    if executor is None and hasattr(ctx.executor, "close"):
        ctx.executor.close()  # made here (a Dask client): not left connected
    finished = history.finish(record.id, status, error.message[:2000] if error else None)
    return PipelineOutcome(finished, error)


def _dataset_digest(workspace: Workspace, outputs: Mapping[str, Any]) -> str:
    return str(dataset_record(workspace, str(outputs["dataset"])).digest)


def _summary(name: str, outputs: Mapping[str, Any]) -> str:
    if name in ("data", "transform"):
        return str(outputs.get("dataset"))
    if name == "holdout":
        return f"{outputs.get('fit')} and {outputs.get('holdout')}"
    if name == "train":
        return (
            f"best {outputs.get('best_candidate')}: {outputs.get('select')} {outputs.get('value')}"
        )
    if name == "register":
        return str(outputs.get("model"))
    if outputs.get("promoted"):
        return f"{outputs.get('alias')} -> version {outputs.get('to')}"
    if outputs.get("to") is not None:
        return f"{outputs.get('alias')} stays at version {outputs.get('to')}"
    return "not promoted"


def plan_pipeline(workspace: Workspace, spec: PipelineSpec) -> list[PlannedStep]:
    """Each step's key and whether it is cached, without running anything."""
    from modelward.pipelines.ports import pipeline_history

    history = pipeline_history(workspace)
    keys: dict[str, str] = {}
    planned: list[PlannedStep] = []
    for name in spec.steps:
        key = static_key(keys, spec, name, workspace)
        if key is None:
            note = (
                "runs every time: its key is the digest of the rows it reads"
                if name == "data"
                else "known once the steps before it ran"
            )
            planned.append(PlannedStep(name, None, False, note=note))
            continue
        found = history.cached_step(name, key)
        if found is not None and still_there(workspace, name, found.outputs):
            keys[name] = key
            planned.append(PlannedStep(name, key, True, found.outputs))
        else:
            keys[name] = key
            planned.append(PlannedStep(name, key, False, note="will run"))
    return planned
