"""compute_profile, cross-checked against numpy and pandas computed independently."""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelward.data.profile import (
    QUANTILE_KEYS,
    ColumnProfile,
    DatasetProfile,
    NumericStats,
    compute_profile,
)

Q = (0.01, 0.05, 0.25, 0.50, 0.75, 0.95, 0.99)


def profile_of(values: Any, type: pa.DataType | None = None, **kw: Any) -> ColumnProfile:
    table = pa.table({"x": pa.array(values, type=type, from_pandas=False)})
    return compute_profile(table, **kw).column("x")


def numeric(col: ColumnProfile) -> NumericStats:
    assert col.kind == "numeric"
    assert col.numeric is not None
    assert col.categorical is None
    return col.numeric


def assert_matches_numpy(stats: NumericStats, finite: npt.NDArray[Any], bins: int = 20) -> None:
    """`stats` describe `finite` (the non-missing finite values) as numpy does."""
    assert stats.count == finite.size
    # Summation order may differ from numpy's: allow rounding relative to max |x|.
    scale = float(np.max(np.abs(finite)))
    assert stats.mean == pytest.approx(float(np.mean(finite)), rel=1e-12, abs=1e-13 * scale)
    assert stats.std == pytest.approx(float(np.std(finite)), rel=1e-9, abs=1e-13 * scale)
    assert stats.min == float(np.min(finite))
    assert stats.max == float(np.max(finite))
    assert stats.quantiles is not None
    assert list(stats.quantiles) == list(QUANTILE_KEYS)
    expected_q = np.quantile(finite, Q)
    assert [stats.quantiles[k] for k in QUANTILE_KEYS] == [float(v) for v in expected_q]
    counts, edges = np.histogram(finite, bins=bins)
    assert stats.histogram.counts == tuple(int(c) for c in counts)
    assert stats.histogram.edges == tuple(float(e) for e in edges)


# --------------------------------------------------------------------------- numeric


def test_float_column_with_nulls_nan_and_inf() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(10, 3, size=5_000)
    x[::97] = np.nan
    x[5::101] = np.inf
    x[7::211] = -np.inf
    null = np.zeros(x.size, dtype=bool)
    null[3::89] = True
    col = compute_profile(pa.table({"x": pa.array(x, mask=null)})).column("x")
    stats = numeric(col)

    valid = x[~null]
    finite = valid[np.isfinite(valid)]
    assert col.dtype == "double"
    assert col.missing == int(null.sum() + np.isnan(valid).sum())
    assert stats.infinite == int(np.isinf(valid).sum())
    assert stats.infinite > 0
    assert col.missing + stats.infinite + stats.count == x.size
    assert_matches_numpy(stats, finite)

    # pandas, for a second opinion (its std is the sample std, ddof=1)
    desc = pd.Series(finite).describe()
    assert stats.count == desc["count"]
    assert stats.mean == pytest.approx(desc["mean"])
    assert stats.std == pytest.approx(desc["std"] * math.sqrt((finite.size - 1) / finite.size))
    assert stats.quantiles is not None
    assert stats.quantiles["p25"] == pytest.approx(desc["25%"])
    assert stats.quantiles["p50"] == pytest.approx(desc["50%"])
    assert stats.quantiles["p75"] == pytest.approx(desc["75%"])
    assert stats.quantiles["p99"] == pytest.approx(pd.Series(finite).quantile(0.99))


def test_small_float_column_by_hand() -> None:
    stats = numeric(profile_of([4.0, 1.0, 3.0, 2.0], bins=3))
    assert (stats.count, stats.mean, stats.min, stats.max) == (4, 2.5, 1.0, 4.0)
    assert stats.std == pytest.approx(math.sqrt(1.25))  # population std
    assert stats.quantiles is not None
    assert stats.quantiles["p50"] == 2.5
    assert stats.quantiles["p25"] == pytest.approx(1.75)
    assert stats.histogram.counts == (1, 1, 2)  # [1, 2), [2, 3), [3, 4]
    assert stats.histogram.edges == pytest.approx((1.0, 2.0, 3.0, 4.0))


