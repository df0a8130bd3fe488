"""MLflow's tracking endpoints over modelward's RunRepository: experiments, runs, logging, search.

Runs logged here are ordinary modelward runs (`mw runs list` shows them) and every
modelward run answers here. Who made a run is the token's name, never the client's
`user_id`. MLflow's limits hold: log-batch takes at most 1,000 metrics, 100 params,
100 tags and 1,000 values in all in at most 1 MB; a search returns at most 50,000
runs a page; params take 6,000 characters and tags 8,000.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from modelward.errors import InvalidInput, NotFound
from modelward.identity import current_user
from modelward.server.auth import require
from modelward.server.mlflow import convert, filters
from modelward.server.mlflow.calls import Call
from modelward.server.mlflow.fields import Fields, max_results, page_offset, page_token
from modelward.server.tokens import ADMIN
from modelward.tracking.entities import (
    RUNNING,
    Experiment,
    MetricRow,
    Run,
    metric_value,
    validate_key,
)
from modelward.tracking.repository import RunRepository

MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_TAGS_PER_BATCH = 100
MAX_ENTITIES_PER_BATCH = 1000
MAX_BATCH_BYTES = 1_000_000
MAX_PARAM_LENGTH = 6000
MAX_TAG_LENGTH = 8000
MAX_RUNS_PER_PAGE = 50_000
MAX_EXPERIMENTS_PER_PAGE = 50_000
RUN_NAME_TAG = "mlflow.runName"
_VIEW_TYPES = ("ACTIVE_ONLY", "DELETED_ONLY", "ALL")


def repository(call: Call) -> RunRepository:
    """The server's run repository."""
    return RunRepository(call.workspace.db)


# -- runs -------------------------------------------------------------------------
def experiment_of(runs: RunRepository, mlflow_id: str, *, create: bool = False) -> Experiment:
    """The experiment an MLflow experiment id names ("0" is modelward's `default`)."""
    number = convert.parse_experiment_id(mlflow_id)
    try:
        if number is None:
            return runs.experiment(convert.DEFAULT_EXPERIMENT, create=create)
        return runs.experiment_by_id(number)
    except NotFound:
        raise NotFound(f"No Experiment with id={mlflow_id} exists") from None


def view_type(fields: Fields) -> str:
    view = fields.data.get("view_type", fields.data.get("run_view_type", "ACTIVE_ONLY"))
    if isinstance(view, int) and not isinstance(view, bool) and 1 <= view <= 3:
        view = _VIEW_TYPES[view - 1]
    if view not in _VIEW_TYPES:
        raise InvalidInput(f"Invalid view type {view!r}: use one of {', '.join(_VIEW_TYPES)}")
    return str(view)


def _run_id(fields: Fields) -> str:
    run_id = fields.text("run_id") or fields.text("run_uuid")
    if not run_id:
        raise InvalidInput("Missing value for required parameter 'run_id'.", field="run_id")
    return run_id


def find_run(runs: RunRepository, run_id: str) -> Run:
    """The run with exactly this id (no prefix matching here, as in MLflow)."""
    try:
        run = runs.get(run_id)
    except (NotFound, InvalidInput):
        run = None
    if run is None or run.id != run_id:
        raise NotFound(f"Run with id={run_id} not found")
    return run


def _experiment_ids(runs: RunRepository) -> dict[str, str]:
    return {e.name: convert.experiment_id(e) for e in runs.experiments()}


def run_message(runs: RunRepository, run: Run) -> dict[str, Any]:
    """One run as MLflow's Run message, with its metrics' latest steps and times."""
    latest = runs.latest_metric_points([run.id]).get(run.id, [])
    return convert.run_json(run, _experiment_ids(runs)[run.experiment], latest)


def _tags(fields: Fields, name: str = "tags") -> list[tuple[str, str]]:
    tags: dict[str, str] = {}
    for key, value in fields.key_values(name):
        tags[validate_key(key, "tag")] = _bounded(value, MAX_TAG_LENGTH, f"tag {key!r}")
    return list(tags.items())


def _bounded(value: str, limit: int, what: str) -> str:
    if len(value) > limit:
        raise InvalidInput(f"{what} is {len(value):,} characters long; the limit is {limit:,}")
    return value


