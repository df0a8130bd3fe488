"""Data drift: is the current data still distributed like the reference?

    reference = compute_reference(table)       # once per dataset version; cache to_bytes()
    report = detect_drift(reference, frame)     # each check: current DataFrame or Table
    report.drifted, report.to_dict()

What is measured, per feature (missing values, null and NaN, are left out of every
statistic and reported as shares):

* numeric: PSI over the reference's quantile buckets (deciles by default) and the
  two-sample Kolmogorov-Smirnov test, with the semantics of
  ``scipy.stats.ks_2samp(reference_sample, current)`` (two-sided, method "auto").
  The reference side is the reference's KS sample: every value up to 100,000 values,
  else 100,000 evenly spaced order statistics (see `compute_reference`).
* categorical: PSI and the chi-square goodness-of-fit test of the current counts
  over the reference's top categories (50) + "other", against expected = reference
  share * n_current (``scipy.stats.chisquare(observed, expected)``), and the total
  variation distance (half the L1 distance between the two share vectors). A bucket
  the reference never saw ("other" when the reference has at most 50 values) gets an
  expected share of 1e-4 before renormalising, so one unseen value gives a large but
  finite statistic. "other" is left out when both sides have nothing in it.
* PSI = sum((cur - ref) * ln(cur / ref)), every share floored at 1e-4 (empty buckets).

The verdict (defaults of `DriftThresholds`). A feature is drifted when its change is
both *significant* and *material*:

* significant: the test's p-value < 0.05 / m (Bonferroni over the m features that
  have values on both sides; ``correction="none"``: < 0.05);
* material: PSI >= 0.1, or KS statistic >= 0.1 (numeric), or total variation
  distance >= 0.1 (categorical);

or when its missing share moved by 0.2 or more (say 1% -> 30%), whatever the values
do. Why both: on 100k-1M rows a bare p < 0.05 flags about 5% of unchanged features
by chance, and every negligible change; a bare PSI threshold flags unchanged features
by chance on ~100 rows. Together they stay quiet on unchanged data of any size (at
1M rows an unchanged feature has KS ~0.003 and PSI ~1e-5: no flag in practice),
while, once there are enough rows to be sure, a mean shift of 0.25 std or more
(KS >= 0.1; 0.5 std: KS 0.20, PSI 0.24), a spread 1.35x wider or 0.8x narrower
(PSI >= 0.1; 1.5x: PSI 0.19) or a category mix change of 10 points (total variation
0.1), or a new category taking a few percent of the rows (PSI), is flagged. PSI 0.1
is the usual "moderate shift" line (0.2 "significant"). The raw statistics and
p-values are always reported.

The chi-square p-value treats the reference shares as exact, like
``scipy.stats.chisquare``: with a current window as large as the reference it is too
small (the statistic is inflated by about 1 + n_current / n_reference), one more
reason for the materiality condition.

A feature without values on one side (all missing) has status "no data" and is not
drifted, unless its missing share moved by 0.2 or more (an all-NaN current column
for a column that had values is drifted). A constant reference column gets the PSI
buckets "< c", "= c", "> c"; KS is defined as usual.

The dataset is drifted when at least 30% of its features are drifted, or when any
feature named in ``DriftThresholds.critical`` is. (Evidently's default share is 50%;
ours is lower because a feature counts only when its change is both certain and
material, so 30% of the features moving is already worth a look or a retrain.)

Bad input raises `InvalidInput`: a reference column missing from the current data,
a column numeric on one side and text on the other, an empty current window. Extra
current columns are ignored and listed in `DriftReport.extra_columns`.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from modelward.errors import InvalidInput
from modelward.monitoring.drift.reference import (
    CategoricalReference,
    NumericReference,
    ReferenceStats,
)
from modelward.monitoring.drift.stats import (
    EPSILON,
    CategoryCounts,
    Column,
    Columns,
    FloatArray,
    NumericValues,
    Unsupported,
    bucket_counts,
    chisquare_counts,
    histogram_counts,
    ks_2samp_sorted,
    psi,
    read_column,
)

__all__ = ["DriftReport", "DriftThresholds", "FeatureDrift", "Histogram", "detect_drift"]

Status = Literal["drifted", "stable", "no data"]


@dataclass(frozen=True)
class DriftThresholds:
    """When a feature, and the dataset, count as drifted (see the module docstring)."""

    psi: float = 0.1
    ks_statistic: float = 0.1
    tv_distance: float = 0.1
    ks_pvalue: float = 0.05
    chi2_pvalue: float = 0.05
    correction: Literal["bonferroni", "none"] = "bonferroni"
    missing_share: float | None = 0.2
    min_drifted_share: float = 0.3
    critical: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "critical", tuple(str(name) for name in self.critical))
        checks = [
            ("psi", self.psi, 0.0, math.inf),
            ("ks_statistic", self.ks_statistic, 0.0, 1.0),
            ("tv_distance", self.tv_distance, 0.0, 1.0),
            ("ks_pvalue", self.ks_pvalue, 0.0, 1.0),
            ("chi2_pvalue", self.chi2_pvalue, 0.0, 1.0),
            ("min_drifted_share", self.min_drifted_share, 0.0, 1.0),
        ]
        if self.missing_share is not None:
            checks.append(("missing_share", self.missing_share, 0.0, 1.0))
        for name, value, low, high in checks:
            if not (isinstance(value, int | float) and low < value <= high):
                raise InvalidInput(
                    f"drift threshold {name} must be in ({low:g}, {high:g}]: {value}"
                )
        if self.correction not in ("bonferroni", "none"):
            raise InvalidInput(
                f"correction must be 'bonferroni' or 'none', not {self.correction!r}"
            )


@dataclass(frozen=True)
class Histogram:
    """Reference and current shares over the same buckets, with their labels."""

    labels: tuple[str, ...]
    reference: tuple[float, ...]
    current: tuple[float, ...]
    edges: tuple[float, ...] = ()


@dataclass(frozen=True)
class FeatureDrift:
    """The statistics and the verdict of one feature (None: not computed or undefined)."""

    name: str
    kind: Literal["numeric", "categorical"]
    status: Status
    reason: str
    psi: float | None
    ks_statistic: float | None
    ks_pvalue: float | None
    chi2_statistic: float | None
    chi2_pvalue: float | None
    tv_distance: float | None
    n_reference: int
    n_current: int
    missing_reference: float
    missing_current: float
    buckets: Histogram | None = None
    histogram: Histogram | None = None

    @property
    def drifted(self) -> bool:
        return self.status == "drifted"

    def to_dict(self, *, histograms: bool = True) -> dict[str, Any]:
        """JSON-able: NaN and infinities become None. Without `histograms`, `buckets` and
        `histogram` (the shares per bucket) are left out, and so is nothing else."""
        data = asdict(self)
        data["drifted"] = self.drifted
        if not histograms:
            data.pop("buckets")
            data.pop("histogram")
        return _jsonable(data)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class DriftReport:
    """Per-feature results and the dataset verdict of one drift check."""

    features: tuple[FeatureDrift, ...]
    thresholds: DriftThresholds
    drifted: bool
    reason: str
    ks_alpha: float
    chi2_alpha: float
    n_reference_rows: int
    n_current_rows: int
    extra_columns: tuple[str, ...] = field(default=())

    @property
    def n_features(self) -> int:
        return len(self.features)

    @property
    def drifted_features(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features if f.drifted)

    @property
    def share(self) -> float:
        return len(self.drifted_features) / self.n_features if self.features else 0.0

    def feature(self, name: str) -> FeatureDrift:
        """The result of feature `name`."""
        for f in self.features:
            if f.name == name:
                return f
        raise InvalidInput(f"the drift report has no feature {name!r}")

    def to_dict(self, *, histograms: bool = True) -> dict[str, Any]:
        """JSON-able: {"dataset": verdict, "thresholds", "features": [...], "extra_columns"};
        `histograms=False` leaves the per-feature bucket shares out."""
        dataset = {
            "drifted": self.drifted,
            "reason": self.reason,
            "n_features": self.n_features,
            "n_drifted": len(self.drifted_features),
            "share": self.share,
            "drifted_features": list(self.drifted_features),
            "n_reference_rows": self.n_reference_rows,
            "n_current_rows": self.n_current_rows,
        }
        thresholds = {**asdict(self.thresholds), "ks_alpha": self.ks_alpha}
        thresholds["chi2_alpha"] = self.chi2_alpha
        return {
            "dataset": _jsonable(dataset),
            "thresholds": _jsonable(thresholds),
            "features": [f.to_dict(histograms=histograms) for f in self.features],
            "extra_columns": list(self.extra_columns),
        }


def detect_drift(
    reference: ReferenceStats,
    current: object,
    *,
    thresholds: DriftThresholds | None = None,
) -> DriftReport:
    """Compare `current` (a pandas DataFrame or pyarrow Table) with `reference`."""
    if not isinstance(reference, ReferenceStats):
        raise InvalidInput(f"reference must be ReferenceStats, not {type(reference).__name__}")
    limits = thresholds or DriftThresholds()
    table = Columns(current, "current")
    if table.n_rows == 0:
        raise InvalidInput("the current window is empty")
    missing = [name for name in reference.names if name not in table.names]
    if missing:
        raise InvalidInput(f"the current data lacks column(s) {_quoted(missing)} of the reference")
    unknown = [name for name in limits.critical if name not in reference.names]
    if unknown:
        raise InvalidInput(f"critical column(s) {_quoted(unknown)} are not in the reference")
    known = set(reference.names) | set(reference.skipped)
    extra = tuple(name for name in table.names if name not in known)

    def measure(ref: NumericReference | CategoricalReference) -> FeatureDrift:
        return _measure(ref, read_column(table.source(ref.name), ref.name), table.n_rows)

    workers = max(1, min(len(reference.features), os.cpu_count() or 1, 16))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        measured = list(pool.map(measure, reference.features))
    tested = sum(1 for f in measured if f.n_reference and f.n_current)
    divisor = max(tested, 1) if limits.correction == "bonferroni" else 1
    ks_alpha, chi2_alpha = limits.ks_pvalue / divisor, limits.chi2_pvalue / divisor
    features = tuple(_judge(f, limits, ks_alpha, chi2_alpha) for f in measured)
    drifted = [f.name for f in features if f.drifted]
    share = len(drifted) / len(features)
    critical = [name for name in limits.critical if name in drifted]
    verdict = share >= limits.min_drifted_share or bool(critical)
    reason = (
        f"{len(drifted)} of {len(features)} features drifted ({share:.0%}), "
        f"{'at or above' if share >= limits.min_drifted_share else 'below'} "
        f"the {limits.min_drifted_share:.0%} threshold"
    )
    if critical:
        reason += f"; critical feature(s) {_quoted(critical)} drifted"
    return DriftReport(
        features,
        limits,
        verdict,
        reason,
        ks_alpha,
        chi2_alpha,
        reference.n_rows,
        table.n_rows,
        extra,
    )


def _measure(
    ref: NumericReference | CategoricalReference, column: Column, n_rows: int
) -> FeatureDrift:
    if isinstance(column, Unsupported):
        raise InvalidInput(_mismatch(ref, column.dtype))
    n_current = len(column.values) if isinstance(column, NumericValues) else 0
    if isinstance(column, CategoryCounts):
        n_current = int(column.counts.sum())
    current_kind = "numeric" if isinstance(column, NumericValues) else "categorical"
    if ref.n and n_current and current_kind != ref.kind:
        raise InvalidInput(_mismatch(ref, column.dtype))
    empty = FeatureDrift(
        ref.name, ref.kind, "no data", "", None, None, None, None, None, None, ref.n, n_current,
        ref.n_missing / (ref.n + ref.n_missing), column.n_missing / n_rows,
    )  # fmt: skip
    if not (ref.n and n_current):
        return empty
    if isinstance(ref, NumericReference) and isinstance(column, NumericValues):
        return _numeric(ref, column.values, empty)
    if isinstance(ref, CategoricalReference) and isinstance(column, CategoryCounts):
        return _categorical(ref, column, empty)
    raise InvalidInput(_mismatch(ref, column.dtype))  # pragma: no cover - kinds checked above


def _numeric(ref: NumericReference, values: FloatArray, base: FeatureDrift) -> FeatureDrift:
    n = len(values)
    shares = bucket_counts(values, ref.edges) / n
    statistic, pvalue = ks_2samp_sorted(ref.sample, values)
    labels = _bucket_labels(ref.edges)
    buckets = Histogram(labels, _floats(ref.proportions), _floats(shares), _floats(ref.edges))
    histogram = None
    if len(ref.histogram_edges):
        current = histogram_counts(values, ref.histogram_edges) / n
        edges = ref.histogram_edges
        histogram = Histogram(
            _histogram_labels(edges), _floats(ref.histogram), _floats(current), _floats(edges)
        )
    return replace(
        base,
        psi=psi(ref.proportions, shares),
        ks_statistic=statistic,
        ks_pvalue=pvalue,
        buckets=buckets,
        histogram=histogram,
    )


def _categorical(
    ref: CategoricalReference, column: CategoryCounts, base: FeatureDrift
) -> FeatureDrift:
    k = len(ref.categories)
    where = pc.index_in(column.values, value_set=pa.array(ref.categories, pa.string()))
    index = np.asarray(pc.fill_null(where, k).to_numpy(), dtype=np.int64)
    observed = np.rint(np.bincount(index, weights=column.counts, minlength=k + 1)).astype(np.int64)
    reference = np.append(ref.counts, ref.other)
    keep = slice(None) if (ref.other or observed[k]) else slice(0, k)
    observed, reference = observed[keep], reference[keep]
    n_current = int(observed.sum())
    ref_shares, cur_shares = reference / ref.n, observed / n_current
    expected = np.where(ref_shares > 0, ref_shares, EPSILON)
    statistic, pvalue = chisquare_counts(observed, expected / expected.sum() * n_current)
    labels = (*ref.categories, "other")[keep]
    buckets = Histogram(labels, _floats(ref_shares), _floats(cur_shares))
    return replace(
        base,
        psi=psi(ref_shares, cur_shares),
        chi2_statistic=statistic,
        chi2_pvalue=pvalue,
        tv_distance=float(0.5 * np.abs(cur_shares - ref_shares).sum()),
        buckets=buckets,
        histogram=buckets,
    )


def _judge(f: FeatureDrift, t: DriftThresholds, ks_alpha: float, chi2_alpha: float) -> FeatureDrift:
    moved = abs(f.missing_current - f.missing_reference)
    missing = (
        f"missing share {f.missing_reference:.1%} -> {f.missing_current:.1%}"
        if t.missing_share is not None and moved >= t.missing_share
        else ""
    )
    if not (f.n_reference and f.n_current):
        side = "reference" if not f.n_reference else "current data"
        if missing:
            return replace(f, status="drifted", reason=f"{missing}; no values in the {side}")
        return replace(f, reason=f"no values in the {side}: nothing to compare")
    assert f.psi is not None
    if f.kind == "numeric":
        test, p, alpha = "KS", f.ks_pvalue, ks_alpha
        name, size, limit = "KS statistic", f.ks_statistic, t.ks_statistic
    else:
        test, p, alpha = "chi-square", f.chi2_pvalue, chi2_alpha
        name, size, limit = "total variation", f.tv_distance, t.tv_distance
    assert p is not None and size is not None
    effects = [("PSI", f.psi, t.psi), (name, size, limit)]
    material = [f"{n} {v:.3g} >= {lim:g}" for n, v, lim in effects if v >= lim]
    significant = p < alpha
    if significant and material:
        reason = f"{test} p={p:.3g} < {alpha:.3g} and {', '.join(material)}"
        return replace(f, status="drifted", reason=reason + (f"; {missing}" if missing else ""))
    if missing:
        return replace(f, status="drifted", reason=missing)
    if not significant:
        return replace(
            f, status="stable", reason=f"not significant: {test} p={p:.3g} >= {alpha:.3g}"
        )
    small = ", ".join(f"{n} {v:.3g} < {lim:g}" for n, v, lim in effects)
    return replace(f, status="stable", reason=f"significant ({test} p={p:.3g}) but small: {small}")


def _mismatch(ref: NumericReference | CategoricalReference, current: str) -> str:
    return (
        f"column {ref.name!r} is {ref.kind} ({ref.dtype}) in the reference "
        f"but {current} in the current data"
    )


def _bucket_labels(edges: FloatArray) -> tuple[str, ...]:
    if not len(edges):
        return ("all",)
    bounds = [f"{e:.4g}" for e in edges]
    inner = [f"({a}, {b}]" for a, b in itertools.pairwise(bounds)]
    return (f"<= {bounds[0]}", *inner, f"> {bounds[-1]}")


def _histogram_labels(edges: FloatArray) -> tuple[str, ...]:
    bounds = [f"{e:.4g}" for e in edges]
    inner = [f"[{a}, {b})" for a, b in itertools.pairwise(bounds)]
    inner[-1] = inner[-1][:-1] + "]"
    return (f"< {bounds[0]}", *inner, f"> {bounds[-1]}")


def _floats(values: FloatArray | Sequence[float]) -> tuple[float, ...]:
    return tuple(float(v) for v in values)


def _quoted(names: Sequence[str]) -> str:
    return ", ".join(repr(name) for name in names)


def _jsonable(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return value
