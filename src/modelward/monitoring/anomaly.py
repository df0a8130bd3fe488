"""Z-score anomalies on a monitored series (latency, error rate, live accuracy, drift scores).

    z[i] = (x[i] - mean(H)) / std(H),   H = the `window` points before i

The rules, each chosen for alerting:

- The history H excludes the point itself, so a spike is not dampened by its
  own weight in the mean and std (with it included, |z| of one point among w
  can never exceed sqrt(w - 1)).
- `std` is the population standard deviation (ddof=0), as in the z-score
  normalisation of the seed document; pandas' `.rolling(w).std(ddof=0)`
  shifted by one gives the same numbers.
- Missing values (NaN, ±inf) have no z-score and are skipped inside windows;
  `min_periods` (default: `window`) counts the finite values in H, as pandas does.
- A constant history (std == 0) gives z = 0 when the point equals it and
  ±inf when it differs: a flat error rate of 0 that jumps to 0.2 is an anomaly,
  and a series back at its constant is not one, so an alert on it can resolve.

Sums are taken per block of `window` points, each centred on its own mean, and
a window's two partial blocks are merged with Chan's pairwise formula: O(n)
work, no loop over points, and no loss of precision on long series or series
far from zero. Constant windows are found exactly with blockwise running
min/max (van Herk / Gil-Werman), not by comparing a rounded std with zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from modelward.errors import InvalidInput

__all__ = ["AnomalyResult", "detect_anomalies", "rolling_zscores"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class AnomalyResult:
    """Z-scores of a series and the points whose |z| reaches the threshold.

    `zscores` and `indices` are read-only arrays; `latest_z` is the z-score of
    the last point (NaN when it has none).
    """

    zscores: FloatArray
    indices: npt.NDArray[np.intp]
    latest_z: float
    threshold: float
    window: int

    @property
    def latest_is_anomaly(self) -> bool:
        """Whether the last point of the series is an anomaly."""
        return abs(self.latest_z) >= self.threshold

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe summary (non-finite z-scores become None)."""
        return {
            "window": self.window,
            "threshold": self.threshold,
            "indices": [int(i) for i in self.indices],
            "zscores": [_finite_or_none(z) for z in self.zscores[self.indices]],
            "latest_z": _finite_or_none(self.latest_z),
        }


def rolling_zscores(
    values: npt.ArrayLike, window: int, *, min_periods: int | None = None
) -> FloatArray:
    """The z-score of each point against the `window` points before it (see module doc).

    NaN where the point is missing or fewer than `min_periods` finite values
    precede it within the window. Raises InvalidInput on a bad window or series.
    """
    x = _series(values)
    min_periods = _check_window(window, min_periods)
    if x.size == 0:
        return np.empty(0, dtype=np.float64)
    with np.errstate(all="ignore"):  # inf/NaN/overflow are handled by the rules above
        return _zscores(x, window, min_periods)


