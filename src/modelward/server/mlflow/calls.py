"""How an MLflow endpoint is called: its fields read once, its work done off the event loop.

    def get_run(call: Call) -> dict[str, Any]:       # plain, synchronous, testable
        ...
    Route("/mlflow/runs/get", endpoint(get_run), methods=["GET"])

`endpoint` reads the fields (a GET's query string, else the JSON body), runs the
handler in the thread pool (the database calls block; the acting token's name goes
with it) and answers its dict as JSON. Errors propagate to the sub-app's boundary,
which answers them in MLflow's shape.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from modelward.server.mlflow.fields import Fields, parse_body, query_fields
from modelward.store.workspace import Workspace


@dataclass(frozen=True)
class Call:
    """One request to an MLflow endpoint, as its handler sees it."""

    request: Request
    fields: Fields
    size: int  # bytes of the body (MLflow bounds log-batch requests by it)

    @property
    def workspace(self) -> Workspace:
        """The server's own (local) workspace."""
        workspace: Workspace = self.request.app.state.workspace
        return workspace


Handler = Callable[[Call], dict[str, Any]]


class JsonResponse(Response):
    """A JSON answer written by orjson."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """The Starlette endpoint that calls `handler` with the request's fields."""

    async def run(request: Request) -> Response:
        size = 0
        if request.method in ("GET", "DELETE") and request.query_params:
            data = query_fields(request.query_params.multi_items())
        else:
            body = await request.body()
            size = len(body)
            data = parse_body(body)
        call = Call(request=request, fields=Fields(data), size=size)
        return JsonResponse(await run_in_threadpool(handler, call))

    run.__name__ = handler.__name__
    run.__doc__ = handler.__doc__
    return run
