"""Pipeline runs as recorded: a run of a pipeline file and the steps it recorded (each
with the key that caches it and the outputs it produced), who started it and why, the
checks a recorded value passes, and how a run killed half-way is told (see
`pipelines.history`, which keeps them).
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import orjson

from modelward.errors import InvalidInput, NotFound

STEP_STATUSES = ("ran", "cached", "failed", "refused")
REUSABLE_STATUSES = ("ran", "cached")  # a step whose outputs a later run may take as its own
RUN_STATUSES = ("running", "succeeded", "failed", "refused")
FINAL_STATUSES = ("succeeded", "failed", "refused")
MAX_TRIGGER = 500
MAX_RUNS_LISTED = 1000
INTERRUPTED = "interrupted"

_STEP_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
_KEY = re.compile(r"^[0-9a-f]{64}$")
_RUN_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class StepRecord:
    """One step of a pipeline run: its cache key, how it went, what it produced."""

    name: str  # "data" | "transform" | "train" | "register" | "promote"
    key: str  # sha256 hex of the step's inputs
    status: str  # "ran" | "cached" | "failed" | "refused"
    outputs: Mapping[str, Any]  # JSON-able, e.g. {"dataset": "people@3"}
    seconds: float
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description."""
        return {
            "name": self.name,
            "key": self.key,
            "status": self.status,
            "outputs": dict(self.outputs),
            "seconds": self.seconds,
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StepRecord:
        """The record `to_dict` described."""
        return cls(
            name=data["name"],
            key=data["key"],
            status=data["status"],
            outputs=data["outputs"],
            seconds=float(data["seconds"]),
            error=data.get("error"),
        )


@dataclass(frozen=True)
class PipelineRun:
    """One run of a pipeline file, with the steps it recorded so far, in order."""

    id: str  # uuid4 hex
    pipeline: str  # the pipeline's `name:`
    path: str  # the file as given
    spec_digest: str
    status: str  # "running" | "succeeded" | "failed" | "refused"
    trigger: str  # "manual" or "alert:<model>/<rule name>"
    started_by: str
    started_at: datetime
    finished_at: datetime | None
    steps: tuple[StepRecord, ...]
    error: str | None
    host: str = ""  # where the process that started it runs
    pid: int | None = field(default=None)

    @property
    def seconds(self) -> float | None:
        """How long it took, or None while it runs."""
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    def count(self, status: str) -> int:
        """How many of its steps ended with `status` ("ran", "cached", ...)."""
        return sum(1 for step in self.steps if step.status == status)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description."""
        return {
            "id": self.id,
            "pipeline": self.pipeline,
            "path": self.path,
            "spec_digest": self.spec_digest,
            "status": self.status,
            "trigger": self.trigger,
            "started_by": self.started_by,
            "started_at": self.started_at.isoformat(),
            "finished_at": None if self.finished_at is None else self.finished_at.isoformat(),
            "steps": [step.to_dict() for step in self.steps],
            "error": self.error,
            "host": self.host,
            "pid": self.pid,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PipelineRun:
        """The run `to_dict` described (what the team server answers)."""
        finished = data.get("finished_at")
        return cls(
            id=data["id"],
            pipeline=data["pipeline"],
            path=data["path"],
            spec_digest=data["spec_digest"],
            status=data["status"],
            trigger=data["trigger"],
            started_by=data["started_by"],
            started_at=datetime.fromisoformat(data["started_at"]),
            finished_at=None if finished is None else datetime.fromisoformat(finished),
            steps=tuple(StepRecord.from_dict(step) for step in data["steps"]),
            error=data.get("error"),
            host=data.get("host", ""),
            pid=data.get("pid"),
        )


# -- validation (shared by the local repository, the remote client and the server) -----


def validate_start(*, pipeline: str, path: str, spec_digest: str, trigger: str) -> None:
    """Raise InvalidInput naming the first field of a new run that is not acceptable."""
    if not pipeline or len(pipeline) > 128:
        raise InvalidInput("pipeline name must be 1-128 characters", field="pipeline")
    if not path:
        raise InvalidInput("pipeline path is empty", field="path")
    if not _KEY.match(spec_digest):
        raise InvalidInput("spec_digest is not a sha256 hex digest", field="spec_digest")
    if not trigger or len(trigger) > MAX_TRIGGER:
        raise InvalidInput(f"trigger must be 1-{MAX_TRIGGER} characters", field="trigger")
    if any("\x00" in value for value in (pipeline, path, trigger)):
        raise InvalidInput("a NUL character in the pipeline's name, path or trigger")


def validate_step(step: StepRecord) -> None:
    """Raise InvalidInput naming what is wrong with a step record."""
    if not _STEP_NAME.match(step.name):
        raise InvalidInput(f"step name {step.name!r} is not a short lowercase name", field="name")
    if not _KEY.match(step.key):
        raise InvalidInput(f"step {step.name}: key is not a sha256 hex digest", field="key")
    if step.status not in STEP_STATUSES:
        raise InvalidInput(
            f"step {step.name}: status {step.status!r} is not one of {', '.join(STEP_STATUSES)}",
            field="status",
        )
    if not (step.seconds >= 0 and step.seconds != float("inf")):
        raise InvalidInput(f"step {step.name}: seconds must be a finite number >= 0")
    try:
        orjson.dumps(dict(step.outputs))
    except (TypeError, orjson.JSONEncodeError):
        message = f"step {step.name}: outputs are not JSON-able"
        raise InvalidInput(message, field="outputs") from None


def validate_finish(status: str) -> None:
    """Raise InvalidInput unless `status` ends a run."""
    if status not in FINAL_STATUSES:
        raise InvalidInput(
            f"a run ends {', '.join(FINAL_STATUSES)}, not {status!r}", field="status"
        )


def validate_run_id(run_id: str) -> None:
    """Raise NotFound for an id no run can have (so no query is made for it)."""
    if not _RUN_ID.match(run_id):
        raise NotFound(f"no pipeline run {run_id!r}")


def validate_limit(limit: int) -> None:
    """Raise InvalidInput for a listing size out of range."""
    if not 1 <= limit <= MAX_RUNS_LISTED:
        raise InvalidInput(f"limit must be 1-{MAX_RUNS_LISTED}", field="limit")


# -- interrupted runs ---------------------------------------------------------------


def this_host() -> str:
    """The name runs started here are recorded under."""
    return socket.gethostname()[:255]


def process_alive(pid: int) -> bool:
    """Whether process `pid` exists on this host (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    except OSError:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def is_interrupted(run: PipelineRun) -> bool:
    """A run still recorded "running" whose process is known to be gone."""
    return (
        run.status == "running"
        and run.pid is not None
        and run.host == this_host()
        and not process_alive(run.pid)
    )


def interrupted_error(run: PipelineRun) -> str:
    """What an interrupted run's error says."""
    return f"{INTERRUPTED}: process {run.pid} on {run.host} ended before the run did"


def as_seen(run: PipelineRun) -> PipelineRun:
    """The run as reads report it: an interrupted one as failed."""
    if not is_interrupted(run):
        return run
    return replace(run, status="failed", error=interrupted_error(run))
