"""A team server whose artifact store is an S3 bucket: uploads stream into the bucket
(checked against their sha256 first), downloads come back verified, and nothing lands
in the server's home."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

import modelward as mw
from modelward.store.workspace import open_workspace
from tests import s3
from tests.helpers import bird_features
from tests.server.support import WRITER, TeamServer


def test_uploads_through_the_server_land_in_the_bucket_and_come_back_verified(
    s3_home: Path, s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    team = TeamServer.start(open_workspace())
    data = os.urandom(300_000)
    digest = hashlib.sha256(data).hexdigest()
    http = team.http(WRITER)
    wrong = http.put(
        f"/api/v1/artifacts/{digest}",
        content=data[:-1] + b"x",
        headers={"x-content-sha256": digest},
    )
    assert wrong.status_code == 400 and "nothing was stored" in wrong.json()["error"]["message"]
    bucket, prefix = s3_bucket.removeprefix("s3://").split("/", 1)
    objects = s3.client(os.environ["AWS_ENDPOINT_URL"])
    assert objects.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0

    client = team.connect(monkeypatch, tmp_path / "client", WRITER)
    assert client.artifacts.put_bytes(data) == digest
    keys = [o["Key"] for o in objects.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == [f"{prefix}/sha256/{digest[:2]}/{digest[2:]}"]
    assert client.artifacts.read_bytes(digest) == data

    # the whole loop's first step through the server: the dataset goes to the bucket too
    frame, _ = bird_features(50, 1)
    version = mw.data.add(frame, name="birds")
    assert mw.data.load("birds@1").shape == frame.shape
    stored = {o["Key"] for o in objects.list_objects_v2(Bucket=bucket)["Contents"]}
    assert f"{prefix}/sha256/{version.digest[:2]}/{version.digest[2:]}" in stored
    assert not (s3_home / "blobs").exists()
