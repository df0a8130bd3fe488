"""What every /api/v1 route module shares: the FastAPI app, its JSON, its errors.

Route modules (`datasets`, `runs`, `models`, `monitoring`, `artifacts`, `tokens`)
each define an `APIRouter` named `router` and call the same services the local
adapters call, on the server's own `Workspace` (`workspace_of(request)`).

- Bodies are parsed with orjson (`OrjsonRoute`): nesting past 1,024 levels, integers
  past 64 bits and `NaN`/`Infinity` are malformed input (400), never a 500.
- Every error is modelward's body (`serving.errors.error_body`): a validation error
  is a 400 naming the field; a ModelwardError has its class's status.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from modelward.errors import InvalidInput, ModelwardError
from modelward.serving.errors import error_response
from modelward.serving.request_id import request_id_of
from modelward.store.workspace import Workspace
from modelward.version import __version__


class OrjsonRequest(Request):
    """A request whose JSON body is parsed by orjson (bounded depth, no huge ints)."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                raise InvalidInput(f"the body is not valid JSON: {exc}") from None
        return self._json


class OrjsonRoute(APIRoute):
    """An APIRoute that hands its endpoint an `OrjsonRequest`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def orjson_handler(request: Request) -> Response:
            return await handler(OrjsonRequest(request.scope, request.receive))

        return orjson_handler


class OrjsonResponse(JSONResponse):
    """JSON answers written by orjson (datetimes, numpy scalars, non-string keys)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)


def new_router(**kwargs: Any) -> APIRouter:
    """An APIRouter whose routes parse JSON with orjson (use it for every /api/v1 module)."""
    return APIRouter(route_class=OrjsonRoute, **kwargs)


def workspace_of(request: Request) -> Workspace:
    """The server's own (local) workspace."""
    workspace: Workspace = request.app.state.workspace
    return workspace


def _validation_error(request: Request, exc: RequestValidationError) -> Response:
    first = exc.errors()[0] if exc.errors() else {}
    location = [str(part) for part in first.get("loc", ()) if part != "body"]
    field = ".".join(location) or None
    message = str(first.get("msg", "invalid request"))
    if first.get("type") == "json_invalid":
        error = InvalidInput(f"the body is not valid JSON: {message}")
    else:
        error = InvalidInput(f"{field or 'request'}: {message}", field=field)
    return error_response(error, request_id=request_id_of(request.scope))


def _modelward_error(request: Request, exc: Exception) -> Response:
    return error_response(exc, request_id=request_id_of(request.scope))


def create_api(workspace: Workspace, routers: list[Any]) -> FastAPI:
    """The /api/v1 application over `workspace`, with every router given."""
    api = FastAPI(
        title="modelward",
        version=__version__,
        summary="The team server's REST API: datasets, runs, models, aliases, monitoring.",
        openapi_url="/openapi.json",
        servers=[{"url": "/api/v1"}],
        docs_url=None,  # served by `docs.py` without any CDN
        redoc_url=None,
        default_response_class=OrjsonResponse,
    )
    api.router.route_class = OrjsonRoute
    api.state.workspace = workspace
    api.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    api.add_exception_handler(ModelwardError, _modelward_error)
    api.add_exception_handler(HTTPException, _modelward_error)
    for router in routers:
        api.include_router(router)
    return api
