"""/api/v1 monitoring: the prediction log, feedback, alerts, alert states, drift references.

Serving processes anywhere (`mw serve` with MODELWARD_URI) send their prediction
log here in batches, each with an id of its own, stored once however often it is
resent; labels arrive through /feedback; the monitor of each process records its
alerts and rule states here and reads the log back. Every route calls the same
repository the local store uses. Bodies are bounded (field sizes, list lengths,
the server's body limit), and text a PostgreSQL column cannot hold (a NUL
character) is refused with a 400 rather than failing in the database.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import Path, Query, Request
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StringConstraints,
)

from modelward.errors import InvalidInput, NotFound
from modelward.monitoring.alert_events import RuleStatus
from modelward.monitoring.alert_store import AlertRepository, AlertStateRepository
from modelward.monitoring.drift_references import DriftReferenceRepository
from modelward.monitoring.ports import (
    MAX_ALERTS,
    MAX_RECORDS,
    MAX_REQUEST_IDS,
    local_prediction_log,
)
from modelward.monitoring.predictions import PredictionRecord
from modelward.server.api.base import new_router, workspace_of
from modelward.server.api.models import NAME_PATTERN

if TYPE_CHECKING:
    from modelward.monitoring.ports import LocalPredictionLog

router = new_router(tags=["monitoring"])

INT32 = 2**31 - 1
MAX_MS = 2**62
NO_NUL = r"^[^\x00]*$"
ID_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"
REQUEST_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
SHA256 = r"^[0-9a-f]{64}$"

ModelQuery = Annotated[str, Query(pattern=NAME_PATTERN, max_length=128, description="model name")]
ModelPath = Annotated[str, Path(pattern=NAME_PATTERN, max_length=128, description="model name")]
SinceMs = Annotated[int, Query(ge=0, le=MAX_MS, description="epoch milliseconds")]


Text128 = Annotated[str, StringConstraints(max_length=128, pattern=NO_NUL)]
Text200 = Annotated[str, StringConstraints(max_length=200, pattern=NO_NUL)]
LongText = Annotated[str, StringConstraints(max_length=10_000, pattern=NO_NUL)]
Label = (
    StrictBool
    | StrictInt
    | StrictFloat
    | Annotated[str, StringConstraints(max_length=1_000, pattern=NO_NUL)]
)
Labels = Annotated[list[Label], Field(min_length=1, max_length=MAX_RECORDS)]


def _no_nul(value: Any, field: str) -> None:
    """InvalidInput when JSON `value` holds a NUL character (PostgreSQL's jsonb holds none)."""
    if isinstance(value, str):
        if "\x00" in value:
            raise InvalidInput(f"{field}: text may not hold a NUL character", field=field)
    elif isinstance(value, dict):
        for key, item in value.items():
            _no_nul(key, field)
            _no_nul(item, field)
    elif isinstance(value, list):
        for item in value:
            _no_nul(item, field)


# -- the prediction log ---------------------------------------------------------------------
class RecordIn(BaseModel):
    """One answered (or refused) request, as a serving process logged it."""

    model_config = ConfigDict(extra="forbid")

    request_id: str = Field(pattern=REQUEST_ID_PATTERN)
    model_name: str = Field(pattern=NAME_PATTERN, max_length=128)
    model_version: int = Field(ge=0, le=INT32)
    created_ms: int = Field(ge=0, le=MAX_MS)
    status: int = Field(ge=100, le=599)
    latency_ms: float = Field(ge=0, le=1e12)
    n_rows: int = Field(ge=0, le=INT32)
    inputs: dict[str, list[Any]] | None = None
    outputs: list[Any] | None = None
    error: LongText | None = None


class PredictionBatch(BaseModel):
    """Records sent together; the batch id makes a resend store nothing twice."""

    model_config = ConfigDict(extra="forbid")

    batch_id: str = Field(pattern=ID_PATTERN, description="the client's id of this batch")
    records: list[RecordIn] = Field(max_length=10_000)


class Feedback(BaseModel):
    """The true label(s) of a logged request: one, or one per row."""

    model_config = ConfigDict(extra="forbid")

    request_id: str = Field(pattern=REQUEST_ID_PATTERN)
    label: Label | Labels = Field(description="one label, or a list of one per row")
    model: str | None = Field(
        default=None, pattern=NAME_PATTERN, max_length=128, description="the request's model"
    )


def _log(request: Request) -> LocalPredictionLog:
    return local_prediction_log(workspace_of(request))


@router.post(
    "/predictions",
    summary="Store a batch of prediction-log records (a batch id already stored: nothing)",
)
def add_predictions(request: Request, body: PredictionBatch) -> dict[str, Any]:
    records = [PredictionRecord(**record.model_dump()) for record in body.records]
    stored = _log(request).add_records(records, batch_id=body.batch_id)
    return {"batch_id": body.batch_id, "stored": stored, "duplicate": stored == 0 and bool(records)}


@router.get("/predictions", summary="Logged requests of a model, newest first")
def list_predictions(
    request: Request,
    model: ModelQuery,
    since_ms: SinceMs = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_RECORDS)] = 1_000,
    status: Annotated[int | None, Query(ge=100, le=599, description="absent: every status")] = None,
    until_id: Annotated[int | None, Query(ge=0, le=MAX_MS)] = None,
) -> dict[str, Any]:
    records = _log(request).records(
        model, since_ms=since_ms, limit=limit, status=status, until_id=until_id
    )
    return {"records": [record.to_dict() for record in records]}


