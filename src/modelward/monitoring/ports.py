"""Monitoring's stores as serving, the monitor, drift and the CLI use them: ports, each with a
local adapter (the metadata database) and a remote one (a team server, `monitoring.remote`).

    log = prediction_log_store(workspace)        # chosen once, from the workspace
    log.add_records(batch, batch_id=...)   # what the writer sends
    alert_store(workspace).list(model="churn-clf")

A served model's prediction log, feedback, alerts and alert states go where the
workspace points: with MODELWARD_URI set, `mw serve` on any machine sends them to
the team server, and `mw monitor` reads them back from it.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from typing import TypeAlias

    from modelward.config import Settings
    from modelward.monitoring.alert_events import RuleStatus
    from modelward.monitoring.alert_store import StoredAlert
    from modelward.monitoring.leases import LeaseHolder
    from modelward.monitoring.prediction_records import InputWindow
    from modelward.monitoring.predictions import (
        LabeledPrediction,
        PredictionLogRepository,
        PredictionRecord,
        RequestSummary,
    )
    from modelward.monitoring.segment_log import SegmentPredictionLog
    from modelward.store.workspace import Workspace

    LocalPredictionLog: TypeAlias = PredictionLogRepository | SegmentPredictionLog

# The most rows one answer of the team server holds (a drift check reads up to this many).
MAX_RECORDS = 100_000
MAX_ALERTS = 100_000
MAX_REQUEST_IDS = 1_000_000

_segment_logs: dict[Settings, SegmentPredictionLog] = {}
_segment_logs_lock = threading.Lock()


class PredictionSink(Protocol):
    """Where the log writer sends its batches."""

    flush_interval: float  # seconds between the writer's batches to this store
    batch_size: int  # records per batch at most

    def prepare(self) -> None:
        """Load what the first batch will need (a server calls it while starting)."""
        ...

    def add_records(
        self, records: Sequence[PredictionRecord], *, batch_id: str | None = None
    ) -> int:
        """Store records; a `batch_id` stored before stores nothing again. How many stored."""
        ...


class MonitorReads(Protocol):
    """What the server's monitor reads of the log every round."""

    def request_summary(self, model_name: str, since_ms: int) -> RequestSummary:
        """Requests since a time, failed ones, and the p95 latency of the answered ones."""
        ...

    def labeled(self, model_name: str, *, last: int = 1000) -> list[LabeledPrediction]:
        """The most recent labeled predictions of a model."""
        ...


class PredictionLog(PredictionSink, MonitorReads, Protocol):
    """The prediction log and the labels that arrive for it."""

    def add_feedback(self, request_id: str, label: Any, *, model_name: str | None = None) -> bool:
        """Store (or replace) the label of a request (of `model_name`, when given); False
        when the request is unknown."""
        ...

    def records(
        self,
        model_name: str,
        *,
        since_ms: int = 0,
        limit: int = MAX_RECORDS,
        status: int | None = 200,
        until_id: int | None = None,
    ) -> list[PredictionRecord]:
        """Logged requests of a model, newest first."""
        ...

    def input_window(
        self, model_name: str, *, since_ms: int, limit: int, until_id: int | None = None
    ) -> InputWindow | None:
        """The input rows of the `limit` newest answered requests from `since_ms` on (as
        `records` finds them) as one frame: `inputs_frame` of those records."""
        ...

    def count(self, model_name: str | None = None) -> int:
        """How many records are stored (of one model, or all)."""
        ...

    def request_ids(self, model_name: str) -> set[str]:
        """Every logged request id of a model."""
        ...


@runtime_checkable
class EncodedPredictionLog(Protocol):
    """A prediction log that takes records as the writer queued them: each one's line."""

    def add_encoded(self, records: Sequence[bytes], *, batch_id: str | None = None) -> int:
        """Store record lines (`prediction_records.encode_line`); how many stored."""
        ...


class AlertStore(Protocol):
    """Fired and resolved alerts."""

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
        """Record one transition; its id."""
        ...

    def set_webhook_status(self, alert_id: int, status: str) -> None:
        """Record how the webhook delivery went."""
        ...

    def list(
        self, *, model: str | None = None, state: str | None = None, limit: int = 100
    ) -> list[StoredAlert]:
        """Alert transitions, newest first."""
        ...


