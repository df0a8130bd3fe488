"""Monitoring of real `mw serve` processes, end to end: the issue's live-accuracy flow, two
servers for one model, promtool over two workers, SIGTERM under load, a real Prometheus.
(The same paths in-process: test_app_monitoring.py.)"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from sklearn.metrics import accuracy_score

import modelward as mw
from modelward.monitoring.predictions import PredictionLogRepository
from modelward.store.workspace import open_workspace
from tests.serving.support import Served, Server


def _log() -> PredictionLogRepository:
    return PredictionLogRepository(open_workspace().db)


@pytest.mark.timeout(120)
def test_live_accuracy_reaches_metrics_and_a_second_server_says_who_monitors(
    home: Path, server_factory: Callable[..., Server]
) -> None:
    """The issue's flow: a fresh home, a 3,000 x 6 numeric dataset with a binary label,
    LogisticRegression aliased production, `mw serve`, then at once 20 one-row
    predictions and their 20 labels (15 right): accuracy 0.75 must be on /metrics
    within a few monitor rounds. Then a second server for the same model says, as it
    starts, which process runs the monitor (the first one keeps quiet about it)."""
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(8)
    features = [f"x{i}" for i in range(6)]
    X = pd.DataFrame(rng.normal(size=(3000, 6)), columns=features)
    frame = X.assign(label=(X["x0"] + X["x1"] + rng.normal(size=3000) > 0).astype(int))
    data = mw.data.add(frame, name="flow")
    with mw.start_run(experiment="flow") as run:
        model = LogisticRegression().fit(X, frame["label"])
        run.log_model(model, name="flow-clf", data=data.ref)
    mw.models.set_alias("flow-clf", 1, "production")
    interval = 0.5
    server = server_factory(home, "flow-clf@production", "--monitor-interval", str(interval))
    labels, predicted = [], []
    with httpx.Client(base_url=server.url, timeout=10) as http:
        for i in range(20):
            answer = http.post("/predict", json={"instances": [X.iloc[i].tolist()]}).json()
            prediction = answer["predictions"][0]
            label = prediction if i < 15 else 1 - prediction
            sent = http.post("/feedback", json={"request_id": answer["request_id"], "label": label})
            assert sent.status_code == 200, sent.text
            labels.append(label)
            predicted.append(prediction)
        expected = accuracy_score(labels, predicted)
        assert expected == 0.75

        def scraped() -> float | None:
            for line in http.get("/metrics").text.splitlines():
                if line.startswith('modelward_live_metric{metric="accuracy",model="flow-clf"}'):
                    return float(line.split()[-1])
            return None

        # Rounds during the traffic may show a partial accuracy; the one after it, all 20.
        deadline = time.monotonic() + 12 * interval
        seen = scraped()
        while seen != pytest.approx(expected) and time.monotonic() < deadline:
            time.sleep(interval)
            seen = scraped()
    assert seen == pytest.approx(expected), f"live accuracy {seen} on /metrics after 12 rounds"

    second = server_factory(home, "flow-clf@1", "--monitor-interval", str(interval))
    _, told = second.stop()
    line = f"another process (pid {server.process.pid}) runs the monitor of model 'flow-clf'"
    assert line in told, told
    _, quiet = server.stop()
    assert "runs the monitor" not in quiet


@pytest.mark.skipif(
    shutil.which("promtool") is None and not os.environ.get("CI"),
    reason="promtool (Debian package prometheus) is not installed",
)
def test_metrics_pass_promtool_with_two_workers(
    served: Served, server_factory: Callable[..., Server]
) -> None:
    server = server_factory(served.home, "bc-clf@2", "--workers", "2")
    body = {"instances": served.raw.iloc[:4].to_numpy().tolist()}
    with httpx.Client(base_url=server.url) as http:
        for _ in range(40):
            assert http.post("/predict", json=body).status_code == 200
        for _ in range(5):
            http.post("/predict", json={"instances": []})
        text = http.get("/metrics").text
    result = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stdout + result.stderr
    counts = {
        line.split()[0]: float(line.split()[1])
        for line in text.splitlines()
        if line.startswith("modelward_requests_total{")
    }
    assert counts['modelward_requests_total{route="/predict",status="200"}'] == 40
    assert counts['modelward_requests_total{route="/predict",status="422"}'] == 5
    predicted = sum(
        float(line.split()[1])
        for line in text.splitlines()
        if line.startswith("modelward_predictions_total{")
    )
    assert predicted == 160
    assert (
        "modelward_cpu_utilisation_ratio" in text and "modelward_memory_utilisation_ratio" in text
    )
    assert 'modelward_model_info{digest="' in text
    _, told = server.stop()  # the worker that does not monitor says so without a warning
    assert "runs the monitor" not in told, told


@pytest.mark.timeout(120)
def test_sigterm_under_load_loses_no_answered_prediction(
    served: Served, server_factory: Callable[..., Server]
) -> None:
    mw.models.set_alias("bc-clf", 2, "sigterm")
    server = server_factory(served.home, "bc-clf@sigterm", "--monitor-interval", "0")
    body = {"instances": served.raw.iloc[:2].to_numpy().tolist()}
    answered: list[str] = []
    stop = threading.Event()

    def client() -> None:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            while not stop.is_set():
                try:
                    response = http.post("/predict", json=body)
                except httpx.TransportError:
                    return  # the server is going away
                if response.status_code == 200:
                    answered.append(response.json()["request_id"])

    clients = [threading.Thread(target=client) for _ in range(4)]
    for thread in clients:
        thread.start()
    time.sleep(1.5)
    server.process.send_signal(signal.SIGTERM)
    server.process.wait(timeout=60)
    stop.set()
    for thread in clients:
        thread.join(timeout=30)
    assert len(answered) > 20
    logged = _log().request_ids("bc-clf")
    lost = set(answered) - logged
    assert not lost, f"{len(lost)} answered predictions are not in the log"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.timeout(120)
@pytest.mark.skipif(
    shutil.which("prometheus") is None and not os.environ.get("CI"),
    reason="prometheus (Debian package) is not installed",
)
def test_a_real_prometheus_scrapes_the_server(served: Served, production_server: Server) -> None:
    with httpx.Client(base_url=production_server.url) as http:
        for _ in range(7):
            http.post("/predict", json={"instances": served.raw.iloc[:1].to_numpy().tolist()})
    port = _free_port()
    target = production_server.url.removeprefix("http://")
    folder = Path(tempfile.mkdtemp(prefix="mw-prom-"))
    config = folder / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n"
        f"scrape_configs:\n  - job_name: modelward\n    static_configs:\n"
        f"      - targets: ['{target}']\n"
    )
    prometheus = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        query = 'sum(modelward_requests_total{route="/predict",status="200"})'
        deadline = time.monotonic() + 60
        value = None
        while time.monotonic() < deadline and value is None:
            try:
                answer = httpx.get(
                    f"http://127.0.0.1:{port}/api/v1/query", params={"query": query}, timeout=5
                ).json()
                results = answer["data"]["result"]
                value = float(results[0]["value"][1]) if results else None
            except (httpx.TransportError, KeyError, ValueError):
                value = None
            if value is None:
                time.sleep(0.5)
        assert value is not None and value >= 7
    finally:
        prometheus.terminate()
        prometheus.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)
