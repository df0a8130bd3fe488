"""The unmodified MLflow client logs to `mw server`: experiments, runs, params, metrics, tags.

Every test drives `mlflow` (3.17.2) against a real uvicorn server on 127.0.0.1 and
checks what the server's own store holds, through modelward's repository or CLI.
"""

from __future__ import annotations

import math
import time
from typing import Any

import mlflow
import pytest
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException

from modelward.server.tokens import ADMIN, READER
from modelward.tracking.repository import RunRepository
from modelward.tracking.run import ActiveRun
from tests.helpers import mw_in_process
from tests.server.mlflow.support import LiveServer, unique

pytestmark = pytest.mark.timeout(120)


def _store(live: LiveServer) -> RunRepository:
    return RunRepository(live.workspace.db)


def _error_code(excinfo: pytest.ExceptionInfo[MlflowException]) -> str:
    return str(excinfo.value.error_code)


def test_experiments_are_created_found_by_id_and_name_and_searched(
    mlflow_client: LiveServer,
) -> None:
    client = mlflow.MlflowClient()
    names = [unique("exp") for _ in range(3)]
    ids = [client.create_experiment(name) for name in names]
    for name, experiment_id in zip(names, ids, strict=True):
        by_id, by_name = client.get_experiment(experiment_id), client.get_experiment_by_name(name)
        assert by_name is not None
        assert (by_id.name, by_name.experiment_id) == (name, experiment_id)
        assert by_id.artifact_location == f"mlflow-artifacts:/{experiment_id}"
        assert _store(mlflow_client).experiment(name).id == int(experiment_id)
    assert client.get_experiment_by_name(unique("nobody")) is None

    prefix = names[0].rsplit("-", 1)[0]
    found = client.search_experiments(filter_string=f"name LIKE '{prefix}-%'", max_results=2)
    every = list(found)
    while found.token:
        found = client.search_experiments(
            filter_string=f"name LIKE '{prefix}-%'", max_results=2, page_token=found.token
        )
        every.extend(found)
    assert set(names) <= {e.name for e in every}
    assert len({e.experiment_id for e in every}) == len(every)  # pages do not overlap
    exact = client.search_experiments(filter_string=f"name = '{names[1]}'")
    assert [e.experiment_id for e in exact] == [ids[1]]


def test_experiment_errors_are_mlflows(mlflow_client: LiveServer) -> None:
    client = mlflow.MlflowClient()
    name = unique("dup")
    client.create_experiment(name)
    with pytest.raises(MlflowException) as taken:
        client.create_experiment(name)
    assert _error_code(taken) == "RESOURCE_ALREADY_EXISTS"
    with pytest.raises(MlflowException) as missing:
        client.get_experiment("987654")
    assert _error_code(missing) == "RESOURCE_DOES_NOT_EXIST"
    for bad in ("not-a-number", "1; drop table runs"):
        with pytest.raises(MlflowException) as malformed:
            client.get_experiment(bad)
        assert _error_code(malformed) == "INVALID_PARAMETER_VALUE"
    # the server decides where artifacts go: no artifact location, no URI tricks
    for location in (
        "file:///etc",
        "s3://bucket/x",
        "/tmp/x",
        "../../x",
        "http://169.254.169.254/",
    ):
        with pytest.raises(MlflowException) as chosen:
            client.create_experiment(unique("loc"), artifact_location=location)
        assert _error_code(chosen) == "INVALID_PARAMETER_VALUE"
        assert "artifact_location" in chosen.value.message


def test_a_run_logged_one_call_at_a_time_is_stored_as_logged(mlflow_client: LiveServer) -> None:
    experiment = unique("calls")
    mlflow.set_experiment(experiment)
    losses = [1.0 / (step + 1) for step in range(25)]
    with mlflow.start_run(run_name="one-by-one") as run:
        mlflow.log_param("optimizer", "adam")
        mlflow.log_param("lr", 0.01)
        for step, loss in enumerate(losses):
            mlflow.log_metric("loss", loss, step=step)
        mlflow.set_tag("team", "risk")
    stored = _store(mlflow_client).get(run.info.run_id)
    assert stored.id == run.info.run_id
    assert (stored.experiment, stored.name, stored.status) == (experiment, "one-by-one", "finished")
    assert stored.params == {"optimizer": "adam", "lr": "0.01"}
    assert stored.tags["team"] == "risk"
    assert stored.metrics == {"loss": losses[-1]}
    assert stored.user == "writer"  # the token's name, not the client's login
    history = _store(mlflow_client).metric_history(run.info.run_id, "loss")
    assert [(p.step, p.value) for p in history] == list(enumerate(losses))

    seen = mlflow.MlflowClient().get_run(run.info.run_id)
    assert seen.info.status == "FINISHED"
    assert seen.info.end_time is not None and seen.info.end_time >= seen.info.start_time
    assert seen.data.params == stored.params
    assert seen.data.metrics == {"loss": pytest.approx(losses[-1])}


