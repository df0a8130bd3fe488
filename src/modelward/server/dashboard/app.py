"""The dashboard's routes, put together: sign-in, pages, static files, error pages.

Mounted by `server.app.create_app` at `/`, behind the same `TokenAuth` as the API
(a browser is signed in by its session cookie). Each page calls the server's own
repositories on its local workspace, like the /api/v1 routes do.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from modelward.errors import AccessDenied, InvalidInput, ModelwardError, NotFound, Unauthorized
from modelward.registry.entities import ModelVersion
from modelward.registry.repository import ModelRepository
from modelward.server.auth import SESSION_COOKIE
from modelward.server.dashboard import (
    datasets_pages,
    models_pages,
    monitoring_pages,
    pipelines_pages,
    runs_pages,
)
from modelward.server.dashboard.forms import (
    LOGIN_CSRF_COOKIE,
    check_csrf,
    check_login_csrf,
    new_login_secret,
    read_form,
)
from modelward.server.dashboard.rendering import render
from modelward.server.dashboard.sessions import Session, SessionRepository
from modelward.serving.errors import http_status
from modelward.store.workspace import Workspace

STATIC = Path(__file__).parent / "static"
log = logging.getLogger("modelward.server")


def _safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this site only (no open redirect)."""
    if not target:
        return "/runs"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/runs"
    if "\\" in target or any(ord(ch) < 32 for ch in target):
        return "/runs"
    return target


def _cookie_flags(request: Request) -> dict[str, object]:
    return {
        "httponly": True,
        "samesite": "strict",
        "secure": request.url.scheme == "https",
        "path": "/",
    }


async def login_form(request: Request, *, error: str | None = None, status: int = 200) -> Response:
    """/login: paste a token once."""
    secret = new_login_secret()
    response = render(
        request,
        "login.html",
        status=status,
        error=error,
        login_csrf=secret,
        next=_safe_next(request.query_params.get("next")),
    )
    response.set_cookie(LOGIN_CSRF_COOKIE, secret, max_age=3600, **_cookie_flags(request))  # type: ignore[arg-type]
    return response


async def login(request: Request) -> Response:
    """POST /login: a valid token opens a session; a wrong one shows the form again."""
    form = await read_form(request)
    check_login_csrf(request, form)
    sessions: SessionRepository = request.app.state.sessions
    try:
        cookie, session = sessions.open(form.get("token", "").strip())
    except Unauthorized as exc:
        return await login_form(request, error=exc.message, status=401)
    return _signed_in(request, _safe_next(form.get("next")), cookie, session)


async def login_once_form(request: Request, *, error: str | None = None) -> Response:
    """/login/once/CODE: a one-time sign-in link asks for one click before it is spent."""
    sessions: SessionRepository = request.app.state.sessions
    try:
        holder = sessions.login_code_holder(request.path_params["code"])
    except Unauthorized as exc:
        return await login_form(request, error=exc.message, status=401)
    secret = new_login_secret()
    response = render(request, "login_once.html", holder=holder, error=error, login_csrf=secret)
    response.set_cookie(LOGIN_CSRF_COOKIE, secret, max_age=3600, **_cookie_flags(request))  # type: ignore[arg-type]
    return response


async def login_once(request: Request) -> Response:
    """POST /login/once/CODE: spend the code, open a session, go to the runs."""
    form = await read_form(request)
    check_login_csrf(request, form)
    sessions: SessionRepository = request.app.state.sessions
    try:
        cookie, session = sessions.redeem_login_code(request.path_params["code"])
    except Unauthorized as exc:
        return await login_form(request, error=exc.message, status=401)
    return _signed_in(request, "/", cookie, session)


def _signed_in(request: Request, target: str, cookie: str, session: Session) -> Response:
    response = RedirectResponse(target, status_code=303)
    seconds = int((session.expires_at - datetime.now(UTC)).total_seconds())
    response.set_cookie(SESSION_COOKIE, cookie, max_age=max(seconds, 1), **_cookie_flags(request))  # type: ignore[arg-type]
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
    return response