@router.get(
    "/predictions/stats",
    summary="Requests and failures of a model since a time, and the p95 latency of the answered",
)
def prediction_stats(request: Request, model: ModelQuery, since_ms: SinceMs = 0) -> dict[str, Any]:
    return _log(request).request_summary(model, since_ms).to_dict()


@router.get("/predictions/labeled", summary="The latest logged predictions that got a label")
def labeled_predictions(
    request: Request,
    model: ModelQuery,
    last: Annotated[int, Query(ge=1, le=MAX_RECORDS)] = 1_000,
) -> dict[str, Any]:
    found = _log(request).labeled(model, last=last)
    return {"labeled": [item.to_dict() for item in found]}


@router.get("/predictions/count", summary="How many records are logged (of a model, or all)")
def count_predictions(
    request: Request,
    model: Annotated[str | None, Query(pattern=NAME_PATTERN, max_length=128)] = None,
) -> dict[str, Any]:
    return {"count": _log(request).count(model)}


@router.get("/predictions/request-ids", summary="The newest logged request ids of a model")
def prediction_request_ids(
    request: Request,
    model: ModelQuery,
    limit: Annotated[int, Query(ge=1, le=MAX_REQUEST_IDS)] = 10_000,
) -> dict[str, Any]:
    return {"request_ids": sorted(_log(request).request_ids(model, limit=limit))}


@router.post("/feedback", summary="The true label(s) of a logged request, for live quality")
def add_feedback(request: Request, body: Feedback) -> dict[str, Any]:
    if not _log(request).add_feedback(body.request_id, body.label, model_name=body.model):
        raise NotFound(
            f"unknown request_id {body.request_id!r}: no logged prediction has it",
            field="request_id",
        )
    return {"request_id": body.request_id, "accepted": True}


# -- alerts ----------------------------------------------------------------------------------
class AlertIn(BaseModel):
    """One alert transition a monitor recorded."""

    model_config = ConfigDict(extra="forbid")

    client_id: str | None = Field(
        default=None, pattern=ID_PATTERN, description="the sender's id: a resend is stored once"
    )
    rule: Text128
    metric: Text128
    state: Literal["firing", "resolved"]
    value: float | None = None
    model: str | None = Field(default=None, pattern=NAME_PATTERN, max_length=128)
    message: LongText
    details: dict[str, Any] = Field(default_factory=dict)
    webhook: Text200 | None = None


class WebhookStatus(BaseModel):
    """How the sender's webhook delivery of an alert went."""

    model_config = ConfigDict(extra="forbid")

    status: Text200


def _alerts(request: Request) -> AlertRepository:
    return AlertRepository(workspace_of(request).db)


@router.get("/alerts", summary="Alert transitions, newest first")
def list_alerts(
    request: Request,
    model: Annotated[str | None, Query(pattern=NAME_PATTERN, max_length=128)] = None,
    state: Annotated[Literal["firing", "resolved"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_ALERTS)] = 100,
) -> dict[str, Any]:
    found = _alerts(request).list(model=model, state=state, limit=limit)
    return {"alerts": [alert.to_dict() for alert in found]}


