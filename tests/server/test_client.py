"""The client side of the team server: errors come back as the classes the server raised."""

from __future__ import annotations

import socket
import time

import pytest

from modelward.errors import (
    AlreadyExists,
    Forbidden,
    InvalidInput,
    NotFound,
    Unauthorized,
    Unavailable,
)
from modelward.serving.errors import HTTP_ERRORS
from modelward.store.remote import ERROR_TYPES, ServerClient
from tests.server.support import ADMIN, READER, TeamServer


def test_error_types_invert_the_servers_table() -> None:
    assert {kind: cls for cls, (_status, kind) in HTTP_ERRORS.items()} == ERROR_TYPES


def test_the_server_errors_are_raised_as_their_own_classes(team: TeamServer) -> None:
    admin, reader = team.client(ADMIN), team.client(READER)
    assert admin.get("/whoami") == {"name": "admin", "role": "admin"}
    with pytest.raises(NotFound, match="nobody"):
        admin.delete("/tokens/nobody")
    with pytest.raises(AlreadyExists):
        admin.post("/tokens", {"name": "reader", "role": "reader"})
    with pytest.raises(InvalidInput, match="role") as bad:
        admin.post("/tokens", {"name": "x", "role": "root"})
    assert bad.value.field == "role"
    with pytest.raises(Forbidden, match="reader"):
        reader.post("/tokens", {"name": "x", "role": "admin"})
    anonymous = ServerClient("http://testserver", None, http=team.http(None), retry_for=0)
    with pytest.raises(Unauthorized, match="token"):
        anonymous.get("/whoami")


def test_an_unreachable_server_is_unavailable_after_the_retry_window() -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = ServerClient(f"http://127.0.0.1:{port}", "t", retry_for=0.6)
    started = time.monotonic()
    with pytest.raises(Unavailable, match=f"127.0.0.1:{port}.*mw server"):
        client.get("/whoami")
    assert 0.5 <= time.monotonic() - started < 5
    started = time.monotonic()
    with pytest.raises(Unavailable):  # not idempotent: sent once, not retried
        client.post("/tokens", {"name": "x", "role": "reader"})
    assert time.monotonic() - started < 0.5