def test_int_column_with_nulls_matches_pandas_nullable_int() -> None:
    values = [5, None, 1, 7, None, 7, -3, 2]
    col = profile_of(values, pa.int64())
    stats = numeric(col)
    assert col.dtype == "int64"
    assert col.missing == 2
    present = np.array([v for v in values if v is not None], dtype=np.int64)
    assert_matches_numpy(stats, present)
    desc = pd.Series(values, dtype="Int64").describe()
    assert stats.count == desc["count"]
    assert stats.mean == pytest.approx(desc["mean"])
    assert stats.min == desc["min"]
    assert stats.max == desc["max"]


def test_large_int_column() -> None:
    x = np.random.default_rng(2).integers(-(10**12), 10**12, size=20_000)
    assert_matches_numpy(numeric(profile_of(x)), x)


def test_float32_column_is_profiled_in_float64() -> None:
    x = np.random.default_rng(3).random(1_000).astype(np.float32)
    col = profile_of(x, pa.float32())
    assert col.dtype == "float"
    assert_matches_numpy(numeric(col), x.astype(np.float64))


def test_decimal_column_is_numeric() -> None:
    from decimal import Decimal

    col = profile_of([Decimal("1.50"), None, Decimal("2.50")], pa.decimal128(10, 2))
    stats = numeric(col)
    assert col.missing == 1
    assert (stats.count, stats.mean, stats.min, stats.max) == (2, 2.0, 1.5, 2.5)


def test_constant_column() -> None:
    stats = numeric(profile_of([3.5] * 10))
    assert (stats.count, stats.mean, stats.std, stats.min, stats.max) == (10, 3.5, 0.0, 3.5, 3.5)
    assert stats.quantiles == {k: 3.5 for k in QUANTILE_KEYS}
    counts, edges = np.histogram(np.full(10, 3.5), bins=20)  # numpy widens to [3, 4]
    assert stats.histogram.counts == tuple(counts)
    assert stats.histogram.edges == tuple(edges)
    assert sum(stats.histogram.counts) == 10


def test_one_row() -> None:
    stats = numeric(profile_of([42]))
    assert (stats.count, stats.mean, stats.std, stats.min, stats.max) == (1, 42.0, 0.0, 42.0, 42.0)
    assert stats.quantiles == {k: 42.0 for k in QUANTILE_KEYS}
    assert sum(stats.histogram.counts) == 1


@pytest.mark.parametrize(
    ("values", "type", "missing", "infinite"),
    [
        ([None, None, None], pa.float64(), 3, 0),
        ([None, None], pa.int64(), 2, 0),
        ([math.nan, None, math.nan], pa.float64(), 3, 0),
        ([math.inf, -math.inf, None], pa.float64(), 1, 2),
    ],
)
def test_column_without_finite_values(
    values: list[Any], type: pa.DataType, missing: int, infinite: int
) -> None:
    col = profile_of(values, type)
    stats = numeric(col)
    assert col.missing == missing
    assert stats.infinite == infinite
    assert stats.count == 0
    assert (stats.mean, stats.std, stats.min, stats.max, stats.quantiles) == (None,) * 5
    assert stats.histogram.edges == ()
    assert stats.histogram.counts == ()


def test_range_too_wide_for_numpy_histogram_falls_back_to_one_bin() -> None:
    x = [-1e308, 0.0, 1e308]
    with pytest.raises(ValueError), np.errstate(all="ignore"):
        np.histogram(np.array(x), bins=20)
    stats = numeric(profile_of(x))
    assert stats.histogram.edges == (-1e308, 1e308)
    assert stats.histogram.counts == (3,)
    assert (stats.min, stats.max) == (-1e308, 1e308)
    # the sums overflow float64, the statistics themselves do not
    assert stats.mean == 0.0
    assert stats.std == pytest.approx(math.sqrt(2 / 3) * 1e308)
    json.dumps(compute_profile(pa.table({"x": x})).to_dict(), allow_nan=False)


