"""Prometheus metrics of the model server.

With several workers (`mw serve --workers N`) each process writes its values
to files in PROMETHEUS_MULTIPROC_DIR (prometheus_client's multiprocess mode,
set up by `mw serve` before this module is imported) and /metrics adds them
up: counters and histograms are summed, resource use is summed over the
workers (the server's utilisation, R = U / C), and the gauges the monitor
sets (live accuracy, drift) report the most recent value.

Per-feature missing rate: `modelward_feature_missing_ratio`, over the monitor's window of
the prediction log (kept off the request path).

The per-request counts (requests, latency, predicted classes and values) are added up
in plain dictionaries under one lock, and passed to prometheus_client by `flush`:
every second from a background thread (`start`), and before every exposition. A
request then costs a dictionary update instead of several prometheus_client calls
(each a lock, and in multiprocess mode a write to a memory-mapped file).
"""

from __future__ import annotations

import os
import threading
import time
from bisect import bisect_left
from collections.abc import Sequence
from typing import Any

import psutil
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from modelward.registry.entities import ModelVersion

_ROUTES = {"/predict", "/invocations", "/feedback"}
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
VALUE_BUCKETS = (-1000, -100, -10, -1, 0, 1, 10, 100, 1000, 10000)
FLUSH_INTERVAL = 1.0
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
            buckets=LATENCY_BUCKETS,
        )
        self.predicted_class = Counter(
            "modelward_predictions", "Predicted rows by predicted class.", ["model", "class"]
        )
        self.predicted_value = Histogram(
            "modelward_predicted_value",
            "Predicted values of a regression model.",
            ["model"],
            buckets=VALUE_BUCKETS,
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
        self._lock = threading.Lock()
        self._pending = _Pending()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def observe(self, route: str, status: int, started: float) -> None:
        """Count one answered request and its latency."""
        seconds = time.perf_counter() - started
        with self._lock:
            self._pending.count(route, status, seconds)

    def observe_predictions(self, version: ModelVersion, predictions: list[Any]) -> None:
        """Count predicted classes, or record predicted values."""
        name = version.name
        if version.task == "regression":
            values = [float(value) for value in predictions]
            with self._lock:
                histogram = self._pending.values.get(name)
                if histogram is None:
                    histogram = self._pending.values[name] = _Buckets(len(VALUE_BUCKETS))
                for value in values:
                    histogram.counts[bisect_left(VALUE_BUCKETS, value)] += 1
                histogram.total += sum(values)
            return
        with self._lock:
            classes = self._pending.classes
            for value in predictions:
                key = (name, str(value))
                classes[key] = classes.get(key, 0) + 1

    def observe_answer(
        self, route: str, version: ModelVersion, predictions: list[Any], started: float
    ) -> None:
        """`show_model`, `observe_predictions` and `observe` of a 200 in one step (one
        lock): what every answered prediction request costs."""
        self.show_model(version)
        if version.task == "regression":
            self.observe_predictions(version, predictions)
            self.observe(route, 200, started)
            return
        seconds = time.perf_counter() - started
        name = version.name
        with self._lock:
            classes = self._pending.classes
            for value in predictions:
                key = (name, str(value))
                classes[key] = classes.get(key, 0) + 1
            self._pending.count(route, 200, seconds)

    def flush(self) -> None:
        """Pass the counts gathered since the last flush to prometheus_client."""
        with self._lock:
            pending, self._pending = self._pending, _Pending()
        for (route, status), count in pending.requests.items():
            self.requests.labels(route=route, status=str(status)).inc(count)
        for route, buckets in pending.latency.items():
            _add(self.latency.labels(route=route), buckets)
        for (model, label), count in pending.classes.items():
            self.predicted_class.labels(model=model, **{"class": label}).inc(count)
        for model, buckets in pending.values.items():
            _add(self.predicted_value.labels(model=model), buckets)

    def start(self, interval: float = FLUSH_INTERVAL) -> None:
        """Flush every `interval` seconds from a background thread, until `stop`."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, args=(interval,), name="metrics-flush", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        """Stop the background flush, and flush what is left."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.flush()

    def _run(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self.flush()

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
        self.flush()
        self.sample_resources()
        if MULTIPROCESS:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry), CONTENT_TYPE_LATEST
        from prometheus_client import REGISTRY

        return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


class _Buckets:
    """Observations of a histogram, by bucket (the last one is +Inf), and their sum."""

    __slots__ = ("counts", "total")

    def __init__(self, bounds: int) -> None:
        self.counts = [0] * (bounds + 1)
        self.total = 0.0


class _Pending:
    """Counts gathered since the last flush."""

    __slots__ = ("classes", "latency", "requests", "values")

    def __init__(self) -> None:
        self.requests: dict[tuple[str, int], int] = {}
        self.latency: dict[str, _Buckets] = {}
        self.classes: dict[tuple[str, str], int] = {}
        self.values: dict[str, _Buckets] = {}

    def count(self, route: str, status: int, seconds: float) -> None:
        """One request and its latency (the caller holds the metrics' lock)."""
        route = route if route in _ROUTES else "other"
        key = (route, status)
        self.requests[key] = self.requests.get(key, 0) + 1
        latency = self.latency.get(route)
        if latency is None:
            latency = self.latency[route] = _Buckets(len(LATENCY_BUCKETS))
        latency.counts[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        latency.total += seconds


def _add(histogram: Any, buckets: _Buckets) -> None:
    # prometheus_client has no "observe n values at once": a histogram child keeps one
    # value per bucket (not cumulative) and their sum, which observe() increments.
    histogram._sum.inc(buckets.total)
    for bucket, count in zip(histogram._buckets, buckets.counts, strict=True):
        if count:
            bucket.inc(count)
