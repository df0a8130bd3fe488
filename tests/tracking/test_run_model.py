"""A model stored with its run: the format chosen, what loads back, and the first call's cost."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge, SGDClassifier
from sklearn.naive_bayes import GaussianNB
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from modelward.errors import InvalidInput
from modelward.serialization import load_model, save_model


def _classification() -> tuple[np.ndarray, np.ndarray]:
    X, y = make_classification(
        n_samples=200, n_features=5, n_informative=3, n_classes=3, random_state=0
    )
    return X, np.array(["low", "mid", "high"])[y]


@pytest.mark.parametrize(
    "make",
    [
        lambda: LogisticRegression(max_iter=500),
        lambda: GaussianNB(),
        lambda: LinearSVC(C=0.5),
    ],
    ids=["LogisticRegression", "GaussianNB", "LinearSVC"],
)
def test_plain_sklearn_classifiers_are_stored_as_npz_and_predict_the_same(make: Any) -> None:
    X, y = _classification()
    model = make().fit(X, y)
    saved = save_model(model)
    assert (saved.format, saved.flavor) == ("mw-native", "sklearn")
    back = load_model(saved.data, saved.format)
    assert type(back) is type(model)
    np.testing.assert_array_equal(back.predict(X), model.predict(X))
    if hasattr(model, "predict_proba"):
        np.testing.assert_allclose(back.predict_proba(X), model.predict_proba(X), rtol=1e-12)


@pytest.mark.parametrize("make", [LinearRegression, lambda: Ridge(alpha=0.3), StandardScaler])
def test_plain_sklearn_regressors_and_transformers_round_trip(make: Any) -> None:
    X, y = make_regression(n_samples=100, n_features=4, random_state=1)
    model = make().fit(X, y)
    saved = save_model(model)
    assert saved.format == "mw-native"
    back = load_model(saved.data, saved.format)
    method = "predict" if hasattr(model, "predict") else "transform"
    np.testing.assert_allclose(getattr(back, method)(X), getattr(model, method)(X), rtol=1e-12)


@pytest.mark.parametrize(
    "make",
    [
        lambda: RandomForestClassifier(n_estimators=3, random_state=0),  # trees: objects
        lambda: SGDClassifier(random_state=0),  # holds its loss object
    ],
)
def test_estimators_with_richer_state_still_go_to_skops(make: Any) -> None:
    X, y = _classification()
    assert save_model(make().fit(X, y)).format == "skops"


def _npz(meta: dict[str, Any], **arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, __modelward__=np.array(json.dumps(meta)), **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("meta", "fragment"),
    [
        ({"class": "os.system", "params": {}, "scalars": {}}, "refusing to build 'os.system'"),
        (
            {"class": "sklearn.preprocessing.FunctionTransformer", "params": {}, "scalars": {}},
            "refusing to build",
        ),
        (
            {
                "class": "sklearn.linear_model._base.LinearRegression",
                "params": {},
                "scalars": {"predict": 1},
            },
            "sets attribute 'predict'",
        ),
        ({"class": "sklearn.linear_model._ridge.Ridge", "params": [], "scalars": {}}, "malformed"),
    ],
)
def test_a_crafted_npz_builds_only_allowed_classes_and_fitted_attributes(
    meta: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        load_model(_npz(meta), "mw-native")
    assert fragment in str(refused.value)


def test_the_first_log_model_in_a_fresh_process_imports_no_skops(tmp_path: Path) -> None:
    # skops' import alone took ~0.6 s idle (1-2 s on a busy box): it walks every scikit-learn
    # module; a LogisticRegression needs none of it
    script = textwrap.dedent(
        """
        import json, sys, time
        import numpy as np, pandas as pd
        from sklearn.linear_model import LogisticRegression
        import modelward as mw
        rng = np.random.default_rng(0)
        frame = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
        frame["label"] = (frame.a + frame.b > 0).astype(int)
        ds = mw.data.add(frame, name="toy")
        model = LogisticRegression().fit(frame[["a", "b"]], frame["label"])
        with mw.start_run() as run:
            start = time.perf_counter()
            version = run.log_model(model, name="toy-clf", data=ds)
            seconds = time.perf_counter() - start
        loaded = mw.models.load(version.ref)
        same = bool((loaded.predict(frame) == model.predict(frame[["a", "b"]])).all())
        print(json.dumps({"seconds": seconds, "skops": "skops" in sys.modules,
                          "format": version.format, "same": same}))
        """
    )
    env = {**os.environ, "MODELWARD_HOME": str(tmp_path / "home")}
    env.pop("MODELWARD_DB", None)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["format"] == "mw-native" and report["same"] is True
    assert report["skops"] is False
    assert report["seconds"] < 1.0, report  # ~0.05 s idle, ~0.15 s on a busy 2-core box
