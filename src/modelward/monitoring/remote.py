"""Monitoring's stores on a team server (`/api/v1/predictions`, `/feedback`, `/alerts`,
`/alert-states`, `/drift-references`), behind the same ports as the local ones.

Writes that a retry could repeat carry an id of their own, so the server stores
them once: a prediction-log batch its `batch_id` (split, when large, into parts
with ids derived from it), an alert a `client_id` made when it is first sent.
Those calls are therefore retried with backoff while the server is unreachable.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any, cast
from urllib.parse import quote

import orjson

from modelward.errors import NotFound
from modelward.monitoring.alert_events import RuleState, RuleStatus
from modelward.monitoring.alert_store import StoredAlert
from modelward.monitoring.leases import LeaseHolder
from modelward.monitoring.ports import MAX_ALERTS, MAX_RECORDS, MAX_REQUEST_IDS
from modelward.monitoring.predictions import (
    InputWindow,
    LabeledPrediction,
    PredictionRecord,
    RequestSummary,
    input_window_of,
    json_bytes,
    without_nul,
)
from modelward.store.remote import ServerClient

# A prediction-log request stays well under the server's body limit (32 MiB).
MAX_BATCH_BYTES = 8 << 20


def _encoded(record: PredictionRecord) -> bytes:
    # as the local store writes it; a NUL in logged text as PostgreSQL's store keeps it
    return without_nul(json_bytes(record.to_row()).decode()).encode()


def _parts(records: Sequence[PredictionRecord]) -> list[list[orjson.Fragment]]:
    """The records, encoded, in consecutive parts of at most MAX_BATCH_BYTES each."""
    parts: list[list[orjson.Fragment]] = [[]]
    size = 0
    for record in records:
        encoded = _encoded(record)
        if parts[-1] and size + len(encoded) > MAX_BATCH_BYTES:
            parts.append([])
            size = 0
        parts[-1].append(orjson.Fragment(encoded))
        size += len(encoded) + 1
    return parts


class RemotePredictionLog:
    """The prediction log and feedback of a team server."""

    flush_interval = 0.5
    batch_size = 1000

    def __init__(self, client: ServerClient) -> None:
        self.client = client

    def prepare(self) -> None:
        """Nothing to load ahead of the first batch (the port's hook for stores that do)."""

    def add_records(
        self, records: Sequence[PredictionRecord], *, batch_id: str | None = None
    ) -> int:
        """Send records; a batch the server stored before (same id) is stored once."""
        if not records:
            return 0
        batch_id = batch_id or uuid.uuid4().hex
        parts = _parts(records)
        stored = 0
        for index, part in enumerate(parts):
            part_id = batch_id if len(parts) == 1 else f"{batch_id}.{index}"
            answer = self.client.post(
                "/predictions", {"batch_id": part_id, "records": part}, idempotent=True
            )
            stored += int(answer["stored"])
        return stored

    def add_feedback(self, request_id: str, label: Any, *, model_name: str | None = None) -> bool:
        """Send a label; False when the server has no prediction with that request id."""
        body: dict[str, Any] = {"request_id": request_id, "label": label}
        if model_name is not None:
            body["model"] = model_name
        try:
            self.client.post("/feedback", body, idempotent=True)
        except NotFound:
            return False
        return True

    def records(
        self,
        model_name: str,
        *,
        since_ms: int = 0,
        limit: int = MAX_RECORDS,
        status: int | None = 200,
        until_id: int | None = None,
    ) -> list[PredictionRecord]:
        """Logged requests of a model, newest first (at most MAX_RECORDS)."""
        params: dict[str, Any] = {
            "model": model_name,
            "since_ms": since_ms,
            "limit": min(limit, MAX_RECORDS),
        }
        if status is not None:
            params["status"] = status
        if until_id is not None:
            params["until_id"] = until_id
        answer = self.client.get("/predictions", params=params)
        return [PredictionRecord.from_dict(item) for item in answer["records"]]

    def request_summary(self, model_name: str, since_ms: int) -> RequestSummary:
        """Requests since a time, failed ones, and the p95 latency, counted by the server."""
        answer = self.client.get(
            "/predictions/stats", params={"model": model_name, "since_ms": since_ms}
        )
        return RequestSummary.from_dict(answer)

    def labeled(self, model_name: str, *, last: int = 1000) -> list[LabeledPrediction]:
        """The most recent labeled predictions of a model."""
        answer = self.client.get(
            "/predictions/labeled", params={"model": model_name, "last": min(last, MAX_RECORDS)}
        )
        return [LabeledPrediction.from_dict(item) for item in answer["labeled"]]

    def input_window(
        self, model_name: str, *, since_ms: int, limit: int, until_id: int | None = None
    ) -> InputWindow | None:
        """The input rows of the `limit` newest answered requests from `since_ms` on."""
        return input_window_of(
            self.records(model_name, since_ms=since_ms, limit=limit, until_id=until_id)
        )

    def count(self, model_name: str | None = None) -> int:
        """How many records the server holds (of one model, or all)."""
        params = {"model": model_name} if model_name is not None else None
        return int(self.client.get("/predictions/count", params=params)["count"])

    def request_ids(self, model_name: str) -> set[str]:
        """The logged request ids of a model (at most MAX_REQUEST_IDS)."""
        answer = self.client.get(
            "/predictions/request-ids", params={"model": model_name, "limit": MAX_REQUEST_IDS}
        )
        return set(answer["request_ids"])


class RemoteAlerts:
    """The alerts of a team server."""

    def __init__(self, client: ServerClient) -> None:
        self.client = client

    def add(
        self,
        *,
        rule: str,
        metric: str,
        state: str,
        value: float | None,
        model: str | None,
        message: str,
        details: dict[str, Any],
        webhook: str | None = None,
    ) -> int:
        """Send one transition (retried under one id: stored once); its id on the server."""
        body = {
            "client_id": uuid.uuid4().hex,
            "rule": rule,
            "metric": metric,
            "state": state,
            "value": value,
            "model": model,
            "message": message,
            "details": details,
            "webhook": webhook,
        }
        return int(self.client.post("/alerts", body, idempotent=True)["id"])

    def set_webhook_status(self, alert_id: int, status: str) -> None:
        """Record how this process's webhook delivery went."""
        self.client.put(f"/alerts/{int(alert_id)}/webhook", {"status": status[:200]})

    def list(
        self, *, model: str | None = None, state: str | None = None, limit: int = 100
    ) -> list[StoredAlert]:
        """Alert transitions, newest first."""
        params: dict[str, Any] = {"limit": min(limit, MAX_ALERTS)}
        if model is not None:
            params["model"] = model
        if state is not None:
            params["state"] = state
        answer = self.client.get("/alerts", params=params)
        return [StoredAlert.from_dict(item) for item in answer["alerts"]]


def _states_path(model: str) -> str:
    return f"/alert-states/{quote(model, safe='')}"


class RemoteAlertStates:
    """The alert states of a team server."""

    def __init__(self, client: ServerClient) -> None:
        self.client = client

    def load(self, model: str, digests: Mapping[str, str]) -> list[RuleStatus]:
        """The stored states of `model`'s rules whose digest still matches."""
        answer = self.client.get(_states_path(model))
        return [
            RuleStatus(
                rule=item["rule"],
                metric="",
                state=cast(RuleState, item["state"]),
                since=item["since"],
                fired_at=item["fired_at"],
                value=item["value"],
                zscore=item["zscore"],
                evaluated_at=item["evaluated_at"],
            )
            for item in answer["states"]
            if digests.get(item["rule"]) == item["digest"]
        ]

    def clear(self, model: str) -> None:
        """Forget the stored states of `model`'s rules (an admin token's work)."""
        self.client.delete(_states_path(model))

    def save(self, model: str, statuses: Sequence[tuple[str, RuleStatus]]) -> None:
        """Store (digest, status) of each rule, replacing what was there."""
        if not statuses:
            return
        states = [
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
            for digest, status in statuses
        ]
        self.client.put(_states_path(model), {"states": states})


class RemoteMonitorLeases:
    """The monitor leases of a team server."""

    def __init__(self, client: ServerClient) -> None:
        self.client = client

    def acquire(self, model: str, holder: LeaseHolder, ttl_seconds: float) -> LeaseHolder | None:
        """Take or renew the lease on the server; None when `holder` holds it now."""
        answer = self.client.put(
            _lease_path(model), {"holder": holder.to_dict(), "ttl_seconds": ttl_seconds}
        )
        held_by = answer["held_by"]
        return None if held_by is None else LeaseHolder.from_dict(held_by)

    def release(self, model: str, holder: LeaseHolder) -> None:
        """Give the lease up on the server, if `holder` holds it."""
        self.client.post(f"{_lease_path(model)}/release", {"holder": holder.to_dict()})


def _lease_path(model: str) -> str:
    return f"/monitor-leases/{quote(model, safe='')}"


class RemoteDriftReferences:
    """The drift reference cache of a team server."""

    def __init__(self, client: ServerClient) -> None:
        self.client = client

    @staticmethod
    def _path(dataset_version_id: int, columns_digest: str) -> str:
        return f"/drift-references/{int(dataset_version_id)}/{quote(columns_digest, safe='')}"

    def find(self, dataset_version_id: int, columns_digest: str) -> str | None:
        """The artifact digest of the statistics, if the server has them."""
        try:
            answer = self.client.get(self._path(dataset_version_id, columns_digest))
        except NotFound:
            return None
        return str(answer["artifact"])

    def put(self, dataset_version_id: int, columns_digest: str, artifact_digest: str) -> None:
        """Tell the server where the statistics are (their artifact is uploaded first)."""
        self.client.put(
            self._path(dataset_version_id, columns_digest), {"artifact": artifact_digest}
        )
