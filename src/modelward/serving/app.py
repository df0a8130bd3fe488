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
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from modelward.errors import InvalidInput
from modelward.monitoring.metrics import ServerMetrics
from modelward.monitoring.predictions import (
    PredictionLogRepository,
    PredictionLogWriter,
    PredictionRecord,
)
from modelward.serving.holder import ModelHolder
from modelward.serving.limits import BodyLimit
from modelward.serving.openapi import predict_openapi
from modelward.serving.validation import (
    RequestError,
    array_from_columns,
    columns_from_payload,
    frame_from_columns,
    malformed,
    unfit,
)

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
DEFAULT_MAX_BODY_BYTES = 5 * 1024 * 1024
DEFAULT_MAX_ROWS = 100_000


def create_app(
    holder: ModelHolder,
    *,
    prediction_log: PredictionLogWriter | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_rows: int = DEFAULT_MAX_ROWS,
) -> FastAPI:
    """Build the ASGI app for a ModelHolder (see PRODUCT.md for the routes).

    With a `prediction_log`, every answered request (or a sample) is queued for
    the log before its answer is sent, so an answered request is never lost.
    """
    version = holder.current.version
    app = FastAPI(
        title=f"modelward: {version.name}",
        version=str(version.version),
        description=f"Predictions from {holder.ref} (a {version.class_name}).",
    )
    metrics = ServerMetrics.get()
    metrics.show_model(version)
    feedback_store = PredictionLogRepository(holder.registry.workspace.db)
    app.state.holder = holder
    app.state.prediction_log = prediction_log
    app.state.metrics = metrics
    inputs = version.signature["inputs"]
    openapi = predict_openapi(inputs)

    async def predict(request: Request) -> Response:
        started = time.perf_counter()
        request_id = request.headers.get("x-request-id", "")
        if not _REQUEST_ID.fullmatch(request_id):
            request_id = uuid.uuid4().hex
        loaded = holder.current  # read once: one version answers the whole request
        served = loaded.version
        table: dict[str, list[Any]] | None = None
        try:
            body = await request.body()
            try:
                payload = json.loads(body)
            except (ValueError, UnicodeDecodeError) as exc:
                raise malformed(f"the body is not valid JSON: {exc}") from None
            table = columns_from_payload(payload, served.signature["inputs"], max_rows=max_rows)
            if loaded.numeric_only:
                predictions = _predict_array(loaded, array_from_columns(table, loaded.input_names))
            else:
                predictions = _predict(
                    loaded, frame_from_columns(table, served.signature["inputs"])
                )
        except RequestError as exc:
            _log(request_id, served, started, exc.http_status, table, None, exc.message)
            metrics.observe(request.url.path, exc.http_status, started)
            return JSONResponse(
                exc.to_dict(), status_code=exc.http_status, headers={"x-request-id": request_id}
            )
        answer = {
            "predictions": predictions,
            "model": {"name": served.name, "version": served.version},
            "request_id": request_id,
        }
        metrics.show_model(served)
        metrics.observe_predictions(served, predictions)
        _log(request_id, served, started, 200, table, predictions, None)
        metrics.observe(request.url.path, 200, started)
        return Response(
            json.dumps(answer),
            media_type="application/json",
            headers={"x-request-id": request_id},
        )

    def _log(
        request_id: str,
        served: Any,
        started: float,
        status: int,
        table: dict[str, list[Any]] | None,
        outputs: list[Any] | None,
        error: str | None,
    ) -> None:
        if prediction_log is None:
            return
        prediction_log.record(
            PredictionRecord(
                request_id=request_id,
                model_name=served.name,
                model_version=served.version,
                created_ms=int(time.time() * 1000),
                status=status,
                latency_ms=(time.perf_counter() - started) * 1000.0,
                n_rows=len(outputs) if outputs is not None else 0,
                inputs=table,
                outputs=outputs,
                error=error,
            )
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

    @app.post("/feedback", summary="The true label of an answered request", openapi_extra=FEEDBACK)
    async def feedback(request: Request) -> JSONResponse:
        started = time.perf_counter()
        try:
            request_id, label = _feedback_body(await request.body())
            known = await run_in_threadpool(_store_feedback, request_id, label)
        except RequestError as exc:
            metrics.observe("/feedback", exc.http_status, started)
            return JSONResponse(exc.to_dict(), status_code=exc.http_status)
        if not known:
            metrics.observe("/feedback", 404, started)
            error = f"unknown request_id {request_id!r}: no logged prediction has it"
            return JSONResponse(
                {"error": {"type": "not_found", "message": error, "field": "request_id"}},
                status_code=404,
            )
        metrics.feedback.inc()
        metrics.observe("/feedback", 200, started)
        return JSONResponse({"request_id": request_id, "accepted": True})

    def _store_feedback(request_id: str, label: Any) -> bool:
        # The prediction may still be queued here, or in another worker's queue:
        # write ours, then give the other workers one flush interval.
        try:
            if feedback_store.add_feedback(request_id, label):
                return True
            if prediction_log is not None:
                prediction_log.flush()
                if feedback_store.add_feedback(request_id, label):
                    return True
                time.sleep(min(2.0, prediction_log.flush_interval * 2))
            return feedback_store.add_feedback(request_id, label)
        except InvalidInput as exc:
            raise unfit(str(exc), "label") from None

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
        body, content_type = metrics.exposition()
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


FEEDBACK = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "request_id": {"type": "string", "minLength": 1, "maxLength": 128},
                        "label": {
                            "oneOf": [
                                {"type": ["number", "string", "boolean"]},
                                {"type": "array", "minItems": 1},
                            ]
                        },
                    },
                    "required": ["request_id", "label"],
                    "additionalProperties": False,
                }
            }
        },
    }
}


def _feedback_body(body: bytes) -> tuple[str, Any]:
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise malformed(f"the body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict) or "request_id" not in payload or "label" not in payload:
        raise malformed("the body must be a JSON object with 'request_id' and 'label'")
    request_id, label = payload["request_id"], payload["label"]
    if not isinstance(request_id, str) or not _REQUEST_ID.fullmatch(request_id):
        raise malformed("'request_id' must be the id a prediction answer gave", "request_id")
    labels = label if isinstance(label, list) else [label]
    if not labels or any(
        not isinstance(v, int | float | str | bool) or (isinstance(v, float) and v != v)
        for v in labels
    ):
        raise unfit("'label' must be a value (or a list, one per row) of numbers or words", "label")
    return request_id, label


def _predict(loaded: Any, frame: Any) -> list[Any]:
    """Transform, check for values the model cannot take, predict; 422 on misfit."""
    try:
        features = loaded.features(frame)
    except InvalidInput as exc:
        raise unfit(str(exc)) from None
    if not loaded.allows_nan:
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


def _predict_array(loaded: Any, X: Any) -> list[Any]:
    """The fast path: numbers in signature order, no transform, no DataFrame."""
    import numpy as np

    if not loaded.allows_nan:
        missing = np.isnan(X).any(axis=0)
        if missing.any():
            name = loaded.input_names[int(np.argmax(missing))]
            raise unfit(
                f"missing value in column {name!r}: this model cannot take missing values", name
            )
    try:
        predictions = loaded.predict_array(X)
    except (ValueError, TypeError) as exc:
        raise unfit(
            f"the model cannot predict for this input: {' '.join(str(exc).split())[:300]}"
        ) from None
    return list(predictions.tolist())
