"""Content-addressed artifact store.

Every artifact is addressed by the sha256 of its bytes. Writes go to a
temporary file in the store and are renamed into place only once whole (and
synced), so a reader never sees a partial artifact; identical content is
stored once. Reads are verified against the digest. A copy can also be
staged (`stage_file`): hashed and held aside until the caller, having checked
it, commits it; uncommitted, it is removed and the store is as it was.

The store is private to its owner by default: files 0600 and folders 0700,
whatever the permissions of the source file or the process umask allow more.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import re
import stat
import tempfile
import threading
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import Any, BinaryIO, Protocol

from modelward.errors import IntegrityError, InvalidInput, NotFound

_DIGEST = re.compile(r"[0-9a-f]{64}")
_CHUNK = 8 << 20
_SYNC_EVERY = 64 << 20
FILE_MODE = 0o600
DIR_MODE = 0o700


def check_digest(digest: str) -> str:
    """Return `digest` if it is a lowercase sha256 hex string, else raise InvalidInput."""
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        raise InvalidInput(f"not a sha256 digest: {digest!r}")
    return digest


def safe_relative_path(path: str) -> PurePosixPath:
    """Validate a path that names something inside a store or an artifact folder.

    Absolute paths, drive letters, `.`/`..` components and empty parts are refused,
    so that no stored name can point outside its root.
    """
    if not path or "\x00" in path:
        raise InvalidInput(f"illegal artifact path {path!r}")
    normalised = path.replace("\\", "/")
    pure = PurePosixPath(normalised)
    if pure.is_absolute() or re.match(r"^[A-Za-z]:", normalised):
        raise InvalidInput(f"illegal artifact path {path!r}: absolute paths are not allowed")
    if any(part in ("", ".", "..") for part in normalised.split("/")):
        raise InvalidInput(
            f"illegal artifact path {path!r}: '..', '.' and empty parts are not allowed"
        )
    return pure


class ArtifactStore(Protocol):
    """What the rest of modelward needs from an artifact store."""

    def put_file(self, path: Path) -> str:
        """Store a file's bytes; return their sha256."""
        ...

    def put_bytes(self, data: bytes) -> str:
        """Store bytes; return their sha256."""
        ...

    def stage_file(self, path: Path) -> StagedArtifact:
        """Copy a file aside while hashing it; it is stored only when committed."""
        ...

    def exists(self, digest: str) -> bool:
        """Whether the artifact is present."""
        ...

    def read_bytes(self, digest: str) -> bytes:
        """Return the artifact's bytes, verified against the digest."""
        ...

    def local_path(self, digest: str) -> Path:
        """A local file with the artifact's verified bytes (for readers that want a path)."""
        ...

    def verify(self, digest: str) -> Path:
        """Check the artifact against its digest (IntegrityError if not); its local path."""
        ...

    def size_of(self, digest: str) -> int:
        """Size in bytes of a stored artifact."""
        ...


class StagedArtifact:
    """A whole, hashed copy waiting in the store's temporary folder.

    `commit()` makes it the artifact `digest`; leaving the `with` block (or
    `discard()`) without committing removes it, so nothing is left behind.
    """

    def __init__(self, store: LocalArtifactStore, path: Path, digest: str) -> None:
        self.store = store
        self.path = path
        self.digest = digest
        self.committed = False

    @property
    def size(self) -> int:
        """Size in bytes of the staged copy."""
        return self.path.stat().st_size

    def commit(self) -> str:
        """Store the copy under its digest; return the digest."""
        if not self.committed:
            self.store._commit(self.path, self.digest)
            self.committed = True
        return self.digest

    def discard(self) -> None:
        """Remove the copy unless it was committed."""
        if not self.committed:
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> StagedArtifact:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.discard()


