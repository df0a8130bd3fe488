"""/api/v1/experiments and /api/v1/runs: the runs aggregate over HTTP.

The routes call the local `RunRepository` of the server's store, the same code a
local `mw` runs, and check what a client could forge: the run exists (and is
running, to log to it), every key and value is one the local API would accept,
an artifact record names bytes the server's store holds (and their true size),
a dataset version exists. The run's user and times are the server's: the user
is the token's name (`current_user()` inside a request).

Logging is idempotent: a run is created under the id the client made, and each
batch carries a client-made id the server records with it, so a batch resent
after a lost answer is stored once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import orjson
import sqlalchemy as sa
from fastapi import Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from modelward.errors import Conflict, InvalidInput, NotFound
from modelward.identity import current_user
from modelward.refs import validate_name
from modelward.server.api.base import new_router, workspace_of
from modelward.store.artifacts import safe_relative_path
from modelward.tracking.entities import RUNNING, validate_key
from modelward.tracking.repository import RunRepository
from modelward.tracking.search import MAX_LENGTH, MAX_ORDER_KEYS, parse_filter, parse_order_by

router = new_router(tags=["runs"])

RUN_ID = r"^[0-9A-Za-z_-]{1,32}$"
NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
NO_NUL = r"^[^\x00]*$"  # PostgreSQL's text columns cannot hold NUL characters
BATCH_ID = r"^[0-9A-Za-z_.:-]{1,64}$"
DIGEST = r"^[0-9a-f]{64}$"
INT64 = 2**63 - 1
MAX_SEARCH_LIMIT = 100_000
MAX_HISTORY_PAGE = 100_000
MAX_METRICS, MAX_PARAMS, MAX_RECORDS = 50_000, 1_000, 10_000
MAX_ENVIRONMENT_BYTES = 64 * 1024
MAX_ENVIRONMENT_DEPTH = 32

RunIdPath = Annotated[str, Path(pattern=RUN_ID, description="a run id (or a unique prefix)")]
Text = Annotated[str, Field(max_length=6000, pattern=NO_NUL)]
Key = Annotated[str, Field(min_length=1, max_length=250)]
Int64 = Annotated[int, Field(strict=True, ge=-INT64 - 1, le=INT64)]
Millis = Annotated[int, Field(strict=True, ge=0, le=INT64)]
Finite = Annotated[float, Field(strict=True, allow_inf_nan=False)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NewExperiment(_Body):
    """An experiment to find, or create when it does not exist."""

    name: str = Field(pattern=NAME)


class NewRun(_Body):
    """A run to start: its id (the client's), experiment and provenance."""

    id: str = Field(pattern=RUN_ID)
    experiment_id: int = Field(ge=1, le=2**31 - 1)
    name: str = Field(min_length=1, max_length=256, pattern=NO_NUL)
    git_commit: str | None = Field(default=None, max_length=64, pattern=NO_NUL)
    git_dirty: bool | None = None
    source: str | None = Field(default=None, max_length=2000, pattern=NO_NUL)
    environment: dict[str, Any] = Field(
        default_factory=dict, description="Python, platform and package versions"
    )
    seed: Int64 | None = None


class Batch(_Body):
    """Params, tags and metric points `[key, value, step, timestamp_ms]` of one run."""

    batch_id: str = Field(pattern=BATCH_ID, description="the client's id: resent, stored once")
    params: list[tuple[Key, Text]] = Field(default_factory=list, max_length=MAX_PARAMS)
    tags: list[tuple[Key, Text]] = Field(default_factory=list, max_length=MAX_PARAMS)
    metrics: list[tuple[Key, Finite, Int64, Millis]] = Field(
        default_factory=list, max_length=MAX_METRICS
    )


class Finish(_Body):
    """The final status of a run."""

    status: Literal["finished", "failed"]
    error: str | None = Field(default=None, max_length=10_000, pattern=NO_NUL)


class Input(_Body):
    """A dataset version (the server's id) a run read, in a role."""

    dataset_version_id: int = Field(ge=1, le=2**31 - 1)
    role: Key


class Inputs(_Body):
    inputs: list[Input] = Field(max_length=MAX_RECORDS)


class Artifact(_Body):
    """A file of the run: its path in the run, and the digest of bytes already uploaded."""

    path: str = Field(min_length=1, max_length=1024, pattern=NO_NUL)
    digest: str = Field(pattern=DIGEST)
    size_bytes: int = Field(ge=0, le=INT64)


class Artifacts(_Body):
    artifacts: list[Artifact] = Field(max_length=MAX_RECORDS)


class RunSearch(_Body):
    """A run search: the filter and sort keys of `mw runs list`, parsed on the server."""

    filter: str | None = Field(default=None, max_length=MAX_LENGTH)
    order_by: list[Annotated[str, Field(max_length=300)]] = Field(
        default_factory=list, max_length=MAX_ORDER_KEYS
    )
    experiment: str | None = Field(default=None, pattern=NAME)
    limit: int = Field(default=1000, ge=1, le=MAX_SEARCH_LIMIT)


def _runs(request: Request) -> RunRepository:
    return RunRepository(workspace_of(request).db)


def _running(runs: RunRepository, run_id: str) -> None:
    status = runs.status(run_id)
    if status != RUNNING:
        raise Conflict(f"run {run_id[:8]} has ended ({status}): start a new run to log more")


# -- experiments ---------------------------------------------------------------
@router.get("/experiments", summary="Every experiment, by name")
def list_experiments(request: Request) -> dict[str, Any]:
    return {"experiments": [e.to_dict() for e in _runs(request).experiments()]}


@router.post("/experiments", summary="The experiment of this name, created if it is new")
def ensure_experiment(request: Request, body: NewExperiment) -> dict[str, Any]:
    return (
        _runs(request)
        .experiment(validate_name(body.name, "experiment name"), create=True)
        .to_dict()
    )


@router.get("/experiments/{name}", summary="One experiment")
def get_experiment(request: Request, name: Annotated[str, Path(pattern=NAME)]) -> dict[str, Any]:
    return _runs(request).experiment(name).to_dict()


# -- runs ----------------------------------------------------------------------
@router.post("/runs/search", summary="Runs matching a filter, sorted (top `limit`)")
def search_runs(request: Request, body: RunSearch) -> dict[str, Any]:
    found = _runs(request).search(
        where=parse_filter(body.filter),
        order_by=parse_order_by(body.order_by),
        experiment=body.experiment,
        limit=body.limit,
    )
    return {"runs": [run.to_dict() for run in found]}


@router.post("/runs", status_code=201, summary="Start a run (its user is the token's name)")
def create_run(request: Request, body: NewRun) -> dict[str, Any]:
    runs = _runs(request)
    experiment = runs.experiment_by_id(body.experiment_id)
    _check_environment(body.environment)
    if not _exists(runs, body.id):
        try:
            runs.create_run(
                {
                    **body.model_dump(),
                    "status": RUNNING,
                    "start_time": datetime.now(UTC),
                    "user": current_user(),
                }
            )
        except sa.exc.IntegrityError:  # a copy of this request, arrived at the same time
            if not _exists(runs, body.id):
                raise
    # a request resent after a lost answer is answered again, if it is the same run
    existing = runs.get(body.id)
    if (existing.id, existing.experiment, existing.name) != (body.id, experiment.name, body.name):
        raise Conflict(f"run id {body.id} is taken by another run", field="id")
    return existing.to_dict()


def _check_environment(environment: dict[str, Any]) -> None:
    """Refuse an environment PostgreSQL or the JSON writer would choke on: NUL in any
    text, nesting past MAX_ENVIRONMENT_DEPTH, more than MAX_ENVIRONMENT_BYTES."""
    pending: list[tuple[Any, int]] = [(environment, 1)]
    while pending:  # no recursion: a body may nest up to the parser's 1,024 levels
        item, depth = pending.pop()
        if isinstance(item, str) and "\x00" in item:
            raise InvalidInput("environment: NUL characters are not allowed", field="environment")
        if isinstance(item, dict | list):
            if depth > MAX_ENVIRONMENT_DEPTH:
                raise InvalidInput(
                    f"environment: nested more than {MAX_ENVIRONMENT_DEPTH} levels",
                    field="environment",
                )
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)
    size = len(orjson.dumps(environment))
    if size > MAX_ENVIRONMENT_BYTES:
        raise InvalidInput(
            f"environment: {size:,} bytes, at most {MAX_ENVIRONMENT_BYTES:,}", field="environment"
        )


