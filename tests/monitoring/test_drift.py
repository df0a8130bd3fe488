"""Drift statistics checked against scipy and hand computations; verdicts; bad input."""

from __future__ import annotations

import io
import json
import math
import zipfile
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from modelward.errors import InvalidInput
from modelward.monitoring.drift import (
    CategoricalReference,
    DriftThresholds,
    NumericReference,
    ReferenceStats,
    compute_reference,
    detect_drift,
)
from modelward.monitoring.drift.stats import ks_2samp_sorted


def numeric(ref: ReferenceStats, name: str) -> NumericReference:
    feature = ref.feature(name)
    assert isinstance(feature, NumericReference)
    return feature


def categorical(ref: ReferenceStats, name: str) -> CategoricalReference:
    feature = ref.feature(name)
    assert isinstance(feature, CategoricalReference)
    return feature


def mixed_frame(n: int, seed: int, *, n_numeric: int = 20, n_categorical: int = 5) -> pd.DataFrame:
    """Unchanged-distribution data of several shapes: normal, skewed, ties, missing values."""
    rng = np.random.default_rng(seed)
    columns: dict[str, object] = {}
    for i in range(n_numeric):
        shape = i % 4
        if shape == 0:
            values = rng.normal(size=n)
        elif shape == 1:
            values = rng.lognormal(size=n)
        elif shape == 2:
            values = rng.poisson(3, size=n).astype(np.float64)  # heavy ties
        else:
            values = rng.uniform(size=n)
            values[rng.random(n) < 0.05] = np.nan
        columns[f"x{i}"] = values
    labels = np.array(["red", "green", "blue", "black", "white"])
    shares = np.array([0.4, 0.25, 0.2, 0.1, 0.05])
    for i in range(n_categorical):
        columns[f"c{i}"] = pd.Series(labels[rng.choice(5, size=n, p=shares)], dtype="str")
    return pd.DataFrame(columns)


# --------------------------------------------------------------------------- KS vs scipy


def assert_same_ks(a: np.ndarray, b: np.ndarray) -> None:
    ours = ks_2samp_sorted(np.sort(a), np.sort(b))
    theirs = stats.ks_2samp(a, b)
    assert ours[0] == float(theirs.statistic)
    assert ours[1] == pytest.approx(float(theirs.pvalue), abs=1e-9, rel=1e-9)


@pytest.mark.filterwarnings("ignore:ks_2samp. Exact calculation unsuccessful:RuntimeWarning")
@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(-5, 5), min_size=1, max_size=60),
    st.lists(st.integers(-5, 5), min_size=1, max_size=60),
)
def test_ks_matches_scipy_small_samples_with_ties(a: list[int], b: list[int]) -> None:
    assert_same_ks(np.array(a, dtype=np.float64), np.array(b, dtype=np.float64))


@pytest.mark.parametrize(
    ("n1", "n2", "kind"),
    [
        (12_000, 30_000, "normal"),
        (40_000, 10_001, "ties"),
        (20_000, 200_000, "ties"),
        (15_000, 15_000, "shifted"),
        (50_000, 11_000, "inf"),
    ],
)
def test_ks_matches_scipy_large_samples(n1: int, n2: int, kind: str) -> None:
    rng = np.random.default_rng(n1 + n2)
    if kind == "ties":
        a, b = rng.integers(0, 30, n1).astype(float), rng.integers(0, 31, n2).astype(float)
    elif kind == "shifted":
        a, b = rng.normal(size=n1), rng.normal(0.02, 1, size=n2)
    else:
        a, b = rng.normal(size=n1), rng.normal(size=n2)
    if kind == "inf":
        a[:10], b[-5:] = -np.inf, np.inf
    assert_same_ks(a, b)


