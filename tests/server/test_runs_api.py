"""/api/v1/experiments and /api/v1/runs: what the server checks that a client could forge."""

from __future__ import annotations

import hashlib
from typing import Any

import pandas as pd
import pytest
from starlette.testclient import TestClient

from modelward.data.catalog import DatasetCatalog
from modelward.errors import InvalidInput
from modelward.tracking.repository import RunRepository
from modelward.tracking.search import MAX_TERMS, parse_filter
from tests.server.support import READER, WRITER, TeamServer

RUN = "0123456789abcdef0123456789abcdef"


def start_run(http: TestClient, run_id: str = RUN, experiment: str = "churn") -> dict[str, Any]:
    found = http.post("/api/v1/experiments", json={"name": experiment})
    assert found.status_code == 200, found.text
    body = {"id": run_id, "experiment_id": found.json()["id"], "name": "first", "seed": 3}
    created = http.post("/api/v1/runs", json=body)
    assert created.status_code == 201, created.text
    answer: dict[str, Any] = created.json()
    return answer


def batch(batch_id: str = "b1", **values: Any) -> dict[str, Any]:
    return {"batch_id": batch_id, **values}


def points(team: TeamServer, run_id: str = RUN) -> int:
    return RunRepository(team.workspace.db).count_metric_points(run_id)


def error_of(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    message: str = response.json()["error"]["message"]
    return message


def test_the_run_is_made_by_the_token_whatever_the_body_says(team: TeamServer) -> None:
    http = team.http(WRITER)
    run = start_run(http)
    assert run["user"] == "writer" and run["status"] == "running" and run["seed"] == 3
    forged = {"id": "f" * 32, "experiment_id": 1, "name": "x", "user": "alice"}
    assert "user" in error_of(http.post("/api/v1/runs", json=forged), 400)
    forged = {"id": "f" * 32, "experiment_id": 1, "name": "x", "status": "finished"}
    assert "status" in error_of(http.post("/api/v1/runs", json=forged), 400)


def test_a_resent_start_is_the_same_run_and_a_taken_id_is_refused(team: TeamServer) -> None:
    http = team.http(WRITER)
    first = start_run(http)
    again = start_run(http)
    assert again == first
    other = http.post("/api/v1/experiments", json={"name": "other"}).json()["id"]
    taken = {"id": RUN, "experiment_id": other, "name": "first"}
    assert "taken" in error_of(http.post("/api/v1/runs", json=taken), 409)
    unknown = {"id": "e" * 32, "experiment_id": 999, "name": "x"}
    assert "unknown experiment id 999" in error_of(http.post("/api/v1/runs", json=unknown), 404)


def test_logging_needs_a_running_run(team: TeamServer) -> None:
    http = team.http(WRITER)
    one = batch(metrics=[["loss", 1.0, 0, 1]])
    assert "unknown run" in error_of(http.post(f"/api/v1/runs/{'9' * 32}/batches", json=one), 404)
    start_run(http)
    done = http.post(f"/api/v1/runs/{RUN}/finish", json={"status": "finished"})
    assert done.status_code == 200 and done.json()["status"] == "finished"
    late = http.post(f"/api/v1/runs/{RUN}/batches", json=one)
    assert "has ended (finished)" in error_of(late, 409)
    assert points(team) == 0
    # the same finish resent is answered again; another outcome is refused
    assert http.post(f"/api/v1/runs/{RUN}/finish", json={"status": "finished"}).status_code == 200
    refused = http.post(f"/api/v1/runs/{RUN}/finish", json={"status": "failed"})
    assert "already ended" in error_of(refused, 409)


def test_a_batch_resent_is_stored_once(team: TeamServer) -> None:
    http = team.http(WRITER)
    start_run(http)
    body = batch(
        "retry-1", params=[["C", "1"]], metrics=[["loss", 0.5, 0, 10], ["loss", 0.2, 1, 20]]
    )
    first = http.post(f"/api/v1/runs/{RUN}/batches", json=body)
    second = http.post(f"/api/v1/runs/{RUN}/batches", json=body)
    assert (first.json(), second.json()) == ({"stored": True}, {"stored": False})
    assert points(team) == 2


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"metrics": [["loss", "NaN", 0, 1]]}, "metrics.0.1"),
        ({"metrics": [["loss", "0.5", 0, 1]]}, "metrics.0.1"),
        ({"metrics": [["loss", True, 0, 1]]}, "metrics.0.1"),
        ({"metrics": [["loss", 1.0, 1.5, 1]]}, "metrics.0.2"),
        ({"metrics": [["loss", 1.0, 0, -1]]}, "metrics.0.3"),
        ({"metrics": [["loss", 1.0, 0]]}, "metrics.0"),
        ({"metrics": [["bad\u0000key", 1.0, 0, 1]]}, "metrics.0.0 holds a NUL character"),
        ({"metrics": [[" lead", 1.0, 0, 1]]}, "illegal metric name"),
        ({"metrics": [["../etc", 1.0, 0, 1]]}, "illegal metric name"),
        ({"params": [["C", "a\u0000b"]]}, "params.0.1"),
        ({"params": [["C", "x" * 6001]]}, "params.0.1"),
        ({"tags": [["", "v"]]}, "tags.0.0"),
        ({"metrics": [["loss", 1.0, 0, 1]] * 50_001}, "metrics"),
        ({"batch_id": "a b"}, "batch_id"),
        ({"extra": 1}, "extra"),
    ],
)
def test_a_bad_batch_is_400_naming_the_problem_and_stores_nothing(
    team: TeamServer, values: dict[str, Any], fragment: str
) -> None:
    http = team.http(WRITER)
    start_run(http)
    body = {"batch_id": "b", "metrics": [["ok", 1.0, 0, 1]], **values}
    response = http.post(f"/api/v1/runs/{RUN}/batches", json=body)
    assert fragment in error_of(response, 400)
    assert points(team) == 0 and RunRepository(team.workspace.db).get(RUN).params == {}


