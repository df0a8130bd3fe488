"""The fitted transform compiled to NumPy answers exactly as the pandas path does.

Each model here is trained on data prepared by a transform spec; requests of many
rows (missing numbers and text, unseen categories, integers sent as decimals) go
through both paths of `serving.predicting`: the compiled `FeaturePlan` and the
DataFrame replay of the stored transform. Features, predictions, warnings and
errors must be identical.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelward.errors import DoesNotFit
from modelward.registry.loading import LoadedModel
from modelward.serving.features import FeaturePlan
from modelward.serving.predicting import predict_table, predict_with_pandas, prepare
from modelward.serving.validation import frame_from_columns
from tests.serving.support import Served

ISLANDS = ["Biscoe", "Dream", "Torgersen"]
NUMBERS = ["bill", "depth", "flipper", "mass"]

SPECS: dict[str, dict[str, Any]] = {
    # the demo's shape: fill, z-score, one_hot of text columns, drop an id
    "filled": {
        "steps": [
            {"fill_missing": {"columns": ["bill", "depth"], "strategy": "median"}},
            {"fill_missing": {"columns": ["flipper"], "strategy": "mean"}},
            {"fill_missing": {"columns": ["mass"], "strategy": "constant", "value": 4000}},
            {"fill_missing": {"columns": ["sex"], "strategy": "mode"}},
            {"fill_missing": {"columns": ["island"], "strategy": "constant", "value": "Dream"}},
            {"cast": {"columns": {"mass": "float64"}}},
            {"filter": "bill > 0"},
            {"normalize": {"columns": ["bill", "depth"], "method": "zscore"}},
            {"normalize": {"columns": ["flipper", "mass", "flat"], "method": "minmax"}},
            {"one_hot": {"columns": ["island", "sex", "year"]}},
            {"drop": ["tag", "island_Dream"]},
        ]
    },
    # missing values reach a model that takes them
    "gaps": {
        "steps": [
            {"normalize": {"columns": ["bill", "depth", "flat"], "method": "zscore"}},
            {"one_hot": {"columns": ["island", "sex"]}},
            {"drop": ["mass", "tag", "sex_female"]},
        ]
    },
}


def _frame(rng: np.random.Generator, n: int, *, requests: bool = False) -> pd.DataFrame:
    island = rng.choice([*ISLANDS, "Atlantis", "Mu"] if requests else ISLANDS, n).astype(object)
    sex = rng.choice(["male", "female", "unknown"] if requests else ["male", "female"], n)
    frame = pd.DataFrame(
        {
            "island": island,
            "bill": rng.normal(44.0, 5.0, n).round(1),
            "depth": rng.normal(17.0, 2.0, n).round(1),
            "flipper": rng.normal(200.0, 14.0, n).round(0),
            "mass": rng.normal(4200.0, 800.0, n).round(0),
            "flat": np.full(n, 3.0),
            "year": rng.choice([2007, 2008, 2009, 2010] if requests else [2007, 2008, 2009], n),
            "sex": sex.astype(object),
            "tag": [f"p{i}" for i in range(n)],
        }
    )
    for column, share in (("bill", 0.05), ("depth", 0.05), ("flipper", 0.1), ("mass", 0.1)):
        frame.loc[rng.random(n) < share, column] = np.nan
    for column in ("sex", "island"):
        frame.loc[rng.random(n) < 0.08, column] = None
    return frame


@pytest.fixture(scope="module")
def models(served: Served) -> dict[str, LoadedModel]:
    """One registered model per spec, trained on the prepared data."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    import modelward as mw

    rng = np.random.default_rng(7)
    frame = _frame(rng, 400)
    frame["species"] = np.where(frame["island"] == "Biscoe", "Gentoo", "Adelie")
    loaded = {}
    for name, spec in SPECS.items():
        raw = mw.data.add(frame, name=f"feat-{name}")
        prep = mw.data.transform(raw.ref, spec, name=f"feat-{name}-prep")
        prepared = mw.data.load(prep.ref)
        X, y = prepared.drop(columns=["species"]), prepared["species"]
        model = (
            LogisticRegression(max_iter=2000)
            if name == "filled"
            else HistGradientBoostingClassifier(max_iter=20, random_state=0)
        )
        with mw.start_run(experiment="features") as run:
            version = run.log_model(
                model.fit(X, y), name=f"feat-{name}-clf", data=prep.ref, target="species"
            )
        loaded[name] = mw.models.load(version.ref)
    return loaded


