"""A folder of immutable objects addressed by key: a prefix in an S3 bucket, or a local
directory. The prediction log's Parquet segments live in one (`monitoring.segment_log`).

    folder = object_folder(settings, "prediction-log")
    folder.put("model=churn/version=3/hour=2026-12-02T16/x.parquet", data)
    folder.children("model=churn/")        # ["model=churn/version=3/"]
    folder.files("model=churn/version=3/hour=2026-12-02T16/")

Whole or not at all, like the artifact stores: an S3 object appears only when its PUT
succeeds; a local file is written beside its target and renamed into place. Keys
are checked (plain parts between single slashes), so no key leaves its folder.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from modelward.errors import InvalidInput, NotFound
from modelward.store.artifacts import DIR_MODE, FILE_MODE

if TYPE_CHECKING:
    from modelward.config import S3Location, Settings

_KEY_PART = re.compile(r"[A-Za-z0-9%=._-]+")
_DELETE_BATCH = 1000  # S3's DeleteObjects takes at most this many keys


def check_key(key: str, *, folder: bool = False) -> str:
    """`key` if it is plain parts between single slashes (a folder ends in one)."""
    body = key[:-1] if folder and key.endswith("/") else key
    parts = body.split("/") if body else []
    if (
        (not folder and not parts)
        or any(p in (".", "..") or not _KEY_PART.fullmatch(p) for p in parts)
        or len(key) > 900
    ):
        raise InvalidInput(f"{key!r} is not an object key (plain parts between single slashes)")
    return key


class ObjectFolder(Protocol):
    """Immutable objects by key under one prefix."""

    where: str  # for messages: the folder's URL or path

    def put(self, key: str, data: bytes) -> None:
        """Store `data` under `key` (replacing an object there)."""
        ...

    def get(self, key: str) -> bytes:
        """The bytes under `key` (NotFound when there are none)."""
        ...

    def exists(self, key: str) -> bool:
        """Whether an object is stored under `key`."""
        ...

    def children(self, prefix: str, *, after: str = "") -> list[str]:
        """The sub-folders directly under `prefix` ("" or ending in "/"), each ending in "/";
        with `after`, only those whose name sorts after it."""
        ...

    def files(self, prefix: str, *, after: str = "") -> list[str]:
        """The keys of the objects directly under `prefix` ("" or ending in "/"); with
        `after`, only those whose name sorts after it (what a listing then returns)."""
        ...

    def delete(self, keys: Iterable[str]) -> None:
        """Remove objects (a missing one is no error)."""
        ...


class LocalObjectFolder:
    """Objects as files under a local directory (private: 0600 files in 0700 folders)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.where = str(root)

    def _path(self, key: str, *, folder: bool = False) -> Path:
        return self.root / check_key(key, folder=folder)

    def put(self, key: str, data: bytes) -> None:
        """Write beside the target, then rename into place: readers see all or nothing."""
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.chmod(tmp, FILE_MODE)
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def get(self, key: str) -> bytes:
        """The file's bytes."""
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise NotFound(f"{key} is missing from {self.where}") from None

    def exists(self, key: str) -> bool:
        """Whether the file is there."""
        return self._path(key).is_file()

    def _entries(self, prefix: str) -> list[os.DirEntry[str]]:
        try:
            with os.scandir(self._path(prefix, folder=True)) as found:
                return [entry for entry in found if not entry.name.startswith(".")]
        except (FileNotFoundError, NotADirectoryError):
            return []

    def children(self, prefix: str, *, after: str = "") -> list[str]:
        """Sub-directories, sorted (after `after` as S3 lists them: by the keys they hold)."""
        found = (f"{e.name}/" for e in self._entries(prefix) if e.is_dir())
        return sorted(prefix + name for name in found if name > after)

    def files(self, prefix: str, *, after: str = "") -> list[str]:
        """Files, sorted."""
        found = (e.name for e in self._entries(prefix) if e.is_file())
        return sorted(prefix + name for name in found if name > after)

    def delete(self, keys: Iterable[str]) -> None:
        """Unlink each file."""
        for key in keys:
            with contextlib.suppress(FileNotFoundError):
                self._path(key).unlink()