def test_batches_respect_mlflows_limits_and_are_written_whole(mlflow_client: LiveServer) -> None:
    client = mlflow.MlflowClient()
    experiment_id = client.create_experiment(unique("batch"))
    run = client.create_run(experiment_id)
    run_id = run.info.run_id
    now = int(time.time() * 1000)
    metrics = [Metric("m", float(i), now + i, i) for i in range(1000)]
    client.log_batch(run_id, metrics=metrics, params=[Param("p", "1")], tags=[RunTag("t", "x")])
    assert _store(mlflow_client).count_metric_points(run_id) == 1000
    history = client.get_metric_history(run_id, "m")
    assert sorted(p.value for p in history) == [float(i) for i in range(1000)]

    too_many: list[dict[str, Any]] = [
        {"metrics": [{"key": "m", "value": 1.0, "timestamp": now, "step": 0}] * 1001},
        {"params": [{"key": f"p{i}", "value": "v"} for i in range(101)]},
        {"tags": [{"key": f"t{i}", "value": "v"} for i in range(101)]},
        {
            "metrics": [{"key": "m", "value": 1.0, "timestamp": now, "step": 0}] * 950,
            "params": [{"key": f"q{i}", "value": "v"} for i in range(51)],
        },
        {"params": [{"key": "long", "value": "x" * 6001}]},
        {"tags": [{"key": "long", "value": "x" * 8001}]},
        {"metrics": [{"key": "bad key!", "value": 1.0, "timestamp": now, "step": 0}]},
        {"metrics": [{"key": "m", "value": "high", "timestamp": now, "step": 0}]},
        {"params": [{"key": "dup", "value": "a"}, {"key": "dup", "value": "b"}]},
    ]
    with mlflow_client.http() as http:
        for body in too_many:
            response = http.post("/api/2.0/mlflow/runs/log-batch", json={"run_id": run_id, **body})
            assert response.status_code == 400, (list(body), response.text)
            assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        # over MLflow's 1 MB per request, even within the counts
        huge = {
            "run_id": run_id,
            "params": [{"key": f"big{i}", "value": "y" * 6000} for i in range(100)],
            "tags": [{"key": f"t{i}", "value": "y" * 5000} for i in range(100)],
        }
        response = http.post("/api/2.0/mlflow/runs/log-batch", json=huge)
        assert response.status_code == 400
        assert "1000000 bytes" in response.json()["message"]
    # nothing of a refused batch was written
    assert _store(mlflow_client).count_metric_points(run_id) == 1000
    stored = _store(mlflow_client).get(run_id)
    assert stored.params == {"p": "1"} and "long" not in stored.tags


def test_nan_infinity_and_changed_params_are_refused(mlflow_client: LiveServer) -> None:
    client = mlflow.MlflowClient()
    run = client.create_run(client.create_experiment(unique("bad")))
    for value in (math.nan, math.inf):
        with pytest.raises(MlflowException) as refused:
            client.log_metric(run.info.run_id, "loss", value)
        assert _error_code(refused) == "INVALID_PARAMETER_VALUE"
    client.log_param(run.info.run_id, "p", "a")
    client.log_param(run.info.run_id, "p", "a")  # the same value again is fine
    with pytest.raises(MlflowException) as changed:
        client.log_param(run.info.run_id, "p", "b")
    assert _error_code(changed) == "INVALID_PARAMETER_VALUE"
    assert _store(mlflow_client).get(run.info.run_id).params == {"p": "a"}
    with pytest.raises(MlflowException) as unknown:
        client.log_metric("0" * 32, "loss", 1.0)
    assert _error_code(unknown) == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as no_run:
        client.get_run("f" * 32)
    assert _error_code(no_run) == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as no_update:
        client.update_run("e" * 32, name="x")
    assert _error_code(no_update) == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as prefix:  # ids are exact: no prefix matching
        client.get_run(run.info.run_id[:8])
    assert _error_code(prefix) == "RESOURCE_DOES_NOT_EXIST"


