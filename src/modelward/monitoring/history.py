"""A served model's recent past, window by window, from the prediction log.

What the dashboard's monitoring page draws: for each time window and model version,
the request rate, error rate, latency percentiles, live quality from the labels that
came back, the share of missing values per feature and data drift (PSI per feature and
the verdict against the training data). The monitor's own series live in the serving
process; these are recomputed from what every process logged, so they cover every
server that served the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from modelward.monitoring.live import live_metrics
from modelward.monitoring.ports import local_prediction_log
from modelward.monitoring.predictions import (
    LabeledPrediction,
    PredictionRecord,
    inputs_frame,
)
from modelward.store.workspace import Workspace

MAX_ROWS = 200_000  # logged requests read for one history (the newest)
DRIFT_ROWS = 5_000  # rows per window compared with the reference
MIN_DRIFT_ROWS = 50


@dataclass(frozen=True)
class Window:
    """One time window of one model version."""

    start_ms: int
    end_ms: int
    version: int
    requests: int
    errors: int
    latency_ms: dict[str, float]  # p50, p95, p99 of answered requests
    live: dict[str, float]  # live_accuracy / live_f1 or live_mse / live_mae, live_n
    missing: dict[str, float] = field(default_factory=dict)  # feature -> share missing
    psi: dict[str, float] = field(default_factory=dict)  # feature -> PSI
    drift_share: float | None = None
    drifted: bool | None = None

    @property
    def request_rate(self) -> float:
        """Requests per second over the window."""
        return self.requests / max((self.end_ms - self.start_ms) / 1000.0, 1e-9)

    @property
    def error_rate(self) -> float | None:
        """Failed share of the requests (None without requests)."""
        return self.errors / self.requests if self.requests else None


def model_history(
    workspace: Workspace,
    model_name: str,
    *,
    since_ms: int,
    until_ms: int,
    windows: int = 24,
    drift: bool = True,
) -> list[Window]:
    """The windows (oldest first) of `model_name` between two times, one per version."""
    import numpy as np

    log = local_prediction_log(workspace)
    records = log.records(model_name, since_ms=since_ms, limit=MAX_ROWS, status=None)
    records = [r for r in records if r.created_ms < until_ms]
    labeled = [
        item for item in log.labeled(model_name, last=MAX_ROWS) if item.created_ms >= since_ms
    ]
    span = max(until_ms - since_ms, 1)
    width = max(span // windows, 1)

    def window_of(ms: int) -> int:
        return min(int((ms - since_ms) // width), windows - 1)

    grouped: dict[tuple[int, int], list[PredictionRecord]] = {}
    for record in records:
        grouped.setdefault((window_of(record.created_ms), record.model_version), []).append(record)
    labels: dict[tuple[int, int], list[LabeledPrediction]] = {}
    version_of = {r.request_id: r.model_version for r in records}
    for item in labeled:
        version = version_of.get(item.request_id)
        if version is not None:
            labels.setdefault((window_of(item.created_ms), version), []).append(item)
    references = _References(workspace, model_name) if drift else None
    found = []
    for (index, version), rows in sorted(grouped.items()):
        answered = [r.latency_ms for r in rows if r.status == 200]
        latency = (
            {
                name: float(value)
                for name, value in zip(
                    ("p50", "p95", "p99"), np.percentile(answered, [50, 95, 99]), strict=True
                )
            }
            if answered
            else {}
        )
        task = references.task(version) if references is not None else None
        live = live_metrics(task or "classification", labels.get((index, version), []))
        extra = _inputs_view(rows, version, references)
        found.append(
            Window(
                start_ms=since_ms + index * width,
                end_ms=since_ms + (index + 1) * width,
                version=version,
                requests=len(rows),
                errors=sum(1 for r in rows if r.status != 200),
                latency_ms=latency,
                live=live,
                **extra,
            )
        )
    return found


def _inputs_view(
    rows: Sequence[PredictionRecord], version: int, references: _References | None
) -> dict[str, Any]:
    answered = [r for r in rows if r.status == 200][:DRIFT_ROWS]
    frame = inputs_frame(answered)
    if frame is None:
        return {}
    view: dict[str, Any] = {"missing": {str(k): float(v) for k, v in frame.isna().mean().items()}}
    if references is None or len(frame) < MIN_DRIFT_ROWS:
        return view
    report = references.drift(version, frame)
    if report is not None:
        view["psi"] = {
            f["name"]: float(f["psi"]) for f in report["features"] if f.get("psi") is not None
        }
        view["drift_share"] = float(report["dataset"]["share"])
        view["drifted"] = bool(report["dataset"]["drifted"])
    return view


class _References:
    """Each version's reference statistics and task, looked up once per history."""

    def __init__(self, workspace: Workspace, model_name: str) -> None:
        from modelward.refs import Ref
        from modelward.registry.repository import ModelRepository

        self.workspace = workspace
        self.model_name = model_name
        self.repository = ModelRepository(workspace.db)
        self._ref = Ref
        self._versions: dict[int, Any] = {}
        self._stats: dict[int, Any] = {}

    def _version(self, number: int) -> Any:
        if number not in self._versions:
            try:
                self._versions[number] = self.repository.get(
                    self._ref(name=self.model_name, version=number)
                )
            except Exception:  # a version deleted since, or a log of another store
                self._versions[number] = None
        return self._versions[number]

    def task(self, number: int) -> str | None:
        version = self._version(number)
        return None if version is None else str(version.task)

    def drift(self, number: int, frame: Any) -> dict[str, Any] | None:
        from modelward.errors import ModelwardError
        from modelward.monitoring.drift.cache import reference_dataset, reference_stats
        from modelward.monitoring.drift.engine import detect_drift

        version = self._version(number)
        if version is None:
            return None
        columns = [c["name"] for c in version.signature.get("inputs", []) if c["name"] in frame]
        if not columns:
            return None
        try:
            if number not in self._stats:
                dataset = reference_dataset(self.workspace, version)
                self._stats[number] = reference_stats(self.workspace, dataset, columns)
            report: dict[str, Any] = detect_drift(self._stats[number], frame[columns]).to_dict()
        except ModelwardError:  # no training data recorded: no drift to show
            self._stats[number] = None
            return None
        return report