def _zscores(x: FloatArray, w: int, min_periods: int) -> FloatArray:
    n = x.size
    # Pad so that the history of point i is padded[i : i + w], and so that
    # every such window lies in a block k and its successor k + 1.
    blocks = -(-(n + w) // w)
    padded = np.full(blocks * w, np.nan)
    padded[w : w + n] = x
    grid = padded.reshape(blocks, w)
    ok = np.isfinite(grid)

    counts = ok.sum(axis=1)
    centre = np.divide(
        np.where(ok, grid, 0.0).sum(axis=1), counts, out=np.zeros(blocks), where=counts > 0
    )
    dev = np.where(ok, grid - centre[:, None], 0.0)
    # Prefix sums with a leading zero column: p[k, j] sums block k's first j points.
    p0 = _prefix(ok.astype(np.float64))
    p1 = _prefix(dev)
    p2 = _prefix(dev * dev)
    hi_pre = np.maximum.accumulate(np.where(ok, grid, -np.inf), axis=1)
    lo_pre = np.minimum.accumulate(np.where(ok, grid, np.inf), axis=1)
    hi_suf = np.maximum.accumulate(np.where(ok, grid, -np.inf)[:, ::-1], axis=1)[:, ::-1]
    lo_suf = np.minimum.accumulate(np.where(ok, grid, np.inf)[:, ::-1], axis=1)[:, ::-1]

    start = np.arange(n)
    k, o = np.divmod(start, w)
    # Part a: block k from offset o to its end; part b: block k + 1 before offset o.
    n_a = p0[k, w] - p0[k, o]
    n_b = p0[k + 1, o]
    s1_a, s2_a = p1[k, w] - p1[k, o], p2[k, w] - p2[k, o]
    s1_b, s2_b = p1[k + 1, o], p2[k + 1, o]
    d_a = _safe_div(s1_a, n_a)
    d_b = _safe_div(s1_b, n_b)
    m2_a = np.maximum(s2_a - s1_a * d_a, 0.0)
    m2_b = np.maximum(s2_b - s1_b * d_b, 0.0)
    mean_a = centre[k] + d_a
    mean_b = centre[k + 1] + d_b
    total = n_a + n_b
    delta = mean_b - mean_a
    mean = mean_a + delta * _safe_div(n_b, total)
    m2 = m2_a + m2_b + delta * delta * _safe_div(n_a * n_b, total)
    std = np.sqrt(_safe_div(m2, total))

    before = np.maximum(o - 1, 0)
    hi = np.maximum(hi_suf[k, o], np.where(o > 0, hi_pre[k + 1, before], -np.inf))
    lo = np.minimum(lo_suf[k, o], np.where(o > 0, lo_pre[k + 1, before], np.inf))
    # A constant history is detected exactly (hi == lo), not from a rounded std;
    # a history whose spread underflows to std == 0 is treated the same way.
    flat = hi == lo
    level = np.where(flat, hi, mean)
    z = (x - mean) / std
    z = np.where(flat | (std == 0.0), np.sign(x - level) * np.inf, z)
    z[(flat | (std == 0.0)) & (x == level)] = 0.0
    z[(total < min_periods) | ~np.isfinite(x)] = np.nan
    return np.asarray(z, dtype=np.float64)


def detect_anomalies(
    values: npt.ArrayLike,
    window: int,
    threshold: float = 3.0,
    *,
    min_periods: int | None = None,
) -> AnomalyResult:
    """Points whose |z| (from `rolling_zscores`) is at least `threshold`."""
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise InvalidInput(f"threshold must be a number, not {type(threshold).__name__}")
    if not (math.isfinite(threshold) and threshold > 0):
        raise InvalidInput(
            f"threshold must be a positive number of standard deviations, got {threshold}"
        )
    z = rolling_zscores(values, window, min_periods=min_periods)
    with np.errstate(invalid="ignore"):
        hits = np.flatnonzero(np.abs(z) >= threshold)
    z.setflags(write=False)
    hits.setflags(write=False)
    latest = float(z[-1]) if z.size else math.nan
    return AnomalyResult(z, hits, latest, float(threshold), window)


def _series(values: npt.ArrayLike) -> FloatArray:
    try:
        x = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidInput("a series must be a sequence of numbers") from None
    if x.ndim != 1:
        raise InvalidInput(f"a series must be one-dimensional, got shape {x.shape}")
    return x


def _check_window(window: int, min_periods: int | None) -> int:
    if isinstance(window, bool) or not isinstance(window, int | np.integer):
        raise InvalidInput(f"window must be a whole number of points, not {window!r}")
    if window < 2:
        raise InvalidInput(f"window must be at least 2 points (a std needs two), got {window}")
    if min_periods is None:
        return int(window)
    if isinstance(min_periods, bool) or not isinstance(min_periods, int | np.integer):
        raise InvalidInput(f"min_periods must be a whole number of points, not {min_periods!r}")
    if not 2 <= min_periods <= window:
        raise InvalidInput(
            f"min_periods must be between 2 and the window ({window}), got {min_periods}"
        )
    return int(min_periods)


def _prefix(a: FloatArray) -> FloatArray:
    out = np.zeros((a.shape[0], a.shape[1] + 1))
    np.cumsum(a, axis=1, out=out[:, 1:])
    return out


def _safe_div(num: FloatArray, den: FloatArray) -> FloatArray:
    return np.divide(num, den, out=np.zeros(np.broadcast(num, den).shape), where=den > 0)


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None
