"""The monitoring pages over a prediction log: traffic, latency, live quality, drift, alerts."""

from __future__ import annotations

import re

import pytest

from modelward.monitoring.history import model_history
from tests.server.dashboard.seed import seed_traffic
from tests.server.dashboard.test_data_and_model_pages import loop  # noqa: F401
from tests.server.dashboard.test_pages import sign_in
from tests.server.support import TeamServer


@pytest.fixture
def traffic(team: TeamServer, loop: dict[str, str]) -> dict[str, int]:  # noqa: F811
    """120 logged requests to clf@2 over the last 20 minutes, 4 failed, half labeled."""
    return seed_traffic(team.workspace.db)


def test_history_counts_requests_errors_and_live_accuracy(
    team: TeamServer, traffic: dict[str, int]
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


def test_the_monitoring_pages_draw_and_escape(team: TeamServer, traffic: dict[str, int]) -> None:
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
