"""The monitoring pages over a prediction log: traffic, latency, live quality, drift, alerts."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest

from modelward.monitoring.alert_store import AlertRepository
from modelward.monitoring.history import model_history
from modelward.monitoring.predictions import (
    PredictionLogRepository,
    PredictionLogWriter,
    PredictionRecord,
)
from tests.server.dashboard.test_data_and_model_pages import loop  # noqa: F401
from tests.server.dashboard.test_pages import XSS, sign_in
from tests.server.support import TeamServer


@pytest.fixture
def traffic(team: TeamServer, loop: dict[str, str]) -> dict[str, float]:  # noqa: F811
    """120 logged requests to clf@2 over the last 20 minutes, 4 failed, half labeled."""
    now_ms = int(time.time() * 1000)
    rng = np.random.default_rng(1)
    writer = PredictionLogWriter(team.workspace.db)
    records = []
    for i in range(120):
        drifted = i >= 60  # the second half is far from the training data
        records.append(
            PredictionRecord(
                request_id=f"r{i}",
                model_name="clf",
                model_version=2,
                created_ms=now_ms - (120 - i) * 10_000,
                status=200 if i % 30 else 500,
                latency_ms=float(i % 10 + 1),
                n_rows=1,
                inputs={
                    "x": [float(rng.normal(8 if drifted else 0))],
                    "city": ["paris" if i % 2 else XSS],
                },
                outputs=[int(i % 2)],
            )
        )
    for record in records:
        writer.record(record)
    writer.flush()
    log = PredictionLogRepository(team.workspace.db)
    right = labeled = 0
    for i in range(0, 120, 2):
        label = i % 2 if i % 8 else 1 - i % 2  # one in four wrong
        log.add_feedback(f"r{i}", label)
        if i % 30:  # a label for a failed request (no prediction) scores nothing
            labeled += 1
            right += label == i % 2
    AlertRepository(team.workspace.db).add(
        rule="drift", metric="drift_share", state="firing", value=0.5, model="clf",
        message=f"drift {XSS}", details={},
    )  # fmt: skip
    return {"labeled": labeled, "right": right, "now_ms": now_ms}


def test_history_counts_requests_errors_and_live_accuracy(
    team: TeamServer, traffic: dict[str, float]
) -> None:
    now_ms = int(traffic["now_ms"]) + 1
    windows = model_history(
        team.workspace, "clf", since_ms=now_ms - 3_600_000, until_ms=now_ms, windows=6
    )
    assert sum(w.requests for w in windows) == 120
    assert sum(w.errors for w in windows) == 4  # i = 0, 30, 60, 90
    labeled = sum(w.live.get("live_n", 0) for w in windows)
    assert labeled == traffic["labeled"]
    weighted = sum(w.live["live_accuracy"] * w.live["live_n"] for w in windows if w.live)
    assert weighted / labeled == pytest.approx(traffic["right"] / traffic["labeled"])
    # the drifted half shows in PSI of x, the calm half not
    drift = [w for w in windows if w.psi]
    assert drift and max(w.psi["x"] for w in drift) > 1.0
    assert any(w.drifted for w in drift)


def test_the_monitoring_pages_draw_and_escape(team: TeamServer, traffic: dict[str, float]) -> None:
    browser = sign_in(team)
    listing = browser.get("/monitoring").text
    assert 'href="/monitoring/clf"' in listing and "120" in listing
    assert "<script>alert" not in listing and "drift &lt;script&gt;" in listing
    page = browser.get("/monitoring/clf").text
    assert 'data-refresh="15"' in page
    titles = re.findall(r'<svg [^>]*data-series="(\d+)" data-points="(\d+)"', page)
    assert len(titles) >= 6  # rate, errors, latency, accuracy, f1, PSI of x...
    assert all(int(points) > 0 for _series, points in titles[:4])
    assert "PSI of x" in page and "&lt;script&gt;" in page and "<script>alert" not in page
    assert browser.get("/monitoring/nothing-served").status_code == 200  # an empty history
