"""Monitoring pages: every served model, and one model's traffic, quality, drift, alerts."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from modelward.monitoring.alert_store import AlertRepository
from modelward.monitoring.history import Window, model_history
from modelward.monitoring.ports import local_prediction_log
from modelward.server.dashboard.charts import Series, line_chart
from modelward.server.dashboard.rendering import render

REFRESH_SECONDS = 15
HOURS = (1, 6, 24, 168)


async def monitoring_page(request: Request) -> Response:
    """/monitoring: the models with logged predictions, and the newest alerts."""
    workspace = request.app.state.workspace
    served = local_prediction_log(workspace).served_models()
    alerts = AlertRepository(workspace.db).list(limit=20)
    return render(request, "monitoring.html", served=served, alerts=alerts)


def _series(
    windows: list[Window], value: Callable[[Window], float | None], *, label: str = "v"
) -> list[Series]:
    by_version: dict[int, tuple[list[float], list[float]]] = {}
    for window in windows:
        number = value(window)
        if number is None:
            continue
        xs, ys = by_version.setdefault(window.version, ([], []))
        xs.append((window.end_ms - windows[0].start_ms) / 60_000.0 if windows else 0.0)
        ys.append(number)
    return [
        Series(f"{label} @{version}", xs, ys) for version, (xs, ys) in sorted(by_version.items())
    ]


def _live(key: str) -> Callable[[Window], float | None]:
    return lambda window: window.live.get(key)


def _psi(feature: str) -> Callable[[Window], float | None]:
    return lambda window: window.psi.get(feature)


async def model_monitoring_page(request: Request) -> Response:
    """/monitoring/{model}: per version, traffic, latency, errors, live quality, drift."""
    workspace = request.app.state.workspace
    name = request.path_params["name"]
    try:
        hours = int(request.query_params.get("hours", "1"))
    except ValueError:
        hours = 1
    hours = hours if hours in HOURS else 1
    now_ms = int(time.time() * 1000)
    since_ms = now_ms - hours * 3_600_000
    windows = model_history(
        workspace, name, since_ms=since_ms, until_ms=now_ms, windows=24, drift=False
    )
    # drift needs more rows than a traffic window holds: fewer, wider windows
    drift_windows = model_history(workspace, name, since_ms=since_ms, until_ms=now_ms, windows=6)
    x_label = f"minutes over the last {hours} h"
    charts: list[Any] = [
        line_chart(
            _series(windows, lambda w: w.request_rate, label="req/s"),
            title="requests per second",
            x_label=x_label,
        ),
        line_chart(
            _series(windows, lambda w: w.error_rate, label="errors"),
            title="error rate",
            x_label=x_label,
        ),
        line_chart(
            [
                *_series(windows, lambda w: w.latency_ms.get("p50"), label="p50"),
                *_series(windows, lambda w: w.latency_ms.get("p95"), label="p95"),
                *_series(windows, lambda w: w.latency_ms.get("p99"), label="p99"),
            ],
            title="latency (ms)",
            x_label=x_label,
        ),
    ]
    quality_keys = sorted({k for w in windows for k in w.live if k != "live_n"})
    for key in quality_keys:
        charts.append(
            line_chart(
                _series(windows, _live(key), label=key.removeprefix("live_")),
                title=key.replace("_", " "),
                x_label=x_label,
            )
        )
    features = sorted({f for w in drift_windows for f in w.psi})
    drift_charts = [
        line_chart(
            _series(drift_windows, _psi(feature), label=feature),
            title=f"PSI of {feature}",
            x_label=x_label,
        )
        for feature in features
    ]
    missing = sorted(
        {
            f
            for w in drift_windows
            for f in w.missing
            if any(x.missing.get(f) for x in drift_windows)
        }
    )
    alerts = AlertRepository(workspace.db).list(model=name, limit=50)
    latest = drift_windows[-1] if drift_windows else None
    return render(
        request,
        "model_monitoring.html",
        name=name,
        hours=hours,
        hour_choices=HOURS,
        charts=charts,
        drift_charts=drift_charts,
        missing=missing,
        windows=drift_windows,
        latest=latest,
        alerts=alerts,
        refresh=REFRESH_SECONDS,
    )