def test_detect_drift_ks_is_scipy_on_the_reference_sample() -> None:
    rng = np.random.default_rng(3)
    small_ref, small_cur = rng.normal(size=800), rng.normal(0.1, 1, size=600)
    big_ref, big_cur = rng.gamma(2, size=30_000), rng.gamma(2.1, size=25_000)
    for ref_values, cur_values in ((small_ref, small_cur), (big_ref, big_cur)):
        ref_values[::17] = np.nan
        ref = compute_reference(pd.DataFrame({"x": ref_values}))
        f = detect_drift(ref, pd.DataFrame({"x": cur_values})).feature("x")
        expected = stats.ks_2samp(ref_values[~np.isnan(ref_values)], cur_values)
        assert f.ks_statistic == float(expected.statistic)
        assert f.ks_pvalue == pytest.approx(float(expected.pvalue), abs=1e-9, rel=1e-9)
        assert f.n_reference == int((~np.isnan(ref_values)).sum())


def test_ks_uses_a_deterministic_sample_of_a_big_reference() -> None:
    rng = np.random.default_rng(4)
    values = rng.normal(size=300_000)
    ref = compute_reference(pa.table({"x": values}), sample_size=100_000)
    again = compute_reference(pa.table({"x": values}), sample_size=100_000)
    sample = numeric(ref, "x").sample
    assert len(sample) == 100_000
    assert np.array_equal(sample, numeric(again, "x").sample)
    assert np.all(np.diff(sample) >= 0)
    assert np.isin(sample, values).all()
    # the sample's distribution function is within 1 / sample_size of the full one
    grid = np.linspace(-3, 3, 61)
    full_cdf = np.searchsorted(np.sort(values), grid, side="right") / len(values)
    sample_cdf = np.searchsorted(sample, grid, side="right") / len(sample)
    assert np.abs(full_cdf - sample_cdf).max() <= 1.5e-5
    current = rng.normal(0.01, 1, size=50_000)
    f = detect_drift(ref, pa.table({"x": current})).feature("x")
    expected = stats.ks_2samp(sample, current)
    assert f.ks_statistic == float(expected.statistic)
    assert f.ks_pvalue == pytest.approx(float(expected.pvalue), abs=1e-9, rel=1e-9)


# --------------------------------------------------------------------------- chi-square, PSI


def test_chi_square_matches_scipy_chisquare() -> None:
    rng = np.random.default_rng(5)
    ref_values = rng.choice(list("abcdef"), size=5_000, p=[0.3, 0.2, 0.2, 0.15, 0.1, 0.05])
    cur_values = rng.choice(list("abcdefz"), size=3_000, p=[0.28, 0.2, 0.2, 0.15, 0.1, 0.05, 0.02])
    ref = compute_reference(pd.DataFrame({"c": ref_values}), max_categories=4)
    f = detect_drift(ref, pd.DataFrame({"c": cur_values})).feature("c")
    # top 4 reference categories + "other" (e, f and the unseen z)
    ref_counts = pd.Series(ref_values).value_counts()
    top = list(ref_counts.index[:4])
    assert categorical(ref, "c").categories == tuple(top)
    cur_counts = pd.Series(cur_values).value_counts()
    observed = [cur_counts.get(c, 0) for c in top]
    observed.append(len(cur_values) - sum(observed))
    expected_shares = [*(ref_counts[c] / 5_000 for c in top), ref_counts[4:].sum() / 5_000]
    expected = stats.chisquare(observed, np.array(expected_shares) * len(cur_values))
    assert f.chi2_statistic == pytest.approx(float(expected.statistic), rel=1e-12)
    assert f.chi2_pvalue == pytest.approx(float(expected.pvalue), rel=1e-9, abs=1e-12)
    cur_shares = np.array(observed) / len(cur_values)
    tv = 0.5 * np.abs(cur_shares - np.array(expected_shares)).sum()
    assert f.tv_distance == pytest.approx(tv)


def test_unseen_category_gets_the_epsilon_expected_share() -> None:
    ref = compute_reference(pd.DataFrame({"c": ["a"] * 60 + ["b"] * 40}))
    f = detect_drift(ref, pd.DataFrame({"c": ["a"] * 50 + ["b"] * 45 + ["new"] * 5})).feature("c")
    shares = np.array([0.6, 0.4, 1e-4])
    expected = stats.chisquare([50, 45, 5], shares / shares.sum() * 100)
    assert f.chi2_statistic == pytest.approx(float(expected.statistic), rel=1e-12)
    assert f.chi2_pvalue == pytest.approx(float(expected.pvalue), rel=1e-9)
    assert f.buckets is not None and f.buckets.labels == ("a", "b", "other")
    psi = (0.5 - 0.6) * math.log(0.5 / 0.6) + (0.45 - 0.4) * math.log(0.45 / 0.4)
    psi += (0.05 - 1e-4) * math.log(0.05 / 1e-4)
    assert f.psi == pytest.approx(psi, rel=1e-12)


