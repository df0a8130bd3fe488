"""Rolling z-scores against two independent references: a naive loop and pandas."""

from __future__ import annotations

import json
import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelward.errors import InvalidInput
from modelward.monitoring.anomaly import AnomalyResult, detect_anomalies, rolling_zscores

NAN = math.nan


def naive_zscores(
    values: npt.ArrayLike, window: int, min_periods: int | None = None
) -> npt.NDArray[np.float64]:
    """One point at a time, with the module's documented rules spelled out."""
    x = np.asarray(values, dtype=np.float64)
    need = window if min_periods is None else min_periods
    out = np.full(x.size, NAN)
    for i in range(x.size):
        history = x[max(0, i - window) : i]
        history = history[np.isfinite(history)]
        if not math.isfinite(x[i]) or history.size < need:
            continue
        if history.min() == history.max():
            out[i] = 0.0 if x[i] == history[0] else math.copysign(math.inf, x[i] - history[0])
        else:
            out[i] = (x[i] - history.mean()) / history.std(ddof=0)
    return out


def pandas_zscores(
    values: npt.ArrayLike, window: int, min_periods: int | None = None
) -> npt.NDArray[np.float64]:
    s = pd.Series(np.asarray(values, dtype=np.float64))
    rolling = s.rolling(window, min_periods=min_periods or window)
    return ((s - rolling.mean().shift(1)) / rolling.std(ddof=0).shift(1)).to_numpy()


def assert_same(actual: npt.NDArray[np.float64], expected: npt.NDArray[np.float64]) -> None:
    np.testing.assert_allclose(actual, expected, rtol=1e-9, atol=1e-9, equal_nan=True)


@pytest.mark.parametrize("window", [2, 3, 7, 30])
@pytest.mark.parametrize("n", [0, 1, 2, 5, 31, 64, 500])
@pytest.mark.parametrize("min_periods", [None, 2])
def test_matches_the_naive_loop_with_gaps(window: int, n: int, min_periods: int | None) -> None:
    rng = np.random.default_rng(n * 100 + window)
    x = rng.normal(10.0, 3.0, size=n)
    x[rng.random(n) < 0.15] = NAN
    assert_same(
        rolling_zscores(x, window, min_periods=min_periods), naive_zscores(x, window, min_periods)
    )


@pytest.mark.parametrize("window", [2, 5, 30])
@pytest.mark.parametrize("min_periods", [None, 2])
def test_matches_pandas_rolling_shifted_by_one(window: int, min_periods: int | None) -> None:
    rng = np.random.default_rng(window)
    x = rng.normal(0.2, 0.05, size=400)
    x[rng.random(400) < 0.1] = NAN
    got = rolling_zscores(x, window, min_periods=min_periods)
    np.testing.assert_allclose(
        got, pandas_zscores(x, window, min_periods), rtol=1e-7, atol=1e-9, equal_nan=True
    )


finite_or_gap = st.one_of(
    st.integers(-2000, 2000).map(lambda i: i / 8), st.just(NAN), st.just(math.inf)
)


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(finite_or_gap, max_size=80),
    window=st.integers(2, 12),
    data=st.data(),
)
def test_property_matches_the_naive_loop(
    values: list[float], window: int, data: st.DataObject
) -> None:
    min_periods = data.draw(st.one_of(st.none(), st.integers(2, window)))
    assert_same(
        rolling_zscores(values, window, min_periods=min_periods),
        naive_zscores(values, window, min_periods),
    )


@settings(max_examples=100, deadline=None)
@given(
    values=st.lists(st.integers(-500, 500).map(float), min_size=1, max_size=60),
    window=st.integers(2, 8),
    scale=st.sampled_from([0.001, 3.0, 1e6]),
    shift=st.sampled_from([-1e6, 0.0, 42.0]),
)
def test_property_invariant_under_positive_affine_maps(
    values: list[float], window: int, scale: float, shift: float
) -> None:
    x = np.asarray(values)
    np.testing.assert_allclose(
        rolling_zscores(x * scale + shift, window),
        rolling_zscores(x, window),
        rtol=1e-6,
        atol=1e-6,
        equal_nan=True,
    )


def test_the_point_is_not_in_its_own_history() -> None:
    z = rolling_zscores([1.0, 2.0, 1.0, 2.0, 101.0], 4)
    # history [1, 2, 1, 2]: mean 1.5, population std 0.5
    assert z[4] == pytest.approx((101.0 - 1.5) / 0.5)
    assert np.isnan(z[:4]).all()


