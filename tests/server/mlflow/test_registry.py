"""The MLflow client's model registry against `mw server`: models, versions, sources, aliases."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow.exceptions import MlflowException
from sklearn.linear_model import LogisticRegression

from modelward.registry.service import ModelRegistry
from modelward.server.tokens import ADMIN, READER
from modelward.tracking.run import ActiveRun
from tests.server.mlflow.support import LiveServer, unique

pytestmark = pytest.mark.timeout(120)

MLMODEL = """\
artifact_path: model
flavors:
  python_function:
    loader_module: mlflow.sklearn
    python_version: 3.11.7
  sklearn:
    pickled_model: model.pkl
    sklearn_version: 1.5.0
signature:
  inputs: '[{"type": "double", "name": "bill"}, {"type": "long", "name": "year"}]'
  outputs: '[{"type": "long"}]'
"""


def _mlflow_model_run(tmp_path: Path, experiment: str) -> str:
    """A run that logged an MLflow model folder (MLmodel + model.pkl) under `model`."""
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "MLmodel").write_text(MLMODEL)
    (folder / "model.pkl").write_bytes(b"\x80\x04not really a pickle")
    mlflow.set_experiment(experiment)
    with mlflow.start_run() as run:
        mlflow.log_metric("f1", 0.81)
        mlflow.log_artifacts(str(folder), artifact_path="model")
    return str(run.info.run_id)


def _code(excinfo: pytest.ExceptionInfo[MlflowException]) -> str:
    return str(excinfo.value.error_code)


def test_register_model_from_an_mlflow_run(mlflow_client: LiveServer, tmp_path: Path) -> None:
    run_id = _mlflow_model_run(tmp_path, unique("reg"))
    name = unique("churn")
    first = mlflow.register_model(f"runs:/{run_id}/model", name)
    again = mlflow.register_model(f"runs:/{run_id}/model", name)  # the model exists: version 2
    assert (first.version, again.version) == ("1", "2")
    assert first.run_id == run_id and first.status == "READY"
    assert first.source == f"runs:/{run_id}/model"
    assert first.user_id == "writer"

    stored = ModelRegistry(mlflow_client.workspace).get(f"{name}@1")
    assert (stored.format, stored.flavor, stored.run_id) == ("mlflow", "sklearn", run_id)
    assert stored.metrics == {"f1": 0.81}  # gates compare what the run logged
    assert [c["name"] for c in stored.signature["inputs"]] == ["bill", "year"]
    assert stored.created_by == "writer"

    client = mlflow.MlflowClient()
    model = client.get_registered_model(name)
    assert [v.version for v in model.latest_versions] == ["2"]
    assert client.get_model_version(name, "1").source == f"runs:/{run_id}/model"
    found = client.search_model_versions(f"name = '{name}'")
    assert sorted(v.version for v in found) == ["1", "2"]
    assert {v.version for v in client.search_model_versions(f"run_id = '{run_id}'")} == {"1", "2"}
    target = tmp_path / "back"
    mlflow.artifacts.download_artifacts(f"models:/{name}/1", dst_path=str(target))
    assert (target / "MLmodel").read_text() == MLMODEL


def test_a_modelward_run_registers_as_a_loadable_modelward_version(
    mlflow_client: LiveServer,
) -> None:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(60, 2))
    labels = (features[:, 0] + features[:, 1] > 0).astype(int)
    model = LogisticRegression().fit(features, labels)
    with ActiveRun(mlflow_client.workspace, experiment=unique("mwreg")) as run:
        run.log_metric("f1", 0.9)
        run.log_model(model)
    name = unique("mw-model")
    client = mlflow.MlflowClient()
    client.create_registered_model(name)
    version = client.create_model_version(name, f"runs:/{run.id}/model", run_id=run.id)
    assert (version.version, version.run_id, version.source) == (
        "1",
        run.id,
        f"runs:/{run.id}/model",
    )
    loaded = ModelRegistry(mlflow_client.workspace).load(f"{name}@1")
    assert loaded.version.format in ("mw-native", "skops")
    assert np.array_equal(loaded.predict_array(features), model.predict(features))


def test_registered_models_are_created_found_and_searched(mlflow_client: LiveServer) -> None:
    client = mlflow.MlflowClient()
    prefix = unique("fleet")
    names = [f"{prefix}-{i}" for i in range(5)]
    for name in names:
        created = client.create_registered_model(name, description=f"about {name}")
        assert created.name == name
    assert client.get_registered_model(names[2]).description == f"about {names[2]}"
    with pytest.raises(MlflowException) as taken:
        client.create_registered_model(names[0])
    assert _code(taken) == "RESOURCE_ALREADY_EXISTS"
    with pytest.raises(MlflowException) as missing:
        client.get_registered_model(unique("nobody"))
    assert _code(missing) == "RESOURCE_DOES_NOT_EXIST"

    page = client.search_registered_models(f"name LIKE '{prefix}-%'", max_results=2)
    seen = [m.name for m in page]
    while page.token:
        page = client.search_registered_models(
            f"name LIKE '{prefix}-%'", max_results=2, page_token=page.token
        )
        seen.extend(m.name for m in page)
    assert seen == sorted(names)
    assert [m.name for m in client.search_registered_models(f"name = '{names[3]}'")] == [names[3]]
    with mlflow_client.http(READER) as http:
        for query in ({"max_results": 1001}, {"filter": "name > 1"}, {"filter": "owner = 'x'"}):
            response = http.get("/api/2.0/mlflow/registered-models/search", params=query)
            assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE", query
    for bad in ("has space", "../x", "x" * 200):
        with pytest.raises(MlflowException) as illegal:
            client.create_registered_model(bad)
        assert _code(illegal) == "INVALID_PARAMETER_VALUE"


class _Listener:
    """A loopback TCP listener that counts the connections it receives."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                connection, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            connection.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.sock.close()


