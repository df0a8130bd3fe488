"""Tracking domain objects: plain frozen values, no I/O."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from modelward.errors import InvalidInput

RUNNING, FINISHED, FAILED = "running", "finished", "failed"
STATUSES = (RUNNING, FINISHED, FAILED)

_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-/ ]{0,249}")


def validate_key(key: str, what: str) -> str:
    """A param, tag or metric key: 1-250 letters, digits, '_', '-', '.', '/', ' '."""
    if not isinstance(key, str) or not _KEY.fullmatch(key) or key != key.strip():
        raise InvalidInput(
            f"illegal {what} name {key!r}: use up to 250 letters, digits, '_', '-', '.', '/'"
        )
    return key


def metric_value(key: str, value: Any, step: int | None = None) -> float:
    """A metric value as a float. Non-numbers, booleans, NaN and infinities are refused.

    Refusing NaN/inf at log time keeps every stored series comparable and
    searchable on every backend (SQLite cannot store NaN); a diverging loss is
    reported where it happens instead of poisoning later comparisons.
    """
    kind = type(value)
    if kind is float or kind is int:  # the common case, checked cheaply
        number = float(value)
        if math.isfinite(number):
            return number
    at = f" at step {step}" if step is not None else ""
    if isinstance(value, bool) or not _is_number(value):
        raise InvalidInput(f"metric {key!r}{at} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise InvalidInput(f"metric {key!r}{at} is {number}: only finite values can be logged")
    return number


def _is_number(value: Any) -> bool:
    if isinstance(value, int | float):
        return True
    # numpy scalars without importing numpy
    return hasattr(value, "dtype") and getattr(value.dtype, "kind", "") in "iuf" and value.ndim == 0


def param_value(key: str, value: Any) -> str:
    """A parameter value as stored (text); containers are refused."""
    if isinstance(value, dict | list | tuple | set):
        raise InvalidInput(f"param {key!r} must be a scalar, got {type(value).__name__}")
    text = str(value)
    if len(text) > 6000:
        raise InvalidInput(f"param {key!r} is longer than 6000 characters")
    return text


# (key, value, step, timestamp in ms): how buffered points travel to the database.
MetricRow = tuple[str, float, int, int]


@dataclass(frozen=True)
class MetricPoint:
    """One logged value of a metric series."""

    key: str
    value: float
    step: int
    timestamp: int  # milliseconds since the epoch


@dataclass(frozen=True)
class Experiment:
    """A named group of runs."""

    id: int
    name: str
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description."""
        return {"id": self.id, "name": self.name, "created_at": self.created_at.isoformat()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Experiment:
        """The experiment `to_dict` described (what the team server answers)."""
        return cls(int(data["id"]), data["name"], datetime.fromisoformat(data["created_at"]))


@dataclass(frozen=True)
class RunInput:
    """A dataset version a run read, and in which role (train, test, eval, ...)."""

    ref: str
    digest: str
    role: str


@dataclass(frozen=True)
class RunArtifact:
    """A file logged by a run, stored in the artifact store."""

    path: str
    digest: str
    size_bytes: int


@dataclass(frozen=True)
class Run:
    """A run with its latest metric values, params, tags, inputs and artifacts."""

    id: str
    experiment: str
    name: str
    status: str
    start_time: datetime
    end_time: datetime | None
    user: str
    git_commit: str | None
    git_dirty: bool | None
    source: str | None
    environment: dict[str, Any] | None  # None in search results: see `get`
    seed: int | None
    error: str | None
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    inputs: tuple[RunInput, ...] = ()
    artifacts: tuple[RunArtifact, ...] = ()

    @property
    def duration_seconds(self) -> float | None:
        """Wall time of a finished run."""
        if self.end_time is None:
            return None
        return (self.end_time - self.start_time).total_seconds()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description (what `--json` prints)."""
        return {
            "id": self.id,
            "experiment": self.experiment,
            "name": self.name,
            "status": self.status,
            "start_time": self.start_time.isoformat(),
            "end_time": self.end_time.isoformat() if self.end_time else None,
            "duration_seconds": self.duration_seconds,
            "user": self.user,
            "git_commit": self.git_commit,
            "git_dirty": self.git_dirty,
            "source": self.source,
            "environment": self.environment,
            "seed": self.seed,
            "error": self.error,
            "params": self.params,
            "tags": self.tags,
            "metrics": self.metrics,
            "inputs": [{"ref": i.ref, "digest": i.digest, "role": i.role} for i in self.inputs],
            "artifacts": [
                {"path": a.path, "digest": a.digest, "size_bytes": a.size_bytes}
                for a in self.artifacts
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Run:
        """The run `to_dict` described (what the team server answers)."""
        end = data["end_time"]
        return cls(
            id=data["id"],
            experiment=data["experiment"],
            name=data["name"],
            status=data["status"],
            start_time=datetime.fromisoformat(data["start_time"]),
            end_time=datetime.fromisoformat(end) if end else None,
            user=data["user"],
            git_commit=data["git_commit"],
            git_dirty=data["git_dirty"],
            source=data["source"],
            environment=data["environment"],
            seed=data["seed"],
            error=data["error"],
            params=data["params"],
            tags=data["tags"],
            metrics=data["metrics"],
            inputs=tuple(RunInput(i["ref"], i["digest"], i["role"]) for i in data["inputs"]),
            artifacts=tuple(
                RunArtifact(a["path"], a["digest"], a["size_bytes"]) for a in data["artifacts"]
            ),
        )
