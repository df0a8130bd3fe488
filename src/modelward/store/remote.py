"""The team server seen from a client: JSON calls, streamed transfers, errors mapped back.

Every remote adapter (datasets, runs, registry, monitoring, artifacts) talks to
`mw server` through one `ServerClient`:

    client = ServerClient("http://127.0.0.1:5000", token)
    client.get("/runs/0f3a...")                      # GET /api/v1/runs/0f3a...
    client.post("/runs/0f3a.../batches", {...}, idempotent=True)

- The token goes in `Authorization: Bearer`, on every request.
- A 4xx/5xx answer with modelward's error body raises the same `ModelwardError`
  subclass the server raised (`ERROR_TYPES` inverts the server's table), so a
  command run against a server fails exactly as it fails locally.
- Idempotent calls (GET/PUT/DELETE, and POSTs the caller marks idempotent because
  they carry their own id) are retried with backoff while the server is briefly
  unreachable or answers 502/503/504; after `retry_for` seconds, `Unavailable`.
- Uploads stream from a file and downloads stream into one, hashed as they go;
  neither holds a whole file in memory.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from modelward.errors import (
    AccessDenied,
    AlreadyExists,
    Conflict,
    DoesNotFit,
    Forbidden,
    GateFailed,
    IntegrityError,
    InvalidInput,
    ModelwardError,
    NotFound,
    TooLarge,
    Unauthorized,
    Unavailable,
    UnsupportedMediaType,
)

if TYPE_CHECKING:
    import httpx

API_PREFIX = "/api/v1"
CHUNK = 1 << 20
DIGEST_HEADER = "x-content-sha256"

# the "type" of the server's error body -> the error raised here (a test checks
# that this inverts modelward.serving.errors.HTTP_ERRORS)
ERROR_TYPES: dict[str, type[ModelwardError]] = {
    "internal_error": ModelwardError,
    "malformed_request": InvalidInput,
    "not_found": NotFound,
    "already_exists": AlreadyExists,
    "invalid_input": DoesNotFit,
    "too_large": TooLarge,
    "unsupported_media_type": UnsupportedMediaType,
    "conflict": Conflict,
    "gate_failed": GateFailed,
    "integrity_error": IntegrityError,
    "access_denied": AccessDenied,
    "unauthorized": Unauthorized,
    "forbidden": Forbidden,
    "unavailable": Unavailable,
}
_BY_STATUS: dict[int, type[ModelwardError]] = {
    400: InvalidInput,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: TooLarge,
    415: UnsupportedMediaType,
    422: DoesNotFit,
    503: Unavailable,
}
_RETRY_STATUSES = frozenset({502, 503, 504})
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


class ServerClient:
    """One team server, as a client sees it (thread-safe: httpx.Client is)."""

    def __init__(
        self,
        uri: str,
        token: str | None,
        *,
        http: httpx.Client | None = None,
        timeout: float = 60.0,
        retry_for: float = 30.0,
    ) -> None:
        import httpx

        self.uri = uri.rstrip("/")
        self.retry_for = retry_for
        headers = {"User-Agent": "modelward-client"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.has_token = bool(token)
        if http is None:
            http = httpx.Client(timeout=httpx.Timeout(timeout, connect=10.0), headers=headers)
        else:
            http.headers.update(headers)
        self.http = http

    def url(self, path: str) -> str:
        """The absolute URL of an API path (`/runs/x` -> `{uri}/api/v1/runs/x`)."""
        return f"{self.uri}{API_PREFIX}{path}"

    # -- JSON calls --------------------------------------------------------------
    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET an API path; the decoded JSON answer."""
        return self.call("GET", path, params=params)

    def post(self, path: str, body: Any = None, *, idempotent: bool = False) -> Any:
        """POST JSON; `idempotent` when the body carries its own id (safe to resend)."""
        return self.call("POST", path, body=body, idempotent=idempotent)

    def put(self, path: str, body: Any = None) -> Any:
        """PUT JSON (idempotent by definition)."""
        return self.call("PUT", path, body=body)

    def head(self, path: str) -> Mapping[str, str] | None:
        """HEAD an API path: the answer's headers, or None when it does not exist."""
        try:
            response = self._send("HEAD", path, None, None, {}, retry=True)
        except NotFound:
            return None
        return response.headers

    def delete(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """DELETE an API path."""
        return self.call("DELETE", path, params=params)

    def call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, Any] | None = None,
        idempotent: bool | None = None,
    ) -> Any:
        """One JSON request, retried when idempotent; raises what the server raised."""
        import orjson

        content = None if body is None else orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)
        headers = {"Content-Type": "application/json"} if content is not None else {}
        retry = method in _IDEMPOTENT_METHODS if idempotent is None else idempotent
        response = self._send(method, path, params, content, headers, retry=retry)
        if not response.content:
            return None
        return orjson.loads(response.content)

    # -- streamed transfers -----------------------------------------------------
    def upload(
        self,
        path: str,
        source: Path | bytes,
        *,
        digest: str,
        params: Mapping[str, Any] | None = None,
        content_type: str = "application/octet-stream",
    ) -> Any:
        """PUT/POST the bytes of a file (streamed) or of `bytes`, declaring their sha256.

        The server recomputes the digest as the bytes arrive and refuses a mismatch,
        so a connection that drops mid-upload stores nothing. Retried: the digest
        makes the upload idempotent.
        """
        import orjson

        size = len(source) if isinstance(source, bytes) else source.stat().st_size
        headers = {
            "Content-Type": content_type,
            "Content-Length": str(size),
            DIGEST_HEADER: digest,
        }

        def body() -> Iterator[bytes]:
            if isinstance(source, bytes):
                for start in range(0, len(source), CHUNK):
                    yield source[start : start + CHUNK]
                return
            with source.open("rb") as handle:
                while chunk := handle.read(CHUNK):
                    yield chunk

        response = self._send("PUT", path, params, body, headers, retry=True)
        return orjson.loads(response.content) if response.content else None

    def download(self, path: str, out: IO[bytes], *, digest: str | None = None) -> tuple[str, int]:
        """Stream a GET into `out`; (sha256, size) of what arrived, checked against `digest`.

        A mismatch raises IntegrityError; the caller discards what was written.
        """
        import httpx

        deadline = time.monotonic() + self.retry_for
        delay = 0.1
        while True:
            try:
                with self.http.stream("GET", self.url(path)) as response:
                    if response.status_code >= 400:
                        response.read()
                        if response.status_code in _RETRY_STATUSES and time.monotonic() < deadline:
                            raise _Retry
                        raise error_from_response(response)
                    hasher = hashlib.sha256()
                    size = 0
                    out.seek(0)
                    out.truncate()
                    for chunk in response.iter_bytes(CHUNK):
                        hasher.update(chunk)
                        out.write(chunk)
                        size += len(chunk)
                    break
            except (httpx.TransportError, _Retry) as exc:
                if time.monotonic() >= deadline:
                    raise self._unreachable(exc) from None
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
        found = hasher.hexdigest()
        if digest is not None and found != digest:
            raise IntegrityError(
                f"downloaded bytes of {path} hash to {found[:12]}..., not {digest[:12]}...: "
                "the transfer was corrupted; nothing was kept"
            )
        return found, size

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()

    # -- plumbing ---------------------------------------------------------------
    def _send(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        content: Any,
        headers: Mapping[str, str],
        *,
        retry: bool,
    ) -> httpx.Response:
        import httpx

        deadline = time.monotonic() + self.retry_for
        delay = 0.1
        while True:
            try:
                response = self.http.request(
                    method,
                    self.url(path),
                    params=dict(params) if params else None,
                    content=content() if callable(content) else content,
                    headers=dict(headers),
                )
            except httpx.TransportError as exc:
                if not retry or time.monotonic() >= deadline:
                    raise self._unreachable(exc) from None
            else:
                if response.status_code < 400:
                    return response
                if not (
                    retry
                    and response.status_code in _RETRY_STATUSES
                    and time.monotonic() < deadline
                ):
                    raise error_from_response(response)
            time.sleep(delay)
            delay = min(delay * 2, 2.0)

    def _unreachable(self, exc: BaseException) -> Unavailable:
        reason = "server busy" if isinstance(exc, _Retry) else type(exc).__name__
        return Unavailable(
            f"cannot reach the team server at {self.uri} ({reason}: {exc}); "
            "is `mw server` running there, and is MODELWARD_URI right?"
        )


class _Retry(Exception):
    """A retryable answer (502/503/504) inside a streamed download."""


def error_from_response(response: httpx.Response) -> ModelwardError:
    """The modelward error a non-2xx answer stands for (its body's type, else its status)."""
    import orjson

    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        kind = ERROR_TYPES.get(str(error.get("type")))
        cls = kind or _BY_STATUS.get(response.status_code, ModelwardError)
        field = error.get("field")
        return cls(error["message"], field=field if isinstance(field, str) else None)
    cls = _BY_STATUS.get(response.status_code, ModelwardError)
    text = response.text.strip().splitlines()[0][:200] if response.text.strip() else ""
    return cls(f"the team server answered {response.status_code} {response.reason_phrase}: {text}")