def test_psi_matches_a_hand_computation() -> None:
    reference = pd.DataFrame({"x": np.arange(1.0, 101.0)})  # quartiles 25.75, 50.5, 75.25
    ref = compute_reference(reference, bins=4)
    assert numeric(ref, "x").edges.tolist() == [25.75, 50.5, 75.25]
    assert numeric(ref, "x").proportions.tolist() == [0.25, 0.25, 0.25, 0.25]
    # 10 values in (-inf, 25.75], 20 in (25.75, 50.5], 30 in (50.5, 75.25], 40 above
    current = np.repeat([1.0, 30.0, 60.0, 90.0], [10, 20, 30, 40])
    f = detect_drift(ref, pd.DataFrame({"x": current})).feature("x")
    by_hand = (
        (0.1 - 0.25) * math.log(0.1 / 0.25)
        + (0.2 - 0.25) * math.log(0.2 / 0.25)
        + (0.3 - 0.25) * math.log(0.3 / 0.25)
        + (0.4 - 0.25) * math.log(0.4 / 0.25)
    )
    assert f.psi == pytest.approx(by_hand, rel=1e-12)
    # an empty bucket counts as a share of 1e-4
    f = detect_drift(ref, pd.DataFrame({"x": np.repeat([1.0, 30.0], [50, 50])})).feature("x")
    by_hand = 2 * (0.5 - 0.25) * math.log(0.5 / 0.25) + 2 * (1e-4 - 0.25) * math.log(1e-4 / 0.25)
    assert f.psi == pytest.approx(by_hand, rel=1e-12)


def test_psi_edges_are_deduplicated_for_ties() -> None:
    values = np.r_[np.zeros(900), np.arange(1.0, 101.0)]  # 90% zeros
    ref = numeric(compute_reference(pd.DataFrame({"x": values})), "x")
    assert ref.edges[0] == 0.0 and len(np.unique(ref.edges)) == len(ref.edges)
    assert ref.proportions[0] == pytest.approx(0.9)
    assert ref.proportions.sum() == pytest.approx(1.0)


# --------------------------------------------------------------------------- verdicts


def test_no_false_positive_at_one_million_rows_by_25_columns() -> None:
    reference = mixed_frame(1_000_000, seed=10)
    current = mixed_frame(1_000_000, seed=11)
    ref = compute_reference(reference)
    report = detect_drift(ref, current)
    assert report.n_features == 25
    assert report.drifted_features == ()
    assert not report.drifted
    assert all(f.status == "stable" for f in report.features)
    for f in report.features:  # the raw statistics are still reported
        assert f.psi is not None and f.psi < 0.01
        assert (f.ks_pvalue if f.kind == "numeric" else f.chi2_pvalue) is not None


def test_real_shifts_are_flagged() -> None:
    rng = np.random.default_rng(12)
    n = 5_000
    reference = pd.DataFrame(
        {
            "same": rng.normal(size=n),
            "shifted": rng.normal(size=n),
            "wider": rng.normal(size=n),
            "mix": rng.choice(list("abc"), size=n, p=[0.5, 0.3, 0.2]),
            "mix_same": rng.choice(list("abc"), size=n, p=[0.5, 0.3, 0.2]),
        }
    )
    current = pd.DataFrame(
        {
            "same": rng.normal(size=n),
            "shifted": rng.normal(0.5, 1, size=n),  # mean shift of 0.5 std
            "wider": rng.normal(0, 1.5, size=n),
            "mix": rng.choice(list("abc"), size=n, p=[0.35, 0.3, 0.35]),
            "mix_same": rng.choice(list("abc"), size=n, p=[0.5, 0.3, 0.2]),
        }
    )
    report = detect_drift(compute_reference(reference), current)
    assert set(report.drifted_features) == {"shifted", "wider", "mix"}
    assert report.drifted  # 3 of 5 >= 30%
    assert "KS p=" in report.feature("shifted").reason
    assert report.feature("same").status == "stable"


