"""The S3 artifact store against a real S3-protocol server (moto_server on 127.0.0.1).

The bucket is always looked at independently, through a plain boto3 client.
"""

from __future__ import annotations

import hashlib
import io
import os
import time
from pathlib import Path
from typing import Any

import pytest

from modelward.config import S3Location, load_settings, s3_location
from modelward.errors import AccessDenied, IntegrityError, InvalidInput, NotFound, Unavailable
from modelward.store.s3_artifacts import S3ArtifactStore, cache_dir
from modelward.store.workspace import close_workspaces, open_workspace
from tests import s3

PART = 5 << 20  # S3's smallest part: several parts from a small file


@pytest.fixture
def store(s3_bucket: str) -> S3ArtifactStore:
    return S3ArtifactStore(s3_location(s3_bucket), part_size=PART, concurrency=3)


def bucket_view(store: S3ArtifactStore) -> tuple[Any, str]:
    return s3.client(os.environ["AWS_ENDPOINT_URL"]), store.location.bucket


def keys(store: S3ArtifactStore) -> list[str]:
    client, bucket = bucket_view(store)
    listed = client.list_objects_v2(Bucket=bucket)
    return sorted(item["Key"] for item in listed.get("Contents", []))


def unfinished_uploads(store: S3ArtifactStore) -> list[Any]:
    client, bucket = bucket_view(store)
    return list(client.list_multipart_uploads(Bucket=bucket).get("Uploads", []))


def count_calls(store: S3ArtifactStore, operation: str) -> list[str]:
    """Record each `operation` request the store's client sends (botocore's event hook)."""
    seen: list[str] = []
    store.client.meta.events.register(
        f"before-call.s3.{operation}", lambda **kwargs: seen.append(operation)
    )
    return seen


def test_a_big_file_is_stored_in_parts_under_its_sha256(
    store: S3ArtifactStore, tmp_path: Path
) -> None:
    payload = os.urandom(2 * PART + 12345)
    source = tmp_path / "big.bin"
    source.write_bytes(payload)
    parts = count_calls(store, "UploadPart")
    digest = store.put_file(source)
    expected = hashlib.sha256(payload).hexdigest()
    assert digest == expected
    assert len(parts) == 3
    key = f"team/artifacts/sha256/{expected[:2]}/{expected[2:]}"
    assert keys(store) == [key]
    client, bucket = bucket_view(store)
    assert client.get_object(Bucket=bucket, Key=key)["Body"].read() == payload
    assert store.exists(digest) and store.size_of(digest) == len(payload)
    assert store.read_bytes(digest) == payload
    assert store.local_path(digest).read_bytes() == payload
    with store.open_verified(digest) as handle:
        assert handle.read() == payload
    assert unfinished_uploads(store) == []


def test_identical_content_is_stored_once_and_sent_once(
    store: S3ArtifactStore, tmp_path: Path
) -> None:
    (tmp_path / "a").write_bytes(b"same bytes")
    (tmp_path / "b").write_bytes(b"same bytes")
    puts = count_calls(store, "PutObject")
    first = store.put_file(tmp_path / "a")
    assert store.put_file(tmp_path / "b") == first
    assert store.put_bytes(b"same bytes") == first == hashlib.sha256(b"same bytes").hexdigest()
    with store.stage_file(tmp_path / "b") as staged:
        assert staged.commit() == first
    assert len(puts) == 1
    assert len(keys(store)) == 1


def test_a_staged_copy_reaches_the_bucket_only_when_committed(
    store: S3ArtifactStore, tmp_path: Path
) -> None:
    source = tmp_path / "data.csv"
    source.write_bytes(b"a,b\n1,2\n")
    with store.stage_file(source) as staged:
        assert staged.path.read_bytes() == b"a,b\n1,2\n"
        assert not store.exists(staged.digest)
    assert keys(store) == []
    with store.stage_file(source) as staged:
        staged.commit()
    assert store.exists(staged.digest)
    assert list(store.cache.temp_dir().iterdir()) == []


def test_a_tampered_object_is_refused_naming_its_digest(
    store: S3ArtifactStore, tmp_path: Path
) -> None:
    digest = store.put_bytes(b"original content")
    client, bucket = bucket_view(store)
    client.put_object(Bucket=bucket, Key=store.key(digest), Body=b"tampered content")
    for read in (store.read_bytes, store.local_path, store.verify, store.open_verified):
        with pytest.raises(IntegrityError, match=rf"{digest[:12]}.*tampered"):
            read(digest)
    assert not store.cache.exists(digest)  # nothing of it was kept
    assert list(store.cache.temp_dir().iterdir()) == []


def test_verify_checks_the_bucket_even_with_a_good_cached_copy(store: S3ArtifactStore) -> None:
    digest = store.put_bytes(b"model bytes")
    assert store.local_path(digest).read_bytes() == b"model bytes"  # now cached
    client, bucket = bucket_view(store)
    client.put_object(Bucket=bucket, Key=store.key(digest), Body=b"model bytez")
    with pytest.raises(IntegrityError):
        store.verify(digest)


def test_a_damaged_object_of_another_size_is_replaced_by_the_next_upload(
    store: S3ArtifactStore,
) -> None:
    digest = store.put_bytes(b"twelve bytes")
    client, bucket = bucket_view(store)
    client.put_object(Bucket=bucket, Key=store.key(digest), Body=b"torn")
    assert store.put_bytes(b"twelve bytes") == digest
    assert store.read_bytes(digest) == b"twelve bytes"


