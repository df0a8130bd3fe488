"""Pages out of templates: autoescaped, with the headers every page carries."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from modelward.server.dashboard.charts import number

# no inline script or style, nothing from elsewhere, no framing, forms post here only
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
PAGE_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}


@lru_cache(maxsize=1)
def environment() -> Environment:
    """The template environment (autoescape for every template, undefined names fail)."""
    env = Environment(
        loader=PackageLoader("modelward.server.dashboard", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["datetime"] = _utc_time
    env.globals["number"] = number  # one way to show a number on every page
    return env


def _utc_time(seconds: int) -> str:
    """Seconds since the epoch as `YYYY-MM-DD HH:MM:SS UTC`."""
    from datetime import UTC, datetime

    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def render(request: Request, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    """The page `template` with `context`, the signed-in user and the CSRF secret."""
    state = request.scope.get("state", {})
    session = state.get("session")
    principal = state.get("principal")
    html = (
        environment()
        .get_template(template)
        .render(
            principal=principal,
            csrf=session.csrf if session is not None else "",
            path=request.url.path,
            **context,
        )
    )
    return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)
