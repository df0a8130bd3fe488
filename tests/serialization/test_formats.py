"""Model formats: safe by default, pickle only with trust, tampering caught by the store."""

from __future__ import annotations

import collections
import os
from pathlib import Path

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from modelward.errors import IntegrityError, InvalidInput
from modelward.serialization import load_model, save_model
from modelward.store.artifacts import LocalArtifactStore
from modelward.training.linear import LinearRegression, LogisticRegression


@pytest.fixture
def xy() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 4))
    return X, np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")


def test_builtin_trainers_round_trip_without_pickle(xy: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = xy
    model = LogisticRegression(optimizer="adam", max_epochs=50, random_state=1).fit(X, y)
    saved = save_model(model)
    assert (saved.format, saved.flavor) == ("mw-native", "builtin")
    assert b"pickle" not in saved.data
    back = load_model(saved.data, saved.format)
    np.testing.assert_array_equal(back.predict(X), model.predict(X))
    np.testing.assert_allclose(back.predict_proba(X), model.predict_proba(X))
    regressor = LinearRegression(max_epochs=20).fit(X, X @ [1.0, 2.0, 0.0, -1.0])
    again = load_model(save_model(regressor).data, "mw-native")
    np.testing.assert_allclose(again.predict(X), regressor.predict(X))


def test_sklearn_pipelines_use_skops(xy: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = xy
    model = make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=5, random_state=0))
    model.fit(X, y)
    saved = save_model(model)
    assert (saved.format, saved.flavor) == ("skops", "sklearn")
    np.testing.assert_array_equal(load_model(saved.data, "skops").predict(X), model.predict(X))


def test_a_pipeline_with_a_builtin_trainer_loads_as_trusted(
    xy: tuple[np.ndarray, np.ndarray],
) -> None:
    X, y = xy
    model = make_pipeline(StandardScaler(), LogisticRegression(max_epochs=20)).fit(X, y)
    saved = save_model(model)
    assert saved.format == "skops"
    np.testing.assert_array_equal(load_model(saved.data, "skops").predict(X), model.predict(X))


def test_pickles_load_only_with_trust() -> None:
    saved = save_model(collections.Counter(a=1), format="pickle")
    with pytest.raises(InvalidInput, match="trust=True"):
        load_model(saved.data, "pickle")
    assert load_model(saved.data, "pickle", trust=True) == collections.Counter(a=1)


def test_a_malicious_pickle_never_runs_without_trust(tmp_path: Path) -> None:
    import pickle

    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, (f"touch {marker}",))

    with pytest.raises(InvalidInput):
        load_model(pickle.dumps(Exploit()), "pickle")
    assert not marker.exists()


def test_non_estimators_need_an_explicit_pickle() -> None:
    with pytest.raises(InvalidInput, match="format='pickle'"):
        save_model(collections.Counter())


def test_skops_refuses_untrusted_types() -> None:
    import skops.io as sio

    data = sio.dumps({"payload": collections.Counter(a=1)})
    with pytest.raises(InvalidInput, match=r"outside modelward.s allow-list: collections\.Counter"):
        load_model(data, "skops")
    assert load_model(data, "skops", trust=True)["payload"]["a"] == 1


def test_native_refuses_classes_outside_its_allow_list() -> None:
    import io
    import json

    buffer = io.BytesIO()
    meta = {"class": "os.system", "params": {}, "scalars": {}}
    np.savez(buffer, __modelward__=np.array(json.dumps(meta)))
    with pytest.raises(InvalidInput, match="refusing to build"):
        load_model(buffer.getvalue(), "mw-native")


def test_a_tampered_model_artifact_is_refused(
    tmp_path: Path, xy: tuple[np.ndarray, np.ndarray]
) -> None:
    X, y = xy
    store = LocalArtifactStore(tmp_path / "blobs")
    digest = store.put_bytes(save_model(LogisticRegression(max_epochs=5).fit(X, y)).data)
    blob = store.root / "sha256" / digest[:2] / digest[2:]
    blob.chmod(0o644)
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="tampered"):
        store.read_bytes(digest)
