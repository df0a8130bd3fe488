"""A server following an alias over an S3 store keeps serving what it verified."""

from __future__ import annotations

import os
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd
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
