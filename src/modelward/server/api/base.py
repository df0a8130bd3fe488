"""What every /api/v1 route module shares: the FastAPI app, its JSON, its errors.

Route modules (`datasets`, `runs`, `models`, `monitoring`, `artifacts`, `tokens`)
each define an `APIRouter` named `router` and call the same services the local
adapters call, on the server's own `Workspace` (`workspace_of(request)`).

- Every route checks its request before the endpoint runs (`requests.py`): a JSON
  body of another content type is a 415, one orjson cannot read (too deep, NaN, a
  number past a double's range) a 400, a NUL character anywhere a 400. An integer
  past 64 bits arrives as a float: bound every integer field (`Int64`, or
  `Field(ge=..., le=...)`), since the database holds 64-bit integers only; a value
  the database refuses all the same is a 400, not a 500.
- Every error is modelward's body (`serving.errors.error_body`): a validation error
  is a 400 naming the field; a ModelwardError has its class's status. The OpenAPI
  document says so (`openapi.describe_errors`), and `/docs` is a page of it.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

import orjson
import sqlalchemy as sa
from fastapi import APIRouter, FastAPI, Request, params
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import Field
from starlette.exceptions import HTTPException

from modelward.errors import InvalidInput, ModelwardError
from modelward.server.api.requests import JSON_MEDIA_TYPE, OrjsonRequest, refuse_nul
from modelward.serving.errors import error_response
from modelward.serving.request_id import request_id_of
from modelward.store.workspace import Workspace
from modelward.version import __version__

# what a database integer column holds: use it for every integer a route takes
Int64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]


def _takes_json(route: APIRoute) -> bool:
    field = route.body_field
    if field is None or isinstance(field.field_info, params.Form):
        return False
    return field.field_info.annotation is not bytes  # raw bodies are the route's own


class OrjsonRoute(APIRoute):
    """An APIRoute that hands its endpoint an `OrjsonRequest`, its JSON body checked."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        takes_json = _takes_json(self)

        async def orjson_handler(request: Request) -> Response:
            checked = OrjsonRequest(request.scope, request.receive)
            refuse_nul(checked)
            if takes_json:
                await checked.json_body()
            return await handler(checked)

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


def validation_error(exc: RequestValidationError) -> InvalidInput:
    """The first problem of a failed validation, naming where it is."""
    first = exc.errors()[0] if exc.errors() else {}
    where, *path = [str(part) for part in first.get("loc", ())] or ["request"]
    field = ".".join(path) or None
    message = str(first.get("msg", "invalid request"))
    if first.get("type") == "json_invalid":
        return InvalidInput(f"the body is not valid JSON: {message}")
    if where == "body" and field is None and first.get("type") == "missing":
        return InvalidInput(
            f"the request has no body: this route takes a JSON object "
            f"(Content-Type: {JSON_MEDIA_TYPE})"
        )
    if where == "body":
        return InvalidInput(f"{field}: {message}" if field else f"the body: {message}", field=field)
    return InvalidInput(f"{where} parameter {field}: {message}", field=field)


def _validation_error(request: Request, exc: RequestValidationError) -> Response:
    return error_response(validation_error(exc), request_id=request_id_of(request.scope))


def _modelward_error(request: Request, exc: Exception) -> Response:
    return error_response(exc, request_id=request_id_of(request.scope))


def _data_error(request: Request, exc: Exception) -> Response:
    # A value the database refused (out of its range, too long, a character it cannot
    # hold) is bad input that got past validation: a 400 naming it, never a 500.
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:200]
    error = InvalidInput(f"the database refused a value of this request: {reason}")
    return error_response(error, request_id=request_id_of(request.scope))


def create_api(workspace: Workspace, routers: list[Any]) -> FastAPI:
    """The /api/v1 application over `workspace`, with every router given."""
    api = FastAPI(
        title="modelward",
        version=__version__,
        summary="The team server's REST API: datasets, runs, models, aliases, monitoring.",
        openapi_url="/openapi.json",
        servers=[{"url": "/api/v1"}],
        docs_url=None,  # served by `serving/docs_page.py` without any CDN
        redoc_url=None,
        default_response_class=OrjsonResponse,
    )
    api.router.route_class = OrjsonRoute
    api.state.workspace = workspace
    api.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    api.add_exception_handler(ModelwardError, _modelward_error)
    api.add_exception_handler(HTTPException, _modelward_error)
    api.add_exception_handler(sa.exc.DataError, _data_error)
    for router in routers:
        api.include_router(router)
    _document_errors(api)
    api.add_api_route("/docs", _docs_page(api), methods=["GET"], include_in_schema=False)
    return api


def _document_errors(api: FastAPI) -> None:
    from modelward.server.api.openapi import describe_errors

    generate = api.openapi  # FastAPI's, which caches what it made in `openapi_schema`

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            api.openapi_schema = describe_errors(generate())
        return api.openapi_schema

    api.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way


def _docs_page(api: FastAPI) -> Callable[[], Response]:
    from modelward.serving.docs_page import docs_response, render

    page: list[str] = []

    def docs() -> Response:
        """A readable page of the OpenAPI document (no script, no CDN)."""
        if not page:
            page.append(render(api.openapi()))
        return docs_response(page[0])

    return docs
