"""The content-addressed artifact store: digests, dedup, verification, path safety."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest

from modelward.errors import IntegrityError, InvalidInput, NotFound
from modelward.store.artifacts import LocalArtifactStore, check_digest, safe_relative_path


@pytest.fixture
def store(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "blobs")


def test_put_file_addresses_content_by_sha256(store: LocalArtifactStore, tmp_path: Path) -> None:
    payload = os.urandom(3 * (8 << 20) + 123)  # several chunks, not a multiple of one
    source = tmp_path / "payload.bin"
    source.write_bytes(payload)
    digest = store.put_file(source)
    assert digest == hashlib.sha256(payload).hexdigest()
    assert store.read_bytes(digest) == payload
    assert store.size_of(digest) == len(payload)


def test_identical_content_is_stored_once(store: LocalArtifactStore, tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"same bytes")
    (tmp_path / "b").write_bytes(b"same bytes")
    assert store.put_file(tmp_path / "a") == store.put_file(tmp_path / "b")
    assert store.put_bytes(b"same bytes") == hashlib.sha256(b"same bytes").hexdigest()
    blobs = [p for p in (store.root / "sha256").rglob("*") if p.is_file()]
    assert len(blobs) == 1


def test_tampered_artifact_is_refused(store: LocalArtifactStore) -> None:
    digest = store.put_bytes(b"original content")
    blob = store.root / "sha256" / digest[:2] / digest[2:]
    os.chmod(blob, 0o644)
    blob.write_bytes(b"tampered content")
    with pytest.raises(IntegrityError, match="tampered"):
        store.read_bytes(digest)
    with pytest.raises(IntegrityError):
        store.local_path(digest)


def test_missing_artifact_is_not_found(store: LocalArtifactStore) -> None:
    with pytest.raises(NotFound, match="missing"):
        store.read_bytes("0" * 64)


@pytest.mark.parametrize("digest", ["../../etc/passwd", "ABC", "0" * 63, "g" * 64, ""])
def test_only_sha256_digests_name_artifacts(store: LocalArtifactStore, digest: str) -> None:
    with pytest.raises(InvalidInput):
        store.read_bytes(digest)
    with pytest.raises(InvalidInput):
        check_digest(digest)


def test_a_link_in_the_store_is_not_followed(store: LocalArtifactStore, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"secret")
    digest = hashlib.sha256(b"secret").hexdigest()
    link = store.root / "sha256" / digest[:2] / digest[2:]
    link.parent.mkdir(parents=True)
    link.symlink_to(outside)
    with pytest.raises(IntegrityError, match="link"):
        store.read_bytes(digest)


@pytest.mark.parametrize(
    "path", ["../x", "a/../../x", "/etc/passwd", "C:/x", "a//b", "", "./a", "a/\x00"]
)
def test_artifact_paths_cannot_escape(path: str) -> None:
    with pytest.raises(InvalidInput):
        safe_relative_path(path)


def test_safe_relative_path_accepts_nested_names() -> None:
    assert str(safe_relative_path("plots/roc.png")) == "plots/roc.png"


class _FailingStream(io.RawIOBase):
    """Yields a few chunks, then fails like a disk or network error half-way."""

    def __init__(self, chunks: int) -> None:
        self.left = chunks

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self.left == 0:
            raise OSError("simulated read failure half-way")
        self.left -= 1
        return b"x" * (1 << 20)


def test_a_write_that_fails_half_way_leaves_nothing(store: LocalArtifactStore) -> None:
    with pytest.raises(OSError, match="half-way"):
        store._write_stream(_FailingStream(chunks=5))  # type: ignore[arg-type]
    leftovers = [p for p in store.root.rglob("*") if p.is_file()]
    assert leftovers == []


def test_put_file_on_bad_paths_is_invalid_input(store: LocalArtifactStore, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="no such file"):
        store.put_file(tmp_path / "missing.csv")
    with pytest.raises(InvalidInput, match="directory"):
        store.put_file(tmp_path)


def test_falls_back_when_the_kernel_cannot_copy(
    store: LocalArtifactStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    def unsupported(*args: object, **kwargs: object) -> int:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "copy_file_range", unsupported)
    payload = os.urandom(1 << 20)
    source = tmp_path / "x.bin"
    source.write_bytes(payload)
    digest = store.put_file(source)
    assert digest == hashlib.sha256(payload).hexdigest()
    assert store.read_bytes(digest) == payload
    assert list((store.root / "tmp").iterdir()) == []


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


@pytest.mark.parametrize("source_mode", [0o600, 0o644, 0o444])
def test_the_store_is_private_whatever_the_source_and_umask(
    tmp_path: Path, source_mode: int
) -> None:
    previous = os.umask(0)  # even a permissive umask gives no one else access
    try:
        store = LocalArtifactStore(tmp_path / "home" / "blobs")
        source = tmp_path / "secret.csv"
        source.write_bytes(b"a,b\n1,2\n")
        os.chmod(source, source_mode)
        digests = [store.put_file(source), store.put_bytes(b"model bytes")]
    finally:
        os.umask(previous)
    for digest in digests:
        blob = store.root / "sha256" / digest[:2] / digest[2:]
        assert _mode(blob) == 0o600
        for folder in (blob.parent, store.root / "sha256", store.root, store.root / "tmp"):
            assert _mode(folder) == 0o700, folder
    assert _mode(tmp_path / "home") == 0o700  # created for the store, so private too


def test_modes_are_a_choice_of_the_store(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "blobs", file_mode=0o640, dir_mode=0o750)
    digest = store.put_bytes(b"shared with the group")
    assert _mode(store.root / "sha256" / digest[:2] / digest[2:]) == 0o640
    assert _mode(store.root / "sha256" / digest[:2]) == 0o750


def test_existing_folders_keep_their_modes(tmp_path: Path) -> None:
    home = tmp_path / "project"
    home.mkdir(mode=0o755)
    os.chmod(home, 0o755)
    LocalArtifactStore(home / "blobs").put_bytes(b"x")
    assert _mode(home) == 0o755  # not ours to change
    assert _mode(home / "blobs") == 0o700


def test_a_staged_copy_is_stored_only_when_committed(
    store: LocalArtifactStore, tmp_path: Path
) -> None:
    source = tmp_path / "d.bin"
    source.write_bytes(b"checked before it is kept")
    digest = hashlib.sha256(b"checked before it is kept").hexdigest()
    with store.stage_file(source) as staged:
        assert staged.digest == digest and staged.path.read_bytes() == source.read_bytes()
        assert not store.exists(digest)
    assert not store.exists(digest)
    assert [p for p in store.root.rglob("*") if p.is_file()] == []

    with pytest.raises(ValueError, match="refused"), store.stage_file(source) as staged:
        raise ValueError("refused by the caller")
    assert [p for p in store.root.rglob("*") if p.is_file()] == []

    with store.stage_file(source) as staged:
        assert staged.commit() == digest
    assert store.read_bytes(digest) == source.read_bytes()
    assert list((store.root / "tmp").iterdir()) == []
