"""The model server's endpoints, with their dependencies passed in (`Serving`).

Each endpoint is `async def endpoint(serving, request) -> Response`, but for the
prediction routes (`PredictRoute`, a plain ASGI app on the hot path); `app.py`
binds `serving` and routes to them. Errors are answered by the one error path
(`serving.errors`); a request that reaches the model is counted on /metrics
and queued for the prediction log, answered or not.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Message, Receive, Scope, Send

from modelward.errors import DoesNotFit, InvalidInput, ModelwardError, NotFound, TooLarge
from modelward.monitoring.metrics import ServerMetrics
from modelward.monitoring.ports import PredictionLog, prediction_log_store
from modelward.monitoring.predictions import PredictionRecord
from modelward.monitoring.writer import PredictionLogWriter
from modelward.registry.entities import ModelVersion
from modelward.serving.batching import DEFAULT_BATCH_ROWS, Batcher
from modelward.serving.bodies import CSV, JSON, media_type, parse_json
from modelward.serving.docs_page import docs_response, render
from modelward.serving.errors import error_response, http_status
from modelward.serving.feedback import read_feedback
from modelward.serving.holder import ModelHolder
from modelward.serving.limits import body_limit_message
from modelward.serving.openapi import openapi_document
from modelward.serving.predicting import Predictions, model_input, prepare
from modelward.serving.request_id import request_id_of, set_request_id
from modelward.serving.validation import columns_from_csv
from modelward.version import __version__

log = logging.getLogger("modelward.serving")

DEFAULT_MAX_ROWS = 100_000
PREDICT_TYPES = (JSON,)
INVOCATION_TYPES = (JSON, CSV)  # MLflow's scoring protocol


@dataclass(frozen=True)
class Serving:
    """What the endpoints depend on, built by the composition root (or a test)."""

    holder: ModelHolder
    metrics: ServerMetrics
    feedback: PredictionLog
    prediction_log: PredictionLogWriter | None = None
    max_rows: int = DEFAULT_MAX_ROWS
    batcher: Batcher = field(default_factory=Batcher)

    @classmethod
    def of(
        cls,
        holder: ModelHolder,
        *,
        prediction_log: PredictionLogWriter | None = None,
        max_rows: int = DEFAULT_MAX_ROWS,
        batch_rows: int = DEFAULT_BATCH_ROWS,
    ) -> Serving:
        """The usual wiring: this process's metrics, the prediction log of the holder's
        store; `batch_rows` rows of concurrent requests at most per model call."""
        return cls(
            holder=holder,
            metrics=ServerMetrics.get(),
            feedback=prediction_log_store(holder.registry.workspace),
            prediction_log=prediction_log,
            max_rows=max_rows,
            batcher=Batcher(batch_rows),
        )


class PredictRoute:
    """POST /predict and /invocations as a plain ASGI app: the hot path.

    The app calls it directly, before Starlette's middleware and router: it reads
    the body under the size limit itself, answers every error through the one error
    path, and logs an unexpected exception with the request id, as `ErrorBoundary`
    does for the other routes.
    """

    def __init__(
        self, serving: Serving, route: str, accepted: tuple[str, ...], max_body_bytes: int
    ) -> None:
        self.serving = serving
        self.route = route
        self.accepted = accepted
        self.max_body_bytes = max_body_bytes
        self._media_types: dict[str | None, str] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        sent = False

        async def tracking_send(message: Message) -> None:
            nonlocal sent
            sent = True
            await send(message)

        try:
            await self._answer(scope, receive, tracking_send)
        except Exception as exc:  # a bug: a JSON 500 naming the request id, and the log
            request_id = request_id_of(scope)
            log.error(
                "request %s to %s failed: %s: %s",
                request_id,
                self.route,
                type(exc).__name__,
                exc,
                exc_info=exc,
            )
            if sent:
                raise
            await error_response(exc, request_id=request_id)(scope, receive, send)

    async def _answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        serving = self.serving
        content_type = declared = given_id = None
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value.decode("latin-1")
            elif name == b"content-length":
                declared = value
            elif name == b"x-request-id":
                given_id = value
        request_id = set_request_id(scope, given_id)
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            # refused before reading, like the body limit of every other route
            too_large = TooLarge(body_limit_message(int(declared), self.max_body_bytes))
            await error_response(too_large, request_id=request_id)(scope, receive, send)
            return
        prepared = prepare(serving.holder.current)  # read once: one version answers
        served = prepared.loaded.version
        table: dict[str, list[Any]] | None = None
        rows = None
        try:
            kind = self._media_type(content_type)
            content = await self._body(receive)
            if content is None:
                return  # the client went away
            if kind == CSV:
                table = columns_from_csv(content, prepared.reader.inputs, max_rows=serving.max_rows)
            else:
                payload = parse_json(content, non_finite=True)
                table, rows = prepared.reader.read(payload, max_rows=serving.max_rows)
            given = model_input(prepared.loaded, table, rows)
            predictions = given.answered
            if predictions is None:  # a matrix for the model: stacked with concurrent ones
                values = await serving.batcher.predict(prepared.loaded, given.matrix)
                predictions = Predictions(values, given.unseen, given.unseen_rows)
        except ModelwardError as exc:
            status = http_status(exc)
            _log(serving, request_id, served, started, status, table, None, exc.message)
            serving.metrics.observe(self.route, status, started)
            await error_response(exc, request_id=request_id)(scope, receive, send)
            return
        answer: dict[str, Any] = {
            "predictions": predictions.values,
            "model": {"name": served.name, "version": served.version},
            "request_id": request_id,
        }
        if predictions.unseen:
            answer["warnings"] = [warning.to_dict() for warning in predictions.unseen]
            for column, count in predictions.unseen_rows.items():
                serving.metrics.observe_unseen(served, column, count)
        _log(serving, request_id, served, started, 200, table, predictions.values, None)
        serving.metrics.observe_answer(self.route, served, predictions.values, started)
        body = orjson.dumps(answer)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"x-request-id", request_id.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _media_type(self, header: str | None) -> str:
        # Clients send the same few Content-Type values: each is read once.
        known = self._media_types.get(header)
        if known is None:
            known = media_type(header, self.accepted)  # raises for a refused type
            if len(self._media_types) < 64:
                self._media_types[header] = known
        return known

    async def _body(self, receive: Receive) -> bytes | None:
        message = await receive()
        if message["type"] != "http.request":
            return None
        body: bytes = message.get("body", b"")
        if not message.get("more_body", False) and len(body) <= self.max_body_bytes:
            return body  # the usual case: the whole body in one message
        chunks = [body]
        size = len(body)
        while True:
            if size > self.max_body_bytes:
                raise TooLarge(body_limit_message(size, self.max_body_bytes))
            if not message.get("more_body", False):
                return b"".join(chunks)
            message = await receive()
            if message["type"] != "http.request":
                return None
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)


def _log(
    serving: Serving,
    request_id: str,
    served: ModelVersion,
    started: float,
    status: int,
    table: dict[str, list[Any]] | None,
    outputs: list[Any] | None,
    error: str | None,
) -> None:
    if serving.prediction_log is None:
        return
    serving.prediction_log.record(
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


async def feedback(serving: Serving, request: Request) -> Response:
    """POST /feedback: the true label(s) of an answered request, for live quality."""
    started = time.perf_counter()
    try:
        media_type(request.headers.get("content-type"), (JSON,))
        request_id, label = read_feedback(await request.body(), serving.holder.current.version)
        known = await run_in_threadpool(_store_feedback, serving, request_id, label)
        if not known:
            raise NotFound(
                f"unknown request_id {request_id!r}: no logged prediction has it",
                field="request_id",
            )
    except ModelwardError as exc:
        serving.metrics.observe("/feedback", http_status(exc), started)
        return error_response(exc, request_id=request_id_of(request.scope))
    serving.metrics.feedback.inc()
    serving.metrics.observe("/feedback", 200, started)
    return JSONResponse({"request_id": request_id, "accepted": True})


def _store_feedback(serving: Serving, request_id: str, label: Any) -> bool:
    # The prediction may still be queued here, or in another worker's queue:
    # write ours, then give the other workers one flush interval.
    store, log = serving.feedback, serving.prediction_log
    model = serving.holder.current.version.name
    try:
        if store.add_feedback(request_id, label, model_name=model):
            return True
        if log is not None:
            log.flush()
            if store.add_feedback(request_id, label, model_name=model):
                return True
            time.sleep(min(2.0, log.flush_interval * 2))
        return store.add_feedback(request_id, label, model_name=model)
    except InvalidInput as exc:  # the labels do not match the request's rows
        raise DoesNotFit(str(exc), field="label") from None


async def health(serving: Serving, request: Request) -> Response:
    """GET /health and /ping: alive."""
    return JSONResponse({"status": "ok"})


async def version(serving: Serving, request: Request) -> Response:
    """GET /version: the server's version, as MLflow's scoring server answers it."""
    return Response(__version__, media_type="text/plain")


async def ready(serving: Serving, request: Request) -> Response:
    """GET /ready: the model loaded and verified, and the reference it follows."""
    current = serving.holder.current.version
    return JSONResponse(
        {
            "ready": True,
            "model": {"name": current.name, "version": current.version, "digest": current.digest},
            "reference": serving.holder.ref,
        }
    )


async def metrics(serving: Serving, request: Request) -> Response:
    """GET /metrics: the Prometheus text exposition."""
    body, content_type = serving.metrics.exposition()
    return Response(body, headers={"content-type": content_type})


async def openapi(serving: Serving, request: Request) -> Response:
    """GET /openapi.json: the API of the version served now."""
    return JSONResponse(openapi_document(serving.holder.current.version, serving.holder.ref))


async def docs(serving: Serving, request: Request) -> Response:
    """GET /docs: /openapi.json as a readable page (no script, no CDN)."""
    return docs_response(
        render(openapi_document(serving.holder.current.version, serving.holder.ref))
    )