def _exists(runs: RunRepository, run_id: str) -> bool:
    try:
        runs.status(run_id)
    except NotFound:
        return False
    return True


@router.get("/runs/{run_id}", summary="One run with everything logged to it")
def get_run(request: Request, run_id: RunIdPath) -> dict[str, Any]:
    return _runs(request).get(run_id).to_dict()


@router.post("/runs/{run_id}/batches", summary="Log params, tags and metric points at once")
def log_batch(request: Request, run_id: RunIdPath, body: Batch) -> dict[str, Any]:
    runs = _runs(request)
    _running(runs, run_id)
    for what, rows in (("param", body.params), ("tag", body.tags), ("metric", body.metrics)):
        for key in {row[0] for row in rows}:
            validate_key(key, what)
    stored = runs.log_batch(
        run_id,
        params=body.params,
        tags=body.tags,
        metrics=body.metrics,
        batch_id=body.batch_id,
    )
    return {"stored": stored}


@router.post("/runs/{run_id}/finish", summary="End a running run: finished or failed")
def finish_run(request: Request, run_id: RunIdPath, body: Finish) -> dict[str, Any]:
    runs = _runs(request)
    status = runs.status(run_id)
    if status == RUNNING:
        runs.finish_run(run_id, body.status, body.error)
    elif status != body.status:  # the same request resent is answered again
        raise Conflict(f"run {run_id[:8]} has already ended ({status})")
    return runs.get(run_id).to_dict()


