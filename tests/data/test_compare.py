"""diff_profiles: schema and statistic shifts, checked against pandas on the raw data."""

from __future__ import annotations

import datetime as dt
import json
import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from modelward.data.compare import DatasetDiff, diff_profiles
from modelward.data.profile import DatasetProfile, compute_profile


def diff_frames(a: pd.DataFrame, b: pd.DataFrame, top_k: int = 10) -> DatasetDiff:
    pa_a = pa.Table.from_pandas(a, preserve_index=False)
    pa_b = pa.Table.from_pandas(b, preserve_index=False)
    return diff_profiles(compute_profile(pa_a, top_k=top_k), compute_profile(pa_b, top_k=top_k))


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 1_000
    income = rng.lognormal(10, 0.5, n)
    income[rng.random(n) < 0.1] = np.nan
    return pd.DataFrame(
        {
            "age": rng.integers(18, 90, n),
            "income": income,
            "city": rng.choice(["paris", "lyon", "nice", "lille"], n, p=[0.4, 0.3, 0.2, 0.1]),
        }
    )


def test_identical_profiles_have_no_changes(frame: pd.DataFrame) -> None:
    result = diff_frames(frame, frame.copy())
    assert not result.has_changes
    assert (result.added, result.removed, result.dtype_changes) == ((), (), ())
    assert (result.rows.a, result.rows.b, result.rows.delta, result.rows.relative) == (
        1000,
        1000,
        0,
        0.0,
    )
    assert [c.name for c in result.columns] == ["age", "income", "city"]
    for col in result.columns:
        assert not col.changed
        assert all(s.delta in (0, 0.0, None) for s in col.stats.values())
    assert result.to_dict()["has_changes"] is False


def test_numeric_shifts_match_pandas(frame: pd.DataFrame) -> None:
    changed = frame.assign(income=frame["income"] * 2 + 100)
    changed.loc[:99, "income"] = np.nan  # more missing values
    result = diff_frames(frame, changed)
    assert result.has_changes
    income = result.column("income")
    assert income.changed
    s = income.stats

    before, after = frame["income"], changed["income"]
    assert s["mean"].a == pytest.approx(before.mean())
    assert s["mean"].b == pytest.approx(after.mean())
    assert s["mean"].delta == pytest.approx(after.mean() - before.mean())
    assert s["mean"].relative == pytest.approx((after.mean() - before.mean()) / before.mean())
    assert s["std"].delta == pytest.approx(after.std(ddof=0) - before.std(ddof=0))
    assert s["p50"].delta == pytest.approx(after.median() - before.median())
    assert s["min"].b == pytest.approx(after.min())
    assert s["max"].delta == pytest.approx(after.max() - before.max())
    assert s["missing"].a == before.isna().sum()
    assert s["missing"].b == after.isna().sum()
    assert s["missing"].delta == after.isna().sum() - before.isna().sum()
    assert s["missing_rate"].b == pytest.approx(after.isna().mean())
    assert s["missing_rate"].delta == pytest.approx(after.isna().mean() - before.isna().mean())
    assert s["missing_rate"].relative is None  # a rate already is relative
    assert s["infinite"].delta == 0
    assert not result.column("age").changed
    assert not result.column("city").changed


def test_scaling_a_column_doubles_its_std(frame: pd.DataFrame) -> None:
    result = diff_frames(frame, frame.assign(age=frame["age"] * 2))
    age = result.column("age").stats
    assert age["std"].relative == pytest.approx(1.0)
    assert age["mean"].relative == pytest.approx(1.0)
    assert age["p50"].b == pytest.approx(2 * frame["age"].median())


def test_schema_changes(frame: pd.DataFrame) -> None:
    changed = frame.drop(columns=["city"]).assign(
        score=1.0, age=frame["age"].astype("float64"), zip="x"
    )
    result = diff_frames(frame, changed)
    assert result.has_changes
    assert result.added == ("score", "zip")
    assert result.removed == ("city",)
    assert [(c.name, c.from_dtype, c.to_dtype) for c in result.dtype_changes] == [
        ("age", "int64", "double")
    ]
    assert [c.name for c in result.columns] == ["age", "income"]
    # int -> float keeps the numeric shifts, which are all zero here
    assert result.column("age").stats["mean"].delta == 0
    d = result.to_dict()
    assert d["added"] == ["score", "zip"]
    assert d["removed"] == ["city"]
    assert d["dtype_changes"] == [{"name": "age", "from": "int64", "to": "double"}]
    with pytest.raises(KeyError):
        result.column("city")


def test_kind_change_keeps_only_the_shared_statistics() -> None:
    a = pa.table({"code": pa.array(["1", "2", None])})
    b = pa.table({"code": pa.array([1.0, 2.0, None])})
    result = diff_profiles(compute_profile(a), compute_profile(b))
    assert [(c.name, c.from_dtype, c.to_dtype) for c in result.dtype_changes] == [
        ("code", "string", "double")
    ]
    code = result.column("code")
    assert set(code.stats) == {"missing", "missing_rate"}
    assert code.stats["missing"].delta == 0


