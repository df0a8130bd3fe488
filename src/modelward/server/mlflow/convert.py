"""modelward's entities as MLflow's JSON messages, and MLflow's values back.

An MLflow experiment is a modelward experiment: its id is modelward's, but for
`default`, which is MLflow's Default experiment, "0". A run keeps its id; its
artifact root is `mlflow-artifacts:/<experiment id>/<run id>/artifacts`, which the
MLflow client resolves to this server's artifact proxy. Times are milliseconds.
MLflow's KILLED runs are stored failed, with `KILLED` as their error, and read back
as KILLED.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from modelward.errors import InvalidInput
from modelward.tracking.entities import FAILED, FINISHED, RUNNING, Experiment, MetricPoint, Run

DEFAULT_EXPERIMENT = "default"  # modelward's default; MLflow's Default (id "0")
DEFAULT_EXPERIMENT_ID = "0"
KILLED_ERROR = "KILLED"
STATUS_FROM_MLFLOW = {
    "RUNNING": (RUNNING, None),
    "SCHEDULED": (RUNNING, None),
    "FINISHED": (FINISHED, None),
    "FAILED": (FAILED, None),
    "KILLED": (FAILED, KILLED_ERROR),
}
_STATUS_TO_MLFLOW = {RUNNING: "RUNNING", FINISHED: "FINISHED", FAILED: "FAILED"}
_MAX_MILLIS = 253402300799999  # 9999-12-31T23:59:59.999Z


def millis(moment: datetime) -> int:
    """A time as milliseconds since the epoch."""
    return int(moment.timestamp() * 1000)


def from_millis(value: int, field: str) -> datetime:
    """Milliseconds since the epoch as an aware UTC time (refusing what no clock shows)."""
    if not 0 <= value <= _MAX_MILLIS:
        raise InvalidInput(
            f"Invalid value {value} for parameter '{field}' supplied: milliseconds since "
            "1970 before the year 10000",
            field=field,
        )
    return datetime.fromtimestamp(value / 1000, UTC)


def experiment_id(experiment: Experiment) -> str:
    """The MLflow id of an experiment."""
    if experiment.name == DEFAULT_EXPERIMENT:
        return DEFAULT_EXPERIMENT_ID
    return str(experiment.id)


def parse_experiment_id(text: str) -> int | None:
    """modelward's id of an MLflow experiment id (None: the Default experiment, "0")."""
    if text == DEFAULT_EXPERIMENT_ID:
        return None
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise InvalidInput(
            f"Invalid experiment ID {text[:40]!r}: experiment ids are integers",
            field="experiment_id",
        )
    return int(text)


def artifact_root(experiment: str, run_id: str) -> str:
    """The artifact URI of a run (`experiment` is its MLflow experiment id)."""
    return f"mlflow-artifacts:/{experiment}/{run_id}/artifacts"


def experiment_json(experiment: Experiment) -> dict[str, Any]:
    """An MLflow Experiment message."""
    created = millis(experiment.created_at)
    identifier = experiment_id(experiment)
    return {
        "experiment_id": identifier,
        "name": experiment.name,
        "artifact_location": f"mlflow-artifacts:/{identifier}",
        "lifecycle_stage": "active",
        "creation_time": created,
        "last_update_time": created,
        "tags": [],
    }


def run_status(run: Run) -> str:
    """A run's status as MLflow names it."""
    if run.status == FAILED and run.error == KILLED_ERROR:
        return "KILLED"
    return _STATUS_TO_MLFLOW.get(run.status, run.status.upper())


def run_info(run: Run, experiment: str) -> dict[str, Any]:
    """An MLflow RunInfo message (`experiment` is the run's MLflow experiment id)."""
    info: dict[str, Any] = {
        "run_id": run.id,
        "run_uuid": run.id,
        "run_name": run.name,
        "experiment_id": experiment,
        "user_id": run.user,
        "status": run_status(run),
        "start_time": millis(run.start_time),
        "artifact_uri": artifact_root(experiment, run.id),
        "lifecycle_stage": "active",
    }
    if run.end_time is not None:
        info["end_time"] = millis(run.end_time)
    return info


def run_json(run: Run, experiment: str, latest: list[MetricPoint] | None) -> dict[str, Any]:
    """An MLflow Run message: info, data (latest metrics, params, tags) and dataset inputs."""
    if latest is None:  # no step or time known: MLflow's defaults
        latest = [MetricPoint(key, value, 0, 0) for key, value in run.metrics.items()]
    return {
        "info": run_info(run, experiment),
        "data": {
            "metrics": [metric_json(point) for point in latest],
            "params": [{"key": k, "value": v} for k, v in run.params.items()],
            "tags": [{"key": k, "value": v} for k, v in run.tags.items()],
        },
        "inputs": {
            "dataset_inputs": [
                {
                    "tags": [{"key": "mlflow.data.context", "value": item.role}],
                    "dataset": {
                        "name": item.ref.partition("@")[0],
                        "digest": item.digest,
                        "source_type": "modelward",
                        "source": json.dumps({"ref": item.ref}),
                    },
                }
                for item in run.inputs
            ]
        },
    }


def metric_json(point: MetricPoint) -> dict[str, Any]:
    """An MLflow Metric message."""
    return {
        "key": point.key,
        "value": point.value,
        "timestamp": point.timestamp,
        "step": point.step,
    }
