"""The artifact store in an S3 bucket (`MODELWARD_ARTIFACTS=s3://bucket/prefix`).

Content-addressed exactly like the local store: the object `prefix/sha256/ab/cdef...`
holds the bytes whose sha256 is `abcdef...`, and a HEAD before every upload keeps
identical content stored once.

Whole or not at all: an object appears in S3 only when its PUT or its
CompleteMultipartUpload succeeds, never part by part, so a reader either finds
the whole artifact or none. A file is hashed first (its digest is its key), then
sent in parts read in order and hashed again on the way; a failed part, a file
that changed meanwhile or an interrupt aborts the multipart upload, so no parts
are left behind to bill for and nothing becomes visible.

Every read is checked: bytes are hashed as they arrive and kept or returned only
if they match the digest (IntegrityError naming it otherwise). Files a reader
wants as a path live in a verified cache outside MODELWARD_HOME (`cache_dir()`:
`$XDG_CACHE_HOME/modelward/artifacts`, by default `~/.cache/modelward/artifacts`),
itself a content-addressed local store re-hashed on every read, so nothing of
the artifacts is written to the home and a second load costs no transfer.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import tempfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO

from modelward.config import S3Location
from modelward.errors import IntegrityError, InvalidInput, NotFound
from modelward.store.artifacts import LocalArtifactStore, StagedArtifact, check_digest
from modelward.store.s3_client import (
    error_code,
    make_client,
    missing_bucket,
    translated,
)

PART_SIZE = 16 << 20  # bytes per multipart part (S3 wants 5 MiB..5 GiB, at most 10,000 parts)
CONCURRENCY = 8  # parts in flight at once
_READ = 1 << 20
_MAX_PARTS = 10_000


def cache_dir() -> Path:
    """The per-user cache of verified artifact copies (outside any MODELWARD_HOME)."""
    base = os.environ.get("XDG_CACHE_HOME")
    if base:
        return Path(base).expanduser().absolute() / "modelward" / "artifacts"
    with contextlib.suppress(RuntimeError):  # no home directory: the temp dir instead
        return Path.home() / ".cache" / "modelward" / "artifacts"
    return Path(tempfile.gettempdir()) / f"modelward-{os.getuid()}" / "artifacts"


class S3ArtifactStore:
    """Artifacts as objects `prefix/sha256/ab/cdef...` in an S3 bucket, cached locally for reads."""

    def __init__(
        self,
        location: S3Location,
        *,
        cache: LocalArtifactStore | None = None,
        client: Any = None,
        part_size: int = PART_SIZE,
        concurrency: int = CONCURRENCY,
    ) -> None:
        self.location = location
        self.cache = cache or LocalArtifactStore(cache_dir())
        self.part_size = max(5 << 20, part_size)
        self.concurrency = max(1, concurrency)
        self._client = client
        self._bucket_checked = False
        self._lock = threading.Lock()

    # -- plumbing --------------------------------------------------------------
    @property
    def client(self) -> Any:
        """The boto3 client (made on first use; boto3 clients are thread-safe)."""
        with self._lock:
            if self._client is None:
                self._client = make_client(max_pool_connections=self.concurrency * 2)
            return self._client

    def key(self, digest: str) -> str:
        """The object key of an artifact."""
        check_digest(digest)
        name = f"sha256/{digest[:2]}/{digest[2:]}"
        return f"{self.location.prefix}/{name}" if self.location.prefix else name

    def create(self) -> None:
        """Check that the bucket exists and the credentials may use it (the store's setup)."""
        with translated(self.location, "checking the bucket"):
            try:
                self.client.head_bucket(Bucket=self.location.bucket)
            except Exception as exc:
                if error_code(exc) in ("404", "NoSuchBucket"):
                    raise missing_bucket(self.location) from None
                raise
        self._bucket_checked = True

    def _checked(self) -> None:
        # A HEAD of a key in a missing bucket is a bare 404, like a missing key:
        # the bucket is asked once, so a missing bucket is never read as a missing artifact.
        if not self._bucket_checked:
            self.create()

    def _head(self, digest: str) -> dict[str, Any] | None:
        key = self.key(digest)
        self._checked()
        with translated(self.location, f"looking up artifact {digest[:12]}"):
            try:
                return dict(self.client.head_object(Bucket=self.location.bucket, Key=key))
            except Exception as exc:
                if error_code(exc) in ("404", "NoSuchKey"):
                    return None
                raise

    def _missing(self, digest: str) -> NotFound:
        return NotFound(f"artifact {digest[:12]} is missing from the store at {self.location.url}")

    # -- writes ----------------------------------------------------------------
    def put_bytes(self, data: bytes) -> str:
        """Store `data` (one PUT unless already there); return its sha256."""
        digest = hashlib.sha256(data).hexdigest()
        if not self._holds(digest, len(data)):
            self._put_object(digest, data)
        return digest

    def put_file(self, path: Path) -> str:
        """Store a file's bytes: hashed, then uploaded in parts unless already there."""
        with _open_source(Path(path)) as handle:
            size = os.fstat(handle.fileno()).st_size
            if size <= self.part_size:
                return self.put_bytes(handle.read())
            hasher = hashlib.sha256()
            while chunk := handle.read(_READ * 8):
                hasher.update(chunk)
            digest = hasher.hexdigest()
            if not self._holds(digest, size):
                handle.seek(0)
                self._upload_parts(handle, digest, size)
            return digest

    def stage_file(self, path: Path) -> StagedArtifact:
        """Copy a file into the cache while hashing it; committing uploads it."""
        return _S3Staged(self, self.cache.stage_file(path))

    def incoming_dir(self) -> Path:
        """Where an upload is written before it is whole: the local cache's own folder."""
        return self.cache.temp_dir()

    def staged(self, path: Path, digest: str) -> StagedArtifact:
        """A whole, hashed file in `incoming_dir()`; committing it uploads it."""
        return _S3Staged(self, StagedArtifact(self.cache, path, digest))

    def upload_staged(self, staged: StagedArtifact) -> None:
        """Send a staged copy unless the bucket already holds those bytes."""
        size = staged.size
        if self._holds(staged.digest, size):
            return
        with open(staged.path, "rb", buffering=0) as handle:
            if size <= self.part_size:
                data = handle.read()
                if hashlib.sha256(data).hexdigest() != staged.digest:
                    raise _changed(staged.digest)
                self._put_object(staged.digest, data)
            else:
                self._upload_parts(handle, staged.digest, size)

    def _holds(self, digest: str, size: int) -> bool:
        # An object of another size under this key is damaged: the upload replaces it.
        head = self._head(digest)
        return head is not None and int(head["ContentLength"]) == size

    def _put_object(self, digest: str, data: bytes) -> None:
        with translated(self.location, f"storing artifact {digest[:12]}"):
            self.client.put_object(
                Bucket=self.location.bucket,
                Key=self.key(digest),
                Body=data,
                ContentType="application/octet-stream",
            )

    def _upload_parts(self, handle: BinaryIO, digest: str, size: int) -> None:
        """One multipart upload, completed only if the bytes sent hash to `digest`."""
        bucket, key = self.location.bucket, self.key(digest)
        part_size = max(self.part_size, -(-size // _MAX_PARTS))
        with translated(self.location, f"starting the upload of {digest[:12]}"):
            upload = self.client.create_multipart_upload(
                Bucket=bucket,
                Key=key,
                ContentType="application/octet-stream",
                ChecksumAlgorithm="CRC32",
            )
        upload_id = upload["UploadId"]
        try:
            with translated(self.location, f"uploading artifact {digest[:12]}"):
                parts = self._send_parts(handle, key, upload_id, part_size, digest)
                self.client.complete_multipart_upload(
                    Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
                )
        except BaseException:
            # the parts of an unfinished upload are invisible, but kept (and billed) until
            # aborted; an abort that fails too leaves them to the bucket's lifecycle rules
            with contextlib.suppress(Exception):
                self.client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
            raise

    def _send_parts(
        self, handle: BinaryIO, key: str, upload_id: str, part_size: int, digest: str
    ) -> list[dict[str, Any]]:
        hasher = hashlib.sha256()
        in_flight = threading.BoundedSemaphore(self.concurrency)
        futures: list[Future[dict[str, Any]]] = []

        def send(number: int, body: bytes) -> dict[str, Any]:
            try:
                answer = self.client.upload_part(
                    Bucket=self.location.bucket,
                    Key=key,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=body,
                    ChecksumAlgorithm="CRC32",
                )
                return {
                    "PartNumber": number,
                    "ETag": answer["ETag"],
                    "ChecksumCRC32": answer.get("ChecksumCRC32"),
                }
            finally:
                in_flight.release()

        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="s3-part") as pool:
            try:
                number = 1
                while body := handle.read(part_size):
                    hasher.update(body)
                    in_flight.acquire()
                    futures.append(pool.submit(send, number, body))
                    number += 1
                    if any(f.done() and f.exception() for f in futures):
                        break  # a part failed: the result() below raises its error
                parts = [future.result() for future in futures]
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
        if hasher.hexdigest() != digest:
            raise _changed(digest)
        return [{k: v for k, v in part.items() if v is not None} for part in parts]

    # -- reads -----------------------------------------------------------------
    def exists(self, digest: str) -> bool:
        """Whether the bucket holds the artifact (not verified)."""
        return self._head(digest) is not None

    def size_of(self, digest: str) -> int:
        """Size in bytes of a stored artifact."""
        head = self._head(digest)
        if head is None:
            raise self._missing(digest)
        return int(head["ContentLength"])

    def read_bytes(self, digest: str) -> bytes:
        """The artifact's bytes, from the verified cache or downloaded and checked."""
        if self.cache.exists(digest):
            with contextlib.suppress(IntegrityError):  # a damaged cache copy is fetched again
                return self.cache.read_bytes(digest)
        buffer = io.BytesIO()
        self._download(digest, buffer)
        return buffer.getvalue()

    def local_path(self, digest: str) -> Path:
        """A verified local copy of the artifact (downloaded once into the cache)."""
        if self.cache.exists(digest):
            with contextlib.suppress(IntegrityError):
                return self.cache.verify(digest)
        return self._fetch(digest)

    def verify(self, digest: str) -> Path:
        """Check the object in the bucket against its digest; its verified local copy."""
        return self._fetch(digest)

    def open_verified(self, digest: str) -> BinaryIO:
        """The artifact opened for reading from its verified local copy."""
        self.local_path(digest)
        return self.cache.open_verified(digest)

    def _fetch(self, digest: str) -> Path:
        """Download into the cache, kept only if it hashes to `digest`."""
        fd, name = tempfile.mkstemp(dir=self.cache.temp_dir(), prefix="get-")
        tmp = Path(name)
        try:
            with os.fdopen(fd, "wb") as out:
                self._download(digest, out)
            # not synced: a copy torn by a crash fails its next verification and is fetched again
            self.cache._commit(tmp, digest)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return self.cache._blob_path(digest)

    def _download(self, digest: str, out: BinaryIO) -> None:
        """Stream the object into `out` while hashing it; IntegrityError unless it matches.

        One streamed GET, hashed as it lands: against moto it is far faster than
        ranged parallel GETs (which it serves by copying the whole object each time).
        """
        key = self.key(digest)
        self._checked()
        hasher = hashlib.sha256()
        with translated(self.location, f"reading artifact {digest[:12]}"):
            try:
                answer = self.client.get_object(Bucket=self.location.bucket, Key=key)
            except Exception as exc:
                if error_code(exc) in ("404", "NoSuchKey"):
                    raise self._missing(digest) from None
                if error_code(exc) == "NoSuchBucket":
                    raise missing_bucket(self.location) from None
                raise
            body = answer["Body"]
            try:
                while chunk := body.read(_READ):
                    hasher.update(chunk)
                    out.write(chunk)
            finally:
                body.close()
        found = hasher.hexdigest()
        if found != digest:
            raise IntegrityError(
                f"artifact {digest[:12]} in {self.location.url} is corrupt or was tampered with: "
                f"its content hashes to {found[:12]}; nothing was read from it"
            )


class _S3Staged(StagedArtifact):
    """A staged copy in the local cache whose commit uploads it to the bucket."""

    def __init__(self, store: S3ArtifactStore, local: StagedArtifact) -> None:
        super().__init__(store.cache, local.path, local.digest)
        self.remote = store

    def commit(self) -> str:
        if not self.committed:
            self.remote.upload_staged(self)
        return super().commit()


def _open_source(path: Path) -> BinaryIO:
    try:
        return open(path, "rb", buffering=0)
    except FileNotFoundError:
        raise InvalidInput(f"no such file: {path}") from None
    except IsADirectoryError:
        raise InvalidInput(f"{path} is a directory, expected a file") from None
    except PermissionError:
        raise InvalidInput(f"cannot read {path}: permission denied") from None


def _changed(digest: str) -> IntegrityError:
    return IntegrityError(
        f"the file being stored as {digest[:12]} changed while it was uploaded: nothing was stored"
    )
