"""A server following an alias over an S3 store keeps serving what it verified."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import modelward as mw
from modelward.registry.entities import ModelVersion
from modelward.registry.service import ModelRegistry
from modelward.serving.holder import ModelHolder
from modelward.store.s3_artifacts import S3ArtifactStore
from modelward.store.workspace import open_workspace
from tests import s3


def _register(data: str, c: float) -> ModelVersion:
    frame = mw.data.load(data)
    with mw.start_run() as run:
        fitted = LogisticRegression(C=c).fit(frame[["a"]], frame["label"])
        return cast(ModelVersion, run.log_model(fitted, name="clf", data=data))


def test_a_tampered_new_version_is_refused_and_the_verified_one_keeps_serving(
    s3_home: Path,
) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=100)})
    frame["label"] = (frame["a"] > 0).astype(int)
    data = mw.data.add(frame, name="toy").ref
    good = _register(data, 1.0)
    mw.models.set_alias("clf", good.version, "production")
    holder = ModelHolder(ModelRegistry(open_workspace()), "clf@production", poll_interval=0)

    newer = _register(data, 0.01)
    store = open_workspace().artifacts
    assert isinstance(store, S3ArtifactStore)
    s3.client(os.environ["AWS_ENDPOINT_URL"]).put_object(
        Bucket=store.location.bucket, Key=store.key(newer.digest), Body=b"not the model"
    )
    mw.models.set_alias("clf", newer.version, "production")
    assert holder.check_now() is False
    assert holder.current.version.version == good.version
    assert f"{newer.digest[:12]}" in (holder.swaps[-1].error or "")
    assert "tampered" in (holder.swaps[-1].error or "")
    assert list(holder.current.predict(pd.DataFrame({"a": [2.0, -2.0]}))) == [1, 0]


def test_a_store_out_of_reach_is_retried_and_the_new_version_served_once_it_is_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A store of its own: this test stops it and starts it again on the same port.
    moto, endpoint = s3.start_moto(tmp_path / "moto.log")
    port = endpoint.rsplit(":", 1)[1]
    try:
        for name, value in s3.CREDENTIALS.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
        monkeypatch.setenv("MODELWARD_HOME", str(tmp_path / "home"))
        monkeypatch.delenv("MODELWARD_DB", raising=False)
        monkeypatch.setenv("MODELWARD_ARTIFACTS", "s3://flaky/artifacts")
        s3.client(endpoint).create_bucket(Bucket="flaky")
        rng = np.random.default_rng(0)
        frame = pd.DataFrame({"a": rng.normal(size=100)})
        frame["label"] = (frame["a"] > 0).astype(int)
        data = mw.data.add(frame, name="toy").ref
        good = _register(data, 1.0)
        mw.models.set_alias("clf", good.version, "production")
        holder = ModelHolder(ModelRegistry(open_workspace()), "clf@production", poll_interval=0)
        newer = _register(data, 0.01)
        store = open_workspace().artifacts
        assert isinstance(store, S3ArtifactStore)
        key = store.key(newer.digest)
        blob = s3.client(endpoint).get_object(Bucket="flaky", Key=key)["Body"].read()

        s3.stop(moto)  # the store goes away; the alias moves meanwhile
        mw.models.set_alias("clf", newer.version, "production")
        assert holder.check_now() is False
        assert holder.current.version.version == good.version  # still serving
        assert "could not be reached" in (holder.swaps[-1].error or "")

        with open(tmp_path / "moto-again.log", "wb") as out:  # back, on the same address
            moto = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", port],
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            try:
                s3.client(endpoint).create_bucket(Bucket="flaky")
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        s3.client(endpoint).put_object(Bucket="flaky", Key=key, Body=blob)  # its data restored
        time.sleep(0.6)  # the first retry waits half a second
        assert holder.check_now() is True
        assert holder.current.version.version == newer.version
    finally:
        s3.stop(moto)