@router.post("/alerts", status_code=201, summary="Record an alert transition")
def add_alert(request: Request, body: AlertIn) -> dict[str, Any]:
    _no_nul(body.details, "details")
    alert_id = _alerts(request).add(
        rule=body.rule,
        metric=body.metric,
        state=body.state,
        value=body.value,
        model=body.model,
        message=body.message,
        details=body.details,
        webhook=body.webhook,
        client_id=body.client_id,
    )
    return {"id": alert_id}


@router.put("/alerts/{alert_id}/webhook", summary="Record how an alert's webhook went")
def set_webhook_status(
    request: Request,
    alert_id: Annotated[int, Path(ge=1, le=INT32)],
    body: WebhookStatus,
) -> dict[str, Any]:
    _alerts(request).set_webhook_status(alert_id, body.status)
    return {"id": alert_id, "webhook": body.status}


# -- alert states ----------------------------------------------------------------------------
class RuleStateIn(BaseModel):
    """Where one rule of a model stands."""

    model_config = ConfigDict(extra="forbid")

    rule: Text128
    digest: str = Field(pattern=SHA256, description="sha256 of the rule as written")
    state: Literal["inactive", "pending", "firing"]
    since: float | None = None
    fired_at: float | None = None
    value: float | None = None
    zscore: float | None = None
    evaluated_at: float | None = None


class RuleStates(BaseModel):
    """The states of a model's rules."""

    model_config = ConfigDict(extra="forbid")

    states: list[RuleStateIn] = Field(max_length=1_000)


def _states(request: Request) -> AlertStateRepository:
    return AlertStateRepository(workspace_of(request).db)


@router.get("/alert-states/{model}", summary="Where each alert rule of a model stands")
def get_alert_states(request: Request, model: ModelPath) -> dict[str, Any]:
    return {
        "states": [
            {
                "rule": status.rule,
                "digest": digest,
                "state": status.state,
                "since": status.since,
                "fired_at": status.fired_at,
                "value": status.value,
                "zscore": status.zscore,
                "evaluated_at": status.evaluated_at,
            }
            for digest, status in _states(request).states(model)
        ]
    }


@router.put("/alert-states/{model}", summary="Store where alert rules of a model stand")
def put_alert_states(request: Request, model: ModelPath, body: RuleStates) -> dict[str, Any]:
    statuses = [
        (
            item.digest,
            RuleStatus(
                item.rule,
                "",
                item.state,
                item.since,
                item.fired_at,
                item.value,
                item.zscore,
                item.evaluated_at,
            ),
        )
        for item in body.states
    ]
    _states(request).save(model, statuses)
    return {"model": model, "saved": len(statuses)}


@router.delete("/alert-states/{model}", summary="Forget a model's alert states; admin only")
def clear_alert_states(request: Request, model: ModelPath) -> dict[str, Any]:
    _states(request).clear(model)
    return {"model": model, "cleared": True}


# -- drift references ------------------------------------------------------------------------
class DriftReference(BaseModel):
    """Where the reference statistics of a dataset version (and column set) are stored."""

    model_config = ConfigDict(extra="forbid")

    artifact: str = Field(pattern=SHA256, description="sha256 of the statistics' artifact")


DatasetVersionId = Annotated[int, Path(ge=1, le=INT32)]
ColumnsDigest = Annotated[str, Path(pattern=SHA256)]


@router.get(
    "/drift-references/{dataset_version_id}/{columns_digest}",
    summary="The artifact holding a dataset version's drift reference statistics",
)
def get_drift_reference(
    request: Request, dataset_version_id: DatasetVersionId, columns_digest: ColumnsDigest
) -> dict[str, Any]:
    found = DriftReferenceRepository(workspace_of(request).db).find(
        dataset_version_id, columns_digest
    )
    if found is None:
        raise NotFound(
            f"no drift reference statistics for dataset version {dataset_version_id} "
            "and these columns yet"
        )
    return {"artifact": found}


@router.put(
    "/drift-references/{dataset_version_id}/{columns_digest}",
    summary="Remember where a dataset version's drift reference statistics are",
)
def put_drift_reference(
    request: Request,
    dataset_version_id: DatasetVersionId,
    columns_digest: ColumnsDigest,
    body: DriftReference,
) -> dict[str, Any]:
    workspace = workspace_of(request)
    if not workspace.artifacts.exists(body.artifact):
        raise InvalidInput(
            f"artifact {body.artifact[:12]} is not in the server's store: upload it first",
            field="artifact",
        )
    DriftReferenceRepository(workspace.db).put(dataset_version_id, columns_digest, body.artifact)
    return {"artifact": body.artifact}
