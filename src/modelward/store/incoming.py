"""An artifact arriving in chunks (an upload): written aside while hashed, kept only whole.

    incoming = IncomingArtifact(store, expected=digest, max_bytes=limit)
    try:
        for chunk in chunks:
            incoming.write(chunk)            # TooLarge past max_bytes
        incoming.finish().commit()           # InvalidInput unless the bytes hash to `expected`
    finally:
        incoming.discard()                   # nothing is left unless it was committed

The bytes go to a temporary file in the store's own `tmp/` folder (the same
filesystem, so the final rename is atomic) and never sit whole in memory; the
blob appears under its digest only once every byte arrived, was synced and
hashed to the digest the sender declared. A sender that stops half-way, sends
too much or sends other bytes leaves the store as it was.
"""

from __future__ import annotations

import errno
import hashlib
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from modelward.errors import InvalidInput, TooLarge, Unavailable
from modelward.store.artifacts import FILE_MODE, StagedArtifact, check_digest

if TYPE_CHECKING:
    from modelward.store.workspace import OwnedArtifacts

_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


class IncomingArtifact:
    """One upload into the server's own store (a local one, or an S3 bucket), checked
    against the digest it claims to have."""

    def __init__(self, store: OwnedArtifacts, *, expected: str, max_bytes: int) -> None:
        self.store = store
        self.expected = check_digest(expected)
        self.max_bytes = max_bytes
        self.size = 0
        self._hasher = hashlib.sha256()
        fd, name = tempfile.mkstemp(dir=store.incoming_dir(), prefix="in-")
        self._fd: int | None = fd
        self.path = Path(name)
        os.fchmod(fd, FILE_MODE)
        self._staged: StagedArtifact | None = None

    @staticmethod
    def too_large(max_bytes: int) -> TooLarge:
        """The error of an upload over `max_bytes`."""
        return TooLarge(
            f"the upload is over the server's {max_bytes:,}-byte limit for one artifact "
            "(MODELWARD_MAX_UPLOAD_MB on the server): nothing was stored"
        )

    def write(self, chunk: bytes) -> None:
        """Append a chunk (hashed as it is written); TooLarge once past `max_bytes`."""
        if self._fd is None:
            raise ValueError("this upload is finished")
        self.size += len(chunk)
        if self.size > self.max_bytes:
            raise self.too_large(self.max_bytes)
        self._hasher.update(chunk)
        view = memoryview(chunk)
        try:
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError as exc:
            raise _storage_error(exc) from None

    def finish(self) -> StagedArtifact:
        """Sync the bytes and check their digest; the staged copy, ready to commit."""
        if self._fd is None:
            raise ValueError("this upload is finished")
        try:
            os.fsync(self._fd)
        except OSError as exc:
            raise _storage_error(exc) from None
        finally:
            os.close(self._fd)
            self._fd = None
        found = self._hasher.hexdigest()
        if found != self.expected:
            raise InvalidInput(
                f"the uploaded bytes hash to {found[:12]}..., not to {self.expected[:12]}... as "
                "declared: nothing was stored (was the file changed or the transfer damaged?)",
                field="x-content-sha256",
            )
        self._staged = self.store.staged(self.path, found)
        return self._staged

    def discard(self) -> None:
        """Remove the temporary file unless its staged copy was committed."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._staged is None or not self._staged.committed:
            self.path.unlink(missing_ok=True)


def _storage_error(exc: OSError) -> Exception:
    if exc.errno in _FULL:
        return Unavailable(
            "the team server's artifact store is full: nothing was stored; free space there "
            "and send it again"
        )
    return exc
