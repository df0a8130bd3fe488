"""A registered model file that would run code is refused by every way a model is loaded."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.linear_model import LogisticRegression

import modelward as mw
from modelward.errors import InvalidInput
from modelward.registry.entities import ModelVersion
from modelward.registry.service import ModelRegistry
from modelward.serialization import skops_format
from modelward.serving.holder import ModelHolder
from modelward.store.workspace import open_workspace
from tests.helpers import mw as run_mw
from tests.serialization.test_skops_allowlist import eval_pipeline


@pytest.fixture
def toy(home: Path) -> str:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=100)})
    frame["label"] = (frame["a"] > 0).astype(int)
    return mw.data.add(frame, name="toy").ref


def _register_good(toy: str) -> ModelVersion:
    frame = mw.data.load(toy)
    with mw.start_run() as run:
        fitted = LogisticRegression().fit(frame[["a"]], frame["label"])
        return cast(ModelVersion, run.log_model(fitted, name="clf", data=toy))


def _register_payload(toy: str, marker: Path, monkeypatch: pytest.MonkeyPatch) -> ModelVersion:
    """Store the eval payload as a skops model version, as a hand-made file would be."""
    model = eval_pipeline(marker)
    marker.unlink()
    with monkeypatch.context() as patch:
        patch.setattr(skops_format, "dumps", sio.dumps)  # the attacker's own writer
        with mw.start_run() as run:
            return cast(ModelVersion, run.log_model(model, name="clf", data=toy))


def test_the_payload_is_refused_by_load_predict_and_serve(
    toy: str, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "pwned"
    bad = _register_payload(toy, marker, monkeypatch)
    with pytest.raises(InvalidInput, match=r"builtins\.eval"):
        mw.models.load(bad.ref)
    data = tmp_path / "rows.csv"
    pd.DataFrame({"a": [0.5, -0.5]}).to_csv(data, index=False)
    predicted = run_mw("predict", bad.ref, "--data", data, "--out", tmp_path / "out.csv", home=home)
    assert predicted.code == 2 and "builtins.eval" in predicted.stderr
    assert not (tmp_path / "out.csv").exists()
    served = run_mw("serve", bad.ref, "--port", "0", home=home, timeout=60)
    assert served.code == 2 and "builtins.eval" in served.stderr
    assert not marker.exists()


def test_a_following_server_keeps_its_verified_version_when_the_new_one_is_refused(
    toy: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = _register_good(toy)
    mw.models.set_alias("clf", good.version, "production")
    holder = ModelHolder(ModelRegistry(open_workspace()), "clf@production", poll_interval=0)
    marker = tmp_path / "pwned"
    bad = _register_payload(toy, marker, monkeypatch)
    mw.models.set_alias("clf", bad.version, "production")
    assert holder.check_now() is False
    assert holder.current.version.version == good.version
    assert holder.swaps[-1].to_version == bad.version
    assert "builtins.eval" in (holder.swaps[-1].error or "")
    assert holder.check_now() is False and len(holder.swaps) == 1  # not retried every poll
    frame = pd.DataFrame({"a": [1.0, -1.0]})
    assert list(holder.current.predict(frame)) == [1, 0]
    assert not marker.exists()