def test_multi_chunk_column_and_input_is_not_modified() -> None:
    rng = np.random.default_rng(4)
    parts = [rng.normal(size=n) for n in (1_000, 1, 2_500)]
    parts[0][::10] = np.nan
    chunked = pa.chunked_array([pa.array(p) for p in parts])
    single = pa.array(rng.normal(size=3_501))
    table = pa.table({"chunked": chunked, "single": single})
    before = [table.column(i).to_numpy().copy() for i in range(2)]

    profile = compute_profile(table)

    for i, expected in enumerate(before):  # the in-place sorts never touch the caller's data
        np.testing.assert_array_equal(table.column(i).to_numpy(), expected)
    allx = np.concatenate(parts)
    assert profile.column("chunked").missing == 100
    assert_matches_numpy(numeric(profile.column("chunked")), allx[~np.isnan(allx)])
    assert_matches_numpy(numeric(profile.column("single")), before[1])


def test_sliced_table_with_nulls() -> None:
    rng = np.random.default_rng(8)
    x = rng.normal(size=1_000)
    ints = rng.integers(0, 50, size=1_000)
    null = rng.random(1_000) < 0.2
    table = pa.table({"x": pa.array(x, mask=null), "i": pa.array(ints, mask=null)})
    profile = compute_profile(table.slice(123, 500))
    keep = ~null[123:623]
    assert profile.n_rows == 500
    assert profile.column("x").missing == int((~keep).sum())
    assert_matches_numpy(numeric(profile.column("x")), x[123:623][keep])
    assert_matches_numpy(numeric(profile.column("i")), ints[123:623][keep])


def test_large_table_takes_the_parallel_path() -> None:
    # Many columns of several widths share each worker's scratch buffers.
    rng = np.random.default_rng(5)
    n = 250_000
    cols: dict[str, npt.NDArray[Any]] = {f"c{i}": rng.normal(i, 1, n) for i in range(4)}
    cols["i32"] = rng.integers(-1000, 1000, n).astype(np.int32)
    cols["f32"] = rng.random(n).astype(np.float32)
    cols["u8"] = rng.integers(0, 255, n).astype(np.uint8)
    cols["c9"] = rng.normal(9, 1, n)
    cols["c9"][::3] = np.nan
    words = np.array(["a", "b", "c", "d"])[rng.integers(0, 4, n)]
    table = pa.table({**cols, "w": words})
    profile = compute_profile(table, bins=7)
    assert [c.name for c in profile.columns] == [*cols, "w"]
    for name, x in cols.items():
        finite = x[np.isfinite(x)].astype(np.float64) if x.dtype.kind == "f" else x
        assert_matches_numpy(numeric(profile.column(name)), finite, bins=7)
    cat = profile.column("w").categorical
    assert cat is not None
    expected = pd.Series(words).value_counts()
    assert dict(cat.top) == {str(k): int(v) for k, v in expected.items()}


# --------------------------------------------------------------------------- categorical


