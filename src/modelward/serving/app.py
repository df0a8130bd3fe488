"""The model server: an ASGI app answering predictions for one (followed) model reference."""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from modelward.errors import InvalidInput
from modelward.serving.holder import ModelHolder
from modelward.serving.limits import BodyLimit
from modelward.serving.metrics import ServerMetrics
from modelward.serving.openapi import predict_openapi
from modelward.serving.validation import (
    RequestError,
    columns_from_payload,
    frame_from_columns,
    malformed,
    unfit,
)

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
DEFAULT_MAX_BODY_BYTES = 5 * 1024 * 1024
DEFAULT_MAX_ROWS = 100_000


def create_app(
    holder: ModelHolder,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_rows: int = DEFAULT_MAX_ROWS,
) -> FastAPI:
    """Build the ASGI app for a ModelHolder (see PRODUCT.md for the routes)."""
    version = holder.current.version
    app = FastAPI(
        title=f"modelward: {version.name}",
        version=str(version.version),
        description=f"Predictions from {holder.ref} (a {version.class_name}).",
    )
    metrics = ServerMetrics()
    app.state.holder = holder
    app.state.metrics = metrics
    inputs = version.signature["inputs"]
    openapi = predict_openapi(inputs)

    async def predict(request: Request) -> Response:
        started = time.perf_counter()
        request_id = request.headers.get("x-request-id", "")
        if not _REQUEST_ID.match(request_id):
            request_id = uuid.uuid4().hex
        loaded = holder.current  # read once: one version answers the whole request
        try:
            body = await request.body()
            try:
                payload = json.loads(body)
            except (ValueError, UnicodeDecodeError) as exc:
                raise malformed(f"the body is not valid JSON: {exc}") from None
            table = columns_from_payload(
                payload, loaded.version.signature["inputs"], max_rows=max_rows
            )
            frame = frame_from_columns(table, loaded.version.signature["inputs"])
            predictions = _predict(loaded, frame)
        except RequestError as exc:
            metrics.observe(request.url.path, exc.http_status, started)
            return JSONResponse(
                exc.to_dict(), status_code=exc.http_status, headers={"x-request-id": request_id}
            )
        answer = {
            "predictions": predictions,
            "model": {"name": loaded.version.name, "version": loaded.version.version},
            "request_id": request_id,
        }
        metrics.observe(request.url.path, 200, started)
        return Response(
            json.dumps(answer),
            media_type="application/json",
            headers={"x-request-id": request_id},
        )

    for path, summary in (
        ("/predict", "Predict for a batch of rows"),
        ("/invocations", "Predict (MLflow scoring protocol)"),
    ):
        app.add_api_route(
            path,
            predict,
            methods=["POST"],
            summary=summary,
            openapi_extra=openapi,
            response_class=JSONResponse,
        )

    @app.get("/health", summary="Alive")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ping", summary="Alive (MLflow scoring protocol)")
    async def ping() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready", summary="A model is loaded and verified")
    async def ready() -> dict[str, Any]:
        current = holder.current.version
        return {
            "ready": True,
            "model": {"name": current.name, "version": current.version, "digest": current.digest},
            "reference": holder.ref,
        }

    @app.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def prometheus() -> Response:
        body, content_type = metrics.exposition(holder.current.version)
        return Response(body, media_type=content_type)

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException) -> JSONResponse:
        kind = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(
            {"error": {"type": kind, "message": str(exc.detail), "field": None}},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            {"error": {"type": "malformed_request", "message": str(exc), "field": None}},
            status_code=400,
        )

    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    return app


def _predict(loaded: Any, frame: Any) -> list[Any]:
    """Transform, check for values the model cannot take, predict; 422 on misfit."""
    try:
        features = loaded.features(frame)
    except InvalidInput as exc:
        raise unfit(str(exc)) from None
    if not _allows_nan(loaded.model):
        missing = features.columns[features.isna().to_numpy().any(axis=0)]
        if len(missing):
            raise unfit(
                f"missing value in column {missing[0]!r}: this model cannot take missing values",
                str(missing[0]),
            )
    try:
        predictions = loaded.model.predict(features)
    except (ValueError, TypeError) as exc:
        raise unfit(
            f"the model cannot predict for this input: {' '.join(str(exc).split())[:300]}"
        ) from None
    return list(predictions.tolist())


def _allows_nan(model: Any) -> bool:
    try:
        from sklearn.utils import get_tags

        return bool(get_tags(model).input_tags.allow_nan)
    except Exception:  # not a scikit-learn estimator, or an older scikit-learn
        return False