def test_an_upload_whose_bytes_do_not_match_is_aborted_and_leaves_nothing(
    store: S3ArtifactStore,
) -> None:
    payload = os.urandom(2 * PART + 1)
    claimed = hashlib.sha256(b"other bytes").hexdigest()  # the file changed after hashing
    with pytest.raises(IntegrityError, match="changed while it was uploaded"):
        store._upload_parts(io.BytesIO(payload), claimed, len(payload))
    assert keys(store) == []
    assert unfinished_uploads(store) == []


def test_an_upload_interrupted_half_way_is_aborted_and_leaves_nothing(
    store: S3ArtifactStore,
) -> None:
    class Interrupted(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            if self.tell() >= PART:
                raise KeyboardInterrupt
            return super().read(size)

    payload = os.urandom(3 * PART)
    with pytest.raises(KeyboardInterrupt):
        store._upload_parts(Interrupted(payload), hashlib.sha256(payload).hexdigest(), len(payload))
    assert keys(store) == []
    assert unfinished_uploads(store) == []


def test_a_missing_artifact_is_not_found(store: S3ArtifactStore) -> None:
    missing = "0" * 64
    assert not store.exists(missing)
    for read in (store.read_bytes, store.local_path, store.size_of):
        with pytest.raises(NotFound, match="missing"):
            read(missing)


@pytest.mark.parametrize("digest", ["../../etc/passwd", "ABC", "0" * 63, ""])
def test_only_sha256_digests_name_objects(store: S3ArtifactStore, digest: str) -> None:
    with pytest.raises(InvalidInput):
        store.read_bytes(digest)


def test_a_missing_bucket_says_which_and_how_to_create_it(s3_bucket: str) -> None:
    store = S3ArtifactStore(S3Location("no-such-bucket-here", "x"))
    for action in (lambda: store.exists("0" * 64), lambda: store.put_bytes(b"x")):
        with pytest.raises(NotFound, match=r"'no-such-bucket-here' does not exist.*s3 mb"):
            action()


def test_an_unreachable_endpoint_fails_within_seconds(
    s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{s3.free_port()}")
    store = S3ArtifactStore(s3_location(s3_bucket))
    started = time.monotonic()
    with pytest.raises(Unavailable, match=r"could not be reached.*AWS_ENDPOINT_URL"):
        store.put_bytes(b"x")
    assert time.monotonic() - started < 10


def test_a_store_made_after_the_endpoint_is_fixed_uses_the_new_one(
    s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the process shares its clients between stores: a changed variable is a new client
    endpoint = os.environ["AWS_ENDPOINT_URL"]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{s3.free_port()}")
    with pytest.raises(Unavailable, match="could not be reached"):
        S3ArtifactStore(s3_location(s3_bucket)).put_bytes(b"fixed")
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    store = S3ArtifactStore(s3_location(s3_bucket))
    digest = store.put_bytes(b"fixed")
    assert store.exists(digest)  # a HEAD in the bucket, not the local cache


def test_wrong_credentials_are_refused(
    s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a second server that checks signatures: it knows no access key at all
    process, endpoint = s3.start_moto(tmp_path / "auth.log", INITIAL_NO_AUTH_ACTION_COUNT="0")
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        store = S3ArtifactStore(s3_location(s3_bucket))
        with pytest.raises(AccessDenied, match=r"refused the credentials.*AWS_ACCESS_KEY_ID"):
            store.put_bytes(b"x")
    finally:
        s3.stop(process)


@pytest.mark.parametrize(
    ("url", "bucket", "prefix"),
    [("s3://team-bucket", "team-bucket", ""), ("s3://b.x-1/a/b/", "b.x-1", "a/b")],
)
def test_s3_urls_name_a_bucket_and_a_prefix(url: str, bucket: str, prefix: str) -> None:
    assert s3_location(url) == S3Location(bucket, prefix)


@pytest.mark.parametrize(
    "url",
    ["s3://", "s3://UPPER", "s3://ab", "s3://a_b", "s3://b/../x", "s3://b/a//c", "s3://b/a b"],
)
def test_bad_s3_urls_are_refused(url: str) -> None:
    with pytest.raises(InvalidInput, match="MODELWARD_ARTIFACTS"):
        s3_location(url)


def test_the_workspace_stores_artifacts_in_the_bucket_and_not_in_the_home(
    s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("MODELWARD_HOME", str(home))
    monkeypatch.delenv("MODELWARD_DB", raising=False)
    monkeypatch.setenv("MODELWARD_ARTIFACTS", s3_bucket)
    try:
        workspace = open_workspace()
        assert isinstance(workspace.artifacts, S3ArtifactStore)
        digest = workspace.artifacts.put_bytes(b"in the bucket")
        assert workspace.artifacts.local_path(digest).is_relative_to(cache_dir())
        assert not cache_dir().is_relative_to(home)
        assert not (home / "blobs").exists()
        with pytest.raises(InvalidInput, match="names an S3 bucket"):
            workspace.local_artifacts  # noqa: B018
        with pytest.raises(InvalidInput, match="names an S3 bucket"):
            load_settings().artifact_root  # noqa: B018
    finally:
        close_workspaces()
