"""MLflow's error shape and codes on every path of the MLflow API, auth included."""

from __future__ import annotations

import inspect
from typing import Any

import mlflow
import mlflow.exceptions
import pytest
from mlflow.exceptions import MlflowException
from starlette.routing import Route
from starlette.testclient import TestClient

import modelward.errors
from modelward.errors import ModelwardError
from modelward.server.app import create_app
from modelward.server.auth import READ_POSTS
from modelward.server.mlflow.errors import MLFLOW_CODES, STATUS_OF, mlflow_code
from modelward.server.tokens import ADMIN, READER, WRITER
from modelward.tracking.repository import RunRepository
from tests.server.mlflow.support import LiveServer, mlflow_app, unique
from tests.server.support import TeamServer

pytestmark = pytest.mark.timeout(120)


def test_every_modelward_error_has_an_mlflow_code() -> None:
    classes = [
        value
        for value in vars(modelward.errors).values()
        if inspect.isclass(value) and issubclass(value, ModelwardError)
    ]
    assert len(classes) > 10
    assert set(classes) == set(MLFLOW_CODES)


def test_each_code_has_mlflows_own_http_status() -> None:
    reference = mlflow.exceptions.ERROR_CODE_TO_HTTP_STATUS  # MLflow's table, not ours
    for code in {*MLFLOW_CODES.values(), *STATUS_OF}:
        assert STATUS_OF[code] == reference[code], code
    assert mlflow_code(modelward.errors.NotFound("x")) == ("RESOURCE_DOES_NOT_EXIST", 404)
    assert mlflow_code(modelward.errors.AlreadyExists("x")) == ("RESOURCE_ALREADY_EXISTS", 400)


def _mlflow_posts(team: TeamServer) -> list[str]:
    app = mlflow_app(team.app)
    return [
        f"/api/2.0{route.path}"
        for route in app.routes
        if isinstance(route, Route) and "POST" in (route.methods or ())
    ]


def test_searches_are_the_only_posts_a_reader_may_send(team: TeamServer) -> None:
    posts = _mlflow_posts(team)
    reads = {path for path in posts if path.rsplit("/", 1)[-1].startswith(("search", "get-"))}
    assert reads == {path for path in posts if path in READ_POSTS}
    assert "/api/2.0/mlflow/runs/search" in reads
    reader = team.http(READER)
    for path in posts:
        response = reader.post(path, json={})
        if path in reads:
            assert response.status_code != 403, path
        else:
            assert response.status_code == 403, path
            assert response.json()["error_code"] == "PERMISSION_DENIED"


