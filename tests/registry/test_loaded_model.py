"""A registered model trained on a transform's output: its signature and `predict`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import modelward as mw
from modelward.errors import InvalidInput
from modelward.registry.loading import LoadedModel
from modelward.registry.signature import columns_read
from tests.helpers import bird_features, mw_in_process

SPEC = {
    "steps": [
        {"drop": ["year", "row_id"]},
        {"one_hot": {"columns": ["island"]}},
        {"normalize": {"columns": ["bill", "mass"], "method": "zscore"}},
    ]
}


def raw_frame(n: int = 240, seed: int = 0) -> pd.DataFrame:
    frame, rng = bird_features(n, seed)
    score = (frame["bill"] - 44) / 5 + (frame["island"] == "Dream") - 0.3
    frame["label"] = (score + rng.normal(0, 0.5, size=n) > 0).astype(int)
    return frame


@pytest.fixture
def loaded(home: Path) -> LoadedModel:
    raw = mw.data.add(raw_frame(), name="birds")
    prep = mw.data.transform(raw.ref, SPEC, name="birds-prep")
    frame = mw.data.load(prep.ref)
    features = frame.drop(columns=["label"])
    model = LogisticRegression(max_iter=500).fit(features, frame["label"])
    with mw.start_run(experiment="signature") as run:
        run.log_model(model, name="birds-clf", data=prep.ref)
    return mw.models.load("birds-clf@1")


def test_the_signature_is_the_raw_columns_the_transform_reads(loaded: LoadedModel) -> None:
    # `year` and `row_id` are only dropped: a caller need not send them
    assert loaded.input_names == ["island", "bill", "mass"]
    assert [c["kind"] for c in loaded.version.signature["inputs"]] == [
        "string",
        "number",
        "number",
    ]
    assert loaded.feature_names == [
        "bill",
        "mass",
        "island_Biscoe",
        "island_Dream",
        "island_Torgersen",
    ]


def test_rows_without_the_dropped_columns_predict_like_the_training_pipeline(
    loaded: LoadedModel,
) -> None:
    fresh = raw_frame(30, seed=1)
    with_all = loaded.predict(fresh)
    without = loaded.predict(fresh.drop(columns=["year", "row_id", "label"]))
    np.testing.assert_array_equal(with_all, without)
    # the same rows prepared by hand (pandas, the fitted means and stds) and sent to the model
    stats = loaded.transform.to_dict()["steps"][2]["stats"] if loaded.transform else {}
    by_hand = fresh[["bill", "mass"]].copy()
    for column in ("bill", "mass"):
        by_hand[column] = (fresh[column] - stats[column]["mean"]) / stats[column]["std"]
    dummies = pd.get_dummies(fresh["island"], prefix="island").astype(np.uint8)
    by_hand = pd.concat([by_hand, dummies], axis=1)[loaded.feature_names]
    np.testing.assert_array_equal(without, loaded.model.predict(by_hand))


def test_predict_takes_rows_as_dicts_lists_arrays_and_frames(loaded: LoadedModel) -> None:
    frame = raw_frame(12, seed=2)[["island", "bill", "mass"]]
    expected = loaded.predict(frame)
    records = frame.to_dict(orient="records")
    assert isinstance(records[0], dict)
    np.testing.assert_array_equal(loaded.predict(records), expected)
    np.testing.assert_array_equal(loaded.predict(frame.values.tolist()), expected)
    np.testing.assert_array_equal(loaded.predict(frame.to_numpy()), expected)
    np.testing.assert_array_equal(loaded.predict(frame.to_dict(orient="list")), expected)
    np.testing.assert_array_equal(loaded.predict([tuple(r) for r in frame.values]), expected)
    assert loaded.predict([]).shape == (0,)


@pytest.mark.parametrize(
    ("rows", "fragment"),
    [
        ([{"island": "Dream", "bill": 40.0}], "lack column(s) mass"),
        ([["Dream", 40.0]], "need 3 values each (island, bill, mass); got 2"),
        ({"island": "Dream", "bill": 40.0, "mass": 3000.0}, "pass one row as [{column: value}]"),
        (["Dream", 40.0, 3000.0], "for one row pass [row]"),
        ("Dream,40,3000", "not str"),
    ],
)
def test_rows_that_do_not_fit_are_refused_by_name(
    loaded: LoadedModel, rows: object, fragment: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        loaded.predict(rows)
    assert fragment in str(refused.value)


def test_columns_read_follows_the_steps_backwards() -> None:
    transform: dict[str, Any] = {
        "input_columns": ["id", "a", "b", "c", "city", "year"],
        "spec": {
            "steps": [
                {"fill_missing": {"columns": ["a"], "strategy": "mean"}},
                {"filter": "year >= 2000"},  # skipped when serving
                {"cast": {"columns": {"b": "float64"}}},
                {"one_hot": {"columns": ["city"]}},
                {"drop": ["id", "year"]},
                {"select": ["a", "b", "city_x"]},
            ]
        },
        "steps": [
            {"kind": "fill_missing", "values": {"a": 1.0}},
            {"kind": "filter"},
            {"kind": "cast"},
            {"kind": "one_hot", "categories": {"city": ["x", "y"]}},
            {"kind": "drop"},
            {"kind": "select"},
        ],
    }
    # c passes through but select leaves it out; id and year are only dropped
    assert columns_read(transform, ["a", "b", "city_x"]) == ["a", "b", "city"]
    transform["spec"]["steps"][-1] = {"drop": ["c"]}
    assert columns_read(transform, ["a", "b", "city_x", "city_y"]) == ["a", "b", "city"]


def test_mw_predict_takes_raw_rows_without_the_dropped_columns(
    loaded: LoadedModel, home: Path, tmp_path: Path
) -> None:
    fresh = raw_frame(25, seed=3).drop(columns=["year", "row_id", "label"])
    fresh.to_csv(tmp_path / "new.csv", index=False)
    result = mw_in_process(
        "predict",
        "birds-clf@1",
        "--data",
        tmp_path / "new.csv",
        "--out",
        tmp_path / "out.csv",
        home=home,
    )
    assert result.code == 0, result.stderr
    written = pd.read_csv(tmp_path / "out.csv")
    np.testing.assert_array_equal(written["prediction"], loaded.predict(fresh))
