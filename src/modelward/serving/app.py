"""The model server's ASGI app: routes, middleware and error handlers, put together.

A plain Starlette app (no per-request dependency solving on the hot path):
the endpoints are module-level functions in `endpoints.py`, bound here to the
`Serving` they depend on; /openapi.json is written from the model's signature.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route
from starlette.types import Lifespan

from modelward.serving import endpoints
from modelward.serving.endpoints import Serving
from modelward.serving.errors import EXCEPTION_HANDLERS, ErrorBoundary
from modelward.serving.limits import BodyLimit

DEFAULT_MAX_BODY_BYTES = 5 * 1024 * 1024

_ROUTES: tuple[tuple[str, Callable[..., Any], str], ...] = (
    ("/predict", endpoints.predict, "POST"),
    ("/invocations", endpoints.invocations, "POST"),
    ("/feedback", endpoints.feedback, "POST"),
    ("/health", endpoints.health, "GET"),
    ("/ping", endpoints.health, "GET"),
    ("/version", endpoints.version, "GET"),
    ("/ready", endpoints.ready, "GET"),
    ("/metrics", endpoints.metrics, "GET"),
    ("/openapi.json", endpoints.openapi, "GET"),
    ("/docs", endpoints.docs, "GET"),
)


def routes(serving: Serving) -> list[Route]:
    """Every route of the model server, its endpoint bound to `serving`."""
    return [
        Route(path, partial(endpoint, serving), methods=[method])
        for path, endpoint, method in _ROUTES
    ]


def create_app(
    serving: Serving,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    lifespan: Lifespan[Starlette] | None = None,
) -> Starlette:
    """The ASGI app answering for `serving.holder` (see PRODUCT.md for the routes).

    `lifespan` starts and stops the background work (alias follower, prediction
    log writer, monitor); without one, the caller runs them, or nothing does.
    """
    serving.metrics.show_model(serving.holder.current.version)
    app = Starlette(
        routes=routes(serving),
        middleware=[Middleware(ErrorBoundary), Middleware(BodyLimit, max_bytes=max_body_bytes)],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.state.serving = serving
    return app