def test_runs_update_status_end_time_and_name(mlflow_client: LiveServer) -> None:
    client = mlflow.MlflowClient()
    run = client.create_run(client.create_experiment(unique("upd")), run_name="before")
    run_id = run.info.run_id
    assert run.info.status == "RUNNING" and run.info.run_name == "before"
    client.update_run(run_id, name="after")
    assert client.get_run(run_id).info.run_name == "after"
    stored = _store(mlflow_client).get(run_id)
    assert (stored.name, stored.tags["mlflow.runName"]) == ("after", "after")  # as MLflow does
    client.set_terminated(run_id, status="KILLED", end_time=1_767_225_600_000)
    info = client.get_run(run_id).info
    assert (info.status, info.end_time) == ("KILLED", 1_767_225_600_000)
    assert _store(mlflow_client).get(run_id).status == "failed"
    with mlflow_client.http() as http:  # the client itself refuses unknown statuses
        bad = http.post("/api/2.0/mlflow/runs/update", json={"run_id": run_id, "status": "DONE"})
    assert (bad.status_code, bad.json()["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    assert client.get_run(run_id).info.status == "KILLED"


def test_tags_are_set_and_deleted_by_an_admin_only(
    mlflow_client: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = mlflow.MlflowClient()
    run = client.create_run(client.create_experiment(unique("tags")))
    run_id = run.info.run_id
    client.set_tag(run_id, "stage", "draft")
    client.set_tag(run_id, "stage", "final")  # tags may change
    assert client.get_run(run_id).data.tags["stage"] == "final"
    with pytest.raises(MlflowException) as writer:
        client.delete_tag(run_id, "stage")
    assert _error_code(writer) == "PERMISSION_DENIED"
    mlflow_client.use(monkeypatch, ADMIN)
    client.delete_tag(run_id, "stage")
    assert "stage" not in _store(mlflow_client).get(run_id).tags
    with pytest.raises(MlflowException) as gone:
        client.delete_tag(run_id, "stage")
    assert _error_code(gone) == "RESOURCE_DOES_NOT_EXIST"


def test_metric_history_pages_with_tokens(mlflow_client: LiveServer) -> None:
    client = mlflow.MlflowClient()
    run = client.create_run(client.create_experiment(unique("hist")))
    now = int(time.time() * 1000)
    points = [(step, 0.5 * step, now + step) for step in range(23)]
    client.log_batch(run.info.run_id, metrics=[Metric("acc", v, t, s) for s, v, t in points])
    with mlflow_client.http(READER) as http:
        token, pages = None, []
        while True:
            query = {"run_id": run.info.run_id, "metric_key": "acc", "max_results": 10}
            if token:
                query["page_token"] = token
            body = http.get("/api/2.0/mlflow/metrics/get-history", params=query).json()
            pages.append([(m["step"], m["value"], m["timestamp"]) for m in body["metrics"]])
            token = body.get("next_page_token")
            if not token:
                break
        assert [len(page) for page in pages] == [10, 10, 3]
        assert [point for page in pages for point in page] == points
        bad = http.get(
            "/api/2.0/mlflow/metrics/get-history",
            params={"run_id": run.info.run_id, "metric_key": "acc", "page_token": "%%%"},
        )
        assert (bad.status_code, bad.json()["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
        zero = http.get(
            "/api/2.0/mlflow/metrics/get-history",
            params={"run_id": run.info.run_id, "metric_key": "acc", "max_results": 0},
        )
        assert zero.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_runs_logged_either_way_are_visible_both_ways(mlflow_client: LiveServer) -> None:
    experiment = unique("both")
    with ActiveRun(mlflow_client.workspace, experiment=experiment, name="by-mw") as mw_run:
        mw_run.log_params({"model": "logistic"})
        mw_run.log_metric("f1", 0.75, step=3)
    mlflow.set_experiment(experiment)
    with mlflow.start_run(run_name="by-mlflow") as ml_run:
        mlflow.log_metric("f1", 0.5)

    found = mlflow.search_runs(experiment_names=[experiment], output_format="list")
    by_name = {run.info.run_name: run for run in found}
    assert set(by_name) == {"by-mw", "by-mlflow"}
    assert by_name["by-mw"].info.run_id == mw_run.id
    assert by_name["by-mw"].data.metrics == {"f1": 0.75}
    assert by_name["by-mw"].data.params == {"model": "logistic"}
    assert by_name["by-mw"].info.status == "FINISHED"
    history = mlflow.MlflowClient().get_metric_history(mw_run.id, "f1")
    assert [(m.step, m.value) for m in history] == [(3, 0.75)]

    env = {"MODELWARD_DB": mlflow_client.workspace.settings.db_url}
    listed = mw_in_process(
        "runs", "list", "--experiment", experiment, "--json",
        home=mlflow_client.workspace.settings.home, env=env,
    )  # fmt: skip
    assert listed.code == 0, listed.stderr
    runs = {run["name"]: run for run in listed.json()}
    assert runs["by-mlflow"]["id"] == ml_run.info.run_id
    assert runs["by-mlflow"]["metrics"] == {"f1": 0.5}
    assert runs["by-mlflow"]["status"] == "finished"
    assert runs["by-mlflow"]["user"] == "writer"
