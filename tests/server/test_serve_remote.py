"""`mw serve` against a team server, in-process: the model loaded from the server, the
alias followed through it, the prediction log, feedback, alerts and alert states sent back."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from starlette.testclient import TestClient

import modelward as mw
from modelward.monitoring.alert_store import AlertRepository, AlertStateRepository
from modelward.monitoring.monitor import ServerMonitor
from modelward.monitoring.predictions import PredictionLogRepository
from modelward.serving.server import ServeOptions, build_app
from modelward.store.workspace import Workspace
from tests.server.support import WRITER, TeamServer

FEATURES = ["a", "b"]


@dataclass
class Remote:
    team: TeamServer
    client: Workspace  # this process's workspace: the team server, as a writer
    rows: pd.DataFrame
    models: list[LogisticRegression]  # versions 1 and 2 of toy-clf


@pytest.fixture
def remote(team: TeamServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Remote:
    rng = np.random.default_rng(11)
    frame = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    frame["label"] = (frame["a"] + frame["b"] > 0).astype(int)
    data = mw.data.add(frame, name="toy")  # in the server's store
    models = []
    for f1, c in ((0.8, 0.001), (0.9, 10.0)):
        model = LogisticRegression(C=c).fit(frame[FEATURES], frame["label"])
        with mw.start_run(experiment="serve") as run:
            run.log_metric("f1", f1)
            run.log_model(model, name="toy-clf", data=data)
        models.append(model)
    mw.models.set_alias("toy-clf", 1, "staging")
    client = team.connect(monkeypatch, tmp_path / "client", WRITER)
    return Remote(team, client, frame[FEATURES], models)


def _wait_for(check: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(check) and check():
            return
        time.sleep(0.05)
    raise AssertionError("not reached in time")


def test_serve_follows_the_alias_on_the_server_and_logs_there(remote: Remote) -> None:
    app = build_app(ServeOptions(ref="toy-clf@staging", poll_interval=0.05, monitor_interval=0))
    rows = remote.rows.iloc[:3]
    with TestClient(app) as http:
        assert http.get("/ready").json()["model"]["version"] == 1
        first = http.post("/predict", json={"instances": rows.values.tolist()}).json()
        assert first["predictions"] == remote.models[0].predict(rows).tolist()
        # the prediction may still be queued in this process: feedback sends it first
        feedback = http.post(
            "/feedback", json={"request_id": first["request_id"], "label": [1, 0, 1]}
        )
        assert feedback.status_code == 200, feedback.text

        moved = remote.team.http(WRITER).put(
            "/api/v1/models/toy-clf/aliases/staging", json={"version": 2}
        )
        assert moved.status_code == 200
        _wait_for(lambda: http.get("/ready").json()["model"]["version"] == 2)
        second = http.post("/predict", json={"instances": rows.values.tolist()}).json()
        assert second["model"] == {"name": "toy-clf", "version": 2}
        assert second["predictions"] == remote.models[1].predict(rows).tolist()
        refused = http.post("/predict", json={"instances": [["x", "y"]]})
        assert refused.status_code == 422
    # shut down: the writer stored everything that was answered
    stored = PredictionLogRepository(remote.team.workspace.db)
    logged = {r.request_id: r for r in stored.records("toy-clf", status=None)}
    assert logged[first["request_id"]].model_version == 1
    assert logged[second["request_id"]].model_version == 2
    assert logged[first["request_id"]].inputs == {name: rows[name].tolist() for name in FEATURES}
    assert sorted(r.status for r in logged.values()) == [200, 200, 422]
    labeled = stored.labeled("toy-clf")
    assert [(item.request_id, item.label) for item in labeled] == [(first["request_id"], [1, 0, 1])]


def test_the_monitor_of_a_remote_serve_stores_alerts_and_states_on_the_server(
    remote: Remote, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n  - name: busy\n    metric: request_rate\n"
        "    threshold: {above: 0.01}\n    window: 1\n    for: 0s\n"
    )
    app = build_app(ServeOptions(ref="toy-clf@staging", poll_interval=0, monitor_interval=0))
    holder = app.state.serving.holder
    with TestClient(app) as http:
        for _ in range(5):
            assert http.post("/predict", json={"instances": [[0.1, 0.2]]}).status_code == 200
    monitor = ServerMonitor(remote.client, holder, interval=0, alerts_path=str(rules))
    assert monitor.lead()
    events = monitor.tick()
    assert [(event.rule, event.state) for event in events] == [("busy", "firing")]
    monitor.stop()
    alerts = AlertRepository(remote.team.workspace.db).list(model="toy-clf")
    assert [(alert.rule, alert.state) for alert in alerts] == [("busy", "firing")]
    assert alerts[0].value == pytest.approx(5 / monitor.window_seconds)
    (state,) = AlertStateRepository(remote.team.workspace.db).states("toy-clf")
    assert state[1].state == "firing"

    restarted = ServerMonitor(remote.client, holder, interval=0, alerts_path=str(rules))
    assert restarted.lead()  # states read back from the server: still firing
    assert restarted._evaluator.firing == ("busy",)
    assert restarted.tick() == []
    restarted.stop()
    assert len(AlertRepository(remote.team.workspace.db).list(model="toy-clf")) == 1


def test_a_drift_round_in_the_child_process_reads_through_the_team_server(
    remote: Remote, tmp_path: Path
) -> None:
    # `mw serve` runs drift rounds in a child process: with MODELWARD_URI it must read
    # the model, the prediction log and the reference through the server, as this one.
    from modelward.config import load_settings
    from modelward.monitoring.drift_rounds import ChildProcessDrift, DriftWindow, InProcessDrift
    from modelward.monitoring.ports import prediction_log_store
    from modelward.monitoring.predictions import PredictionRecord
    from modelward.registry.ports import model_registry
    from tests.server.live import live_server

    now_ms = int(time.time() * 1000)
    rows = remote.rows.iloc[:150].assign(a=remote.rows["a"].iloc[:150] + 3.0)  # drifted
    prediction_log_store(remote.client).add_records(
        [
            PredictionRecord(
                f"child-{now_ms}", "toy-clf", 1, now_ms, 200, 1.0, len(rows),
                {name: rows[name].tolist() for name in FEATURES}, [0] * len(rows),
            )
        ]
    )  # fmt: skip
    version = model_registry(remote.client).get("toy-clf@1")
    window = DriftWindow(since_ms=now_ms, limit=5000, min_rows=100)
    expected = InProcessDrift(remote.client).run(version, window)
    assert expected is not None and expected.report is not None
    assert expected.report["dataset"]["drifted_features"] == ["a"]
    with live_server(remote.team.app) as url:
        settings = load_settings(
            {
                "MODELWARD_HOME": str(tmp_path / "child-home"),
                "MODELWARD_URI": url,
                "MODELWARD_TOKEN": remote.team.secrets[WRITER],
            }
        )
        drift = ChildProcessDrift(settings)
        try:
            found = drift.run(version, window)
        finally:
            drift.close()
    assert found == expected
    assert not (tmp_path / "child-home" / "modelward.db").exists()  # nothing local
