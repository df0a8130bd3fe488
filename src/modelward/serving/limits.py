"""An ASGI middleware that refuses bodies over a size limit (413), before reading them."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelward.errors import TooLarge


class BodyLimit:
    """Raise TooLarge when Content-Length, or the bytes actually sent, exceed `max_bytes`.

    The error is answered by the error boundary around the app (or by the
    endpoint reading the body), like every other error.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            raise self._too_large(declared)
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise self._too_large(seen)
            return message

        await self.app(scope, limited_receive, send)

    def _too_large(self, size: int) -> TooLarge:
        return TooLarge(body_limit_message(size, self.max_bytes))


def body_limit_message(size: int, max_bytes: int) -> str:
    """What a 413 says."""
    return (
        f"request body of {size:,} bytes or more is over the {max_bytes:,}-byte limit: "
        "split the batch"
    )


def _content_length(scope: Scope) -> int | None:
    headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
    for name, value in headers:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