class AlertStateStore(Protocol):
    """Where each alert rule of a model stands, so a restarted monitor resumes it."""

    def load(self, model: str, digests: Mapping[str, str]) -> list[RuleStatus]:
        """The stored states of `model`'s rules whose digest still matches."""
        ...

    def clear(self, model: str) -> None:
        """Forget the stored states of `model`'s rules."""
        ...

    def save(self, model: str, statuses: Sequence[tuple[str, RuleStatus]]) -> None:
        """Store (digest, status) of each rule, replacing what was there."""
        ...


class MonitorLeases(Protocol):
    """Which process runs the monitor of a model (one per model across replicas)."""

    def acquire(self, model: str, holder: LeaseHolder, ttl_seconds: float) -> LeaseHolder | None:
        """Take or renew the lease; None when `holder` holds it, else who does."""
        ...

    def release(self, model: str, holder: LeaseHolder) -> None:
        """Give the lease up, if `holder` holds it."""
        ...


class DriftReferences(Protocol):
    """Where the drift reference statistics of a dataset version (and columns) are kept."""

    def find(self, dataset_version_id: int, columns_digest: str) -> str | None:
        """The artifact digest of the statistics, if they were computed before."""
        ...

    def put(self, dataset_version_id: int, columns_digest: str, artifact_digest: str) -> None:
        """Remember (or replace) where the statistics are."""
        ...


def prediction_log_store(workspace: Workspace) -> PredictionLog:
    """The prediction log of `workspace` (a team server's, when it is remote)."""
    if workspace.remote is not None:
        from modelward.monitoring.remote import RemotePredictionLog

        return RemotePredictionLog(workspace.remote)
    return local_prediction_log(workspace)


def local_prediction_log(workspace: Workspace) -> LocalPredictionLog:
    """The prediction log a local workspace keeps (what a team server serves): Parquet
    segments beside the artifacts (MODELWARD_PREDICTION_LOG), or the metadata database."""
    if workspace.settings.log_segments:
        from modelward.monitoring.segment_log import segment_prediction_log

        with _segment_logs_lock:
            found = _segment_logs.get(workspace.settings)
            if found is None:  # one per process and settings: its cache of decoded segments
                found = _segment_logs[workspace.settings] = segment_prediction_log(
                    workspace.settings
                )
            return found
    from modelward.monitoring.predictions import PredictionLogRepository

    return PredictionLogRepository(workspace.db)


def alert_store(workspace: Workspace) -> AlertStore:
    """The alerts of `workspace`."""
    if workspace.remote is not None:
        from modelward.monitoring.remote import RemoteAlerts

        return RemoteAlerts(workspace.remote)
    from modelward.monitoring.alert_store import AlertRepository

    return AlertRepository(workspace.db)


def monitor_lease_store(workspace: Workspace) -> MonitorLeases:
    """The monitor leases of `workspace`."""
    if workspace.remote is not None:
        from modelward.monitoring.remote import RemoteMonitorLeases

        return RemoteMonitorLeases(workspace.remote)
    from modelward.monitoring.leases import MonitorLeaseRepository

    return MonitorLeaseRepository(workspace.db)


def alert_state_store(workspace: Workspace) -> AlertStateStore:
    """The alert states of `workspace`."""
    if workspace.remote is not None:
        from modelward.monitoring.remote import RemoteAlertStates

        return RemoteAlertStates(workspace.remote)
    from modelward.monitoring.alert_store import AlertStateRepository

    return AlertStateRepository(workspace.db)


def drift_reference_store(workspace: Workspace) -> DriftReferences:
    """The drift reference cache of `workspace`."""
    if workspace.remote is not None:
        from modelward.monitoring.remote import RemoteDriftReferences

        return RemoteDriftReferences(workspace.remote)
    from modelward.monitoring.drift_references import DriftReferenceRepository

    return DriftReferenceRepository(workspace.db)
