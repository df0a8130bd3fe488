"""MLflow's error shape on its routes: one table from modelward's errors, one body writer.

    {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "..."}

Handlers raise modelward's own errors (NotFound, InvalidInput, ...); `MLFLOW_CODES`
names the MLflow code of each class and `STATUS_OF` the HTTP status MLflow answers
that code with (`mlflow/exceptions.py::ERROR_CODE_TO_HTTP_STATUS`), so the MLflow
client raises the `MlflowException` it would raise against MLflow's own server.
"""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Scope

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
from modelward.serving.errors import ErrorBoundary
from modelward.serving.request_id import request_id_of

INVALID_PARAMETER_VALUE = "INVALID_PARAMETER_VALUE"
RESOURCE_DOES_NOT_EXIST = "RESOURCE_DOES_NOT_EXIST"
RESOURCE_ALREADY_EXISTS = "RESOURCE_ALREADY_EXISTS"
ENDPOINT_NOT_FOUND = "ENDPOINT_NOT_FOUND"
INTERNAL_ERROR = "INTERNAL_ERROR"

# the MLflow code of every modelward error class (a test keeps it complete)
MLFLOW_CODES: dict[type[ModelwardError], str] = {
    ModelwardError: INTERNAL_ERROR,
    InvalidInput: INVALID_PARAMETER_VALUE,
    NotFound: RESOURCE_DOES_NOT_EXIST,
    AlreadyExists: RESOURCE_ALREADY_EXISTS,
    DoesNotFit: INVALID_PARAMETER_VALUE,
    TooLarge: INVALID_PARAMETER_VALUE,  # as MLflow answers an oversize log-batch
    UnsupportedMediaType: INVALID_PARAMETER_VALUE,
    Conflict: "RESOURCE_CONFLICT",
    GateFailed: "RESOURCE_CONFLICT",
    IntegrityError: "DATA_LOSS",
    AccessDenied: "PERMISSION_DENIED",
    Unauthorized: "UNAUTHENTICATED",
    Forbidden: "PERMISSION_DENIED",
    Unavailable: "TEMPORARILY_UNAVAILABLE",
}

# MLflow's HTTP status for each code it answers with
STATUS_OF: dict[str, int] = {
    INTERNAL_ERROR: 500,
    "DATA_LOSS": 500,
    "TEMPORARILY_UNAVAILABLE": 503,
    "RESOURCE_CONFLICT": 409,
    ENDPOINT_NOT_FOUND: 404,
    RESOURCE_DOES_NOT_EXIST: 404,
    "PERMISSION_DENIED": 403,
    "UNAUTHENTICATED": 401,
    "BAD_REQUEST": 400,
    RESOURCE_ALREADY_EXISTS: 400,
    INVALID_PARAMETER_VALUE: 400,
}


def mlflow_code(exc: BaseException) -> tuple[str, int]:
    """The MLflow error code and HTTP status an exception is answered with."""
    if isinstance(exc, ModelwardError):
        code = next(MLFLOW_CODES[c] for c in type(exc).__mro__ if c in MLFLOW_CODES)
        return code, STATUS_OF[code]
    if isinstance(exc, HTTPException):
        if exc.status_code in (404, 405):
            return ENDPOINT_NOT_FOUND, exc.status_code
        return "BAD_REQUEST", exc.status_code
    return INTERNAL_ERROR, 500


def error_response(
    exc: BaseException, *, request_id: str | None = None, path: str = ""
) -> Response:
    """MLflow's JSON error answer to an exception (the only place that writes one here)."""
    code, status = mlflow_code(exc)
    if isinstance(exc, ModelwardError):
        message = exc.message
    elif isinstance(exc, HTTPException):
        message = (
            f"no MLflow endpoint {path or 'here'} on this server (modelward implements "
            "experiments, runs, metrics, artifacts, registered models, versions and aliases)"
            if code == ENDPOINT_NOT_FOUND
            else str(exc.detail)
        )
    else:  # a bug: say nothing of its insides, point at the log
        message = "the server failed to answer this request; its log has the details"
        if request_id:
            message += f" under request id {request_id}"
    headers = {"x-request-id": request_id} if request_id else {}
    if isinstance(exc, HTTPException) and exc.headers:
        headers.update(exc.headers)
    if isinstance(exc, TooLarge):
        headers["connection"] = "close"  # the rest of the body is not read
    body = json.dumps({"error_code": code, "message": message}, separators=(",", ":"))
    return Response(body, status_code=status, media_type="application/json", headers=headers)


async def handle_error(request: Request, exc: Exception) -> Response:
    """Starlette exception handler of the MLflow sub-app (routing errors among them)."""
    return error_response(exc, request_id=request_id_of(request.scope), path=request.url.path)


class MlflowErrorBoundary(ErrorBoundary):
    """Whatever is raised below (a body limit, a handler, a bug) becomes MLflow's shape."""

    def __init__(self, app: ASGIApp) -> None:
        super().__init__(app, status=lambda exc: mlflow_code(exc)[1], answer=_mlflow_answer)


def _mlflow_answer(exc: Exception, scope: Scope, request_id: str) -> Response:
    return error_response(exc, request_id=request_id, path=scope.get("path", ""))
