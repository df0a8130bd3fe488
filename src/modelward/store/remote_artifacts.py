"""The artifact store of a team server, behind the same interface as the local one.

Artifacts stay content-addressed end to end: an upload declares its sha256 and the
server re-hashes the bytes as they arrive (a mismatch or a dropped connection
stores nothing); a download is hashed as it lands and kept only if it matches.
Files a reader wants as a path (a model to load, a Parquet file to scan) are kept
in a local cache under MODELWARD_HOME/cache, itself a content-addressed store, so
a second load costs no transfer and is verified like any local read.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import tempfile
from pathlib import Path

from modelward.errors import NotFound
from modelward.store.artifacts import LocalArtifactStore, StagedArtifact, check_digest
from modelward.store.remote import ServerClient


class RemoteArtifactStore:
    """Artifacts on a team server (`/api/v1/artifacts/{sha256}`), cached locally for reads."""

    def __init__(self, client: ServerClient, cache: LocalArtifactStore | None = None) -> None:
        self.client = client
        if cache is None:
            from modelward.config import load_settings

            cache = LocalArtifactStore(load_settings().home / "cache")
        self.cache = cache

    @staticmethod
    def _path(digest: str) -> str:
        return f"/artifacts/{check_digest(digest)}"

    # -- writes ----------------------------------------------------------------
    def put_file(self, path: Path) -> str:
        """Upload a file (streamed); return its sha256."""
        with self.stage_file(path) as staged:
            return staged.commit()

    def stage_file(self, path: Path) -> StagedArtifact:
        """Copy a file aside while hashing it; committing uploads it to the server."""
        local = self.cache.stage_file(path)
        return _RemoteStaged(self, local)

    def put_bytes(self, data: bytes) -> str:
        """Upload bytes; return their sha256."""
        digest = hashlib.sha256(data).hexdigest()
        if not self.exists(digest):
            self.client.upload(self._path(digest), data, digest=digest)
        return digest

    def upload_staged(self, staged: StagedArtifact) -> None:
        """Send a staged copy unless the server already holds those bytes."""
        if not self.exists(staged.digest):
            self.client.upload(self._path(staged.digest), staged.path, digest=staged.digest)

    # -- reads -----------------------------------------------------------------
    def exists(self, digest: str) -> bool:
        """Whether the server holds the artifact."""
        return self.client.head(self._path(digest)) is not None

    def size_of(self, digest: str) -> int:
        """Size in bytes of an artifact on the server."""
        headers = self.client.head(self._path(digest))
        if headers is None:
            raise NotFound(f"artifact {digest[:12]} is missing from the server's store")
        return int(headers["content-length"])

    def read_bytes(self, digest: str) -> bytes:
        """The artifact's bytes, downloaded and checked against the digest."""
        if self.cache.exists(digest):
            with contextlib.suppress(Exception):
                return self.cache.read_bytes(digest)
        buffer = io.BytesIO()
        self.client.download(self._path(digest), buffer, digest=digest)
        return buffer.getvalue()

    def local_path(self, digest: str) -> Path:
        """A verified local copy of the artifact (downloaded once into the cache)."""
        if self.cache.exists(digest):
            with contextlib.suppress(Exception):  # a damaged cache entry is fetched again
                return self.cache.verify(digest)
        fd, name = tempfile.mkstemp(dir=self.cache.temp_dir(), prefix="get-")
        tmp = Path(name)
        try:
            with os.fdopen(fd, "w+b") as out:
                self.client.download(self._path(digest), out, digest=digest)
                out.flush()
                os.fsync(out.fileno())
            self.cache._commit(tmp, digest)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return self.cache.verify(digest)

    def verify(self, digest: str) -> Path:
        """Check the artifact against its digest; its verified local path."""
        return self.local_path(digest)


class _RemoteStaged(StagedArtifact):
    """A staged copy in the local cache whose commit also uploads it."""

    def __init__(self, store: RemoteArtifactStore, local: StagedArtifact) -> None:
        super().__init__(store.cache, local.path, local.digest)
        self.remote = store

    def commit(self) -> str:
        if not self.committed:
            self.remote.upload_staged(self)
        return super().commit()