def create_run(call: Call) -> dict[str, Any]:
    """POST runs/create: a modelward run made by the token that sent it."""
    fields = call.fields
    runs = repository(call)
    experiment = experiment_of(
        runs, fields.text("experiment_id") or convert.DEFAULT_EXPERIMENT_ID, create=True
    )
    tags = _tags(fields)
    tag_values = dict(tags)
    run_id = uuid.uuid4().hex
    started = fields.integer("start_time")
    name = fields.text("run_name", limit=256) or tag_values.get(RUN_NAME_TAG) or f"run-{run_id[:8]}"
    commit = tag_values.get("mlflow.source.git.commit")
    runs.create_run(
        {
            "id": run_id,
            "experiment_id": experiment.id,
            "name": name[:256],
            "status": RUNNING,
            "start_time": (
                convert.from_millis(started, "start_time")
                if started is not None
                else datetime.now(UTC)
            ),
            "user": current_user(),
            "git_commit": commit if commit and len(commit) <= 64 else None,
            "source": tag_values.get("mlflow.source.name"),
            "environment": {},
        },
        tags,
    )
    run = find_run(runs, run_id)
    return {"run": convert.run_json(run, convert.experiment_id(experiment), [])}


def get_run(call: Call) -> dict[str, Any]:
    """GET runs/get."""
    runs = repository(call)
    return {"run": run_message(runs, find_run(runs, _run_id(call.fields)))}


def update_run(call: Call) -> dict[str, Any]:
    """POST runs/update: status, end time, name."""
    fields = call.fields
    runs = repository(call)
    run_id = _run_id(fields)
    status_text = fields.text("status")
    status = error = None
    if status_text is not None:
        if status_text not in convert.STATUS_FROM_MLFLOW:
            raise InvalidInput(
                f"Invalid value {status_text!r} for parameter 'status': use one of "
                f"{', '.join(convert.STATUS_FROM_MLFLOW)}",
                field="status",
            )
        status, error = convert.STATUS_FROM_MLFLOW[status_text]
    end = fields.integer("end_time")
    name = fields.text("run_name", limit=256)
    runs.update_run(
        run_id,
        status=status,
        error=error,
        end_time=convert.from_millis(end, "end_time") if end is not None else None,
        name=name,
        tags=[(RUN_NAME_TAG, name)] if name is not None else (),
    )
    run = find_run(runs, run_id)
    return {"run_info": convert.run_info(run, _experiment_ids(runs)[run.experiment])}


def search_runs(call: Call) -> dict[str, Any]:
    """POST runs/search (a read): MLflow's filter and order_by, pages of at most 50,000."""
    fields = call.fields
    runs = repository(call)
    limit = max_results(fields, default=1000, limit=MAX_RUNS_PER_PAGE)
    offset = page_offset(fields.text("page_token"))
    wanted = set(fields.texts("experiment_ids"))
    experiments = runs.experiments()
    names = {
        experiment.name
        for experiment in experiments
        if convert.experiment_id(experiment) in wanted or str(experiment.id) in wanted
    }
    where = filters.run_condition(fields.text("filter"), sorted(names))
    order = filters.run_order(fields.texts("order_by"))
    if not names or view_type(fields) == "DELETED_ONLY":
        return {"runs": []}
    found = runs.search(where=where, order_by=order, limit=limit + 1, offset=offset)
    page = found[:limit]
    ids = {experiment.name: convert.experiment_id(experiment) for experiment in experiments}
    latest = runs.latest_metric_points([run.id for run in page])
    answer: dict[str, Any] = {
        "runs": [convert.run_json(run, ids[run.experiment], latest.get(run.id, [])) for run in page]
    }
    if len(found) > limit:
        answer["next_page_token"] = page_token(offset + limit)
    return answer


# -- logging ------------------------------------------------------------------------
def _logged(
    runs: RunRepository,
    run_id: str,
    *,
    metrics: list[MetricRow] | None = None,
    params: list[tuple[str, str]] | None = None,
    tags: list[tuple[str, str]] | None = None,
) -> None:
    """Write to a run in one transaction; an unknown run is RESOURCE_DOES_NOT_EXIST."""
    try:
        if metrics and not params and not tags:
            runs.append_metrics(run_id, metrics)  # the per-call hot path
        else:
            runs.log_batch(run_id, metrics=metrics or (), params=params or (), tags=tags or ())
    except sa.exc.IntegrityError:
        # the run id is the only foreign key these rows carry
        if not runs.run_exists(run_id):
            raise NotFound(f"Run with id={run_id} not found") from None
        raise


def _metric(item: Fields, default_time: int) -> MetricRow:
    key = validate_key(item.required_text("key"), "metric")
    value = item.number("value", required=True)
    step = item.integer("step", default=0)
    timestamp = item.integer("timestamp", default=default_time)
    assert value is not None and step is not None and timestamp is not None
    if timestamp < 0:
        raise InvalidInput(
            f"metric {key!r}: the timestamp must be a nonnegative long, got {timestamp}"
        )
    return (key, metric_value(key, value, step), step, timestamp)


def _param(item: Fields) -> tuple[str, str]:
    key = validate_key(item.required_text("key"), "param")
    value = item.text("value", default="")
    assert value is not None
    return key, _bounded(value, MAX_PARAM_LENGTH, f"param {key!r}")


