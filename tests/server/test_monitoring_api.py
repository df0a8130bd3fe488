"""/api/v1 monitoring routes over HTTP: batches stored once, bounded bodies and listings,
text a PostgreSQL column cannot hold refused as a 400, references checked against the store."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import modelward as mw
from modelward.monitoring.ports import local_prediction_log
from modelward.monitoring.predictions import PredictionRecord
from modelward.monitoring.remote import RemotePredictionLog
from modelward.store.workspace import close_workspaces, open_workspace
from tests.server.support import ADMIN, READER, WRITER, TeamServer


@pytest.fixture(params=["database", "segments"])
def team(
    request: pytest.FixtureRequest, backend_home: Path, monkeypatch: pytest.MonkeyPatch
) -> TeamServer:
    """A team server over a fresh store, its prediction log in the database or in Parquet
    segments (MODELWARD_PREDICTION_LOG)."""
    monkeypatch.setenv("MODELWARD_PREDICTION_LOG", request.param)
    close_workspaces()
    return TeamServer.start(open_workspace())


NOW_MS = int(time.time() * 1000)


def _record(request_id: str, **changes: Any) -> dict[str, Any]:
    return {
        "request_id": request_id,
        "model_name": "clf",
        "model_version": 1,
        "created_ms": NOW_MS,  # a segment log looks a label's request up in the last 7 days
        "status": 200,
        "latency_ms": 2.5,
        "n_rows": 1,
        "inputs": {"x": [1.0]},
        "outputs": [1],
        "error": None,
        **changes,
    }


def _alert(**changes: Any) -> dict[str, Any]:
    return {
        "rule": "slow",
        "metric": "latency_p95_seconds",
        "state": "firing",
        "value": 1.5,
        "model": "clf",
        "message": "p95 above 1 s",
        "details": {},
        **changes,
    }


def test_a_resent_batch_is_stored_once(team: TeamServer) -> None:
    writer = team.http(WRITER)
    batch = {"batch_id": "b-1", "records": [_record("r1"), _record("r2")]}
    first = writer.post("/api/v1/predictions", json=batch)
    assert first.status_code == 200, first.text
    assert first.json() == {"batch_id": "b-1", "stored": 2, "duplicate": False}
    again = writer.post("/api/v1/predictions", json=batch)
    assert again.json() == {"batch_id": "b-1", "stored": 0, "duplicate": True}
    assert team.http(READER).get("/api/v1/predictions/count").json() == {"count": 2}


def test_malformed_batches_are_400_and_store_nothing(team: TeamServer) -> None:
    writer = team.http(WRITER)
    bad_batches: list[Any] = [
        {"records": [_record("r")]},  # no batch id
        {"batch_id": "../x", "records": []},
        {"batch_id": "b", "records": [_record("r", model_name="no such/name")]},
        {"batch_id": "b", "records": [_record("r", model_version=2**40)]},
        {"batch_id": "b", "records": [_record("r", created_ms=2**70)]},
        {"batch_id": "b", "records": [_record("r", status=1_000)]},
        {"batch_id": "b", "records": [_record("r", latency_ms=-1)]},
        {"batch_id": "b", "records": [_record("bad id!")]},
        {"batch_id": "b", "records": [_record("r", error="a\x00b")]},
        {"batch_id": "b", "records": [_record("r", user="someone")]},
        {"batch_id": "b", "records": [_record("r")] * 10_001},
        {"batch_id": "b", "records": [_record("r"), _record("s", n_rows="two")]},
    ]
    for body in bad_batches:
        answer = writer.post("/api/v1/predictions", json=body)
        assert answer.status_code == 400, (str(body)[:200], answer.text)
        assert answer.json()["error"]["message"]
    assert team.http().get("/api/v1/predictions/count").json() == {"count": 0}
    # the batch ids of refused batches were not used up
    ok = writer.post("/api/v1/predictions", json={"batch_id": "b", "records": [_record("r")]})
    assert ok.json()["stored"] == 1


def test_a_nul_character_in_logged_text_reaches_the_server_as_a_replacement(
    team: TeamServer,
) -> None:
    record = _record("nul", inputs={"city": ["Os\x00lo"], "k\x00": [1]}, outputs=["a\x00"])
    by_hand = team.http(WRITER).post(
        "/api/v1/predictions", json={"batch_id": "nul", "records": [record]}
    )
    assert by_hand.status_code == 400  # no text on the server holds a NUL
    assert "NUL" in by_hand.json()["error"]["message"]
    # a serving process's log keeps the record, the NUL made U+FFFD (as PostgreSQL keeps it)
    RemotePredictionLog(team.client(WRITER)).add_records([PredictionRecord(**record)])
    stored = local_prediction_log(team.workspace).records("clf")[0]
    assert stored.inputs == {"city": ["Os\ufffdlo"], "k\ufffd": [1]}
    assert stored.outputs == ["a\ufffd"]


def test_a_nul_character_in_locally_logged_text_is_kept_as_a_replacement_on_postgresql(
    team: TeamServer,
) -> None:
    record = PredictionRecord(**_record("nul", inputs={"city": ["Os\x00lo"]}))
    local_prediction_log(team.workspace).add_records([record])
    stored = local_prediction_log(team.workspace).records("clf")[0]
    jsonb = team.workspace.db.dialect == "postgresql" and not team.workspace.settings.log_segments
    nul = "\ufffd" if jsonb else "\x00"  # PostgreSQL's jsonb holds none; SQLite, Parquet do
    assert stored.inputs == {"city": [f"Os{nul}lo"]}


def test_listings_are_bounded(team: TeamServer) -> None:
    reader = team.http(READER)
    for path, params in (
        ("/api/v1/predictions", {"model": "clf", "limit": "100001"}),
        ("/api/v1/predictions", {"model": "clf", "limit": "0"}),
        ("/api/v1/predictions", {"model": "clf", "since_ms": str(2**70)}),
        ("/api/v1/predictions", {"model": "clf", "until_id": "-1"}),
        ("/api/v1/predictions", {"model": "clf", "status": "42"}),
        ("/api/v1/predictions", {}),
        ("/api/v1/predictions/labeled", {"model": "clf", "last": str(10**12)}),
        ("/api/v1/predictions/request-ids", {"model": "clf", "limit": "1000001"}),
        ("/api/v1/predictions/stats", {"model": "bad name"}),
        ("/api/v1/alerts", {"limit": "100001"}),
        ("/api/v1/alerts", {"state": "exploded"}),
    ):
        answer = reader.get(path, params=params)
        assert answer.status_code == 400, (path, params, answer.text)
        assert answer.json()["error"]["field"], (path, params)
    assert reader.get("/api/v1/predictions", params={"model": "clf", "limit": "100000"}).json() == {
        "records": []
    }


def test_feedback_for_an_unknown_request_is_404_and_a_wrong_count_400(team: TeamServer) -> None:
    writer = team.http(WRITER)
    writer.post(
        "/api/v1/predictions", json={"batch_id": "f", "records": [_record("two", n_rows=2)]}
    )
    unknown = writer.post("/api/v1/feedback", json={"request_id": "nobody", "label": 1})
    assert unknown.status_code == 404 and unknown.json()["error"]["field"] == "request_id"
    wrong = writer.post("/api/v1/feedback", json={"request_id": "two", "label": [1]})
    assert wrong.status_code == 400 and "2 row" in wrong.json()["error"]["message"]
    for body in (
        {"request_id": "two", "label": []},
        {"request_id": "two", "label": {"a": 1}},
        {"request_id": "two", "label": [[1], [0]]},
        {"request_id": "two", "label": ["a\x00", "b"]},
        {"request_id": "two"},
        {"request_id": "two", "label": [1, 0], "user": "x"},
    ):
        answer = writer.post("/api/v1/feedback", json=body)
        assert answer.status_code == 400, (body, answer.text)
    assert (
        team.http(READER)
        .post("/api/v1/feedback", json={"request_id": "two", "label": [1, 0]})
        .status_code
        == 403
    )
    ok = writer.post("/api/v1/feedback", json={"request_id": "two", "label": [1, 0]})
    assert ok.json() == {"request_id": "two", "accepted": True}
    labeled = team.http().get("/api/v1/predictions/labeled", params={"model": "clf"}).json()
    assert [(item["request_id"], item["label"]) for item in labeled["labeled"]] == [("two", [1, 0])]


def test_an_alert_resent_under_its_client_id_is_stored_once(team: TeamServer) -> None:
    writer = team.http(WRITER)
    first = writer.post("/api/v1/alerts", json=_alert(client_id="a-1"))
    again = writer.post("/api/v1/alerts", json=_alert(client_id="a-1", message="changed"))
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    other = writer.post("/api/v1/alerts", json=_alert())
    assert other.json()["id"] != first.json()["id"]
    listed = team.http().get("/api/v1/alerts").json()["alerts"]
    assert [alert["message"] for alert in listed] == ["p95 above 1 s", "p95 above 1 s"]
    webhook = writer.put(f"/api/v1/alerts/{first.json()['id']}/webhook", json={"status": "ok 200"})
    assert webhook.status_code == 200
    assert writer.put("/api/v1/alerts/99999/webhook", json={"status": "ok"}).status_code == 404


def test_malformed_alerts_are_400(team: TeamServer) -> None:
    writer = team.http(WRITER)
    for body in (
        _alert(state="exploded"),
        _alert(message="a\x00b"),
        _alert(details={"deep": {"k": ["a\x00"]}}),
        _alert(details={"k\x00": 1}),
        _alert(rule="r" * 129),
        _alert(model="no such/name"),
        _alert(client_id="a b"),
        _alert(extra=1),
    ):
        answer = writer.post("/api/v1/alerts", json=body)
        assert answer.status_code == 400, (body, answer.text)
    assert team.http().get("/api/v1/alerts").json() == {"alerts": []}


def test_alert_states_are_saved_read_and_cleared_by_an_admin(team: TeamServer) -> None:
    digest = hashlib.sha256(b"slow").hexdigest()
    state = {"rule": "slow", "digest": digest, "state": "firing", "since": 1.0, "fired_at": 2.0}
    writer = team.http(WRITER)
    saved = writer.put("/api/v1/alert-states/clf", json={"states": [state]})
    assert saved.json() == {"model": "clf", "saved": 1}
    stored = team.http().get("/api/v1/alert-states/clf").json()["states"]
    assert [(s["rule"], s["digest"], s["state"], s["fired_at"]) for s in stored] == [
        ("slow", digest, "firing", 2.0)
    ]
    for states in (
        [{**state, "digest": "not-a-digest"}],
        [{**state, "state": "exploded"}],
        [{**state, "rule": "a\x00"}],
        [state] * 1_001,
    ):
        answer = writer.put("/api/v1/alert-states/clf", json={"states": states})
        assert answer.status_code == 400, answer.text
    assert writer.delete("/api/v1/alert-states/clf").status_code == 403
    assert team.http(ADMIN).delete("/api/v1/alert-states/clf").json()["cleared"] is True
    assert team.http().get("/api/v1/alert-states/clf").json() == {"states": []}


def test_a_drift_reference_must_name_an_artifact_and_a_dataset_version_of_this_store(
    team: TeamServer,
) -> None:
    data = mw.data.add(pd.DataFrame({"x": np.arange(5.0)}), name="ref")
    columns = hashlib.sha256(b'["x"]').hexdigest()
    path = f"/api/v1/drift-references/{data.id}/{columns}"
    writer = team.http(WRITER)
    assert writer.get(path).status_code == 404
    missing = writer.put(path, json={"artifact": "a" * 64})
    assert missing.status_code == 400 and missing.json()["error"]["field"] == "artifact"
    digest = team.workspace.artifacts.put_bytes(b"stats")
    assert writer.put(path, json={"artifact": digest}).status_code == 200
    assert writer.get(path).json() == {"artifact": digest}
    unknown = f"/api/v1/drift-references/{data.id + 99}/{columns}"
    assert writer.put(unknown, json={"artifact": digest}).status_code == 404
    for bad in (f"/{0}/{columns}", f"/{data.id}/abc", f"/{2**40}/{columns}"):
        answer = writer.put(f"/api/v1/drift-references{bad}", json={"artifact": digest})
        assert answer.status_code == 400, bad