def test_string_column_matches_pandas_value_counts() -> None:
    rng = np.random.default_rng(6)
    words = rng.choice([f"w{i}" for i in range(50)], size=3_000, p=np.linspace(1, 3, 50) / 100)
    null = rng.random(words.size) < 0.05
    col = compute_profile(pa.table({"s": pa.array(words, mask=null)}), top_k=5).column("s")
    assert col.kind == "categorical"
    assert col.dtype == "string"
    assert col.numeric is None
    assert col.missing == int(null.sum())
    cat = col.categorical
    assert cat is not None
    vc = pd.Series(words[~null]).value_counts()
    assert cat.cardinality == vc.size
    ranked = sorted(vc.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    assert cat.top == tuple((str(k), int(v)) for k, v in ranked)


def test_categorical_ties_broken_by_value_and_empty_string_is_a_value() -> None:
    col = profile_of(["b", "", "a", "c", "a", "b", None, "", "c"], top_k=3)
    assert col.missing == 1
    assert col.categorical is not None
    assert col.categorical.cardinality == 4
    assert col.categorical.top == (("", 2), ("a", 2), ("b", 2))


def test_top_k_zero_and_larger_than_cardinality() -> None:
    zero = profile_of(["x", "y", "x"], top_k=0).categorical
    many = profile_of(["x", "y", "x"], top_k=100).categorical
    assert zero is not None and many is not None
    assert (zero.cardinality, zero.top) == (2, ())
    assert many.top == (("x", 2), ("y", 1))


def test_large_string_and_dictionary_columns() -> None:
    values = ["p", "q", None, "p", "r", "p"]
    large = profile_of(values, pa.large_string())
    chunks = [pa.array(values[:3]).dictionary_encode(), pa.array(values[3:]).dictionary_encode()]
    table = pa.table({"d": pa.chunked_array(chunks)})
    encoded = compute_profile(table).column("d")
    for col in (large, encoded):
        assert col.kind == "categorical"
        assert col.missing == 1
        assert col.categorical is not None
        assert col.categorical.cardinality == 3
        assert col.categorical.top == (("p", 3), ("q", 1), ("r", 1))


def test_bool_column_is_categorical_true_false() -> None:
    values = [True, None, False, True, True, None]
    col = profile_of(values)
    assert col.kind == "boolean"
    assert col.dtype == "bool"
    assert col.missing == 2
    assert col.numeric is None
    assert col.categorical is not None
    assert col.categorical.cardinality == 2
    assert col.categorical.top == (("true", 3), ("false", 1))
    only_false = profile_of([False, False]).categorical
    assert only_false is not None
    assert (only_false.cardinality, only_false.top) == (1, (("false", 2),))
    all_null = profile_of([None, None], pa.bool_())
    assert all_null.missing == 2
    assert all_null.categorical is not None
    assert (all_null.categorical.cardinality, all_null.categorical.top) == (0, ())


# --------------------------------------------------------------------------- other kinds


def test_datetime_columns_get_iso_min_and_max() -> None:
    stamps = [dt.datetime(2024, 3, 1, 12), None, dt.datetime(2023, 1, 2, 3, 4, 5)]
    ts = profile_of(stamps, pa.timestamp("ns"))
    assert ts.kind == "datetime"
    assert ts.dtype == "timestamp[ns]"
    assert ts.missing == 1
    assert ts.datetime is not None
    assert ts.datetime.min is not None and ts.datetime.max is not None
    assert pd.Timestamp(ts.datetime.min) == pd.Timestamp("2023-01-02T03:04:05")
    assert pd.Timestamp(ts.datetime.max) == pd.Timestamp("2024-03-01T12:00:00")
    day = profile_of([dt.date(2020, 5, 4), dt.date(2019, 1, 1)])
    assert day.kind == "datetime"
    assert day.datetime is not None
    assert (day.datetime.min, day.datetime.max) == ("2019-01-01", "2020-05-04")
    empty = profile_of([None], pa.timestamp("us"))
    assert empty.datetime is not None
    assert (empty.datetime.min, empty.datetime.max) == (None, None)


def test_other_types_only_count_missing() -> None:
    table = pa.table({"b": pa.array([b"x", None]), "l": pa.array([[1], None]), "n": pa.nulls(2)})
    profile = compute_profile(table)
    for name in ("b", "l", "n"):
        col = profile.column(name)
        assert col.kind == "other"
        assert (col.numeric, col.categorical, col.datetime) == (None, None, None)
    assert [profile.column(n).missing for n in ("b", "l", "n")] == [1, 1, 2]


def test_empty_table() -> None:
    schema = pa.schema(
        [
            ("f", pa.float64()),
            ("i", pa.int64()),
            ("s", pa.string()),
            ("b", pa.bool_()),
            ("t", pa.timestamp("ns")),
        ]
    )
    profile = compute_profile(schema.empty_table())
    assert profile.n_rows == 0
    assert [c.name for c in profile.columns] == ["f", "i", "s", "b", "t"]
    assert all(c.missing == 0 for c in profile.columns)
    f = numeric(profile.column("f"))
    assert (f.count, f.mean, f.quantiles, f.histogram.counts) == (0, None, None, ())
    s = profile.column("s").categorical
    assert s is not None
    assert (s.cardinality, s.top) == (0, ())
    assert compute_profile(pa.table({})) == DatasetProfile(0, ())


# --------------------------------------------------------------------------- the object


def test_to_dict_is_json_and_round_trips() -> None:
    table = pa.table(
        {
            "f": pa.array([1.0, None, math.nan, math.inf, 2.0]),
            "s": pa.array(["a", "b", None, "a", "a"]),
            "b": pa.array([True, False, None, True, True]),
            "t": pa.array([1, 2, 3, None, 5], pa.timestamp("s")),
            "e": pa.array([None] * 5, pa.float64()),
            "o": pa.array([b"x"] * 5),
        }
    )
    profile = compute_profile(table)
    d = profile.to_dict()
    text = json.dumps(d, allow_nan=False)
    back = DatasetProfile.from_dict(json.loads(text))
    assert back == profile
    assert d["n_rows"] == 5
    assert d["columns"][0]["numeric"]["quantiles"]["p50"] == 1.5
    assert d["columns"][1]["categorical"]["top"] == [["a", 3], ["b", 1]]


@pytest.mark.parametrize(
    "bad",
    [
        {},
        {"n_rows": 1},
        {"n_rows": 1, "columns": [{"name": "x"}]},
        {"n_rows": 1, "columns": [{"name": "x", "dtype": "int64", "kind": "weird", "missing": 0}]},
    ],
)
def test_from_dict_rejects_malformed_input(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="malformed dataset profile"):
        DatasetProfile.from_dict(bad)


def test_column_lookup_and_argument_checks() -> None:
    profile = compute_profile(pa.table({"a": [1]}))
    assert profile.column("a").name == "a"
    with pytest.raises(KeyError):
        profile.column("nope")
    with pytest.raises(ValueError):
        compute_profile(pa.table({"a": [1]}), top_k=-1)
    with pytest.raises(ValueError):
        compute_profile(pa.table({"a": [1]}), bins=0)


# --------------------------------------------------------------------------- properties

floats_with_gaps = st.one_of(
    st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False),
    st.sampled_from([math.nan, math.inf, -math.inf]),
)