@router.post("/runs/{run_id}/inputs", summary="Record dataset versions the run read")
def add_inputs(request: Request, run_id: RunIdPath, body: Inputs) -> dict[str, Any]:
    from modelward.data.repository import DatasetRepository

    runs = _runs(request)
    runs.status(run_id)
    datasets = DatasetRepository(workspace_of(request).db)
    for item in body.inputs:
        datasets.get_by_id(item.dataset_version_id)
        validate_key(item.role, "input role")
    runs.add_inputs(run_id, [(item.dataset_version_id, item.role) for item in body.inputs])
    return {"inputs": len(body.inputs)}


@router.post("/runs/{run_id}/artifacts", summary="Record uploaded files as the run's")
def add_artifacts(request: Request, run_id: RunIdPath, body: Artifacts) -> dict[str, Any]:
    workspace = workspace_of(request)
    runs = _runs(request)
    runs.status(run_id)
    rows = []
    for index, item in enumerate(body.artifacts):
        field = f"artifacts.{index}"
        path = str(safe_relative_path(item.path))
        if not workspace.artifacts.exists(item.digest):
            raise InvalidInput(
                f"{field}: artifact {item.digest[:12]}... is not in the server's store: "
                f"upload it first (PUT /api/v1/artifacts/{item.digest})",
                field=f"{field}.digest",
            )
        size = workspace.artifacts.size_of(item.digest)
        if size != item.size_bytes:
            raise InvalidInput(
                f"{field}: artifact {item.digest[:12]}... has {size:,} bytes, "
                f"not {item.size_bytes:,}",
                field=f"{field}.size_bytes",
            )
        rows.append((path, item.digest, size))
    runs.add_artifacts(run_id, rows)
    return {"artifacts": len(rows)}


@router.get("/runs/{run_id}/metrics/history", summary="The points of one metric, in pages")
def metric_history(
    request: Request,
    run_id: RunIdPath,
    key: Annotated[str, Query(min_length=1, max_length=250)],
    after: Annotated[
        str | None,
        Query(
            pattern=r"^-?[0-9]{1,19},-?[0-9]{1,19},[0-9]{1,19}$",
            description="the `next` of the previous page",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_HISTORY_PAGE)] = MAX_HISTORY_PAGE,
) -> dict[str, Any]:
    runs = _runs(request)
    runs.status(run_id)
    position = None
    if after is not None:
        step, timestamp, row_id = (int(part) for part in after.split(","))
        if not all(-INT64 - 1 <= n <= INT64 for n in (step, timestamp, row_id)):
            raise InvalidInput("after: out of range", field="after")
        position = (step, timestamp, row_id)
    points, following = runs.metric_history_page(run_id, key, after=position, limit=limit)
    return {
        "key": key,
        "points": [(p.value, p.step, p.timestamp) for p in points],
        "next": None if following is None else ",".join(map(str, following)),
    }


@router.get("/runs/{run_id}/metrics/count", summary="How many metric points a run has")
def count_metric_points(request: Request, run_id: RunIdPath) -> dict[str, Any]:
    runs = _runs(request)
    runs.status(run_id)
    return {"count": runs.count_metric_points(run_id)}
