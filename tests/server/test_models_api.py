"""/api/v1/models over HTTP: the checks a client cannot skip are made by the server.

Each test sends the request by hand (no modelward client in between), so what is
refused is refused by the server itself: protected aliases, gates, sources a
client names, unbounded listings.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import modelward as mw
from modelward.store.workspace import Workspace
from tests.server.support import ADMIN, WRITER, TeamServer


@pytest.fixture
def run_ids(workspace: Workspace) -> list[str]:
    """Two runs in the server's store with a logged model each (f1 0.8 and 0.9)."""
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"a": rng.normal(size=120), "b": rng.normal(size=120)})
    frame["label"] = (frame["a"] > frame["b"]).astype(int)
    data = mw.data.add(frame, name="toy")
    found = []
    for f1 in (0.8, 0.9):
        with mw.start_run(experiment="api") as run:
            run.log_metric("f1", f1)
            run.log_model(LogisticRegression().fit(frame[["a", "b"]], frame["label"]), data=data)
        found.append(run.id)
    return found


def _register(team: TeamServer, run_ids: list[str]) -> None:
    for run_id in run_ids:
        answer = team.http(WRITER).post("/api/v1/models/toy-clf/versions", json={"run_id": run_id})
        assert answer.status_code == 201, answer.text


def _audit(team: TeamServer) -> list[dict[str, object]]:
    changes: list[dict[str, object]] = team.http().get("/api/v1/audit").json()["changes"]
    return changes


