"""The model server's one error path: a status table, one body writer, one boundary.

Every error a request meets, wherever it is raised (an endpoint, a middleware,
the router), is answered by `error_response`:

    {"error": {"type": "...", "message": "...", "field": "..." | null}}

A modelward error gets the status and type of its class in `HTTP_ERRORS`; a
routing error (404, 405) its own status; anything else is a bug, answered 500
with the request id and logged with its traceback under that id.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelward.errors import (
    AccessDenied,
    AlreadyExists,
    Conflict,
    DoesNotFit,
    Forbidden,
    GateFailed,
    IntegrityError,
    InvalidInput,
    ModelwardError,
    NotFound,
    TooLarge,
    Unauthorized,
    Unavailable,
    UnsupportedMediaType,
)
from modelward.serving.request_id import request_id_of

log = logging.getLogger("modelward.serving")

# status and "type" of the body, for every error class (a test keeps it complete)
HTTP_ERRORS: dict[type[ModelwardError], tuple[int, str]] = {
    ModelwardError: (500, "internal_error"),
    InvalidInput: (400, "malformed_request"),
    NotFound: (404, "not_found"),
    AlreadyExists: (409, "already_exists"),
    DoesNotFit: (422, "invalid_input"),
    TooLarge: (413, "too_large"),
    UnsupportedMediaType: (415, "unsupported_media_type"),
    Conflict: (409, "conflict"),
    GateFailed: (409, "gate_failed"),
    IntegrityError: (500, "integrity_error"),
    AccessDenied: (403, "access_denied"),
    Unauthorized: (401, "unauthorized"),
    Forbidden: (403, "forbidden"),
    Unavailable: (503, "unavailable"),
}
_ROUTING_TYPES = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}


def http_error(exc: ModelwardError) -> tuple[int, str]:
    """Status and type of a modelward error: its class's, or its nearest parent's."""
    return next(HTTP_ERRORS[c] for c in type(exc).__mro__ if c in HTTP_ERRORS)


def http_status(exc: BaseException) -> int:
    """The status an exception is answered with."""
    if isinstance(exc, ModelwardError):
        return http_error(exc)[0]
    if isinstance(exc, HTTPException):
        return exc.status_code
    return 500


def error_body(exc: BaseException, *, request_id: str | None = None) -> dict[str, Any]:
    """The JSON error body for any exception (the only place that writes one)."""
    field: str | None = None
    if isinstance(exc, ModelwardError):
        kind, message, field = http_error(exc)[1], exc.message, exc.field
    elif isinstance(exc, HTTPException):
        kind = _ROUTING_TYPES.get(exc.status_code, "http_error")
        message = str(exc.detail)
    else:  # a bug: say nothing of its insides, point at the log
        kind = "internal_error"
        message = "the server failed to answer this request; its log has the details"
        if request_id:
            message += f" under request id {request_id}"
    return {"error": {"type": kind, "message": message, "field": field}}


def error_response(exc: BaseException, *, request_id: str | None = None) -> Response:
    """The HTTP answer to an exception: status, JSON body, and the headers it calls for."""
    headers: dict[str, str] = {}
    if request_id:
        headers["x-request-id"] = request_id
    if isinstance(exc, HTTPException) and exc.headers:
        headers.update(exc.headers)  # 405's Allow
    if isinstance(exc, TooLarge):
        headers["connection"] = "close"  # the rest of the body is not read
    # stdlib json: it escapes what orjson refuses (a lone surrogate a client sent)
    content = json.dumps(error_body(exc, request_id=request_id), separators=(",", ":")).encode()
    return Response(
        content, status_code=http_status(exc), media_type="application/json", headers=headers
    )


async def handle_error(request: Request, exc: Exception) -> Response:
    """Starlette exception handler (routing errors, errors an endpoint let through)."""
    return error_response(exc, request_id=request_id_of(request.scope))


# for Starlette(exception_handlers=...): routing errors and errors an endpoint let through
EXCEPTION_HANDLERS = {HTTPException: handle_error, ModelwardError: handle_error}


class ErrorBoundary:
    """The outermost middleware: whatever is raised below becomes `error_response`.

    Unexpected exceptions are logged with their traceback and the request id
    the answer names; nothing reaches the framework's plain-text 500.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        status: Callable[[Exception], int] = http_status,
        answer: Callable[[Exception, Scope, str], Response] | None = None,
    ) -> None:
        self.app = app
        self.status = status  # which errors are the server's own (logged): >= 500
        self.answer = answer or (lambda exc, _scope, rid: error_response(exc, request_id=rid))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            request_id = request_id_of(scope)
            if self.status(exc) >= 500:
                log.error(
                    "request %s to %s failed: %s: %s",
                    request_id,
                    scope.get("path", "?"),
                    type(exc).__name__,
                    exc,
                    exc_info=exc,
                )
            if started:  # too late for an answer: let the server drop the connection
                raise
            await self.answer(exc, scope, request_id)(scope, receive, send)