def log_metric(call: Call) -> dict[str, Any]:
    """POST runs/log-metric: one point (MLflow's client sends one per `log_metric`)."""
    fields = call.fields
    runs = repository(call)
    point = _metric(fields, int(time.time() * 1000))
    _logged(runs, _run_id(fields), metrics=[point])
    return {}


def log_param(call: Call) -> dict[str, Any]:
    """POST runs/log-parameter (a param cannot change once logged)."""
    fields = call.fields
    _logged(repository(call), _run_id(fields), params=[_param(fields)])
    return {}


def set_tag(call: Call) -> dict[str, Any]:
    """POST runs/set-tag."""
    fields = call.fields
    key = validate_key(fields.required_text("key"), "tag")
    value = _bounded(fields.text("value", default="") or "", MAX_TAG_LENGTH, f"tag {key!r}")
    _logged(repository(call), _run_id(fields), tags=[(key, value)])
    return {}


def delete_tag(call: Call) -> dict[str, Any]:
    """POST runs/delete-tag: a delete, so an admin's."""
    require(call.request, ADMIN, why="delete a run's tag")
    fields = call.fields
    runs = repository(call)
    run_id = _run_id(fields)
    find_run(runs, run_id)
    key = fields.required_text("key")
    try:
        runs.delete_tag(run_id, key)
    except NotFound:
        raise NotFound(f"No tag with name: {key} in run with id {run_id}") from None
    return {}


def log_batch(call: Call) -> dict[str, Any]:
    """POST runs/log-batch: metrics, params and tags in one transaction, MLflow's limits."""
    if call.size > MAX_BATCH_BYTES:
        raise InvalidInput(
            f"Batched logging API requests must be at most {MAX_BATCH_BYTES} bytes, got a "
            f"request of size {call.size}."
        )
    fields = call.fields
    run_id = _run_id(fields)
    metrics, params, tags = (
        fields.objects("metrics"),
        fields.objects("params"),
        fields.objects("tags"),
    )
    for what, items, limit in (
        ("metrics", metrics, MAX_METRICS_PER_BATCH),
        ("params", params, MAX_PARAMS_TAGS_PER_BATCH),
        ("tags", tags, MAX_PARAMS_TAGS_PER_BATCH),
        ("metrics, params, and tags", [*metrics, *params, *tags], MAX_ENTITIES_PER_BATCH),
    ):
        if len(items) > limit:
            raise InvalidInput(
                f"A batch logging request can contain at most {limit} {what}. Got "
                f"{len(items)} {what}. Please split up {what} across multiple requests and "
                "try again."
            )
    now = int(time.time() * 1000)
    points = [_metric(item, now) for item in metrics]
    logged_params: dict[str, str] = {}
    for item in params:
        key, value = _param(item)
        if logged_params.get(key, value) != value:
            raise InvalidInput(
                f"Duplicate parameter keys have been submitted: {key!r} with two values"
            )
        logged_params[key] = value
    logged_tags = _tags(fields)
    _logged(
        repository(call),
        run_id,
        metrics=points,
        params=list(logged_params.items()),
        tags=logged_tags,
    )
    return {}


def get_metric_history(call: Call) -> dict[str, Any]:
    """GET metrics/get-history: every point of a metric, or pages of `max_results`."""
    fields = call.fields
    runs = repository(call)
    run_id = _run_id(fields)
    key = fields.required_text("metric_key")
    if not runs.run_exists(run_id):
        raise NotFound(f"Run with id={run_id} not found")
    offset = page_offset(fields.text("page_token"))
    limit = fields.integer("max_results")
    if limit is not None and limit <= 0:
        raise InvalidInput(
            f"Invalid value {limit} for parameter 'max_results' supplied. It must be a "
            "positive integer.",
            field="max_results",
        )
    points = runs.metric_history_slice(
        run_id, key, offset=offset, limit=None if limit is None else limit + 1
    )
    answer: dict[str, Any] = {}
    if limit is not None and len(points) > limit:
        points = points[:limit]
        answer["next_page_token"] = page_token(offset + limit)
    answer["metrics"] = [convert.metric_json(point) for point in points]
    return answer


def search_logged_models(call: Call) -> dict[str, Any]:
    """POST logged-models/search (a read): MLflow 3 asks before listing a run's artifacts.

    This store keeps no MLflow LoggedModel entities (a run's models are its artifacts and
    registered versions), so the truthful answer is always an empty page.
    """
    fields = call.fields
    fields.texts("experiment_ids")
    max_results(fields, default=100, limit=MAX_RUNS_PER_PAGE)
    page_offset(fields.text("page_token"))
    return {"models": []}
