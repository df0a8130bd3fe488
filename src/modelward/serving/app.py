"""The model server's ASGI app: routes, middleware and error handlers, put together.

A Starlette app whose prediction routes skip Starlette: `ModelServer.__call__` hands
POST /predict and /invocations straight to their `PredictRoute` (a plain ASGI app
that reads, limits and answers the request itself), and everything else to the
router, behind the error boundary and the body limit. The endpoints are
module-level functions in `endpoints.py`, bound here to the `Serving` they depend
on; /openapi.json is written from the model's signature.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route
from starlette.types import Lifespan, Receive, Scope, Send

from modelward.serving import endpoints
from modelward.serving.endpoints import INVOCATION_TYPES, PREDICT_TYPES, PredictRoute, Serving
from modelward.serving.errors import EXCEPTION_HANDLERS, ErrorBoundary
from modelward.serving.limits import BodyLimit

DEFAULT_MAX_BODY_BYTES = 5 * 1024 * 1024

_PREDICT_ROUTES = (("/predict", PREDICT_TYPES), ("/invocations", INVOCATION_TYPES))
_ROUTES: tuple[tuple[str, Callable[..., Any], str], ...] = (
    ("/feedback", endpoints.feedback, "POST"),
    ("/health", endpoints.health, "GET"),
    ("/ping", endpoints.health, "GET"),
    ("/version", endpoints.version, "GET"),
    ("/ready", endpoints.ready, "GET"),
    ("/metrics", endpoints.metrics, "GET"),
    ("/openapi.json", endpoints.openapi, "GET"),
    ("/docs", endpoints.docs, "GET"),
)


class ModelServer(Starlette):
    """The Starlette app, with the prediction routes answered before its middleware."""

    def __init__(self, predict_routes: dict[str, PredictRoute], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.predict_routes = predict_routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            route = self.predict_routes.get(scope["path"])
            if route is not None:
                scope["app"] = self
                await route(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def predict_routes(serving: Serving, max_body_bytes: int) -> dict[str, PredictRoute]:
    """POST /predict and /invocations, by path."""
    return {
        path: PredictRoute(serving, path, accepted, max_body_bytes)
        for path, accepted in _PREDICT_ROUTES
    }


def routes(serving: Serving, predicting: dict[str, PredictRoute]) -> list[Route]:
    """Every route of the model server, its endpoint bound to `serving`."""
    found = [Route(path, route, methods=["POST"]) for path, route in predicting.items()]
    return found + [
        Route(path, partial(endpoint, serving), methods=[method])
        for path, endpoint, method in _ROUTES
    ]


def create_app(
    serving: Serving,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    lifespan: Lifespan[Starlette] | None = None,
) -> ModelServer:
    """The ASGI app answering for `serving.holder` (see PRODUCT.md for the routes).

    `lifespan` starts and stops the background work (alias follower, prediction
    log writer, monitor); without one, the caller runs them, or nothing does.
    """
    serving.metrics.show_model(serving.holder.current.version)
    predicting = predict_routes(serving, max_body_bytes)
    app = ModelServer(
        predicting,
        routes=routes(serving, predicting),
        middleware=[Middleware(ErrorBoundary), Middleware(BodyLimit, max_bytes=max_body_bytes)],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.state.serving = serving
    return app
