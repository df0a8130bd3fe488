"""Prometheus metrics of the model server.

With several workers (`mw serve --workers N`) each process writes its values
to files in PROMETHEUS_MULTIPROC_DIR (prometheus_client's multiprocess mode,
set up by `mw serve` before this module is imported) and /metrics adds them
up: counters and histograms are summed, resource use is summed over the
workers (the server's utilisation, R = U / C), and the gauges the monitor
sets (live accuracy, drift) report the most recent value.

Per-feature missing rate: `modelward_feature_missing_ratio`, over the monitor's window of
the prediction log (kept off the request path).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

import psutil
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from modelward.registry.entities import ModelVersion

_ROUTES = {"/predict", "/invocations", "/feedback"}
MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def _gauge(name: str, doc: str, labels: Sequence[str] = (), mode: str = "mostrecent") -> Gauge:
    kwargs: dict[str, Any] = {"multiprocess_mode": mode} if MULTIPROCESS else {}
    return Gauge(name, doc, list(labels), **kwargs)


class ServerMetrics:
    """Every metric of one server process (created once per process)."""

    _instance: ServerMetrics | None = None

    @classmethod
    def get(cls) -> ServerMetrics:
        """The process's metrics (prometheus_client metrics are process-global)."""
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance

    def __init__(self) -> None:
        self.requests = Counter(
            "modelward_requests", "Requests by route and HTTP status.", ["route", "status"]
        )
        self.latency = Histogram(
            "modelward_request_duration_seconds",
            "Time to answer a request, in seconds.",
            ["route"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
        )
        self.predicted_class = Counter(
            "modelward_predictions", "Predicted rows by predicted class.", ["model", "class"]
        )
        self.predicted_value = Histogram(
            "modelward_predicted_value",
            "Predicted values of a regression model.",
            ["model"],
            buckets=(-1000, -100, -10, -1, 0, 1, 10, 100, 1000, 10000),
        )
        self.feedback = Counter("modelward_feedback", "Labels received through /feedback.")
        self.unseen = Counter(
            "modelward_unseen_categories",
            "Rows answered with a category not seen in training, per input column.",
            ["model", "version", "column"],
        )
        self.model_info = _gauge(
            "modelward_model_info",
            "The model being served (1 for the current version).",
            ["name", "version", "digest"],
            mode="max",
        )
        self.cpu = _gauge(
            "modelward_cpu_utilisation_ratio",
            "CPU used by the server over the CPU capacity of the machine (U / C).",
            mode="sum",
        )
        self.memory = _gauge(
            "modelward_memory_utilisation_ratio",
            "Resident memory of the server over the machine's memory (U / C).",
            mode="sum",
        )
        self.memory_bytes = _gauge(
            "modelward_memory_resident_bytes", "Resident memory of the server.", mode="sum"
        )
        self.live = _gauge(
            "modelward_live_metric",
            "Quality over the latest labeled predictions (accuracy, f1, mse, ...).",
            ["model", "metric"],
        )
        self.live_labeled = _gauge(
            "modelward_live_labeled_rows",
            "Labeled rows the live metrics are computed over.",
            ["model"],
        )
        self.missing_ratio = _gauge(
            "modelward_feature_missing_ratio",
            "Share of missing values per feature over the monitor's window.",
            ["model", "feature"],
        )
        self.drift_psi = _gauge(
            "modelward_drift_psi", "Population stability index per feature.", ["model", "feature"]
        )
        self.drift_detected = _gauge(
            "modelward_drift_detected",
            "1 when the dataset-level drift verdict is drifted.",
            ["model"],
        )
        self.drift_share = _gauge(
            "modelward_drift_share", "Share of features found drifted.", ["model"]
        )
        self.alerts_firing = _gauge("modelward_alerts_firing", "Alert rules firing now.", ["model"])
        self._process = psutil.Process()
        self._process.cpu_percent(None)  # starts the CPU measurement window
        self._shown_model: tuple[str, str, str] | None = None
        self._class_children: dict[tuple[str, str], Any] = {}

    def observe(self, route: str, status: int, started: float) -> None:
        """Count one answered request and its latency."""
        route = route if route in _ROUTES else "other"
        self.requests.labels(route=route, status=str(status)).inc()
        self.latency.labels(route=route).observe(time.perf_counter() - started)

    def observe_predictions(self, version: ModelVersion, predictions: list[Any]) -> None:
        """Count predicted classes, or record predicted values."""
        if version.task == "regression":
            histogram = self.predicted_value.labels(model=version.name)
            for value in predictions:
                histogram.observe(float(value))
            return
        counts: dict[str, int] = {}
        for value in predictions:
            counts[str(value)] = counts.get(str(value), 0) + 1
        for label, count in counts.items():
            child = self._class_children.get((version.name, label))
            if child is None:
                child = self.predicted_class.labels(model=version.name, **{"class": label})
                self._class_children[(version.name, label)] = child
            child.inc(count)

    def observe_unseen(self, version: ModelVersion, column: str, rows: int) -> None:
        """Count rows whose `column` held a category the model never saw."""
        self.unseen.labels(model=version.name, version=str(version.version), column=column).inc(
            rows
        )

    def show_model(self, version: ModelVersion) -> None:
        """Mark `version` as the one served (and the previous one as not)."""
        current = (version.name, str(version.version), version.digest)
        if self._shown_model == current:
            return
        if self._shown_model is not None:
            self.model_info.labels(*self._shown_model).set(0)
        self.model_info.labels(*current).set(1)
        self._shown_model = current

    def sample_resources(self) -> None:
        """CPU and memory utilisation of this process (U / C), via psutil."""
        capacity = 100.0 * (psutil.cpu_count() or 1)
        self.cpu.set(self._process.cpu_percent(None) / capacity)
        rss = self._process.memory_info().rss
        self.memory_bytes.set(rss)
        self.memory.set(rss / psutil.virtual_memory().total)

    def exposition(self) -> tuple[bytes, str]:
        """The text exposition of every worker's metrics."""
        self.sample_resources()
        if MULTIPROCESS:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry), CONTENT_TYPE_LATEST
        from prometheus_client import REGISTRY

        return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
