"""The MLflow API's body limit: every body but an artifact upload (streamed under its own cap).

The team server's own limit skips /api/2.0 (`server.limits.UPLOAD_PATHS`), so that a
body over the limit is refused here, inside the MLflow error boundary, in MLflow's shape.
"""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Receive, Scope, Send

from modelward.serving.limits import BodyLimit

UPLOAD_PATH = re.compile(r"/api/2\.0/mlflow-artifacts/artifacts/.+")


class BodyLimitExceptUploads:
    """`BodyLimit` for every request but the PUTs of artifact uploads."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.limited = BodyLimit(app, max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        uploading = scope["type"] == "http" and scope["method"] == "PUT"
        if uploading and UPLOAD_PATH.fullmatch(scope["path"]):
            await self.app(scope, receive, send)
            return
        await self.limited(scope, receive, send)