def test_bonferroni_and_dataset_share() -> None:
    rng = np.random.default_rng(13)
    ref = compute_reference(pd.DataFrame({f"x{i}": rng.normal(size=2_000) for i in range(4)}))
    current = pd.DataFrame({f"x{i}": rng.normal(size=2_000) for i in range(4)})
    current["x0"] += 1.0
    report = detect_drift(ref, current)
    assert report.ks_alpha == pytest.approx(0.05 / 4)
    assert report.drifted_features == ("x0",) and report.share == 0.25 and not report.drifted
    plain = detect_drift(ref, current, thresholds=DriftThresholds(correction="none"))
    assert plain.ks_alpha == 0.05
    critical = detect_drift(ref, current, thresholds=DriftThresholds(critical=("x0",)))
    assert critical.drifted and "critical" in critical.reason
    low = detect_drift(ref, current, thresholds=DriftThresholds(min_drifted_share=0.25))
    assert low.drifted


def test_significant_but_small_change_is_not_drift() -> None:
    rng = np.random.default_rng(14)
    ref = compute_reference(pa.table({"x": rng.normal(size=400_000)}))
    f = detect_drift(ref, pa.table({"x": rng.normal(0.05, 1, size=400_000)})).feature("x")
    assert f.ks_pvalue is not None and f.ks_pvalue < 1e-10
    assert f.status == "stable" and "but small" in f.reason


# --------------------------------------------------------------------------- edge cases


