"""Authentication and roles for every route of the team server, failing closed.

`TokenAuth` wraps the whole app: every request but `GET /health` must carry a
valid token (`Authorization: Bearer <token>`), else 401. The role a route needs
is decided here, from the method, so a route nobody thought about is protected
all the same:

- GET, HEAD, OPTIONS, and the POSTs listed in `READ_POSTS` (searches): reader;
- DELETE: admin;
- any other method: writer.

Handlers ask for more where the contract says so (`require(request, ADMIN)`:
token management, protected aliases). Inside the request, `current_user()` is the
token's name, so every record a request makes names the token that made it.

Dashboard pages (every path outside /api/ and /health) also accept the session
cookie a browser got by pasting its token once at /login; without one, a page is a
redirect to /login. Their forms carry the session's CSRF secret, checked by the
form's handler (`server.dashboard.forms`).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from modelward.errors import AccessDenied, Forbidden, ModelwardError, Unauthorized
from modelward.identity import acting_as
from modelward.server.tokens import ADMIN, READER, WRITER, Principal, TokenRepository

if TYPE_CHECKING:
    from modelward.server.dashboard.sessions import SessionRepository

OPEN_PATHS = frozenset({"/health"})
API_PREFIX = "/api/"
# dashboard paths a signed-out browser may reach (login itself, the style sheet)
DASHBOARD_OPEN = frozenset({"/login", "/favicon.ico"})
DASHBOARD_OPEN_PREFIXES = ("/static/", "/login/once/")
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# POST routes that only read (search bodies are too rich for a query string)
READ_POSTS: set[str] = {
    "/api/v1/runs/search",
    "/logout",
    "/api/2.0/mlflow/runs/search",
    "/api/2.0/mlflow/experiments/search",
    "/api/2.0/mlflow/registered-models/get-latest-versions",
    "/api/2.0/mlflow/logged-models/search",
}
MLFLOW_PREFIX = "/api/2.0/"
_MLFLOW_CODES = {401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED"}


def required_role(method: str, path: str) -> str:
    """The least role that may send `method` to `path` (before any handler's own check)."""
    if method in _READ_METHODS or (method == "POST" and path in READ_POSTS):
        return READER
    if method == "DELETE":
        return ADMIN
    return WRITER


def principal_of(request: Request) -> Principal:
    """The principal the auth middleware attached to this request."""
    principal = request.scope.get("state", {}).get("principal")
    if not isinstance(principal, Principal):  # only reachable if a route escaped TokenAuth
        raise Unauthorized("this request carries no authenticated token")
    return principal


def require(request: Request, role: str, *, why: str = "") -> Principal:
    """The request's principal, if its role covers `role`; else Forbidden."""
    principal = principal_of(request)
    if not principal.allows(role):
        what = f" to {why}" if why else ""
        raise Forbidden(
            f"the token {principal.name!r} is a {principal.role}; an {role} token is needed{what}"
            if role == ADMIN
            else f"the token {principal.name!r} is a {principal.role}; "
            f"a {role} token is needed{what}"
        )
    return principal


def bearer_token(scope: Scope) -> str | None:
    """The token of `Authorization: Bearer ...` (None when absent or another scheme)."""
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            text: str = value.decode("latin-1")
            scheme, _, token = text.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            return None
    return None


class TokenAuth:
    """The ASGI middleware that authenticates every request and checks its method's role."""

    def __init__(
        self, app: ASGIApp, tokens: TokenRepository, sessions: SessionRepository | None = None
    ) -> None:
        self.app = app
        self.tokens = tokens
        self.sessions = sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        method: str = scope["method"]
        if path in OPEN_PATHS and method in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        page = not path.startswith(API_PREFIX)
        if page and (path in DASHBOARD_OPEN or path.startswith(DASHBOARD_OPEN_PREFIXES)):
            await self.app(scope, receive, send)
            return
        try:
            token = bearer_token(scope)
            if page and token is None and self.sessions is not None:
                session = self.sessions.authenticate(_cookie(scope, SESSION_COOKIE))
                scope.setdefault("state", {})["session"] = session
                principal = session.principal
            else:
                principal = self.tokens.authenticate(token)
            needed = required_role(method, path)
            if not principal.allows(needed):
                raise Forbidden(
                    f"the token {principal.name!r} is a {principal.role}; "
                    f"{method} {path} needs a {needed} token"
                )
        except AccessDenied as exc:
            if page and isinstance(exc, Unauthorized) and method in ("GET", "HEAD"):
                await _to_login(scope, send)
                return
            await _deny(scope, send, exc)
            return
        scope.setdefault("state", {})["principal"] = principal
        with acting_as(principal.name):
            await self.app(scope, receive, send)


SESSION_COOKIE = "mw_session"


def _cookie(scope: Scope, name: str) -> str | None:
    for header, value in scope.get("headers", []):
        if header == b"cookie":
            text: str = value.decode("latin-1")
            for part in text.split(";"):
                key, _, found = part.strip().partition("=")
                if key == name:
                    return found
    return None


async def _to_login(scope: Scope, send: Send) -> None:
    """A signed-out browser asking for a page goes to /login, and comes back after."""
    target = scope["path"] + (
        f"?{scope['query_string'].decode('latin-1')}" if scope.get("query_string") else ""
    )
    location = "/login?next=" + quote(target, safe="")
    await send(
        {
            "type": "http.response.start",
            "status": 303,
            "headers": [(b"location", location.encode("latin-1")), (b"cache-control", b"no-store")],
        }
    )
    await send({"type": "http.response.body", "body": b""})


async def _deny(scope: Scope, send: Send, exc: ModelwardError) -> None:
    status = 401 if isinstance(exc, Unauthorized) else 403
    body: dict[str, Any]
    if scope["path"].startswith(MLFLOW_PREFIX):
        body = {"error_code": _MLFLOW_CODES[status], "message": exc.message}
    else:
        kind = "unauthorized" if status == 401 else "forbidden"
        body = {"error": {"type": kind, "message": exc.message, "field": None}}
    headers = [(b"content-type", b"application/json")]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="modelward"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})
