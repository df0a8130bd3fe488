"""The body limit of the team server, except for routes that stream and cap uploads."""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Receive, Scope, Send

from modelward.serving.limits import BodyLimit

# PUT routes that stream their body to disk under their own, larger, limit
UPLOAD_PATHS: list[re.Pattern[str]] = [
    re.compile(r"/api/v1/artifacts/[0-9a-f]{64}"),
    re.compile(r"/api/2\.0/.*"),  # the MLflow API limits its bodies itself, in MLflow's shape
]


class UploadAwareBodyLimit:
    """`BodyLimit` for every request but the streamed uploads of `UPLOAD_PATHS`."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.limited = BodyLimit(app, max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("PUT", "POST"):
            path: str = scope["path"]
            if any(pattern.fullmatch(path) for pattern in UPLOAD_PATHS):
                await self.app(scope, receive, send)
                return
        await self.limited(scope, receive, send)