def test_missing_and_extra_columns() -> None:
    ref = compute_reference(pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": ["x", "y", "x"]}))
    with pytest.raises(InvalidInput, match=r"lacks column.*'b'"):
        detect_drift(ref, pd.DataFrame({"a": [1.0, 2.0]}))
    report = detect_drift(ref, pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"], "zz": [1, 2]}))
    assert report.extra_columns == ("zz",)
    assert report.to_dict()["extra_columns"] == ["zz"]


def test_type_mismatch_names_the_column_and_both_types() -> None:
    ref = compute_reference(pd.DataFrame({"a": [1.0, 2.0, 3.0]}))
    with pytest.raises(InvalidInput, match=r"'a' is numeric \(float64\).*but str"):
        detect_drift(ref, pd.DataFrame({"a": ["x", "y"]}))
    ref = compute_reference(pa.table({"c": ["x", "y"]}))
    with pytest.raises(InvalidInput, match=r"'c' is categorical \(string\).*but int64"):
        detect_drift(ref, pa.table({"c": [1, 2]}))
    dates = pd.DataFrame({"a": pd.date_range("2024-01-01", periods=2)})
    with pytest.raises(InvalidInput, match="'a' is numeric"):
        detect_drift(compute_reference(pd.DataFrame({"a": [1.0, 2.0]})), dates)


def test_empty_inputs_and_wrong_types() -> None:
    ref = compute_reference(pd.DataFrame({"a": [1.0, 2.0]}))
    with pytest.raises(InvalidInput, match="the current window is empty"):
        detect_drift(ref, pd.DataFrame({"a": pd.Series([], dtype=float)}))
    with pytest.raises(InvalidInput, match="reference data is empty"):
        compute_reference(pa.table({"a": pa.array([], pa.float64())}))
    with pytest.raises(InvalidInput, match="DataFrame or a pyarrow Table"):
        detect_drift(ref, [[1.0]])
    with pytest.raises(InvalidInput, match="no column 'nope'"):
        compute_reference(pd.DataFrame({"a": [1.0]}), ["nope"])
    with pytest.raises(InvalidInput, match="drift needs numbers or text"):
        compute_reference(pd.DataFrame({"t": pd.date_range("2024", periods=3)}), ["t"])
    with pytest.raises(InvalidInput, match="'m' does not hold one type"):
        compute_reference(pd.DataFrame({"m": pd.Series(["a", 1, 2.5], dtype=object)}))
    with pytest.raises(InvalidInput, match="psi"):
        DriftThresholds(psi=-1)
    with pytest.raises(InvalidInput, match="correction"):
        DriftThresholds(correction="holm")  # type: ignore[arg-type]


def test_all_nan_columns() -> None:
    n = 1_000
    rng = np.random.default_rng(15)
    ref = compute_reference(pd.DataFrame({"gone": rng.normal(size=n), "never": np.full(n, np.nan)}))
    current = pd.DataFrame({"gone": np.full(n, np.nan), "never": np.full(n, np.nan)})
    report = detect_drift(ref, current)
    never, gone = report.feature("never"), report.feature("gone")
    assert never.status == "no data" and not never.drifted
    assert "no values in the reference" in never.reason
    assert gone.drifted and "missing share 0.0% -> 100.0%" in gone.reason
    assert gone.psi is None and gone.ks_pvalue is None
    quiet = detect_drift(ref, current, thresholds=DriftThresholds(missing_share=None))
    assert quiet.feature("gone").status == "no data"
    # an all-None object column in the current data has no type: it is not a mismatch
    objects = pd.DataFrame({"gone": [None] * 3, "never": [None] * 3}, dtype=object)
    assert detect_drift(ref, objects).feature("never").status == "no data"


def test_missing_share_change_flags_a_feature() -> None:
    rng = np.random.default_rng(16)
    values = rng.normal(size=2_000)
    current = rng.normal(size=2_000)
    current[:800] = np.nan
    report = detect_drift(
        compute_reference(pd.DataFrame({"x": values})), pd.DataFrame({"x": current})
    )
    f = report.feature("x")
    assert f.drifted and f.reason.startswith("missing share 0.0% -> 40.0%")
    assert f.n_current == 1_200 and f.missing_current == pytest.approx(0.4)


def test_constant_reference_column() -> None:
    ref = compute_reference(pd.DataFrame({"k": np.full(1_000, 7.0)}))
    feature = numeric(ref, "k")
    assert feature.edges.tolist() == [np.nextafter(7.0, -np.inf), 7.0]
    assert feature.proportions.tolist() == [0.0, 1.0, 0.0]
    same = detect_drift(ref, pd.DataFrame({"k": np.full(500, 7.0)})).feature("k")
    assert same.status == "stable" and same.psi == 0.0 and same.ks_statistic == 0.0
    moved = detect_drift(ref, pd.DataFrame({"k": np.r_[np.full(250, 7.0), np.full(250, 6.0)]}))
    f = moved.feature("k")
    assert f.drifted and f.ks_statistic == 0.5
    expected = stats.ks_2samp(np.full(1_000, 7.0), np.r_[np.full(250, 7.0), np.full(250, 6.0)])
    assert f.ks_pvalue == pytest.approx(float(expected.pvalue), rel=1e-9, abs=1e-12)


def test_column_types_from_pandas_and_arrow_agree() -> None:
    frame = mixed_frame(20_000, seed=17, n_numeric=4, n_categorical=2)
    frame["flag"] = np.arange(len(frame)) % 3 == 0
    frame["cat"] = pd.Categorical(np.where(frame["x0"] > 0, "pos", "neg"))
    frame["count"] = pd.array(np.arange(len(frame)) % 7, dtype="Int64")
    current = mixed_frame(20_000, seed=18, n_numeric=4, n_categorical=2)
    current["flag"] = np.arange(len(current)) % 2 == 0
    current["cat"] = np.where(current["x0"] > 0.5, "pos", "neg")
    current["count"] = np.arange(len(current)) % 7
    from_pandas = detect_drift(compute_reference(frame), current).to_dict()
    from_arrow = detect_drift(
        compute_reference(pa.Table.from_pandas(frame)), pa.Table.from_pandas(current)
    ).to_dict()
    assert from_pandas["features"] == from_arrow["features"]
    batch = pa.RecordBatch.from_pandas(current, preserve_index=False)
    assert (
        detect_drift(compute_reference(frame), batch).to_dict()["features"]
        == (from_pandas["features"])
    )
    kinds = {f["name"]: f["kind"] for f in from_pandas["features"]}
    assert kinds["flag"] == "categorical" and kinds["cat"] == "categorical"
    assert kinds["count"] == "numeric"
    assert {"flag", "cat"} <= set(from_pandas["dataset"]["drifted_features"])


# --------------------------------------------------------------------------- serialisation


def test_reference_round_trip_is_exact_and_deterministic() -> None:
    frame = mixed_frame(5_000, seed=19, n_numeric=4, n_categorical=2)
    frame["empty"] = None
    ref = compute_reference(frame)
    data = ref.to_bytes()
    assert data == compute_reference(frame).to_bytes()
    back = ReferenceStats.from_bytes(data)
    assert back.to_bytes() == data
    assert back.names == ref.names and back.n_rows == ref.n_rows and back.bins == ref.bins
    for a, b in zip(ref.features, back.features, strict=True):
        assert (a.kind, a.name, a.dtype, a.n, a.n_missing) == (
            b.kind,
            b.name,
            b.dtype,
            b.n,
            b.n_missing,
        )
        if isinstance(a, NumericReference):
            assert isinstance(b, NumericReference)
            assert np.array_equal(a.edges, b.edges) and np.array_equal(a.sample, b.sample)
    current = mixed_frame(3_000, seed=20, n_numeric=4, n_categorical=2)
    current["empty"] = None
    assert detect_drift(ref, current).to_dict() == detect_drift(back, current).to_dict()


def test_from_bytes_refuses_anything_else() -> None:
    with pytest.raises(InvalidInput, match="not a modelward drift reference"):
        ReferenceStats.from_bytes(b"not a zip")
    buffer = io.BytesIO()
    np.savez(buffer, meta=np.array([{"format": 1}], dtype=object))  # needs pickle to load
    with pytest.raises(InvalidInput, match="not a modelward drift reference"):
        ReferenceStats.from_bytes(buffer.getvalue())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("meta.npy", b"garbage")
    with pytest.raises(InvalidInput, match="not a modelward drift reference"):
        ReferenceStats.from_bytes(buffer.getvalue())


def test_report_to_dict_is_strict_json() -> None:
    rng = np.random.default_rng(21)
    frame = pd.DataFrame({"x": rng.normal(size=500), "c": rng.choice(list("ab"), 500)})
    frame["nan"] = np.nan
    data = detect_drift(compute_reference(frame), frame).to_dict()
    text = json.dumps(data, allow_nan=False)
    assert set(data) == {"dataset", "thresholds", "features", "extra_columns"}
    assert data["dataset"]["n_features"] == 3 and data["dataset"]["share"] == 0.0
    assert json.loads(text)["features"][2]["psi"] is None


def test_a_pandas_text_column_is_read_as_fast_as_the_same_arrow_column() -> None:
    """`mw monitor drift` and the monitor give detect_drift pandas frames; pandas 3 keeps
    text in Arrow. Reading such a column once cost 50x the Arrow read (it was converted
    value by value), which made the command 25x slower than the engine at 1M rows."""
    import time

    from modelward.monitoring.drift.stats import CategoryCounts, read_column

    rng = np.random.default_rng(3)
    words = np.array(["red", "green", "blue", "black", "white"])[rng.integers(0, 5, 300_000)]
    chunks = [pa.table({"colour": part}) for part in np.array_split(words, 3)]
    table = pa.concat_tables(chunks)  # several chunks, like the row groups of a Parquet file
    frame = table.to_pandas()

    def best(read: Any) -> float:
        times = []
        for _ in range(3):
            started = time.perf_counter()
            read()
            times.append(time.perf_counter() - started)
        return min(times)

    from_arrow = best(lambda: read_column(table.column("colour"), "colour"))
    from_pandas = best(lambda: read_column(frame["colour"], "colour"))
    assert from_pandas < 10 * from_arrow + 0.02, (from_pandas, from_arrow)
    counted = read_column(frame["colour"], "colour")
    assert isinstance(counted, CategoryCounts)
    expected = pd.Series(words).value_counts()
    assert dict(zip(counted.values.to_pylist(), counted.counts.tolist(), strict=True)) == dict(
        expected
    )
