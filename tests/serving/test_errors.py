"""The one error path: whatever is raised, and wherever, the answer is the JSON error body."""

from __future__ import annotations

import logging

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from modelward.errors import NotFound
from modelward.serving.app import create_app
from modelward.serving.errors import EXCEPTION_HANDLERS, ErrorBoundary
from modelward.serving.limits import BodyLimit
from tests.serving.support import Served, client, serving_for

pytestmark = pytest.mark.anyio


async def boom(request: Request) -> Response:
    raise RuntimeError("secret internals")


async def missing(request: Request) -> Response:
    raise NotFound("no such thing 'x'", field="name")


async def echo(request: Request) -> Response:
    return JSONResponse({"size": len(await request.body())})


class Raising:
    """A middleware with a bug."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] == "/middleware-bug":
            raise KeyError("middleware internals")
        await self.app(scope, receive, send)


def _app() -> Starlette:
    """A few routes behind the server's boundary, handlers and body limit (as create_app)."""
    return Starlette(
        routes=[
            Route("/boom", boom),
            Route("/missing", missing),
            Route("/echo", echo, methods=["POST"]),
            Route("/middleware-bug", echo),
        ],
        middleware=[
            Middleware(ErrorBoundary),
            Middleware(Raising),
            Middleware(BodyLimit, max_bytes=10),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
    )


async def test_an_unexpected_exception_is_a_json_500_logged_with_its_request_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="modelward.serving")
    async with client(_app()) as http:
        answer = await http.get("/boom", headers={"x-request-id": "req-42"})
    assert answer.status_code == 500
    assert answer.headers["content-type"] == "application/json"
    error = answer.json()["error"]
    assert error["type"] == "internal_error" and error["field"] is None
    assert "req-42" in error["message"] and "secret" not in error["message"]
    assert answer.headers["x-request-id"] == "req-42"
    [record] = [r for r in caplog.records if "req-42" in r.getMessage()]
    assert "/boom" in record.getMessage() and "RuntimeError" in record.getMessage()
    assert record.exc_info is not None  # the traceback is in the log, not in the answer


async def test_a_bug_in_a_middleware_is_a_json_500_too(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="modelward.serving")
    async with client(_app()) as http:
        answer = await http.get("/middleware-bug")
    assert answer.status_code == 500 and answer.json()["error"]["type"] == "internal_error"
    request_id = answer.headers["x-request-id"]
    assert any(request_id in r.getMessage() for r in caplog.records)


async def test_errors_from_endpoints_routing_and_the_body_limit_share_one_body(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="modelward.serving")
    async with client(_app()) as http:
        not_found = await http.get("/missing")
        no_route = await http.get("/nowhere")
        declared = await http.post("/echo", content=b"x" * 11)
        fits = await http.post("/echo", content=b"x" * 10)
    assert not_found.status_code == 404
    assert not_found.json() == {
        "error": {"type": "not_found", "message": "no such thing 'x'", "field": "name"}
    }
    assert no_route.status_code == 404 and no_route.json()["error"]["type"] == "not_found"
    assert declared.status_code == 413 and declared.json()["error"]["type"] == "too_large"
    assert fits.json() == {"size": 10}
    assert not caplog.records  # refusals are not failures of the server


async def test_the_model_server_answers_a_bug_as_json(served: Served) -> None:
    app = create_app(serving_for("bc-clf@1"))
    app.router.routes.append(Route("/boom", boom))
    async with client(app) as http:
        answer = await http.get("/boom")
        after = await http.post(
            "/predict", json={"instances": served.raw.iloc[:1].to_numpy().tolist()}
        )
    assert answer.status_code == 500 and answer.json()["error"]["type"] == "internal_error"
    assert after.status_code == 200