def test_json_that_is_no_number_is_400(team: TeamServer) -> None:
    http = team.http(WRITER)
    start_run(http)
    for raw in (
        b'{"batch_id": "b", "metrics": [["loss", Infinity, 0, 1]]}',
        b'{"batch_id": "b", "metrics": [["loss", 1.0, 99999999999999999999999, 1]]}',
    ):
        response = http.post(
            f"/api/v1/runs/{RUN}/batches",
            content=raw,
            headers={"content-type": "application/json"},
        )
        assert response.status_code == 400, response.text
    assert points(team) == 0


def test_an_artifact_record_must_name_bytes_the_server_holds(team: TeamServer) -> None:
    http = team.http(WRITER)
    start_run(http)
    digest = team.workspace.artifacts.put_bytes(b"twelve bytes")
    url = f"/api/v1/runs/{RUN}/artifacts"

    def record(path: str, digest: str, size: int) -> Any:
        return http.post(
            url, json={"artifacts": [{"path": path, "digest": digest, "size_bytes": size}]}
        )

    missing = hashlib.sha256(b"never uploaded").hexdigest()
    assert "not in the server's store" in error_of(record("model.bin", missing, 3), 400)
    assert "has 12 bytes, not 5" in error_of(record("model.bin", digest, 5), 400)
    for path in ("../escape", "/etc/passwd", "a/./b", "C:\\x", "a\\..\\..\\b"):
        assert "illegal artifact path" in error_of(record(path, digest, 12), 400), path
    assert record("plots\\a.png", digest, 12).status_code == 200
    stored = RunRepository(team.workspace.db).get(RUN).artifacts
    assert [(a.path, a.size_bytes) for a in stored] == [("plots/a.png", 12)]


def test_an_input_must_be_an_existing_dataset_version(team: TeamServer) -> None:
    http = team.http(WRITER)
    start_run(http)
    version, _ = DatasetCatalog(team.workspace).add_frame(pd.DataFrame({"x": [1]}), name="birds")
    url = f"/api/v1/runs/{RUN}/inputs"
    unknown = http.post(url, json={"inputs": [{"dataset_version_id": 999, "role": "train"}]})
    assert unknown.status_code == 404, unknown.text
    bad_role = http.post(
        url, json={"inputs": [{"dataset_version_id": version.id, "role": "a\u0000"}]}
    )
    assert "inputs.0.role holds a NUL character" in error_of(bad_role, 400)
    bad_role = http.post(url, json={"inputs": [{"dataset_version_id": version.id, "role": "/x"}]})
    assert "illegal input role" in error_of(bad_role, 400)
    assert RunRepository(team.workspace.db).get(RUN).inputs == ()
    ok = http.post(url, json={"inputs": [{"dataset_version_id": version.id, "role": "train"}]})
    assert ok.status_code == 200
    assert [i.ref for i in RunRepository(team.workspace.db).get(RUN).inputs] == ["birds@1"]


