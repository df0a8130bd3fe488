"""/api/v1/datasets over HTTP: what a client could forge or get wrong is refused, 4xx JSON."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from modelward.store.tables import dataset_versions, datasets
from tests.server.support import READER, WRITER, TeamServer

DATA = b"a,b\n1,x\n2,y\n"
DIGEST = hashlib.sha256(DATA).hexdigest()


def _body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "digest": DIGEST,
        "format": "csv",
        "size_bytes": len(DATA),
        "n_rows": 2,
        "schema": [{"name": "a", "dtype": "int64"}, {"name": "b", "dtype": "string"}],
        "profile": {"n_rows": 2, "columns": []},
        "source": {"kind": "file", "path": "/tmp/d.csv", "original_name": "d.csv"},
    }
    body.update(changes)
    return body


def _counts(team: TeamServer) -> tuple[int, int]:
    with team.workspace.db.read() as conn:
        return (
            conn.execute(sa.select(sa.func.count()).select_from(datasets)).scalar_one(),
            conn.execute(sa.select(sa.func.count()).select_from(dataset_versions)).scalar_one(),
        )


@pytest.fixture
def uploaded(team: TeamServer) -> TeamServer:
    """The server, holding DATA in its artifact store."""
    team.workspace.local_artifacts.put_bytes(DATA)
    return team


def _error(answer: Any, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    error: dict[str, Any] = answer.json()["error"]
    assert error["message"]
    return error


def test_a_version_is_recorded_once_and_made_by_the_token(uploaded: TeamServer) -> None:
    writer = uploaded.http(WRITER)
    created = writer.post("/api/v1/datasets/churn/versions", json=_body())
    again = writer.post("/api/v1/datasets/churn/versions", json=_body())

    assert created.status_code == 201, created.text
    version = created.json()["version"]
    assert created.json()["created"] is True and version["ref"] == "churn@1"
    assert version["created_by"] == WRITER and version["n_columns"] == 2
    assert again.status_code == 200 and again.json() == {"created": False, "version": version}
    reader = uploaded.http(READER)
    assert reader.get("/api/v1/datasets/churn/versions/1").json() == version
    assert reader.get("/api/v1/datasets/churn/versions/latest").json() == version
    assert reader.get(f"/api/v1/datasets/churn/digests/{DIGEST}").json() == version
    assert reader.get(f"/api/v1/dataset-versions/{version['id']}").json() == version
    assert reader.get("/api/v1/datasets").json()["datasets"] == [
        {"name": "churn", "versions": 1, "latest": version}
    ]


def test_a_client_cannot_name_who_made_a_version(uploaded: TeamServer) -> None:
    answer = uploaded.http(WRITER).post(
        "/api/v1/datasets/churn/versions", json=_body(created_by="admin")
    )
    assert _error(answer, 400)["field"] == "created_by"
    assert _counts(uploaded) == (0, 0)


def test_a_version_of_bytes_the_server_does_not_hold_is_refused(team: TeamServer) -> None:
    answer = team.http(WRITER).post("/api/v1/datasets/churn/versions", json=_body())
    error = _error(answer, 400)
    assert error["field"] == "digest" and "upload the file first" in error["message"]
    assert _counts(team) == (0, 0)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"size_bytes": len(DATA) + 1}, "size_bytes"),
        ({"parent_id": 12345}, "parent_id"),
        ({"digest": "A" * 64}, "digest"),
        ({"digest": "../../etc/passwd"}, "digest"),
        ({"format": "exe"}, "format"),
        ({"size_bytes": -1}, "size_bytes"),
        ({"size_bytes": 2**63}, "size_bytes"),
        ({"n_rows": "2"}, "n_rows"),
        ({"n_rows": True}, "n_rows"),
        ({"parent_id": 2**31}, "parent_id"),
        ({"spec_digest": "x"}, "spec_digest"),
        ({"description": "nul \x00 inside"}, "description"),
        ({"profile": {"columns": [{"name": "a\x00"}]}}, "profile.columns.0.name"),
        ({"source": {"k\x00": 1}}, "source"),
        ({"schema": [{"name": "a", "dtype": "int64", "extra": 1}]}, "schema.0.extra"),
        ({"schema": "a,b"}, "schema"),
        ({"profile": None}, "profile"),
    ],
)
def test_bad_bodies_are_400_naming_the_field_and_record_nothing(
    uploaded: TeamServer, changes: dict[str, Any], field: str
) -> None:
    answer = uploaded.http(WRITER).post("/api/v1/datasets/churn/versions", json=_body(**changes))
    assert _error(answer, 400)["field"] == field
    assert _counts(uploaded) == (0, 0)


def test_malformed_json_and_names_are_400(uploaded: TeamServer) -> None:
    writer = uploaded.http(WRITER)
    deep = "[" * 2000 + "]" * 2000
    for content in (b"{not json", deep.encode(), b'{"size_bytes": 1e999}'):
        answer = writer.post(
            "/api/v1/datasets/churn/versions",
            content=content,
            headers={"content-type": "application/json"},
        )
        _error(answer, 400)
    for path in ("-bad/versions", ".hidden/versions", "churn/versions/0", "churn/versions/a@b"):
        _error(writer.get(f"/api/v1/datasets/{path}"), 400)
    assert _counts(uploaded) == (0, 0)


def test_unknown_datasets_and_versions_are_404(uploaded: TeamServer) -> None:
    reader = uploaded.http(READER)
    assert (
        "unknown dataset 'nope'"
        in _error(reader.get("/api/v1/datasets/nope/versions"), 404)["message"]
    )
    _error(reader.get("/api/v1/datasets/nope/versions/1"), 404)
    _error(reader.get(f"/api/v1/datasets/nope/digests/{DIGEST}"), 404)
    _error(reader.get("/api/v1/dataset-versions/999"), 404)
    _error(reader.get("/api/v1/dataset-versions/999/lineage"), 404)
    _error(reader.get("/api/v1/dataset-versions/0"), 400)
    _error(reader.get(f"/api/v1/dataset-versions/{2**40}"), 400)
    assert reader.get("/api/v1/datasets").json() == {"datasets": []}


def test_a_reader_cannot_record_a_version(uploaded: TeamServer) -> None:
    answer = uploaded.http(READER).post("/api/v1/datasets/churn/versions", json=_body())
    assert answer.status_code == 403
    assert _counts(uploaded) == (0, 0)


def test_odd_but_valid_json_is_stored_as_sent_on_either_backend(uploaded: TeamServer) -> None:
    nested: Any = "bottom"
    for _ in range(30):  # 60 levels: deeper than any profile, within what is answered
        nested = {"d": [nested]}
    profile = {"nested": nested, "big": 1.7976931348623157e308, "tiny": 5e-324, "é✓": ""}
    answer = uploaded.http(WRITER).post(
        "/api/v1/datasets/odd/versions",
        content=orjson.dumps(_body(profile=profile, description="")),
        headers={"content-type": "application/json"},
    )
    assert answer.status_code == 201, answer.text
    stored = orjson.loads(uploaded.http(READER).get("/api/v1/datasets/odd/versions/1").content)
    assert stored["profile"] == profile and stored["description"] == ""


@pytest.mark.parametrize("levels", [65, 300])
def test_json_nested_too_deep_to_answer_back_is_refused(uploaded: TeamServer, levels: int) -> None:
    # stored, it would make every later answer naming the version fail to serialise
    deep = '{"a":' * levels + "1" + "}" * levels
    body = orjson.dumps(_body(profile={"x": 0})).replace(b'{"x":0}', deep.encode())
    answer = uploaded.http(WRITER).post(
        "/api/v1/datasets/deep/versions", content=body, headers={"content-type": "application/json"}
    )
    error = _error(answer, 400)
    assert error["field"] == "profile" and "deeper than 64" in error["message"]
    assert _counts(uploaded) == (0, 0)
