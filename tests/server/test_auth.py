"""Tokens and roles on every route of the team server (PRODUCT.md, "Team server")."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from starlette.routing import BaseRoute, Mount, Route

from modelward.errors import AlreadyExists, InvalidInput, NotFound, Unauthorized
from modelward.server.auth import READ_POSTS, required_role
from modelward.server.tokens import TokenRepository, hash_secret, parse_expiry
from modelward.store.tables import api_tokens
from tests.server.support import ADMIN, READER, WRITER, TeamServer

READ_METHODS = {"GET", "HEAD", "OPTIONS"}


def _routes(routes: list[BaseRoute], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(method, path) of every route of the app, mounted sub-apps included."""
    for route in routes:
        included = getattr(route, "original_router", None)  # FastAPI's include_router
        if included is not None:
            extra = getattr(getattr(route, "include_context", None), "prefix", "")
            yield from _routes(list(included.routes), prefix + extra)
        elif isinstance(route, Mount):
            inner = getattr(route.app, "routes", None) or getattr(route, "routes", [])
            yield from _routes(list(inner), prefix + str(route.path))
        elif isinstance(route, Route):
            for method in sorted(getattr(route, "methods", None) or {"GET"}):
                yield method, prefix + str(route.path)


def _concrete(path: str) -> str:
    """A path template with every parameter filled in."""
    path = re.sub(r"\{[^}]*digest[^}]*\}", "a" * 64, path)
    path = re.sub(r"\{[^}]+:path\}", "a/b.txt", path)
    return re.sub(r"\{[^}]+\}", "x", path)


def every_route(team: TeamServer) -> list[tuple[str, str]]:
    found = sorted(set(_routes(list(team.app.routes))))
    assert len(found) > 5, found  # the walk saw the mounted API, not just /health
    return found


def test_every_route_but_health_refuses_a_request_without_a_token(team: TeamServer) -> None:
    anonymous = team.http(None)
    anonymous.follow_redirects = False
    for method, path in every_route(team):
        response = anonymous.request(method, _concrete(path))
        if path in ("/health", "/login") or path.startswith("/static"):
            assert response.status_code != 401, (method, path)  # open: health, sign-in, CSS
            continue
        if path.startswith("/login/once/"):  # open, but a made-up code signs nobody in
            assert 400 <= response.status_code < 500, (method, path)
            assert "mw_session" not in response.headers.get("set-cookie", ""), (method, path)
            if method == "GET":
                assert "used already or has expired" in response.text
            continue
        if not path.startswith("/api/") and method in ("GET", "HEAD"):
            # a dashboard page: a browser is sent to sign in, and comes back after
            assert response.status_code == 303, (method, path, response.text)
            assert response.headers["location"].startswith("/login?next=%2F")
            continue
        assert response.status_code == 401, (method, path, response.text)
        if method != "HEAD":
            assert response.json() != {}, (method, path)


def test_a_reader_cannot_write_anywhere_and_a_writer_cannot_delete(team: TeamServer) -> None:
    reader, writer = team.http(READER), team.http(WRITER)
    for method, path in every_route(team):
        url = _concrete(path)
        if method in READ_METHODS or path in READ_POSTS or path.startswith("/login"):
            continue
        response = reader.request(method, url, json={})
        assert response.status_code == 403, (method, path, response.text)
        body = response.json()  # modelward's shape, or MLflow's on /api/2.0
        assert "reader" in (body["error"]["message"] if "error" in body else body["message"])
        if method == "DELETE":
            assert writer.request(method, url).status_code == 403, (method, path)


def test_role_by_method_fails_closed() -> None:
    assert required_role("GET", "/api/v1/anything") == READER
    assert required_role("POST", "/api/v1/anything") == WRITER
    assert required_role("PATCH", "/api/v1/anything") == WRITER
    assert required_role("DELETE", "/api/v1/anything") == ADMIN
    assert required_role("POST", "/api/v1/runs/search") == READER


