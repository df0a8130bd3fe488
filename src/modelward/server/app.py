"""The team server's ASGI app: /health, /api/v1 (modelward's REST API), behind auth.

    app = create_app(workspace)          # a local workspace: the server owns the store

Layers, outermost first: the error boundary (anything unexpected is a logged JSON
500), `TokenAuth` (401/403 before any route runs), the body limit (uploads have
their own, streamed limit), then the routes. `/api/v1` is a FastAPI app whose
OpenAPI document is at /api/v1/openapi.json and a readable page of it at
/api/v1/docs; later parts (the MLflow-compatible API, the dashboard) mount beside it.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import Lifespan

from modelward.server.auth import TokenAuth
from modelward.server.tokens import TokenRepository
from modelward.serving.errors import EXCEPTION_HANDLERS, ErrorBoundary
from modelward.store.workspace import Workspace
from modelward.version import __version__

# uploads (datasets, artifacts) stream past this through their own limit
DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024


def api_routers() -> list[Any]:
    """The routers of /api/v1, in the order their paths are matched."""
    from modelward.server.api import (
        artifacts,
        datasets,
        evaluations,
        leases,
        models,
        monitoring,
        pipelines,
        runs,
        tokens,
    )

    return [
        tokens.router,
        artifacts.router,
        datasets.router,
        runs.router,
        evaluations.router,
        models.router,
        leases.router,
        monitoring.router,
        pipelines.router,
    ]


async def health(_request: Request) -> JSONResponse:
    """Alive (the only route that needs no token)."""
    return JSONResponse({"status": "ok", "version": __version__})


def create_app(
    workspace: Workspace,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    lifespan: Lifespan[Starlette] | None = None,
) -> Starlette:
    """The team server over a local workspace."""
    from modelward.server.api.base import create_api
    from modelward.server.dashboard.app import create_dashboard
    from modelward.server.dashboard.sessions import SessionRepository
    from modelward.server.limits import UploadAwareBodyLimit
    from modelward.server.mlflow.app import mlflow_mount

    tokens = TokenRepository(workspace.db)
    sessions = SessionRepository(workspace.db, tokens)
    api = create_api(workspace, api_routers())
    api.state.tokens = tokens
    routes: list[BaseRoute] = [
        Route("/health", health, methods=["GET", "HEAD"]),
        Mount("/api/v1", app=api),
        mlflow_mount(workspace, max_body_bytes=max_body_bytes),
        Mount("/", app=create_dashboard(workspace, sessions)),
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(ErrorBoundary),
            Middleware(TokenAuth, tokens=tokens, sessions=sessions),
            Middleware(UploadAwareBodyLimit, max_bytes=max_body_bytes),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.state.workspace = workspace
    app.state.tokens = tokens
    return app
