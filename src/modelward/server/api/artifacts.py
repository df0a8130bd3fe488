"""/api/v1/artifacts/{sha256}: the server's content-addressed artifact store over HTTP.

- `PUT` (writer) streams the body into a temporary file of the store while hashing
  it and keeps it only if every byte arrived, the size is within the server's limit
  (`MODELWARD_MAX_UPLOAD_MB`) and the bytes hash to the digest named twice, in the
  path and in `x-content-sha256`; a dropped connection, a mismatch or an oversize
  body stores nothing. Bytes the store already holds are a cheap 200 (the body is
  not read).
- `GET` (reader) re-hashes the stored blob before its first byte is sent, so a
  corrupt blob is never served, then streams it; `HEAD` gives its size and digest.

The path holds a digest and nothing else (64 lowercase hex digits): no client
ever names a server-side path, so no encoding of `..` can lead out of the store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Annotated, Any, BinaryIO

import anyio
from fastapi import Header, Path, Request
from fastapi.responses import Response, StreamingResponse
from starlette.requests import ClientDisconnect

from modelward.errors import InvalidInput, NotFound
from modelward.server.api.base import OrjsonResponse, new_router, workspace_of
from modelward.store.incoming import IncomingArtifact
from modelward.store.remote import DIGEST_HEADER

if TYPE_CHECKING:
    from modelward.store.workspace import OwnedArtifacts

router = new_router(tags=["artifacts"])

DIGEST = r"^[0-9a-f]{64}$"
CHUNK = 1 << 20  # bytes written (and read) per trip to a worker thread

DigestPath = Annotated[
    str, Path(pattern=DIGEST, description="the sha256 of the artifact's bytes, lowercase hex")
]
DeclaredDigest = Annotated[
    str,
    Header(
        alias=DIGEST_HEADER,
        pattern=DIGEST,
        description="the sha256 of the body again: the upload is refused unless both match it",
    ),
]
_BINARY: dict[str, Any] = {
    "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
}


def _store(request: Request) -> OwnedArtifacts:
    return workspace_of(request).owned_artifacts


def _missing(digest: str) -> NotFound:
    # says nothing of where the store lives on the server
    return NotFound(f"artifact {digest[:12]} is not in the server's store", field="digest")


def _declared_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    if value is None:
        return None
    if not value.isascii() or not value.isdigit():
        raise InvalidInput(f"Content-Length {value[:32]!r} is not a number of bytes")
    return int(value)


@router.put(
    "/artifacts/{digest}",
    summary="Upload an artifact: streamed, size-capped, kept only if it hashes to its digest",
    openapi_extra={"requestBody": {"required": True, **_BINARY}},
    responses={
        200: {"description": "the store already held these bytes"},
        201: {"description": "stored"},
    },
)
async def put_artifact(request: Request, digest: DigestPath, declared: DeclaredDigest) -> Response:
    if declared != digest:
        raise InvalidInput(
            f"{DIGEST_HEADER} {declared[:12]}... does not match the digest in the path "
            f"{digest[:12]}...: nothing was stored",
            field=DIGEST_HEADER,
        )
    store = _store(request)
    limit = workspace_of(request).settings.max_upload_bytes
    length = _declared_length(request)
    if length is not None and length > limit:
        raise IncomingArtifact.too_large(limit)
    held = await anyio.to_thread.run_sync(_held_size, store, digest)
    # the same bytes are already here (a damaged copy of another size is replaced below)
    if held is not None and (length is None or length == held):
        return OrjsonResponse(
            {"digest": digest, "size": held, "created": False},
            headers={"connection": "close"},  # the body was not read
        )
    size = await _receive(request, store, digest, limit)
    return OrjsonResponse({"digest": digest, "size": size, "created": True}, status_code=201)


def _held_size(store: OwnedArtifacts, digest: str) -> int | None:
    return store.size_of(digest) if store.exists(digest) else None


async def _receive(request: Request, store: OwnedArtifacts, digest: str, limit: int) -> int:
    """Stream the body into the store; its size once committed under `digest`."""
    incoming = await anyio.to_thread.run_sync(
        lambda: IncomingArtifact(store, expected=digest, max_bytes=limit)
    )
    try:
        buffer = bytearray()
        async for chunk in request.stream():
            buffer += chunk
            if len(buffer) >= CHUNK:
                await anyio.to_thread.run_sync(incoming.write, bytes(buffer))
                buffer.clear()
        if buffer:
            await anyio.to_thread.run_sync(incoming.write, bytes(buffer))
        staged = await anyio.to_thread.run_sync(incoming.finish)
        await anyio.to_thread.run_sync(staged.commit)
        return incoming.size
    except ClientDisconnect:
        # nobody is left to read the answer; it keeps the error out of the server's log
        raise InvalidInput(
            f"the connection closed after {incoming.size:,} bytes of the upload of "
            f"{digest[:12]}: nothing was stored"
        ) from None
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(incoming.discard)


@router.get(
    "/artifacts/{digest}",
    summary="Download an artifact, checked against its digest before it is sent",
    response_class=StreamingResponse,
    responses={200: _BINARY},
)
async def get_artifact(request: Request, digest: DigestPath) -> Response:
    store = _store(request)
    try:
        handle = await anyio.to_thread.run_sync(store.open_verified, digest)
    except NotFound:
        raise _missing(digest) from None
    size = await anyio.to_thread.run_sync(lambda: handle.seek(0, 2))
    await anyio.to_thread.run_sync(handle.seek, 0)
    return StreamingResponse(
        _chunks(handle),
        media_type="application/octet-stream",
        headers={"content-length": str(size), DIGEST_HEADER: digest},
    )


async def _chunks(handle: BinaryIO) -> AsyncIterator[bytes]:
    try:
        while chunk := await anyio.to_thread.run_sync(handle.read, CHUNK):
            yield chunk
    finally:
        handle.close()


@router.head("/artifacts/{digest}", summary="Whether the server holds an artifact, and its size")
async def head_artifact(request: Request, digest: DigestPath) -> Response:
    size = await anyio.to_thread.run_sync(_held_size, _store(request), digest)
    if size is None:
        raise _missing(digest)
    return Response(
        status_code=200,
        media_type="application/octet-stream",
        headers={"content-length": str(size), DIGEST_HEADER: digest},
    )