def test_the_server_parses_a_search_with_the_local_grammar_and_caps(team: TeamServer) -> None:
    http = team.http(READER)  # a search only reads
    start_run(team.http(WRITER))
    ok = http.post("/api/v1/runs/search", json={"filter": "name = 'first'", "limit": 5})
    assert ok.status_code == 200 and [r["id"] for r in ok.json()["runs"]] == [RUN]
    too_wide = " and ".join(f"metrics.m{i} > 0" for i in range(MAX_TERMS + 1))
    with pytest.raises(InvalidInput) as local:
        parse_filter(too_wide)
    assert error_of(http.post("/api/v1/runs/search", json={"filter": too_wide}), 400) == str(
        local.value.message
    )
    broken = http.post("/api/v1/runs/search", json={"filter": "metrics.f1 >"})
    assert "cannot parse filter" in error_of(broken, 400)
    assert "limit" in error_of(http.post("/api/v1/runs/search", json={"limit": 100_001}), 400)
    assert "limit" in error_of(http.post("/api/v1/runs/search", json={"limit": 0}), 400)
    order = http.post("/api/v1/runs/search", json={"order_by": ["-nope"]})
    assert "unknown run attribute" in error_of(order, 400)


def test_a_metric_history_comes_in_pages(team: TeamServer) -> None:
    http = team.http(WRITER)
    start_run(http)
    rows = [["loss", float(step), step, 100 + step] for step in range(5)]
    http.post(f"/api/v1/runs/{RUN}/batches", json=batch(metrics=rows))
    url = f"/api/v1/runs/{RUN}/metrics/history"
    seen, after, pages = [], None, 0
    while True:
        params: dict[str, Any] = {"key": "loss", "limit": 2}
        if after:
            params["after"] = after
        page = http.get(url, params=params).json()
        seen.extend(page["points"])
        pages, after = pages + 1, page["next"]
        if after is None:
            break
    assert pages == 3 and seen == [[float(s), s, 100 + s] for s in range(5)]
    assert http.get(url, params={"key": "loss", "after": "1,2"}).status_code == 400
    huge = f"{2**63},0,0"
    assert http.get(url, params={"key": "loss", "after": huge}).status_code == 400
    assert http.get(f"/api/v1/runs/{RUN}/metrics/count").json() == {"count": 5}


def test_evaluations_point_at_what_exists_and_name_the_token(team: TeamServer) -> None:
    http = team.http(WRITER)
    start_run(http)
    version, _ = DatasetCatalog(team.workspace).add_frame(pd.DataFrame({"x": [1]}), name="birds")
    plot = team.workspace.artifacts.put_bytes(b"png")
    body: dict[str, Any] = {
        "run_id": RUN,
        "model_ref": f"run:{RUN}",
        "dataset_version_id": version.id,
        "target": "y",
        "task": "classification",
        "n_rows": 10,
        "metrics": {"accuracy": 0.9},
        "plots": {"roc_curve": plot},
    }
    missing_plot = {**body, "plots": {"roc_curve": "0" * 64}}
    assert "not in the server's store" in error_of(
        http.post("/api/v1/evaluations", json=missing_plot), 400
    )
    unknown_run = {**body, "run_id": "9" * 32}
    assert http.post("/api/v1/evaluations", json=unknown_run).status_code == 404
    forged = {**body, "created_by": "alice"}
    assert http.post("/api/v1/evaluations", json=forged).status_code == 400
    created = http.post("/api/v1/evaluations", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["created_by"] == "writer" and created.json()["data"] == "birds@1"
    listed = team.http(READER).get(f"/api/v1/runs/{RUN}/evaluations").json()["evaluations"]
    assert listed == [created.json()]


def test_a_run_environment_is_bounded_and_free_of_nul(team: TeamServer) -> None:
    http = team.http(WRITER)
    found = http.post("/api/v1/experiments", json={"name": "e"}).json()["id"]

    def start(environment: Any, run_id: str) -> Any:
        body = {"id": run_id, "experiment_id": found, "name": "r", "environment": environment}
        return http.post("/api/v1/runs", json=body)

    deep: Any = "leaf"
    for _ in range(600):
        deep = {"x": deep}
    assert "environment" in error_of(start({"packages": {"a": "1\u0000"}}, "a1"), 400)
    assert "environment" in error_of(start({"k\u0000": 1}, "a2"), 400)
    assert "environment" in error_of(start({"big": "x" * 70_000}, "a3"), 400)
    assert "environment" in error_of(start({"deep": deep}, "a4"), 400)
    ok = start({"python": "3.11", "note": "a literal \\u0000 is text"}, "a5")
    assert ok.status_code == 201, ok.text
    assert ok.json()["environment"]["note"] == "a literal \\u0000 is text"