def test_a_writer_cannot_move_a_protected_alias_but_an_admin_can(
    team: TeamServer, run_ids: list[str]
) -> None:
    _register(team, run_ids)
    refused = team.http(WRITER).put(
        "/api/v1/models/toy-clf/aliases/production", json={"version": 1}
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["type"] == "forbidden"
    assert "admin" in refused.json()["error"]["message"]
    assert "production" in refused.json()["error"]["message"]
    assert team.http().get("/api/v1/models/toy-clf/versions/production").status_code == 404
    assert _audit(team) == []

    moved = team.http(ADMIN).put(
        "/api/v1/models/toy-clf/aliases/production", json={"version": 1, "reason": "launch"}
    )
    assert moved.status_code == 200, moved.text
    assert (moved.json()["from_version"], moved.json()["to_version"]) == (None, 1)
    assert [(c["alias"], c["actor"], c["reason"]) for c in _audit(team)] == [
        ("production", "admin", "launch")
    ]
    # an unprotected alias is a writer's to move, and the audit names the writer's token
    staged = team.http(WRITER).put("/api/v1/models/toy-clf/aliases/staging", json={"version": 2})
    assert staged.status_code == 200
    assert _audit(team)[0]["actor"] == "writer"


def test_the_protected_aliases_are_the_servers_setting(
    workspace: Workspace, run_ids: list[str]
) -> None:
    # MODELWARD_PROTECTED_ALIASES=canary on the server: production is a writer's now
    settings = dataclasses.replace(workspace.settings, protected_aliases=("canary",))
    team = TeamServer.start(dataclasses.replace(workspace, settings=settings))
    _register(team, run_ids)
    writer = team.http(WRITER)
    assert (
        writer.put("/api/v1/models/toy-clf/aliases/canary", json={"version": 1}).status_code == 403
    )
    assert (
        writer.put("/api/v1/models/toy-clf/aliases/production", json={"version": 1}).status_code
        == 200
    )


def test_a_gate_that_fails_is_refused_by_the_server(team: TeamServer, run_ids: list[str]) -> None:
    _register(team, run_ids)
    writer = team.http(WRITER)
    assert (
        writer.put("/api/v1/models/toy-clf/aliases/champion", json={"version": 2}).status_code
        == 200
    )
    # version 1 (f1 0.8) against the champion (0.9): a client that skipped the check
    refused = writer.put(
        "/api/v1/models/toy-clf/aliases/champion",
        json={"version": 1, "require": "f1 >= champion.f1"},
    )
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["type"] == "gate_failed"
    assert "0.8" in error["message"] and "0.9" in error["message"]
    assert writer.get("/api/v1/models/toy-clf/versions/champion").json()["version"] == 2
    assert len(_audit(team)) == 1
    malformed = writer.put(
        "/api/v1/models/toy-clf/aliases/champion",
        json={"version": 1, "require": "__import__('os').system('id')"},
    )
    assert malformed.status_code == 400
    assert "one comparison" in malformed.json()["error"]["message"]


SOURCES = [
    {"run_id": "file:///etc/passwd"},
    {"run_id": "http://169.254.169.254/latest/meta-data/"},
    {"run_id": "s3://bucket/model.pkl"},
    {"run_id": "../../blobs/sha256/aa"},
    {"run_id": "/etc/passwd"},
    {"run_id": "models:/other/1"},
    {"run_id": ""},
    {"run_id": "0" * 33},
    {"source": "file:///etc/passwd"},
    {"run_id": "RUN", "source": "file:///etc/passwd"},
    {"run_id": "abc", "artifact_uri": "http://example.com/model"},
]


def test_a_version_is_created_only_from_a_run_of_this_store(
    team: TeamServer, run_ids: list[str]
) -> None:
    writer = team.http(WRITER)
    for sent in SOURCES:
        body = {key: (run_ids[0] if value == "RUN" else value) for key, value in sent.items()}
        answer = writer.post("/api/v1/models/toy-clf/versions", json=body)
        assert answer.status_code == 400, (sent, answer.text)
        assert answer.json()["error"]["field"] in ("run_id", "source", "artifact_uri"), sent
    assert team.http().get("/api/v1/models").json() == {"models": []}


def test_a_run_the_store_does_not_hold_is_not_found(team: TeamServer, run_ids: list[str]) -> None:
    answer = team.http(WRITER).post("/api/v1/models/toy-clf/versions", json={"run_id": "f" * 32})
    assert answer.status_code == 404
    assert "unknown run" in answer.json()["error"]["message"]
    assert team.http().get("/api/v1/models").json() == {"models": []}


MALFORMED_MOVES: list[tuple[str, dict[str, object]]] = [
    ("toy-clf/aliases/champion", {"version": 0}),
    ("toy-clf/aliases/champion", {"version": 2**40}),
    ("toy-clf/aliases/champion", {"version": "1"}),
    ("toy-clf/aliases/champion", {"version": 1, "actor": "someone-else"}),
    ("toy-clf/aliases/champion", {"version": 1, "require": "x" * 1_001}),
    ("toy-clf/aliases/champion", {"version": 1, "require": "f1 >="}),
    ("toy-clf/aliases/latest", {"version": 1}),
    ("toy-clf/aliases/9lives", {"version": 1}),
    ("bad%20name/aliases/champion", {"version": 1}),
]


def test_malformed_alias_moves_are_400_naming_the_problem(
    team: TeamServer, run_ids: list[str]
) -> None:
    _register(team, run_ids)
    for path, body in MALFORMED_MOVES:
        answer = team.http(WRITER).put(f"/api/v1/models/{path}", json=body)
        assert answer.status_code == 400, (path, body, answer.text)
        assert answer.json()["error"]["message"]
    assert _audit(team) == []


def test_audit_listings_are_bounded(team: TeamServer) -> None:
    for limit in ("0", "-1", "10001", str(10**30), "ten"):
        answer = team.http().get("/api/v1/audit", params={"limit": limit})
        assert answer.status_code == 400, (limit, answer.text)
        assert answer.json()["error"]["field"] == "limit"
    assert team.http().get("/api/v1/audit", params={"limit": "10000"}).status_code == 200


def test_removing_an_alias_needs_an_admin_and_is_audited(
    team: TeamServer, run_ids: list[str]
) -> None:
    _register(team, run_ids)
    team.http(WRITER).put("/api/v1/models/toy-clf/aliases/staging", json={"version": 1})
    assert team.http(WRITER).delete("/api/v1/models/toy-clf/aliases/staging").status_code == 403
    removed = team.http(ADMIN).delete(
        "/api/v1/models/toy-clf/aliases/staging", params={"reason": "retired"}
    )
    assert removed.status_code == 200
    assert removed.json()["from_version"] == 1
    assert _audit(team)[0] == {
        **_audit(team)[0],
        "alias": "staging",
        "from_version": 1,
        "to_version": None,
        "actor": "admin",
        "reason": "retired",
    }
