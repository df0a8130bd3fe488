"""Forms of the dashboard: reading them, and the CSRF secret every one must carry.

A signed-in form carries the session's CSRF secret (`csrf` field); the login form,
before any session exists, carries a secret that must equal its HttpOnly,
SameSite=Strict cookie (double submit). Forms are small URL-encoded bodies, read
here with the standard library (bounded, strict UTF-8).
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import parse_qs

from starlette.requests import Request

from modelward.errors import Forbidden, InvalidInput, TooLarge, UnsupportedMediaType
from modelward.server.dashboard.sessions import Session, csrf_matches

MAX_FORM_BYTES = 64 * 1024
LOGIN_CSRF_COOKIE = "mw_login_csrf"


async def read_form(request: Request) -> dict[str, str]:
    """The fields of a URL-encoded form (the last value of a repeated field wins)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise UnsupportedMediaType(
            "a dashboard form is sent as application/x-www-form-urlencoded, "
            f"not {kind or 'nothing'}"
        )
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise TooLarge(f"a form of more than {MAX_FORM_BYTES:,} bytes")
    try:
        text = body.decode("utf-8")
        fields = parse_qs(text, keep_blank_values=True, strict_parsing=False, errors="strict")
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput(f"the form is not valid UTF-8 URL-encoded text: {exc}") from None
    return {key: values[-1] for key, values in fields.items()}


def session_of(request: Request) -> Session:
    """The session of a signed-in browser request."""
    session = request.scope.get("state", {}).get("session")
    if not isinstance(session, Session):
        raise Forbidden("this form needs a signed-in browser session")
    return session


def check_csrf(request: Request, form: dict[str, str]) -> Session:
    """The session, if the form carries its CSRF secret; Forbidden otherwise."""
    session = session_of(request)
    if not csrf_matches(session, form.get("csrf")):
        raise Forbidden("the form's CSRF token is missing or wrong: reload the page and retry")
    return session


def new_login_secret() -> str:
    """A fresh secret for a login form and its cookie."""
    return secrets.token_urlsafe(24)


def check_login_csrf(request: Request, form: dict[str, str]) -> None:
    """The login form's secret must equal its cookie's."""
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    presented = form.get("csrf", "")
    if not cookie or not presented or not hmac.compare_digest(cookie, presented):
        raise Forbidden("the sign-in form expired or was not sent from this site: reload it")
