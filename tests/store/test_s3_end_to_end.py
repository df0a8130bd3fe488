"""The loop's first steps with MODELWARD_ARTIFACTS=s3://...: real `mw` processes, a real
S3-protocol server, and nothing of the artifacts in the home."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from tests import s3
from tests.helpers import bird_features, mw, mw_in_process

TRAIN = ("--target", "label", "--model", "sklearn.tree.DecisionTreeClassifier", "--seed", "3")


@pytest.fixture
def birds_csv(tmp_path: Path) -> Path:
    frame, rng = bird_features(200, 5)
    frame["label"] = ((frame["bill"] > 44) ^ (rng.random(200) < 0.1)).astype(int)
    path = tmp_path / "birds.csv"
    frame.drop(columns=["island"]).to_csv(path, index=False)
    return path


def test_data_train_register_predict_keep_every_artifact_in_the_bucket(
    s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, birds_csv: Path
) -> None:
    monkeypatch.setenv("MODELWARD_ARTIFACTS", s3_bucket)
    home = tmp_path / "home"
    ready = mw_in_process("init", "--json", home=home, env={"MODELWARD_ARTIFACTS": s3_bucket})
    assert ready.code == 0, ready.stderr
    assert ready.json()["artifacts"] == s3_bucket
    added = mw("data", "add", birds_csv, "--name", "birds", home=home)
    assert added.code == 0, added.stderr
    trained = mw("train", "--data", "birds@1", *TRAIN, "--register", "birds-clf", home=home)
    assert trained.code == 0, trained.stderr
    out = tmp_path / "predictions.csv"
    predicted = mw("predict", "birds-clf@1", "--data", birds_csv, "--out", out, home=home)
    assert predicted.code == 0, predicted.stderr
    assert len(pd.read_csv(out)) == 200

    assert not (home / "blobs").exists()
    assert all(p.name.startswith("modelward.db") for p in home.rglob("*") if p.is_file())
    client = s3.client(os.environ["AWS_ENDPOINT_URL"])
    bucket, prefix = s3_bucket.removeprefix("s3://").split("/", 1)
    stored = client.list_objects_v2(Bucket=bucket).get("Contents", [])
    assert len(stored) >= 3  # the dataset, the model, its metadata
    assert all(item["Key"].startswith(f"{prefix}/sha256/") for item in stored)


def test_a_missing_bucket_is_one_line_and_exit_2(
    s3_bucket: str, tmp_path: Path, birds_csv: Path
) -> None:
    result = mw_in_process(
        "data",
        "add",
        birds_csv,
        "--name",
        "birds",
        home=tmp_path / "home",
        env={"MODELWARD_ARTIFACTS": "s3://no-such-bucket-here/x"},
    )
    assert result.code == 2
    assert (
        result.stderr.count("\n") == 1 and "'no-such-bucket-here' does not exist" in result.stderr
    )
    assert "Traceback" not in result.stderr


def test_an_unreachable_store_is_one_line_and_exit_1(
    s3_bucket: str, tmp_path: Path, birds_csv: Path
) -> None:
    result = mw_in_process(
        "data",
        "add",
        birds_csv,
        "--name",
        "birds",
        home=tmp_path / "home",
        env={
            "MODELWARD_ARTIFACTS": s3_bucket,
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{s3.free_port()}",
        },
    )
    assert result.code == 1
    assert result.stderr.count("\n") == 1 and "could not be reached" in result.stderr
    assert not list((tmp_path / "home").rglob("blobs"))