def test_a_version_source_must_be_a_run_of_this_store(
    mlflow_client: LiveServer, tmp_path: Path
) -> None:
    run_id = _mlflow_model_run(tmp_path, unique("src"))
    (tmp_path / "other").mkdir()
    other = _mlflow_model_run(tmp_path / "other", unique("src"))
    experiment_id = mlflow.MlflowClient().get_run(run_id).info.experiment_id
    name = unique("sourced")
    client = mlflow.MlflowClient()
    client.create_registered_model(name)
    listener = _Listener()
    try:
        refused = [
            ("file:///etc/passwd", None),
            (f"file://{tmp_path}/model", run_id),
            (str(tmp_path / "model"), run_id),
            ("model", run_id),
            (f"http://127.0.0.1:{listener.port}/model", None),
            (f"https://127.0.0.1:{listener.port}/api/2.0/mlflow-artifacts/artifacts/x", run_id),
            ("http://169.254.169.254/latest/meta-data/", None),
            ("s3://bucket/model", None),
            ("gs://bucket/model", None),
            (f"models:/{name}/1", None),
            (f"runs:/{run_id}/../../model", run_id),
            (f"runs:/{run_id}/%2e%2e/%2e%2e/model", run_id),
            (f"runs:/{run_id}/%252e%252e/model", run_id),
            (f"runs:/{run_id}/model;x=1", run_id),
            (f"runs:/{run_id}/model?x=1", run_id),
            (f"runs://127.0.0.1:{listener.port}/{run_id}/model", run_id),
            (f"runs:/{'0' * 32}/model", None),
            (f"runs:/{run_id}/model", other),  # run_id and source disagree
            (f"runs:/{run_id}/nothing-here", run_id),
            (f"mlflow-artifacts:/{experiment_id}/{run_id}/artifacts/../../x", run_id),
            (
                f"mlflow-artifacts://127.0.0.1:{listener.port}/{experiment_id}/{run_id}/artifacts/model",
                run_id,
            ),
            (f"mlflow-artifacts:/987654/{run_id}/artifacts/model", run_id),
        ]
        for source, source_run in refused:
            with pytest.raises(MlflowException) as error:
                client.create_model_version(name, source, run_id=source_run)
            assert _code(error) == "INVALID_PARAMETER_VALUE", source
        assert listener.connections == 0  # the server fetched nothing
    finally:
        listener.close()
    assert client.get_registered_model(name).latest_versions == []
    accepted = client.create_model_version(
        name, f"mlflow-artifacts:/{experiment_id}/{run_id}/artifacts/model", run_id=run_id
    )
    assert accepted.version == "1"
    with pytest.raises(MlflowException) as no_model:
        client.create_model_version(unique("unregistered"), f"runs:/{run_id}/model", run_id=run_id)
    assert _code(no_model) == "RESOURCE_DOES_NOT_EXIST"


def test_aliases_follow_the_team_servers_rules_and_are_audited(
    mlflow_client: LiveServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    run_id = _mlflow_model_run(tmp_path, unique("alias"))
    name = unique("aliased")
    client = mlflow.MlflowClient()
    client.create_registered_model(name)
    for _ in range(2):
        client.create_model_version(name, f"runs:/{run_id}/model", run_id=run_id)

    client.set_registered_model_alias(name, "champion", "1")
    assert client.get_model_version_by_alias(name, "champion").version == "1"
    assert client.get_registered_model(name).aliases == {"champion": "1"}
    client.set_registered_model_alias(name, "champion", "2")
    assert client.get_model_version(name, "2").aliases == ["champion"]
    with pytest.raises(MlflowException) as protected:
        client.set_registered_model_alias(name, "production", "2")  # protected by default
    assert _code(protected) == "PERMISSION_DENIED"
    with pytest.raises(MlflowException) as delete:
        client.delete_registered_model_alias(name, "champion")  # deletes are an admin's
    assert _code(delete) == "PERMISSION_DENIED"
    for bad, version in (("latest", "1"), ("v1", "1"), ("bad alias!", "1"), ("ok", "x")):
        with pytest.raises(MlflowException) as invalid:
            client.set_registered_model_alias(name, bad, version)
        assert _code(invalid) == "INVALID_PARAMETER_VALUE", bad
    with pytest.raises(MlflowException) as no_version:
        client.set_registered_model_alias(name, "champion", "9")
    assert _code(no_version) == "RESOURCE_DOES_NOT_EXIST"

    mlflow_client.use(monkeypatch, ADMIN)
    client.set_registered_model_alias(name, "production", "2")
    client.delete_registered_model_alias(name, "champion")
    with pytest.raises(MlflowException) as gone:
        client.get_model_version_by_alias(name, "champion")
    assert _code(gone) == "RESOURCE_DOES_NOT_EXIST"
    assert client.get_registered_model(name).aliases == {"production": "2"}

    audit = [
        (c.alias, c.from_version, c.to_version, c.actor)
        for c in reversed(ModelRegistry(mlflow_client.workspace).audit(name))
    ]
    assert audit == [
        ("champion", None, 1, "writer"),
        ("champion", 1, 2, "writer"),
        ("production", None, 2, "admin"),
        ("champion", 2, None, "admin"),
    ]
