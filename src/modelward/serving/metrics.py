"""Prometheus metrics of the model server (requests, latency, model info)."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram, Info, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from modelward.registry.entities import ModelVersion

_ROUTES = {"/predict", "/invocations"}


class ServerMetrics:
    """Request counts by route and status, and a latency histogram in seconds."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "modelward_requests",
            "Prediction requests by route and HTTP status.",
            ["route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "modelward_request_duration_seconds",
            "Time to answer a prediction request, in seconds.",
            ["route"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=self.registry,
        )
        self.model = Info("modelward_model", "The model being served.", registry=self.registry)

    def observe(self, route: str, status: int, started: float) -> None:
        """Count one answered request."""
        route = route if route in _ROUTES else "other"
        self.requests.labels(route=route, status=str(status)).inc()
        self.latency.labels(route=route).observe(time.perf_counter() - started)

    def exposition(self, version: ModelVersion) -> tuple[bytes, str]:
        """The text exposition, with the current model's identity."""
        self.model.info(
            {"name": version.name, "version": str(version.version), "digest": version.digest}
        )
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