async def logout(request: Request) -> Response:
    """POST /logout: the session ends on the server, the cookie is dropped."""
    form = await read_form(request)
    check_csrf(request, form)
    sessions: SessionRepository = request.app.state.sessions
    sessions.close(request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


async def home(_request: Request) -> Response:
    """/ is the runs page."""
    return RedirectResponse("/runs", status_code=303)


async def artifact(request: Request) -> Response:
    """A run's artifact, streamed from the store after its digest is checked."""
    from starlette.responses import FileResponse

    from modelward.tracking.repository import RunRepository

    workspace: Workspace = request.app.state.workspace
    run = RunRepository(workspace.db).get(request.path_params["run_id"])
    wanted = request.path_params["path"]
    found = next((a for a in run.artifacts if a.path == wanted), None)
    if found is None:
        raise NotFound(f"run {run.id[:8]} has no artifact {wanted!r}")
    path = workspace.owned_artifacts.verify(found.digest)
    name = Path(found.path).name
    return FileResponse(
        path,
        filename=name,
        media_type="application/octet-stream",
        headers={"x-content-type-options": "nosniff", "content-security-policy": "sandbox"},
    )


async def error_page(request: Request, exc: Exception) -> Response:
    """Every error of a page as a page: 404 for unknown things, never a traceback."""
    status = http_status(exc) if isinstance(exc, ModelwardError | HTTPException) else 500
    if status >= 500:
        log.error("dashboard page %s failed", request.url.path, exc_info=exc)
    if isinstance(exc, HTTPException):
        message = str(exc.detail)
    elif isinstance(exc, ModelwardError):
        message = exc.message
    else:
        message = "the server failed to show this page; its log has the details"
    headings = {400: "Bad request", 403: "Not allowed", 404: "Not found", 415: "Unsupported"}
    return render(
        request,
        "error.html",
        status=status,
        code=status,
        heading=headings.get(status, "Error"),
        message=message,
    )


class RefuseNul:
    """A NUL character in a page's path or query is a 400 page (no database takes it)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (
            "\x00" in scope["path"] or b"%00" in scope.get("query_string", b"")
        ):
            request = Request(scope, receive)
            response = await error_page(
                request, InvalidInput("a NUL character (%00) in the address: no name holds one")
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def create_dashboard(workspace: Workspace, sessions: SessionRepository) -> Starlette:
    """The dashboard app over the server's workspace."""
    models = ModelRepository(workspace.db)

    def models_of_run(run_id: str) -> list[ModelVersion]:
        return models.versions_of_run(run_id)

    app = Starlette(
        routes=[
            Route("/", home),
            Route("/login", login_form, methods=["GET"]),
            Route("/login", login, methods=["POST"]),
            Route("/login/once/{code}", login_once_form, methods=["GET"]),
            Route("/login/once/{code}", login_once, methods=["POST"]),
            Route("/logout", logout, methods=["POST"]),
            Route("/runs", runs_pages.runs_page),
            Route("/runs/{run_id}", runs_pages.run_page),
            Route("/runs/{run_id}/artifacts/{path:path}", artifact),
            Route("/compare", runs_pages.compare_page),
            Route("/datasets", datasets_pages.datasets_page),
            Route("/datasets/diff", datasets_pages.diff_page),
            Route("/datasets/{name}", datasets_pages.dataset_page),
            Route("/datasets/{name}/{version}", datasets_pages.version_page),
            Route("/models", models_pages.models_page),
            Route("/models/{name}", models_pages.model_page),
            Route("/models/{name}/aliases/{alias}", models_pages.move_alias, methods=["POST"]),
            Route("/monitoring", monitoring_pages.monitoring_page),
            Route("/monitoring/{name}", monitoring_pages.model_monitoring_page),
            Route("/pipelines", pipelines_pages.pipelines_page),
            Route("/pipelines/{run_id}", pipelines_pages.pipeline_run_page),
            Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
        ],
        exception_handlers={
            HTTPException: error_page,
            ModelwardError: error_page,
            InvalidInput: error_page,
            AccessDenied: error_page,
            Exception: error_page,
        },
        middleware=[Middleware(RefuseNul)],
    )
    app.state.workspace = workspace
    app.state.sessions = sessions
    app.state.models_of_run = models_of_run
    return app