def test_unknown_endpoints_methods_and_bodies_answer_in_mlflows_shape(team: TeamServer) -> None:
    writer = team.http(WRITER)
    answers = [
        (
            writer.post("/api/2.0/mlflow/runs/delete", json={"run_id": "x"}),
            404,
            "ENDPOINT_NOT_FOUND",
        ),
        (writer.get("/api/2.0/mlflow/no-such-thing"), 404, "ENDPOINT_NOT_FOUND"),
        (writer.get("/api/2.0/elsewhere"), 404, "ENDPOINT_NOT_FOUND"),
        (writer.get("/api/2.0/mlflow/runs/create"), 405, "ENDPOINT_NOT_FOUND"),
        (
            writer.post("/api/2.0/mlflow/runs/create", content=b"{not json"),
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (writer.post("/api/2.0/mlflow/runs/create", json=[1, 2]), 400, "INVALID_PARAMETER_VALUE"),
        (
            writer.post("/api/2.0/mlflow/runs/create", content=b"[" * 5000 + b"]" * 5000),
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            writer.post("/api/2.0/mlflow/experiments/create", json={"name": 7}),
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            writer.post("/api/2.0/mlflow/experiments/create", json={}),
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            writer.get("/api/2.0/mlflow/runs/get", params={"run_id": "x" * 40}),
            404,
            "RESOURCE_DOES_NOT_EXIST",
        ),
    ]
    for response, status, code in answers:
        assert response.status_code == status, response.text
        body = response.json()
        assert set(body) == {"error_code", "message"}, body
        assert body["error_code"] == code and body["message"], body
    missing = writer.post("/api/2.0/mlflow/experiments/create", json={}).json()
    assert missing["message"] == "Missing value for required parameter 'name'."


def test_nan_in_a_body_is_named(team: TeamServer) -> None:
    writer = team.http(WRITER)
    run = writer.post("/api/2.0/mlflow/runs/create", json={}).json()["run"]["info"]["run_id"]
    response = writer.post(
        "/api/2.0/mlflow/runs/log-metric",
        content=f'{{"run_id": "{run}", "key": "loss", "value": NaN, "timestamp": 1}}'.encode(),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "NaN" in response.json()["message"]


def test_a_body_over_the_limit_is_refused_in_mlflows_shape(team: TeamServer) -> None:
    app = create_app(team.workspace, max_body_bytes=1000)
    client = TestClient(app, base_url="http://testserver", raise_server_exceptions=False)
    client.headers["Authorization"] = f"Bearer {team.secrets[WRITER]}"
    response = client.post("/api/2.0/mlflow/experiments/create", json={"name": "x" * 2000})
    assert response.status_code == 400
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "1,000-byte limit" in response.json()["message"]


def test_an_unexpected_failure_is_a_500_that_tells_nothing_of_its_insides(
    team: TeamServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("secret detail of the database")

    monkeypatch.setattr(RunRepository, "experiments", broken)
    response = team.http(READER).post("/api/2.0/mlflow/experiments/search", json={})
    assert response.status_code == 500
    body = response.json()
    assert body["error_code"] == "INTERNAL_ERROR"
    assert "secret" not in body["message"]
    assert response.headers["x-request-id"] in body["message"]


def test_the_mlflow_client_needs_a_token_and_the_right_role(
    live: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    live.use(monkeypatch, None)
    client = mlflow.MlflowClient()
    with pytest.raises(MlflowException) as anonymous:
        client.search_experiments()
    assert anonymous.value.error_code == "UNAUTHENTICATED"
    with live.http(None) as http:
        response = http.post("/api/2.0/mlflow/runs/search", json={})
    assert response.status_code == 401
    assert set(response.json()) == {"error_code", "message"}
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "mw_wrong")
    with pytest.raises(MlflowException) as wrong:
        client.search_experiments()
    assert wrong.value.error_code == "UNAUTHENTICATED"

    live.use(monkeypatch, WRITER)
    experiment_id = client.create_experiment(unique("roles"))
    live.use(monkeypatch, READER)
    assert client.get_experiment(experiment_id).experiment_id == experiment_id
    assert list(client.search_runs([experiment_id])) == []  # a POST search is a read
    with pytest.raises(MlflowException) as reader:
        client.create_run(experiment_id)
    assert reader.value.error_code == "PERMISSION_DENIED"
    assert "reader" in reader.value.message
    live.use(monkeypatch, ADMIN)
    assert client.create_run(experiment_id).info.user_id == "admin"


WRONG_TYPES: list[dict[str, Any]] = [
    {},
    {"run_id": 5, "name": [1], "experiment_id": {"a": 1}, "max_results": "x", "filter": 7},
    {"experiment_ids": "0", "order_by": "x", "metrics": "x", "params": {}, "tags": [1]},
    {"run_id": "x", "metrics": [{"key": 1, "value": [], "timestamp": "t", "step": 1.5}]},
    {"name": "m", "source": 3, "alias": [], "version": {}, "key": None, "value": 9},
    {"page_token": "eyJvZmZzZXQiOiAiMSJ9", "view_type": 99, "run_view_type": "NONE"},
    {"experiment_id": "0", "start_time": -5, "run_name": "x" * 300, "tags": [{"value": 1}]},
]


def test_no_mlflow_route_answers_a_wrong_type_with_a_5xx(team: TeamServer) -> None:
    admin = team.http(ADMIN)
    app = mlflow_app(team.app)
    routes = [
        (method, f"/api/2.0{route.path}".replace("{path:path}", "0/x/artifacts/a.txt"))
        for route in app.routes
        if isinstance(route, Route)
        for method in sorted(route.methods or ())
        if method != "HEAD"
    ]
    assert len(routes) > 25
    for method, path in routes:
        for body in WRONG_TYPES:
            if method in ("GET", "DELETE"):
                query = {k: str(v) for k, v in body.items()}
                response = admin.request(method, path, params=query)
            else:
                response = admin.request(method, path, json=body)
            assert response.status_code < 500, (method, path, body, response.text)
            assert set(response.json()) >= {"error_code", "message"} or response.status_code == 200