def test_spike_detection() -> None:
    t = np.arange(300)
    x = 0.2 + 0.01 * np.sin(t / 5.0)
    x[200] += 0.5
    result = detect_anomalies(x, window=30)
    assert list(result.indices) == [200]
    assert result.zscores[200] > 10
    assert not result.latest_is_anomaly
    assert math.isfinite(result.latest_z)


def test_constant_history_gives_zero_or_infinity() -> None:
    x = [0.0] * 6 + [0.3] + [0.0] * 8
    z = rolling_zscores(x, 4)
    assert np.isnan(z[:4]).all()
    assert list(z[4:6]) == [0.0, 0.0]
    assert z[6] == math.inf
    assert np.isfinite(z[7:11]).all()  # the spike is in these histories
    assert list(z[11:]) == [0.0] * 4  # back to a constant history
    assert rolling_zscores([5.0, 5.0, 5.0, 1.0], 3)[3] == -math.inf
    # a constant that is not exact in binary: the mean rounds, the verdict must not
    assert rolling_zscores([0.1] * 7 + [0.1], 7)[7] == 0.0
    assert rolling_zscores([0.1] * 7 + [0.1000000001], 7)[7] == math.inf
    result = detect_anomalies([1.0, 1.0, 1.0, 9.0], 3)
    assert list(result.indices) == [3]
    assert result.to_dict()["zscores"] == [None]  # JSON has no infinity


def test_short_series_and_min_periods() -> None:
    assert rolling_zscores([], 5).shape == (0,)
    assert np.isnan(rolling_zscores([1.0, 2.0, 3.0], 5)).all()
    z = rolling_zscores([1.0, 3.0, 2.0], 5, min_periods=2)
    assert np.isnan(z[:2]).all()
    assert z[2] == pytest.approx(0.0)
    assert math.isnan(detect_anomalies([], 3).latest_z)


def test_missing_points_have_no_score_and_are_skipped() -> None:
    z = rolling_zscores([1.0, NAN, 3.0, math.inf, 2.0, NAN], 4, min_periods=2)
    assert np.isnan(z[[0, 1, 2, 3, 5]]).all()
    assert z[4] == pytest.approx(0.0)  # history {1, 3}: mean 2


def test_long_series_far_from_zero_stays_accurate() -> None:
    rng = np.random.default_rng(7)
    level = 1e9 + np.repeat(rng.normal(0, 1e4, size=200), 1000)  # level shifts every 1000
    x = level + rng.normal(0, 1.0, size=level.size)
    window = 300
    z = rolling_zscores(x, window)
    for i in [window, 1000, 1001, 1150, 99_999, 150_017, x.size - 1]:
        history = x[i - window : i]
        exact = (x[i] - history.mean()) / history.std()
        assert z[i] == pytest.approx(exact, rel=1e-6, abs=1e-6), i


def test_result_is_frozen_and_read_only() -> None:
    result = detect_anomalies([1.0, 2.0, 1.0, 2.0, 9.0], 4, threshold=2.0)
    assert isinstance(result, AnomalyResult)
    with pytest.raises(AttributeError):
        result.latest_z = 0.0  # type: ignore[misc]
    with pytest.raises(ValueError):
        result.zscores[0] = 1.0
    assert json.loads(json.dumps(result.to_dict())) == {
        "window": 4,
        "threshold": 2.0,
        "indices": [4],
        "zscores": [15.0],
        "latest_z": 15.0,
    }


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda: rolling_zscores([1.0, 2.0], 1), "at least 2"),
        (lambda: rolling_zscores([1.0, 2.0], 2.5), "whole number"),  # type: ignore[arg-type]
        (lambda: rolling_zscores([1.0, 2.0], True), "whole number"),
        (lambda: rolling_zscores([1.0, 2.0], 3, min_periods=4), "min_periods"),
        (lambda: rolling_zscores([1.0, 2.0], 3, min_periods=1), "min_periods"),
        (lambda: rolling_zscores([[1.0, 2.0]], 3), "one-dimensional"),
        (lambda: rolling_zscores(["a", "b"], 3), "numbers"),
        (lambda: detect_anomalies([1.0], 3, threshold=0), "threshold"),
        (lambda: detect_anomalies([1.0], 3, threshold=NAN), "threshold"),
    ],
)
def test_bad_input(call: Callable[[], object], words: str) -> None:
    with pytest.raises(InvalidInput, match=words) as info:
        call()
    assert "\n" not in str(info.value)