@settings(max_examples=200, deadline=None)
@given(values=st.lists(floats_with_gaps, max_size=200), bins=st.integers(1, 30))
def test_numeric_stats_match_numpy_on_any_floats(values: list[float], bins: int) -> None:
    x = np.array(values, dtype=np.float64)
    finite = x[np.isfinite(x)]
    col = profile_of(x, pa.float64(), bins=bins)
    stats = numeric(col)
    assert col.missing == int(np.isnan(x).sum())
    assert stats.infinite == int(np.isinf(x).sum())
    assert stats.count == finite.size
    if finite.size == 0:
        assert stats.mean is None and stats.quantiles is None
        return
    scale = float(np.max(np.abs(finite)))
    assert stats.mean == pytest.approx(float(np.mean(finite)), rel=1e-12, abs=1e-13 * scale)
    assert stats.std == pytest.approx(float(np.std(finite)), rel=1e-9, abs=1e-9 * scale)
    assert (stats.min, stats.max) == (float(finite.min()), float(finite.max()))
    assert stats.quantiles is not None
    assert [stats.quantiles[k] for k in QUANTILE_KEYS] == list(np.quantile(finite, Q))
    try:
        counts, edges = np.histogram(finite, bins=bins)
    except ValueError:  # numpy cannot make `bins` distinct edges: one bin instead
        assert stats.histogram.counts == (finite.size,)
    else:
        assert stats.histogram.counts == tuple(counts)
        assert stats.histogram.edges == tuple(edges)


@settings(max_examples=100, deadline=None)
@given(values=st.lists(st.one_of(st.integers(-(2**40), 2**40), st.none()), max_size=100))
def test_int_quantiles_match_numpy_exactly(values: list[int | None]) -> None:
    stats = numeric(profile_of(values, pa.int64()))
    present = np.array([v for v in values if v is not None], dtype=np.int64)
    assert stats.count == present.size
    if present.size:
        assert stats.quantiles is not None
        assert [stats.quantiles[k] for k in QUANTILE_KEYS] == list(np.quantile(present, Q))
        assert sum(stats.histogram.counts) == present.size


@settings(max_examples=100, deadline=None)
@given(
    values=st.lists(st.one_of(st.text(max_size=3), st.none()), max_size=60), top_k=st.integers(0, 8)
)
def test_top_values_match_pandas_value_counts(values: list[str | None], top_k: int) -> None:
    col = profile_of(values, pa.string(), top_k=top_k)
    present = [v for v in values if v is not None]
    vc = pd.Series(present, dtype=object).value_counts()
    assert col.missing == len(values) - len(present)
    assert col.categorical is not None
    assert col.categorical.cardinality == vc.size
    ranked = sorted(((str(k), int(v)) for k, v in vc.items()), key=lambda kv: (-kv[1], kv[0]))
    assert col.categorical.top == tuple(ranked[:top_k])
