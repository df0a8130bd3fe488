"""`mw models`, `mw monitor` and `mw predict` through a team server: the same commands, the
same output, the server's store holding what they did, its refusals as one-line errors."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import modelward as mw
from modelward.config import load_settings
from modelward.monitoring.alert_store import AlertRepository
from modelward.registry.service import ModelRegistry
from modelward.store.remote import ServerClient
from modelward.store.workspace import register_workspace, remote_workspace
from tests.helpers import Result, mw_in_process
from tests.server.support import ADMIN, BASE_URL, READER, WRITER, TeamServer

FEATURES = ["a", "b"]


@dataclass
class Client:
    """`mw` on a client machine: only MODELWARD_URI, a token and a home of its own."""

    team: TeamServer
    home: Path
    monkeypatch: pytest.MonkeyPatch
    run_ids: list[str]
    frame: pd.DataFrame
    models: list[LogisticRegression]

    def __call__(self, *args: str | Path, role: str = WRITER) -> Result:
        self.team.connect(self.monkeypatch, self.home, role)
        return mw_in_process(*args, home=self.home)


@pytest.fixture
def client(team: TeamServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Client:
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"a": rng.normal(size=150), "b": rng.normal(size=150)})
    frame["label"] = (frame["a"] - frame["b"] > 0).astype(int)
    data = mw.data.add(frame, name="toy")  # in the server's store
    run_ids, models = [], []
    for f1, c in ((0.8, 0.001), (0.9, 10.0)):
        model = LogisticRegression(C=c).fit(frame[FEATURES], frame["label"])
        with mw.start_run(experiment="cli") as run:
            run.log_metric("f1", f1)
            run.log_model(model, data=data)
        run_ids.append(run.id)
        models.append(model)
    return Client(team, tmp_path / "client", monkeypatch, run_ids, frame, models)


def test_models_register_list_show_and_alias_through_the_server(client: Client) -> None:
    registered = client("models", "register", client.run_ids[0][:8], "--name", "toy-clf", "--json")
    assert registered.code == 0, registered.stderr
    assert registered.json()["ref"] == "toy-clf@1"
    assert registered.json()["created_by"] == "writer"
    assert client("models", "register", client.run_ids[1], "--name", "toy-clf").stdout == (
        f"registered toy-clf@2 from run {client.run_ids[1][:8]}\n"
    )
    server = ModelRegistry(client.team.workspace)
    assert [v.run_id for v in server.versions("toy-clf")] == client.run_ids

    listed = client("models", "list", "--json", role=READER)
    assert [(m["name"], m["versions"]) for m in listed.json()] == [("toy-clf", 2)]

    moved = client(
        "models", "alias", "toy-clf", "2", "staging", "--require", "f1 >= 0.85", "--json"
    )
    assert moved.code == 0, moved.stderr
    assert moved.json()["to_version"] == 2 and moved.json()["checks"][0]["passed"]
    refused = client("models", "alias", "toy-clf", "1", "staging", "--require", "f1 >= staging.f1")
    assert refused.code == 1
    assert refused.stderr.count("\n") == 1 and "0.8" in refused.stderr and "0.9" in refused.stderr
    assert server.get("toy-clf@staging").version == 2

    protected = client("models", "alias", "toy-clf", "2", "production")
    assert protected.code == 2
    assert "admin" in protected.stderr and protected.stderr.count("\n") == 1
    assert client("models", "alias", "toy-clf", "2", "production", role=ADMIN).code == 0

    shown = client("models", "show", "toy-clf", "--json", role=READER).json()
    assert [v["aliases"] for v in shown["versions"]] == [[], ["production", "staging"]]
    assert [(c["alias"], c["actor"]) for c in shown["audit"]] == [
        ("production", "admin"),
        ("staging", "writer"),
    ]
    text = client("models", "show", "toy-clf", role=READER)
    assert text.code == 0 and "by admin" in text.stdout and "by writer" in text.stdout
    one = client("models", "show", "toy-clf@production", "--json", role=READER).json()
    assert one["version"] == 2 and one["run_id"] == client.run_ids[1]


def test_a_reader_cannot_register_and_a_wrong_token_is_one_line(client: Client) -> None:
    denied = client("models", "register", client.run_ids[0], "--name", "toy-clf", role=READER)
    assert denied.code == 2 and "reader" in denied.stderr
    assert denied.stderr.count("\n") == 1
    assert ModelRegistry(client.team.workspace).models() == []

    client.monkeypatch.setenv("MODELWARD_HOME", str(client.home))
    client.monkeypatch.setenv("MODELWARD_URI", BASE_URL)
    client.monkeypatch.setenv("MODELWARD_TOKEN", "mw_not-a-real-token")
    wrong = ServerClient(BASE_URL, "mw_not-a-real-token", http=client.team.http(None))
    register_workspace(remote_workspace(wrong, load_settings()))
    refused = mw_in_process("models", "list", home=client.home)
    assert refused.code == 2
    assert "token" in refused.stderr and refused.stderr.count("\n") == 1


def test_monitor_alerts_lists_the_servers_alerts(client: Client) -> None:
    AlertRepository(client.team.workspace.db).add(
        rule="slow",
        metric="latency_p95_seconds",
        state="firing",
        value=1.5,
        model="toy-clf",
        message="p95 [red]1.5 s[/red]",
        details={},
    )
    shown = client("monitor", "alerts", "--json", role=READER)
    assert [(a["rule"], a["state"], a["value"]) for a in shown.json()] == [("slow", "firing", 1.5)]
    text = client("monitor", "alerts", "--model", "toy-clf", role=READER)
    assert text.code == 0 and "[red]1.5 s[/red]" in text.stdout  # shown, not interpreted
    assert "no alerts" in client("monitor", "alerts", "--model", "other", role=READER).stdout


def test_predict_loads_the_model_from_the_server(client: Client, tmp_path: Path) -> None:
    ModelRegistry(client.team.workspace).register_run(client.run_ids[1], "toy-clf")
    rows = tmp_path / "rows.csv"
    client.frame[FEATURES].to_csv(rows, index=False)
    out = tmp_path / "out.csv"
    result = client("predict", "toy-clf@1", "--data", rows, "--out", out, "--json", role=READER)
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["model"] == "toy-clf@1"
    written = pd.read_csv(out)
    expected = client.models[1].predict(client.frame[FEATURES])
    np.testing.assert_array_equal(written["prediction"].to_numpy(), expected)


def test_monitor_drift_reads_reference_and_log_from_the_server(
    client: Client, tmp_path: Path
) -> None:
    from modelward.data.catalog import DatasetCatalog
    from modelward.monitoring.drift.check import DriftRequest, run_drift_check
    from modelward.monitoring.drift_references import DriftReferenceRepository
    from modelward.monitoring.predictions import PredictionLogRepository, PredictionRecord

    ModelRegistry(client.team.workspace).register_run(client.run_ids[0], "toy-clf")
    shifted = client.frame[FEATURES].assign(a=client.frame["a"] + 3.0)
    current = tmp_path / "current.csv"
    shifted.to_csv(current, index=False)
    result = client("monitor", "drift", "toy-clf@1", "--current", current, "--json")
    assert result.code == 0, result.stderr
    # the reference statistics were computed by the client and cached on the server
    toy = DatasetCatalog(client.team.workspace).get("toy@1")
    key = hashlib.sha256(json.dumps(FEATURES).encode()).hexdigest()
    cached = DriftReferenceRepository(client.team.workspace.db).find(toy.id, key)
    assert cached is not None and client.team.workspace.artifacts.exists(cached)
    remote = result.json()
    local = run_drift_check(
        client.team.workspace, DriftRequest(model="toy-clf@1", current_path=current)
    )
    assert remote["dataset"] == local["dataset"]
    assert remote["dataset"]["drifted_features"] == ["a"]
    assert (remote["reference"], remote["n_reference"], remote["n_current"]) == ("toy@1", 150, 150)

    # no --current: the prediction log the server holds
    log = PredictionLogRepository(client.team.workspace.db)
    now_ms = int(pd.Timestamp.now(tz="UTC").timestamp() * 1000)
    log.add_records(
        [
            PredictionRecord(f"r{i}", "toy-clf", 1, now_ms, 200, 1.0, 1, {"a": [a], "b": [b]}, [0])
            for i, (a, b) in enumerate(shifted.itertuples(index=False))
        ]
    )
    # a reader checks drift too (it computes what it may not cache)
    DriftReferenceRepository(client.team.workspace.db).put(toy.id, key, "0" * 64)
    windowed = client("monitor", "drift", "toy-clf@1", "--json", role=READER)
    assert windowed.code == 0, windowed.stderr
    assert windowed.json()["n_current"] == 150
    assert windowed.json()["dataset"]["drifted_features"] == ["a"]


def test_the_python_api_of_the_registry_works_through_the_server(client: Client) -> None:
    client.team.connect(client.monkeypatch, client.home, WRITER)
    version = mw.models.register(client.run_ids[1], "toy-clf")
    assert (version.ref, version.created_by) == ("toy-clf@1", "writer")
    assert mw.models.set_alias("toy-clf", 1, "staging", require="f1 > 0.85").aliases == ("staging",)
    assert mw.models.get("toy-clf@staging").run_id == client.run_ids[1]
    assert [m.name for m in mw.models.list()] == ["toy-clf"]
    assert [c.actor for c in mw.models.audit("toy-clf")] == ["writer"]
    server = ModelRegistry(client.team.workspace)
    assert server.get("toy-clf@staging").version == 1