def test_row_count_and_categorical_shifts(frame: pd.DataFrame) -> None:
    more = pd.concat(
        [
            frame,
            pd.DataFrame(
                {
                    "age": [30] * 500,
                    "income": [1.0] * 500,
                    "city": ["brest"] * 400 + ["metz"] * 100,
                }
            ),
        ],
        ignore_index=True,
    )
    fewer_cities = frame[frame["city"] != "lille"]
    result = diff_frames(fewer_cities, more, top_k=4)

    assert result.rows.a == len(fewer_cities)
    assert result.rows.b == len(more)
    assert result.rows.delta == len(more) - len(fewer_cities)
    assert result.rows.relative == pytest.approx(result.rows.delta / len(fewer_cities))

    city = result.column("city")
    assert city.kind == "categorical"
    assert city.stats["cardinality"].a == fewer_cities["city"].nunique() == 3
    assert city.stats["cardinality"].b == more["city"].nunique() == 6
    assert city.stats["cardinality"].delta == 3
    assert city.stats["cardinality"].relative == pytest.approx(1.0)
    top_b = more["city"].value_counts().index[:4].tolist()
    assert set(city.new_top) == set(top_b) - {"paris", "lyon", "nice"}
    assert "brest" in city.new_top
    assert city.vanished_top == ()  # "nice" is still in the top 4 of b
    assert city.changed


def test_vanished_top_values() -> None:
    a = pd.DataFrame({"c": ["x"] * 5 + ["y"] * 3 + ["z"]})
    b = pd.DataFrame({"c": ["x"] * 5 + ["w"] * 4})
    city = diff_frames(a, b, top_k=2).column("c")
    assert city.new_top == ("w",)
    assert city.vanished_top == ("y",)


def test_relative_is_none_from_zero_and_deltas_none_when_a_side_is_missing() -> None:
    a = pa.table({"x": pa.array([None, None], pa.float64())})
    b = pa.table({"x": pa.array([1.0, None])})
    result = diff_profiles(compute_profile(a), compute_profile(b))
    x = result.column("x").stats
    mean = x["mean"]
    assert (mean.a, mean.b, mean.delta, mean.relative) == (None, 1.0, None, None)
    assert mean.changed
    assert (x["missing"].a, x["missing"].b, x["missing"].delta) == (2, 1, -1)
    assert x["missing"].relative == pytest.approx(-0.5)
    zero = diff_profiles(compute_profile(b), compute_profile(pa.table({"x": [1.0, math.nan]})))
    assert not zero.has_changes  # a null and a NaN are both missing
    y = (
        diff_profiles(
            compute_profile(pa.table({"y": [0.0, 0.0]})),
            compute_profile(pa.table({"y": [0.0, 2.0]})),
        )
        .column("y")
        .stats
    )
    assert (y["mean"].delta, y["mean"].relative) == (1.0, None)


def test_empty_profiles() -> None:
    empty = DatasetProfile(0, ())
    assert not diff_profiles(empty, empty).has_changes
    grown = diff_profiles(empty, compute_profile(pa.table({"a": [1, 2]})))
    assert grown.has_changes
    assert (grown.rows.delta, grown.rows.relative) == (2, None)
    assert grown.added == ("a",)
    schema_only = pa.schema([("a", pa.int64())]).empty_table()
    to_rows = diff_profiles(compute_profile(schema_only), compute_profile(pa.table({"a": [1, 2]})))
    a = to_rows.column("a").stats
    assert (a["missing_rate"].a, a["missing_rate"].b) == (None, 0.0)
    assert (a["mean"].a, a["mean"].b) == (None, 1.5)


def test_datetime_range_shift() -> None:
    a = pa.table({"t": pa.array([dt.date(2024, 1, 1), dt.date(2024, 1, 31)])})
    b = pa.table({"t": pa.array([dt.date(2024, 1, 1), dt.date(2024, 2, 29)])})
    t = diff_profiles(compute_profile(a), compute_profile(b)).column("t")
    assert t.stats["min"].changed is False
    assert (t.stats["max"].a, t.stats["max"].b, t.stats["max"].delta) == (
        "2024-01-31",
        "2024-02-29",
        None,
    )
    assert t.changed


def test_boolean_columns_diff_like_categoricals() -> None:
    a = pa.table({"flag": [True, True, False]})
    b = pa.table({"flag": [False, False, True]})
    flag = diff_profiles(compute_profile(a), compute_profile(b)).column("flag")
    assert flag.kind == "boolean"
    assert flag.stats["cardinality"].delta == 0
    # both values are in both top lists: the counts moved, the lists did not
    assert (flag.new_top, flag.vanished_top) == ((), ())


def test_to_dict_is_strict_json(frame: pd.DataFrame) -> None:
    changed = frame.assign(income=frame["income"] + 1).drop(columns=["age"])
    d = diff_frames(frame, changed).to_dict()
    back = json.loads(json.dumps(d, allow_nan=False))
    assert back == d
    assert set(d) == {"rows", "added", "removed", "dtype_changes", "columns", "has_changes"}
    assert d["rows"] == {"a": 1000, "b": 1000, "delta": 0, "relative": 0.0}
    income = next(c for c in d["columns"] if c["name"] == "income")
    assert set(income["stats"]["mean"]) == {"a", "b", "delta", "relative"}
    assert income["stats"]["mean"]["delta"] == pytest.approx(1.0)
    assert income["kind"] == "numeric"