@pytest.mark.parametrize(
    "header",
    [
        b"Bearer mw_not-a-real-token",
        b"Bearer ",
        b"Basic YWRtaW46YWRtaW4=",
        b"mw_x",
        b"Bearer \xc3\xa9",
    ],
)
def test_a_wrong_token_is_401_json_naming_the_problem(team: TeamServer, header: bytes) -> None:
    response = team.http(None).get("/api/v1/whoami", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["error"]["type"] == "unauthorized"
    assert "token" in response.json()["error"]["message"]


def test_whoami_names_the_token_and_its_role(team: TeamServer) -> None:
    for role in (READER, WRITER, ADMIN):
        assert team.http(role).get("/api/v1/whoami").json() == {"name": role, "role": role}


def test_tokens_are_stored_only_as_hashes(team: TeamServer) -> None:
    with team.workspace.db.read() as conn:
        stored = {row.name: row.secret_sha256 for row in conn.execute(sa.select(api_tokens))}
    for role, secret in team.secrets.items():
        assert stored[role] == hash_secret(secret)
        assert secret not in stored.values()


def test_an_admin_creates_lists_and_revokes_tokens_over_http(team: TeamServer) -> None:
    admin = team.http(ADMIN)
    created = admin.post("/api/v1/tokens", json={"name": "ci", "role": "writer", "expires": "1h"})
    assert created.status_code == 201, created.text
    secret = created.json()["token"]
    listed = admin.get("/api/v1/tokens").json()["tokens"]
    assert [t["name"] for t in listed] == ["reader", "writer", "admin", "ci"]
    assert all("token" not in t and "secret_sha256" not in t for t in listed)
    as_ci = team.http(None)
    as_ci.headers["Authorization"] = f"Bearer {secret}"
    assert as_ci.get("/api/v1/whoami").json() == {"name": "ci", "role": "writer"}

    assert (
        team.http(WRITER).post("/api/v1/tokens", json={"name": "x", "role": "admin"}).status_code
        == 403
    )
    assert team.http(WRITER).get("/api/v1/tokens").status_code == 403
    assert admin.delete("/api/v1/tokens/ci").json()["state"] == "revoked"
    response = as_ci.get("/api/v1/whoami")
    assert response.status_code == 401
    assert "revoked" in response.json()["error"]["message"]


def test_token_creation_refuses_bad_input(team: TeamServer) -> None:
    admin = team.http(ADMIN)
    for body in (
        {"name": "ci", "role": "root"},
        {"name": "[/red]", "role": "reader"},
        {"name": "ci", "role": "reader", "expires": "forever"},
        {"name": "ci", "role": "reader", "extra": 1},
        {"role": "reader"},
    ):
        response = admin.post("/api/v1/tokens", json=body)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["error"]["message"]
    assert (
        admin.post("/api/v1/tokens", json={"name": "reader", "role": "reader"}).status_code == 409
    )
    assert admin.delete("/api/v1/tokens/nobody").status_code == 404


def test_expired_and_revoked_tokens_are_refused(team: TeamServer) -> None:
    tokens = TokenRepository(team.workspace.db)
    _info, secret = tokens.create("short", READER, expires="1m")
    assert tokens.authenticate(secret).name == "short"
    with team.workspace.db.write() as conn:
        conn.execute(
            api_tokens.update()
            .where(api_tokens.c.name == "short")
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    fresh = TokenRepository(team.workspace.db)  # no cache: what another worker sees
    with pytest.raises(Unauthorized, match="expired"):
        fresh.authenticate(secret)
    fresh.revoke("reader")
    with pytest.raises(Unauthorized, match="revoked"):
        fresh.authenticate(team.secrets[READER])
    with pytest.raises(AlreadyExists):
        fresh.create("short", ADMIN)
    with pytest.raises(NotFound):
        fresh.revoke("nobody")


def test_expiry_parsing() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_expiry("30d", now=now) == now + timedelta(days=30)
    assert parse_expiry("90m", now=now) == now + timedelta(minutes=90)
    assert parse_expiry("2w", now=now) == now + timedelta(weeks=2)
    for bad in ("0d", "30", "d", "-1d", "99999w", "1y"):
        with pytest.raises(InvalidInput):
            parse_expiry(bad, now=now)


def test_records_made_through_the_server_name_the_token(team: TeamServer) -> None:
    # the acting name reaches handlers that run in the thread pool
    created = team.http(ADMIN).post("/api/v1/tokens", json={"name": "made", "role": "reader"})
    assert created.json()["created_by"] == "admin"