class S3ObjectFolder:
    """Objects under `prefix/name/` in an S3 bucket (the artifact store's bucket)."""

    def __init__(self, location: S3Location, name: str, *, client: Any = None) -> None:
        self.location = location
        self.base = f"{location.prefix}/{name}/" if location.prefix else f"{name}/"
        self.where = f"s3://{location.bucket}/{self.base}"
        self._client = client
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        """The boto3 client (made on first use; thread-safe)."""
        with self._lock:
            if self._client is None:
                from modelward.store.s3_client import make_client

                self._client = make_client()
            return self._client

    def _doing(self, doing: str) -> Any:
        from modelward.store.s3_client import translated

        return translated(self.location, doing)

    def put(self, key: str, data: bytes) -> None:
        """One PUT: the object appears whole or not at all."""
        with self._doing(f"writing {check_key(key)}"):
            self.client.put_object(Bucket=self.location.bucket, Key=self.base + key, Body=data)

    def get(self, key: str) -> bytes:
        """One GET."""
        from modelward.store.s3_client import error_code

        with self._doing(f"reading {check_key(key)}"):
            try:
                answer = self.client.get_object(Bucket=self.location.bucket, Key=self.base + key)
            except Exception as exc:
                if error_code(exc) in ("404", "NoSuchKey"):
                    raise NotFound(f"{key} is missing from {self.where}") from None
                raise
            return bytes(answer["Body"].read())

    def exists(self, key: str) -> bool:
        """One HEAD: a cost that does not grow with the folder, unlike a listing."""
        from modelward.store.s3_client import error_code

        with self._doing(f"looking up {check_key(key)}"):
            try:
                self.client.head_object(Bucket=self.location.bucket, Key=self.base + key)
            except Exception as exc:
                if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                    return False
                raise
            return True

    def _list(self, prefix: str, field: str, after: str) -> list[str]:
        check_key(prefix, folder=True)
        found: list[str] = []
        # S3 lists keys in UTF-8 byte order from StartAfter on: a folder whose names sort
        # by time is listed from a time on, at a cost that does not grow with the folder.
        start = {"StartAfter": self.base + prefix + after} if after else {}
        with self._doing(f"listing {prefix or 'the prediction log'}"):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.location.bucket, Prefix=self.base + prefix, Delimiter="/", **start
            )
            for page in pages:
                if field == "CommonPrefixes":
                    found.extend(item["Prefix"] for item in page.get("CommonPrefixes", ()))
                else:
                    found.extend(item["Key"] for item in page.get("Contents", ()))
        return sorted(key[len(self.base) :] for key in found)

    def children(self, prefix: str, *, after: str = "") -> list[str]:
        """The common prefixes one level down."""
        return self._list(prefix, "CommonPrefixes", after)

    def files(self, prefix: str, *, after: str = "") -> list[str]:
        """The objects one level down."""
        return self._list(prefix, "Contents", after)

    def delete(self, keys: Iterable[str]) -> None:
        """DeleteObjects, a thousand keys per call."""
        batch = [self.base + check_key(key) for key in keys]
        for start in range(0, len(batch), _DELETE_BATCH):
            objects = [{"Key": key} for key in batch[start : start + _DELETE_BATCH]]
            with self._doing("removing compacted segments"):
                self.client.delete_objects(
                    Bucket=self.location.bucket, Delete={"Objects": objects, "Quiet": True}
                )


def object_folder(settings: Settings, name: str) -> ObjectFolder:
    """The folder `name` beside the artifacts: in their bucket, or under MODELWARD_HOME."""
    location = settings.s3_artifacts
    if location is not None:
        return S3ObjectFolder(location, name)
    return LocalObjectFolder(settings.home / name)