def _table(frame: pd.DataFrame, loaded: LoadedModel) -> dict[str, list[Any]]:
    """Request columns as the server reads them from JSON: None for a missing value."""
    table = {}
    for name in loaded.input_names:
        values = frame[name].astype(object).where(frame[name].notna(), None).tolist()
        table[name] = values
    return table


@pytest.mark.parametrize("name", sorted(SPECS))
def test_compiled_features_and_answers_equal_the_pandas_path(
    models: dict[str, LoadedModel], name: str
) -> None:
    loaded = models[name]
    plan = prepare(loaded).plan
    assert plan is not None, "this spec should compile"
    rng = np.random.default_rng(11)
    requests = _frame(rng, 2000, requests=True)
    if name == "filled":  # a model that refuses missing values: send what the spec fills
        requests["flat"] = 3.0
    table = _table(requests, loaded)
    table["year"][::50] = [2008.5] * len(table["year"][::50])  # read as 2008 by both paths

    features, _, _ = plan.matrix(table)
    frame = frame_from_columns(table, loaded.version.signature["inputs"])
    expected = loaded.features(frame).to_numpy(dtype=np.float64)
    np.testing.assert_array_equal(features, expected)
    assert np.isnan(features).any() == (name == "gaps")

    compiled = predict_table(loaded, table)
    reference = predict_with_pandas(loaded, table)
    assert compiled.values == reference.values
    assert [w.to_dict() for w in compiled.unseen] == [w.to_dict() for w in reference.unseen]
    assert compiled.unseen_rows == reference.unseen_rows
    # the requests hold unseen islands, sexes and (for "filled") years
    assert {"island", "sex"} <= set(compiled.unseen_rows)
    # and one row at a time, as most requests come (the plan's pure-Python path)
    _, raw, _ = plan.matrix(table)
    for row in range(2000):
        alone, alone_raw, _ = plan.matrix({c: values[row : row + 1] for c, values in table.items()})
        np.testing.assert_array_equal(alone, features[row : row + 1])
        np.testing.assert_array_equal(alone_raw, raw[row : row + 1])
    for row in range(0, 2000, 97):
        one = {column: values[row : row + 1] for column, values in table.items()}
        a, b = predict_table(loaded, one), predict_with_pandas(loaded, one)
        assert (a.values, a.unseen_rows) == (b.values, b.unseen_rows)
        assert [w.to_dict() for w in a.unseen] == [w.to_dict() for w in b.unseen]


def test_errors_equal_the_pandas_path(models: dict[str, LoadedModel]) -> None:
    loaded = models["filled"]
    rng = np.random.default_rng(3)
    table = _table(_frame(rng, 5, requests=True), loaded)
    table["flat"] = [3.0] * 5

    def message(path: Any, columns: dict[str, list[Any]]) -> str:
        with pytest.raises(DoesNotFit) as caught:
            path(loaded, columns)
        return str(caught.value)

    gap = {**table, "flat": [3.0, None, 3.0, 3.0, 3.0]}  # not filled: the model refuses it
    assert message(predict_table, gap) == message(predict_with_pandas, gap)
    assert "missing value in column 'flat'" in message(predict_table, gap)
    infinite = {**table, "depth": [1.0, 2.0, float("inf"), 3.0, 4.0]}
    infinite["mass"] = [1.0, float("-inf"), 2.0, 3.0, 4.0]
    assert message(predict_table, infinite) == message(predict_with_pandas, infinite)
    assert "column 'depth', row 2" in message(predict_table, infinite)
    for row in (1, 2):  # one row at a time: -inf in mass, then inf in depth
        one = {column: values[row : row + 1] for column, values in infinite.items()}
        assert message(predict_table, one) == message(predict_with_pandas, one)


def test_a_step_the_plan_does_not_cover_is_served_through_pandas(
    models: dict[str, LoadedModel],
) -> None:
    from modelward.data.preprocess import FittedTransform

    loaded = models["filled"]
    assert loaded.transform is not None
    stored = loaded.transform.to_dict()
    stored["spec"]["steps"][5] = {"cast": {"columns": {"mass": "float32"}}}
    stored.pop("spec_digest")
    changed = FittedTransform.from_dict(stored)
    plan = FeaturePlan.compile(changed, loaded.version.signature["inputs"], loaded.feature_names)
    assert plan is None
