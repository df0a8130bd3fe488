"""Hostile input on every route of the team server: always a 4xx JSON error, never a 5xx
(modelward's shape on /api/v1 and the dashboard, MLflow's on /api/2.0).

The routes are enumerated from the app (as in test_auth), so every route module
added later is attacked the same way without a line here. A JSON-body route (its
OpenAPI document says so) must answer precisely: 415 for another content type,
400 for a body that is not JSON it can read, 413 past the size limit.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import Request
from starlette.testclient import TestClient

from modelward.server.api.base import create_api, new_router, workspace_of
from modelward.server.app import create_app
from modelward.server.limits import UPLOAD_PATHS
from modelward.store.workspace import Workspace
from tests.server.support import ADMIN, BASE_URL, TeamServer
from tests.server.test_auth import _concrete, every_route

WRITE_METHODS = {"POST", "PUT", "PATCH"}
JSON = "application/json"

# body, content type, the status a JSON-body route answers, what the message names
NOT_JSON_WE_READ: dict[str, tuple[bytes, str]] = {
    "1,100 levels deep": (b"[" * 1100 + b"]" * 1100, JSON),
    "objects 1,100 levels deep": (b'{"a":' * 1100 + b"1" + b"}" * 1100, JSON),
    "an integer of 400 digits": (b'{"n": ' + b"7" * 400 + b"}", JSON),
    "NaN": (b'{"n": NaN}', JSON),
    "Infinity": (b'{"n": -Infinity}', JSON),
    "truncated": (b'{"name": "a', JSON),
    "Latin-1 bytes": ('{"name": "café"}'.encode("latin-1"), JSON),
    "a lone surrogate": (b'{"name": "\\ud800"}', JSON),
    "a byte order mark": (b'\xef\xbb\xbf{"name": "a"}', JSON),
    "a NUL byte": (b'{"name": "a"}\x00', JSON),
}
WRONG_CONTENT_TYPE: dict[str, tuple[bytes, str]] = {
    "CSV": (b"name,role\nx,reader\n", "text/csv"),
    "a pickle": (b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00K\x01.", "application/x-pickle"),
    "a form": (b"name=x&role=reader", "application/x-www-form-urlencoded"),
    "no content type": (b'{"name": "x"}', ""),
    "JSON as UTF-16": ('{"name": "x"}'.encode("utf-16"), "application/json; charset=utf-16"),
    "XML": (b"<a>x</a>", "application/xml"),
}
ODD_SEGMENTS = [
    "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    "%00",
    "%ff%fe",
    "..%2f..%2fetc%2fpasswd",
    "%252e%252e",
    "a" * 5000,
    "%F0%9F%92%A9",
    "%E2%80%AEevil",
    "7" * 400,
]
ODD_QUERY_VALUES = ["7" * 400, "\x00", "-1", "NaN", "inf", "%ff", "<b>x</b>", "a" * 5000, "1e400"]


def _document(team: TeamServer) -> dict[str, Any]:
    document: dict[str, Any] = team.http(ADMIN).get("/api/v1/openapi.json").json()
    return document


def _operations(team: TeamServer) -> list[tuple[str, str]]:
    """(method, path) of every operation of the OpenAPI document."""
    document = _document(team)
    base = document["servers"][0]["url"]
    return sorted(
        (method.upper(), base + path)
        for path, item in document["paths"].items()
        for method in item
        if method in ("get", "put", "post", "patch", "delete")
    )


def _json_body_routes(team: TeamServer) -> set[tuple[str, str]]:
    """(method, path) of every operation the OpenAPI document says takes a JSON body."""
    document = _document(team)
    base = document["servers"][0]["url"]
    return {
        (method.upper(), base + path)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if JSON in (operation.get("requestBody") or {}).get("content", {})
    }


def _write_routes(team: TeamServer) -> list[tuple[str, str]]:
    # modelward's own JSON API and the dashboard's forms; the MLflow-compatible routes
    # read bodies as MLflow's server does (tests/server/mlflow)
    return [
        (m, p) for m, p in every_route(team) if m in WRITE_METHODS and not p.startswith("/api/2.0/")
    ]


def _is_upload(path: str) -> bool:
    return any(pattern.fullmatch(_concrete(path)) for pattern in UPLOAD_PATHS)


def _assert_error(response: Any, what: object) -> dict[str, Any]:
    """A 4xx whose body is modelward's JSON error (or MLflow's, on its routes); a
    dashboard page answers with an HTML error page saying the same, escaped."""
    assert 400 <= response.status_code < 500, (what, response.status_code, response.text[:300])
    html = response.headers.get("content-type", "").startswith("text/html")
    if not response.url.path.startswith("/api/") and html:
        assert response.headers["content-type"].startswith("text/html"), (what, response.headers)
        assert 'class="error"' in response.text and "<script>" not in response.text, what
        return {"error": {"message": response.text}}
    assert response.headers["content-type"].startswith(JSON), (what, response.headers)
    body: dict[str, Any] = response.json()
    message = body["error"]["message"] if "error" in body else body["message"]
    assert isinstance(message, str) and message.strip(), (what, body)
    return body


def _assert_still_serving(team: TeamServer) -> None:
    assert team.http(ADMIN).get("/api/v1/whoami").status_code == 200


def test_json_routes_exist_to_attack(team: TeamServer) -> None:
    # the generic tests below attack something: at least the token routes
    assert ("POST", "/api/v1/tokens") in _json_body_routes(team)


def test_bodies_that_are_not_json_we_read_are_400_naming_the_problem(team: TeamServer) -> None:
    admin, json_routes = team.http(ADMIN), _json_body_routes(team)
    for method, path in _write_routes(team):
        for what, (body, content_type) in NOT_JSON_WE_READ.items():
            response = admin.request(
                method, _concrete(path), content=body, headers={"content-type": content_type}
            )
            error = _assert_error(response, (method, path, what))
            if (method, path) in json_routes:
                assert response.status_code == 400, (method, path, what, error)
                assert "JSON" in error["error"]["message"], (method, path, what, error)
    _assert_still_serving(team)


def test_other_content_types_on_json_routes_are_415_saying_what_is_expected(
    team: TeamServer,
) -> None:
    admin, json_routes = team.http(ADMIN), _json_body_routes(team)
    for method, path in _write_routes(team):
        for what, (body, content_type) in WRONG_CONTENT_TYPE.items():
            headers = {"content-type": content_type} if content_type else {}
            request = admin.build_request(method, _concrete(path), content=body, headers=headers)
            if not content_type and "content-type" in request.headers:
                del request.headers["content-type"]
            response = admin.send(request)
            error = _assert_error(response, (method, path, what))
            if (method, path) in json_routes:
                assert response.status_code == 415, (method, path, what, error)
                message = error["error"]["message"]
                assert "application/json" in message, (method, path, what, message)
                assert error["error"]["type"] == "unsupported_media_type"
    _assert_still_serving(team)


def test_json_of_the_wrong_shape_is_400_on_json_routes(team: TeamServer) -> None:
    admin, json_routes = team.http(ADMIN), _json_body_routes(team)
    for method, path in sorted(json_routes):
        for body in ([1, 2], "text", 12, None, {"name": "<script>alert(1)</script>" * 3}):
            response = admin.request(method, _concrete(path), json=body)
            error = _assert_error(response, (method, path, body))
            assert response.status_code in (400, 404, 409), (method, path, body, error)
        empty = admin.request(method, _concrete(path), content=b"", headers={"content-type": JSON})
        message = _assert_error(empty, (method, path))["error"]["message"]
        # a path parameter filled with "x" where a number goes is refused before the body
        assert "no body" in message or "path parameter" in message, (method, path, message)
    _assert_still_serving(team)


@pytest.fixture
def small_limit(team: TeamServer) -> Iterator[TestClient]:
    """The same store and tokens behind an app whose body limit is 4 KiB."""
    app = create_app(team.workspace, max_body_bytes=4096)
    client = TestClient(app, base_url=BASE_URL, raise_server_exceptions=False)
    client.headers["Authorization"] = f"Bearer {team.secrets[ADMIN]}"
    yield client


def test_oversize_bodies_are_413_whether_declared_or_streamed(
    team: TeamServer, small_limit: TestClient
) -> None:
    big = b'{"name": "' + b"a" * 8192 + b'"}'

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit counts what arrives
        for start in range(0, len(big), 1024):
            yield big[start : start + 1024]

    for method, path in _write_routes(team):
        for what, content in (("declared", big), ("streamed", chunks())):
            response = small_limit.request(
                method, _concrete(path), content=content, headers={"content-type": JSON}
            )
            if _is_upload(path):  # uploads stream under their own, larger limit
                assert response.status_code < 500, (method, path, what, response.text)
                continue
            error = _assert_error(response, (method, path, what))
            if not path.startswith("/api/") and response.status_code == 415:
                continue  # a dashboard form refuses a JSON body before reading it
            assert response.status_code == 413, (method, path, what, error)
            assert "limit" in error["error"]["message"]
    assert small_limit.get("/api/v1/whoami").status_code == 200


def _odd_urls(path: str) -> Iterator[str]:
    if "{" not in path:
        yield path + "?x=%ff%fe&y=" + "7" * 400
        return
    for segment in ODD_SEGMENTS:
        yield _fill_first(path, segment)


def _fill_first(path: str, segment: str) -> str:
    """`path` with its first parameter set to `segment` (sent as is) and the rest filled."""
    start, end = path.index("{"), path.index("}")
    return _concrete(path[:start] + "\0" + path[end + 1 :]).replace("\0", segment)


def test_odd_paths_and_queries_on_every_route_are_answered_in_json(team: TeamServer) -> None:
    admin = team.http(ADMIN)
    for method, path in every_route(team):
        for url in _odd_urls(path):
            response = admin.request(method, url, json={} if method in WRITE_METHODS else None)
            assert response.status_code < 500, (method, url[:200], response.text[:300])
            if method != "HEAD" and response.status_code >= 400:
                _assert_error(response, (method, url[:200]))
            if "text/html" in response.headers.get("content-type", ""):
                assert "<script>" not in response.text
    _assert_still_serving(team)


def test_odd_values_of_every_query_parameter(team: TeamServer) -> None:
    admin, document = team.http(ADMIN), _document(team)
    base = document["servers"][0]["url"]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for parameter in operation.get("parameters", []):
                if parameter.get("in") != "query":
                    continue
                for value in ODD_QUERY_VALUES:
                    url = _concrete(base + path)
                    response = admin.request(method.upper(), url, params={parameter["name"]: value})
                    assert response.status_code < 500, (method, path, parameter, value)
                    if response.status_code >= 400:
                        _assert_error(response, (method, path, parameter["name"], value))
    _assert_still_serving(team)


def test_markup_in_names_comes_back_as_json_text(team: TeamServer) -> None:
    admin = team.http(ADMIN)
    markup = '<img src=x onerror="alert(1)">'
    response = admin.post("/api/v1/tokens", json={"name": markup, "role": "reader"})
    error = _assert_error(response, markup)
    assert markup in json.loads(response.text)["error"]["message"]  # as text, in JSON
    assert response.headers["content-type"].startswith(JSON)
    assert error["error"]["type"] == "malformed_request"
    missing = admin.delete("/api/v1/tokens/%3Cb%3Ex")
    assert missing.status_code == 404
    assert "'<b>x'" in _assert_error(missing, "path")["error"]["message"]


def test_nul_characters_are_refused_on_both_backends(team: TeamServer) -> None:
    # PostgreSQL cannot store NUL in text: refused up front, with the same 400 on SQLite
    admin = team.http(ADMIN)
    for method, path in _operations(team):
        url = _fill_first(path, "a%00b") if "{" in path else path
        response = admin.request(method, url, params={"q": "a\x00b"})
        error = _assert_error(response, (method, path))
        assert response.status_code == 400 and "NUL" in error["error"]["message"], (method, path)
    for method, path in sorted(_json_body_routes(team)):
        response = admin.request(method, _concrete(path), json={"name": "a\x00b"})
        assert "NUL" in _assert_error(response, (method, path))["error"]["message"]
    # an escaped backslash before u0000 is text, not a NUL
    literal = admin.post(
        "/api/v1/tokens",
        content=b'{"name": "a\\\\u0000", "role": "reader"}',
        headers={"content-type": JSON},
    )
    assert "token name" in _assert_error(literal, "literal")["error"]["message"]
    _assert_still_serving(team)


refusing = new_router()


@refusing.get("/refuse")
def refuse(request: Request, value: int) -> dict[str, Any]:
    """A route whose value reaches the database unchecked (as a route's bug would)."""
    with workspace_of(request).db.read() as conn:
        conn.execute(sa.text("SELECT CAST(:v AS SMALLINT)"), {"v": value}).scalar()
    return {}


def test_a_value_the_database_refuses_is_a_400_not_a_500(workspace: Workspace) -> None:
    client = TestClient(create_api(workspace, [refusing]), raise_server_exceptions=False)
    response = client.get("/refuse", params={"value": 70_000})
    if workspace.db.dialect == "sqlite":  # SQLite's CAST never refuses
        assert response.status_code == 200
        return
    error = _assert_error(response, "refused")
    assert response.status_code == 400
    assert "out of range" in error["error"]["message"]
    assert "SELECT" not in error["error"]["message"]  # the statement stays in the server


@pytest.fixture
def deep_recursion() -> Iterator[None]:
    """A high recursion limit, as another library in the process may have set."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 20_000))
    yield
    sys.setrecursionlimit(limit)


def test_mlflow_routes_answer_hostile_bodies_with_mlflow_errors(
    team: TeamServer, deep_recursion: None
) -> None:
    admin = team.http(ADMIN)
    routes = [
        (m, p)
        for m, p in every_route(team)
        if m in WRITE_METHODS and p.startswith("/api/2.0/mlflow/")  # not the artifact uploads
    ]
    assert ("POST", "/api/2.0/mlflow/runs/log-batch") in routes
    # bodies no JSON reader takes (MLflow's server reads JSON whatever the declared type,
    # ignores unknown fields and takes a BOM, UTF-16 and NaN, and so does this one)
    unreadable = ("1,100 levels deep", "objects 1,100 levels deep", "truncated", "Latin-1 bytes")
    hostile = {what: NOT_JSON_WE_READ[what] for what in (*unreadable, "a NUL byte")}
    hostile.update(
        (what, WRONG_CONTENT_TYPE[what]) for what in ("CSV", "a pickle", "XML", "a form")
    )
    for method, path in routes:
        for what, (body, content_type) in hostile.items():
            response = admin.request(
                method, _concrete(path), content=body, headers={"content-type": content_type}
            )
            answer = _assert_error(response, (method, path, what))
            assert answer.get("error_code"), (method, path, what, answer)  # MLflow's shape
    _assert_still_serving(team)


def test_mlflow_fields_with_hostile_values_are_invalid_parameter_value(team: TeamServer) -> None:
    admin = team.http(ADMIN)
    created = admin.post("/api/2.0/mlflow/experiments/create", json={"name": "hostile"}).json()
    run = admin.post(
        "/api/2.0/mlflow/runs/create", json={"experiment_id": created["experiment_id"]}
    ).json()["run"]["info"]["run_id"]
    huge = "7" * 400
    deep = '{"a":' * 1100 + "1" + "}" * 1100
    attacks = {
        "experiments/create": [f'{{"name": {huge}}}', f'{{"name": {deep}}}'],
        "runs/log-metric": [
            f'{{"run_id": "{run}", "key": "k", "value": {huge}, "timestamp": 1}}',
            f'{{"run_id": "{run}", "key": "k", "value": 1, "timestamp": 1, "step": {huge}}}',
            f'{{"run_id": "{run}", "key": "k", "value": 1, "timestamp": {huge}}}',
            f'{{"run_id": "{run}", "key": {deep}, "value": 1, "timestamp": 1}}',
        ],
        "runs/log-batch": [
            f'{{"run_id": "{run}", "metrics": [{{"key": "k", "value": {huge}, "timestamp": 1}}]}}',
            f'{{"run_id": "{run}", "params": [{{"key": "k", "value": {huge}}}]}}',
            f'{{"run_id": "{run}", "tags": {deep}}}',
        ],
        "runs/search": [f'{{"max_results": {huge}}}', f'{{"experiment_ids": {deep}}}'],
    }
    for route, bodies in attacks.items():
        for body in bodies:
            response = admin.post(
                f"/api/2.0/mlflow/{route}", content=body, headers={"content-type": JSON}
            )
            answer = _assert_error(response, (route, body[:80]))
            assert answer["error_code"] in (
                "INVALID_PARAMETER_VALUE",
                "BAD_REQUEST",
                "RESOURCE_DOES_NOT_EXIST",
            ), (route, body[:80], answer)
    points = admin.get(
        "/api/2.0/mlflow/metrics/get-history", params={"run_id": run, "metric_key": "k"}
    ).json()
    assert points.get("metrics", []) == []  # nothing half-written
    _assert_still_serving(team)