class LocalArtifactStore:
    """Artifacts as files under `root/sha256/ab/cdef...`, private to their owner by default."""

    def __init__(self, root: Path, *, file_mode: int = FILE_MODE, dir_mode: int = DIR_MODE) -> None:
        self.root = Path(root).absolute()
        self.file_mode = file_mode
        self.dir_mode = dir_mode

    # -- paths -----------------------------------------------------------------
    def _blob_path(self, digest: str) -> Path:
        check_digest(digest)
        path = self.root / "sha256" / digest[:2] / digest[2:]
        # A link anywhere below the root could lead out of the store: refuse it.
        probe = path
        while probe != self.root:
            if probe.is_symlink():
                raise IntegrityError(f"artifact {digest[:12]} is a link; refusing to follow it")
            probe = probe.parent
        return path

    def temp_dir(self) -> Path:
        """The store's folder for copies not yet whole (created if missing)."""
        tmp = self.root / "tmp"
        self._make_dirs(tmp)
        return tmp

    def _make_dirs(self, path: Path) -> None:
        """Create `path` and its missing parents with `dir_mode` (existing ones are kept)."""
        if path.is_dir():
            return
        missing: list[Path] = []
        probe = path
        while not probe.exists() and probe != probe.parent:
            missing.append(probe)
            probe = probe.parent
        for folder in reversed(missing):
            with contextlib.suppress(FileExistsError):  # another process made it first
                folder.mkdir(mode=self.dir_mode)
                os.chmod(folder, self.dir_mode)  # mkdir's mode is narrowed by the umask only

    def incoming_dir(self) -> Path:
        """Where an upload is written before it is whole (`store.incoming`)."""
        return self.temp_dir()

    def staged(self, path: Path, digest: str) -> StagedArtifact:
        """A whole, hashed file in `incoming_dir()`, ready to be committed as `digest`."""
        return StagedArtifact(self, path, digest)

    def create(self) -> Path:
        """Create the store's root folder (private by default) if it does not exist."""
        self._make_dirs(self.root)
        return self.root

    # -- writes ----------------------------------------------------------------
    def put_file(self, path: Path) -> str:
        """Copy a file into the store while hashing it; return its sha256."""
        with self.stage_file(path) as staged:
            return staged.commit()

    def stage_file(self, path: Path) -> StagedArtifact:
        """Copy a file into the store's temporary folder while hashing it; commit it to keep it.

        Use it as a context manager: a copy that is not committed is removed.
        """
        source = Path(path)
        try:
            handle = open(source, "rb", buffering=0)  # noqa: SIM115 - closed below
        except FileNotFoundError:
            raise InvalidInput(f"no such file: {source}") from None
        except IsADirectoryError:
            raise InvalidInput(f"{source} is a directory, expected a file") from None
        except PermissionError:
            raise InvalidInput(f"cannot read {source}: permission denied") from None
        with handle:
            if stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                staged = self._copy_in_kernel(handle.fileno())
                if staged is not None:
                    return staged
            return self._write_stream(handle)

    def _copy_in_kernel(self, source_fd: int) -> StagedArtifact | None:
        """Copy with copy_file_range (no bytes through Python) while hashing the copy.

        The hash is taken over the bytes read back from the destination as they
        land, so the digest always names what is stored, even if the source
        changes meanwhile. None when the kernel cannot copy this pair of files.
        """
        fd, tmp_name = tempfile.mkstemp(dir=self.temp_dir(), prefix="put-")
        tmp_path = Path(tmp_name)
        progress = threading.Condition()
        state: dict[str, Any] = {"copied": 0, "done": False, "error": None}

        def copy() -> None:
            offset = 0
            try:
                while True:
                    count = os.copy_file_range(source_fd, fd, _CHUNK, offset, offset)
                    if count == 0:
                        break
                    offset += count
                    with progress:
                        state["copied"] = offset
                        progress.notify()

            except BaseException as exc:  # reported to the hashing thread
                state["error"] = exc
            finally:
                with progress:
                    state["done"] = True
                    progress.notify()

        copier = threading.Thread(target=copy, name="artifact-copier", daemon=True)
        copier.start()
        hasher = hashlib.sha256()
        hashed = written_back = 0
        try:
            while True:
                with progress:
                    while state["copied"] == hashed and not state["done"]:
                        progress.wait()
                    copied, done = state["copied"], state["done"]
                while hashed < copied:
                    chunk = os.pread(fd, min(_CHUNK, copied - hashed), hashed)
                    hasher.update(chunk)
                    if hashed - written_back >= _SYNC_EVERY:
                        # Start writing hashed bytes back to disk now (asynchronously)
                        # so the final fsync has little left to wait for.
                        os.posix_fadvise(
                            fd, written_back, hashed - written_back, os.POSIX_FADV_DONTNEED
                        )
                        written_back = hashed
                    hashed += len(chunk)
                if done and hashed >= state["copied"]:
                    break
            copier.join()
            error = state["error"]
            if error is not None:
                if isinstance(error, OSError) and hashed == 0:
                    os.close(fd)
                    tmp_path.unlink(missing_ok=True)
                    return None  # not supported here (another filesystem, old kernel)
                raise error
            os.fsync(fd)
            os.close(fd)
            return StagedArtifact(self, tmp_path, hasher.hexdigest())
        except BaseException:
            copier.join(timeout=5)
            with contextlib.suppress(OSError):
                os.close(fd)
            tmp_path.unlink(missing_ok=True)
            raise

    def put_bytes(self, data: bytes) -> str:
        """Store `data`; return its sha256."""
        digest = hashlib.sha256(data).hexdigest()
        if self.exists(digest):
            return digest
        fd, tmp_name = tempfile.mkstemp(dir=self.temp_dir(), prefix="put-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            self._commit(Path(tmp_name), digest)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        return digest

    def _write_stream(self, stream: BinaryIO) -> StagedArtifact:
        # Hash in this thread while a writer thread copies to disk: both release
        # the GIL on large buffers, so storing costs about as much as hashing.
        hasher = hashlib.sha256()
        chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=4)
        failure: list[BaseException] = []
        fd, tmp_name = tempfile.mkstemp(dir=self.temp_dir(), prefix="put-")
        tmp_path = Path(tmp_name)

        def write_chunks() -> None:
            try:
                with os.fdopen(fd, "wb", buffering=0) as out:
                    while (chunk := chunks.get()) is not None:
                        if not failure:
                            out.write(chunk)
                    if not failure:
                        os.fsync(out.fileno())
            except BaseException as exc:  # reported to the reading thread
                failure.append(exc)
                while chunks.get() is not None:
                    pass

        writer = threading.Thread(target=write_chunks, name="artifact-writer", daemon=True)
        writer.start()
        try:
            try:
                while chunk := stream.read(_CHUNK):
                    if failure:
                        break
                    chunks.put(chunk)
                    hasher.update(chunk)
            finally:
                chunks.put(None)
                writer.join()
            if failure:
                raise failure[0]
        except BaseException:
            tmp_path.unlink(missing_ok=True)
            raise
        return StagedArtifact(self, tmp_path, hasher.hexdigest())

    def _commit(self, tmp_path: Path, digest: str) -> None:
        # Identical content lands on the same name, so it is stored once. The fresh
        # copy replaces an existing one: it was just hashed, so a damaged blob
        # is repaired, and readers holding the old file keep reading it.
        target = self._blob_path(digest)
        self._make_dirs(target.parent)
        os.chmod(tmp_path, self.file_mode)
        os.replace(tmp_path, target)

    # -- reads -----------------------------------------------------------------
    def exists(self, digest: str) -> bool:
        """Whether the artifact is present (not verified)."""
        return self._blob_path(digest).is_file()

    def _existing(self, digest: str) -> Path:
        path = self._blob_path(digest)
        if not path.is_file():
            raise NotFound(f"artifact {digest[:12]} is missing from the store at {self.root}")
        return path

    def verify(self, digest: str) -> Path:
        """Re-hash the stored artifact; raise IntegrityError if it does not match."""
        path = self._existing(digest)
        hasher = hashlib.sha256()
        with open(path, "rb", buffering=0) as handle:
            while chunk := handle.read(_CHUNK):
                hasher.update(chunk)
        if hasher.hexdigest() != digest:
            raise IntegrityError(
                f"artifact {digest[:12]} is corrupt or was tampered with: its content hashes to "
                f"{hasher.hexdigest()[:12]}"
            )
        return path

    def open_verified(self, digest: str) -> BinaryIO:
        """The artifact opened for reading, its bytes checked against the digest first.

        The check reads the open file itself, so what the caller reads next is what
        was checked, even if the blob is replaced meanwhile.
        """
        handle = open(self._existing(digest), "rb", buffering=0)  # noqa: SIM115 - returned
        try:
            hasher = hashlib.sha256()
            buffer = memoryview(bytearray(_CHUNK))  # one buffer, whatever the size
            while count := handle.readinto(buffer):
                hasher.update(buffer[:count])
            if hasher.hexdigest() != digest:
                raise IntegrityError(
                    f"artifact {digest[:12]} is corrupt or was tampered with: its content "
                    f"hashes to {hasher.hexdigest()[:12]}"
                )
            handle.seek(0)
        except BaseException:
            handle.close()
            raise
        return handle

    def read_bytes(self, digest: str) -> bytes:
        """Return the artifact's bytes after checking them against the digest."""
        data = self._existing(digest).read_bytes()
        actual = hashlib.sha256(data).hexdigest()
        if actual != digest:
            raise IntegrityError(
                f"artifact {digest[:12]} is corrupt or was tampered with: its content hashes to "
                f"{actual[:12]}"
            )
        return data

    def local_path(self, digest: str) -> Path:
        """Path of the verified artifact file; callers must treat it as read-only."""
        return self.verify(digest)

    def size_of(self, digest: str) -> int:
        """Size in bytes of a stored artifact."""
        return self._existing(digest).stat().st_size
