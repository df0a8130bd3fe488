"""File digests that skip re-reading unchanged files, like DVC's state db.

`file_digest` gives the sha256 of a file's bytes (the digest `mw data add` stores the
file under) and remembers it with the file's size, mtime (ns), inode and device; while
those four are unchanged the remembered digest is returned without opening the file.

The cache is one small JSON file, replaced atomically (a temp file renamed over it):
two processes updating it at once lose one of their entries at worst (last writer
wins), never the file. A cache that is missing, unreadable or corrupt is ignored and
written anew; it is never an error.

Known limits, as in DVC: a file rewritten in place with the same size whose mtime is
then set back (`touch -d`, `os.utime`, some restore tools) keeps its old digest until
its stat changes. A file hashed within `RACY_NS` of its last write is not remembered
(a second write in the same timestamp tick would leave its stat unchanged), so a
just-written file is read again once; filesystems with coarser timestamps than that
(FAT's 2 s) are not covered.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
from pathlib import Path
from stat import S_ISREG
from typing import Any

import orjson

from modelward.errors import InvalidInput

RACY_NS = 100_000_000  # 0.1 s: ten times a coarse kernel timestamp tick
MAX_ENTRIES = 10_000  # the least recently hashed beyond this are forgotten
_CHUNK = 1 << 20
_VERSION = 1


def default_cache(home: Path) -> Path:
    """Where a home keeps its file digests (`settings.home`; a team server's clients too)."""
    return home / "cache" / "file-digests.json"


def file_digest(path: Path, cache: Path) -> str:
    """The sha256 hex of the file's bytes, reusing the one `cache` remembers while the
    file's (size, mtime_ns, inode, device) are unchanged."""
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        raise InvalidInput(f"no such file: {path}") from None
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}") from None
    if not S_ISREG(stat.st_mode):
        raise InvalidInput(f"{path} is not a regular file")
    name = os.path.abspath(path)
    signature = _signature(stat)
    entries = _load(cache)
    known = entries.get(name)
    if isinstance(known, list) and _remembered(known, signature):
        return str(known[4])
    digest = _hash(Path(name))
    finished = time.time_ns()
    after = os.stat(name)
    if _signature(after) != signature:
        return digest  # changed while it was read: nothing to remember
    if stat.st_mtime_ns + RACY_NS < finished:
        entries = _load(cache)  # what other processes wrote meanwhile
        entries[name] = [*signature, digest, finished]
        _store(cache, entries)
    return digest


def _remembered(entry: list[Any], signature: list[int]) -> bool:
    return (
        len(entry) == 6
        and entry[:4] == signature
        and isinstance(entry[4], str)
        and len(entry[4]) == 64
    )


def _signature(stat: os.stat_result) -> list[int]:
    return [stat.st_size, stat.st_mtime_ns, stat.st_ino, stat.st_dev]


def _hash(path: Path) -> str:
    digest = hashlib.sha256()
    buffer = bytearray(_CHUNK)
    view = memoryview(buffer)
    try:
        with open(path, "rb") as file:
            while read := file.readinto(buffer):
                digest.update(view[:read])
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}") from None
    return digest.hexdigest()


def _load(cache: Path) -> dict[str, Any]:
    """The remembered entries, or none when the cache is missing or unreadable."""
    try:
        data = orjson.loads(cache.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}
    if not isinstance(data, dict) or data.get("version") != _VERSION:
        return {}
    entries = data.get("entries")
    return entries if isinstance(entries, dict) else {}


def _store(cache: Path, entries: dict[str, Any]) -> None:
    """Write the cache atomically; a cache that cannot be written is left as it was."""
    if len(entries) > MAX_ENTRIES:
        newest = sorted(entries.items(), key=_hashed_at, reverse=True)[:MAX_ENTRIES]
        entries = dict(newest)
    replace_cache_file(cache, orjson.dumps({"version": _VERSION, "entries": entries}))


def replace_cache_file(cache: Path, payload: bytes) -> None:
    """Write a cache file whole (a temporary file renamed over it); a cache that cannot be
    written is left as it was: what it caches is right either way."""
    temp: str | None = None
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(prefix=f".{cache.name}.", dir=cache.parent)
        with os.fdopen(handle, "wb") as file:
            file.write(payload)
        os.replace(temp, cache)
        temp = None
    except OSError:
        pass
    finally:
        if temp is not None:
            with contextlib.suppress(OSError):
                os.unlink(temp)


def _hashed_at(item: tuple[str, Any]) -> float:
    entry = item[1]
    if isinstance(entry, list) and len(entry) == 6 and isinstance(entry[5], int | float):
        return float(entry[5])
    return 0.0
