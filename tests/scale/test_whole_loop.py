"""The whole loop (`mw demo`: data, training, evaluation, registry, serving, monitoring,
the alert's retraining pipeline and the swap) on the team's components: a real
PostgreSQL for metadata and a real S3-protocol store for artifacts."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests import s3
from tests.helpers import mw


@pytest.mark.timeout(400)
def test_the_whole_loop_runs_on_postgresql_and_s3(
    postgres_url: str, s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELWARD_DB", postgres_url)
    monkeypatch.setenv("MODELWARD_ARTIFACTS", s3_bucket)
    home = tmp_path / "home"
    result = mw("demo", "--no-dashboard", "--json", home=home, timeout=360, keep_db=True)
    assert result.code == 0, result.stderr
    report = result.json()
    assert report["production"] == "breast-cancer-clf@1"
    assert report["monitoring"]["alert"]["rule"] == "input-drift"
    loop = report["loop"]
    assert loop["status"] == "succeeded" and loop["served_version"] == 2
    assert not (home / "modelward.db").exists()  # the metadata is in PostgreSQL
    assert not (home / "blobs").exists()  # the artifacts are in the bucket
    bucket, prefix = s3_bucket.removeprefix("s3://").split("/", 1)
    listed = s3.client(os.environ["AWS_ENDPOINT_URL"]).list_objects_v2(Bucket=bucket)
    assert listed["KeyCount"] >= 10
    keys = [item["Key"].removeprefix(f"{prefix}/") for item in listed["Contents"]]
    assert all(
        key.split("/")[0] in ("sha256", "prediction-log", "prediction-feedback") for key in keys
    )
    # the prediction log is Parquet segments in the bucket (the default with an S3 store),
    # partitioned by model, version and hour; the drift that fired the alert was read there
    segments = [key for key in keys if key.startswith("prediction-log/")]
    assert segments and all(key.endswith(".parquet") for key in segments)
    assert all(key.split("/")[1:3] == ["model=breast-cancer-clf", "version=1"] or
               key.split("/")[2] == "version=2" for key in segments)  # fmt: skip
    assert all(key.split("/")[3].startswith("hour=") for key in segments)
