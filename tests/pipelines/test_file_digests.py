"""File digests with a stat cache: right, not re-read while unchanged, re-read once changed."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from modelward.errors import InvalidInput
from modelward.pipelines.file_digests import RACY_NS, default_cache, file_digest

MB = 1 << 20


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def settle(path: Path, seconds_ago: float = 60.0) -> int:
    """Date the file's last write back (as for any file not written a moment ago)."""
    mtime_ns = time.time_ns() - int(seconds_ago * 1e9)
    os.utime(path, ns=(mtime_ns, mtime_ns))
    return mtime_ns


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return default_cache(tmp_path / "home")


def test_the_digest_is_the_one_mw_data_add_stores_the_file_under(
    home: Path, tmp_path: Path, cache: Path
) -> None:
    from modelward.data.catalog import DatasetCatalog
    from modelward.store.workspace import open_workspace

    csv = tmp_path / "people.csv"
    csv.write_text("age,churned\n31,0\n47,1\n")
    version, _ = DatasetCatalog(open_workspace()).add_file(csv, "people")
    assert file_digest(csv, cache) == version.digest == sha256(csv)


def test_a_100_mb_file_is_read_once_while_unchanged_and_again_once_it_changes(
    tmp_path: Path, cache: Path
) -> None:
    big = tmp_path / "big.bin"
    with open(big, "wb") as file:
        for n in range(100):
            file.write(bytes([n]) * MB)
    mtime_ns = settle(big)
    hashing = time.perf_counter()
    first = file_digest(big, cache)
    hashed_in = time.perf_counter() - hashing
    assert first == sha256(big)

    cached = time.perf_counter()
    assert file_digest(big, cache) == first
    cached_in = time.perf_counter() - cached
    assert cached_in < 0.05, f"the unchanged file took {cached_in * 1000:.1f} ms"
    assert cached_in < hashed_in / 5

    # Proof that the cached call does not read the file: new bytes of the same size with
    # the old mtime restored are not seen (DVC's known limit, documented in the module).
    with open(big, "r+b") as file:
        file.write(b"\xff" * MB)
    os.utime(big, ns=(mtime_ns, mtime_ns))
    assert file_digest(big, cache) == first

    os.utime(big, ns=(mtime_ns + 1_000, mtime_ns + 1_000))  # a new mtime: read again
    changed = file_digest(big, cache)
    assert changed == sha256(big) != first


def test_a_change_of_size_or_of_inode_is_a_change(tmp_path: Path, cache: Path) -> None:
    data = tmp_path / "data.csv"
    data.write_text("a\n1\n")
    mtime_ns = settle(data)
    assert file_digest(data, cache) == sha256(data)

    data.write_text("a\n1\n2\n")  # longer, same mtime
    os.utime(data, ns=(mtime_ns, mtime_ns))
    assert file_digest(data, cache) == sha256(data)

    replacement = tmp_path / "new.csv"  # same size and mtime, another file renamed over it
    replacement.write_text("a\n3\n4\n")
    os.utime(replacement, ns=(mtime_ns, mtime_ns))
    os.replace(replacement, data)
    assert file_digest(data, cache) == hashlib.sha256(b"a\n3\n4\n").hexdigest()


def test_a_file_hashed_right_after_its_last_write_is_not_remembered(
    tmp_path: Path, cache: Path
) -> None:
    """Another write in the same timestamp tick would leave its stat unchanged."""
    fresh = tmp_path / "fresh.csv"
    fresh.write_text("a\n1\n")
    os.utime(fresh, ns=(time.time_ns() + RACY_NS, time.time_ns() + RACY_NS))
    assert file_digest(fresh, cache) == sha256(fresh)
    assert not cache.exists()
    settle(fresh)
    file_digest(fresh, cache)
    entries = orjson.loads(cache.read_bytes())["entries"]
    assert entries[str(fresh.absolute())][4] == sha256(fresh)


@pytest.mark.parametrize(
    "garbage",
    [b"", b"{not json", b"[1, 2]", b'{"version": 1, "entries": []}', b"\xff\xfe\x00"],
)
def test_a_corrupt_cache_is_ignored_and_written_anew(
    tmp_path: Path, cache: Path, garbage: bytes
) -> None:
    data = tmp_path / "data.csv"
    data.write_text("a\n1\n")
    settle(data)
    cache.parent.mkdir(parents=True)
    cache.write_bytes(garbage)
    assert file_digest(data, cache) == sha256(data)
    assert orjson.loads(cache.read_bytes())["entries"][str(data.absolute())][4] == sha256(data)


def test_a_corrupt_entry_is_not_believed(tmp_path: Path, cache: Path) -> None:
    data = tmp_path / "data.csv"
    data.write_text("a\n1\n")
    settle(data)
    file_digest(data, cache)
    stored = orjson.loads(cache.read_bytes())
    stored["entries"][str(data.absolute())][4] = 42
    cache.write_bytes(orjson.dumps(stored))
    assert file_digest(data, cache) == sha256(data)


def test_a_cache_that_cannot_be_written_is_no_error(tmp_path: Path) -> None:
    data = tmp_path / "data.csv"
    data.write_text("a\n1\n")
    settle(data)
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    assert file_digest(data, blocked / "file-digests.json") == sha256(data)


def test_a_missing_file_or_a_directory_is_bad_input(tmp_path: Path, cache: Path) -> None:
    with pytest.raises(InvalidInput, match="no such file"):
        file_digest(tmp_path / "missing.csv", cache)
    with pytest.raises(InvalidInput, match="not a regular file"):
        file_digest(tmp_path, cache)


_HAMMER = """
import os, sys, time
from pathlib import Path
from modelward.pipelines.file_digests import file_digest
cache, folder, tag = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
for n in range(150):
    path = folder / f"{tag}-{n % 5}.txt"
    path.write_text(f"{tag} {n}")
    past = time.time_ns() - 10**10 + n
    os.utime(path, ns=(past, past))
    file_digest(path, cache)
"""


def test_two_processes_updating_the_cache_at_once_never_corrupt_it(
    tmp_path: Path, cache: Path
) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    writers = [
        subprocess.Popen([sys.executable, "-c", _HAMMER, str(cache), str(tmp_path), tag], env=env)
        for tag in ("a", "b")
    ]
    reads = 0
    while any(writer.poll() is None for writer in writers):
        if cache.exists():
            assert orjson.loads(cache.read_bytes())["version"] == 1  # never half-written
            reads += 1
    assert [writer.wait(timeout=60) for writer in writers] == [0, 0]
    assert reads > 0
    for path in tmp_path.glob("[ab]-*.txt"):
        assert file_digest(path, cache) == sha256(path)
    assert not list(cache.parent.glob(".file-digests.json.*"))  # no temp files left
