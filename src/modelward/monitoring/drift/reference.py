"""Reference statistics: what drift checks need from the reference data, computed once.

`compute_reference` reads each column once and keeps, per numeric column:

* the PSI bucket edges: the reference's quantiles at 1/bins, ..., (bins-1)/bins
  (deciles by default; NumPy's linear method over the finite values), de-duplicated
  for ties, giving buckets (-inf, e0], (e0, e1], ..., (e_last, inf). A constant
  column (zero std) gets the edges [prev(c), c], i.e. the buckets "< c", "= c",
  "> c", so a move away from the constant still shows;
* the reference share of each bucket;
* the KS sample: the sorted non-missing values, or, above `sample_size` values
  (100,000 by default), that many evenly spaced order statistics (the values at
  ranks (i + 0.5) * n / sample_size): deterministic, and within 1 / sample_size
  of the full reference's distribution function. KS compares the current data
  with this sample;
* a display histogram: 20 equal-width bins over the reference's 0.1%-99.9%
  quantile range, plus an underflow and an overflow bin (for the HTML report only).

Per categorical column: the counts of the `max_categories` (50) most frequent
values (ties by value) and of all other values together ("other").

`ReferenceStats.to_bytes` is a NumPy ``.npz`` archive (no pickle; JSON metadata as
a byte array) with fixed zip timestamps, so the same statistics give the same bytes.
"""

from __future__ import annotations

import io
import json
import math
import os
import zipfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from modelward.errors import InvalidInput
from modelward.monitoring.drift.stats import (
    CategoryCounts,
    Columns,
    FloatArray,
    IntArray,
    NoValues,
    NumericValues,
    Unsupported,
    bucket_counts,
    histogram_counts,
    read_column,
)

FORMAT = "modelward.drift-reference"
FORMAT_VERSION = 1
HISTOGRAM_BINS = 20
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True, eq=False)
class NumericReference:
    """Reference statistics of one numeric column (see the module docstring)."""

    name: str
    dtype: str
    n: int
    n_missing: int
    edges: FloatArray
    proportions: FloatArray
    sample: FloatArray
    histogram_edges: FloatArray
    histogram: FloatArray

    @property
    def kind(self) -> Literal["numeric"]:
        return "numeric"


@dataclass(frozen=True, eq=False)
class CategoricalReference:
    """Reference statistics of one categorical column: top values and "other"."""

    name: str
    dtype: str
    n: int
    n_missing: int
    categories: tuple[str, ...]
    counts: IntArray
    other: int

    @property
    def kind(self) -> Literal["categorical"]:
        return "categorical"


FeatureReference = NumericReference | CategoricalReference


@dataclass(frozen=True, eq=False)
class ReferenceStats:
    """Everything drift checks need from a reference dataset, per feature."""

    features: tuple[FeatureReference, ...]
    n_rows: int
    bins: int
    sample_size: int
    max_categories: int
    skipped: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(feature.name for feature in self.features)

    def feature(self, name: str) -> FeatureReference:
        """The statistics of column `name`."""
        for feature in self.features:
            if feature.name == name:
                return feature
        raise InvalidInput(f"the reference has no column {name!r}")

    def to_bytes(self) -> bytes:
        """A safe, deterministic serialisation (``.npz``, no pickle); see `from_bytes`."""
        arrays: dict[str, np.ndarray[Any, Any]] = {}
        features: list[dict[str, Any]] = []
        for i, f in enumerate(self.features):
            meta: dict[str, Any] = {"name": f.name, "kind": f.kind, "dtype": f.dtype}
            meta.update(n=f.n, n_missing=f.n_missing)
            if isinstance(f, NumericReference):
                for key in ("edges", "proportions", "sample", "histogram_edges", "histogram"):
                    arrays[f"f{i}.{key}"] = np.asarray(getattr(f, key), dtype=np.float64)
            else:
                meta.update(categories=list(f.categories), other=f.other)
                arrays[f"f{i}.counts"] = np.asarray(f.counts, dtype=np.int64)
            features.append(meta)
        header = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "n_rows": self.n_rows,
            "bins": self.bins,
            "sample_size": self.sample_size,
            "max_categories": self.max_categories,
            "skipped": list(self.skipped),
            "features": features,
        }
        arrays["meta"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
            for key, array in arrays.items():
                info = zipfile.ZipInfo(f"{key}.npy", date_time=_ZIP_TIME)
                with archive.open(info, "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, array, allow_pickle=False)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> ReferenceStats:
        """Read what `to_bytes` wrote; anything else raises InvalidInput."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as archive:
                arrays = {key: archive[key] for key in archive.files}
            header = json.loads(bytes(arrays.pop("meta")).decode())
            if header.get("format") != FORMAT or header.get("version") != FORMAT_VERSION:
                raise ValueError(f"format {header.get('format')} v{header.get('version')}")
            features = tuple(_feature_from(i, m, arrays) for i, m in enumerate(header["features"]))
            return cls(
                features=features,
                n_rows=int(header["n_rows"]),
                bins=int(header["bins"]),
                sample_size=int(header["sample_size"]),
                max_categories=int(header["max_categories"]),
                skipped=tuple(str(name) for name in header["skipped"]),
            )
        except InvalidInput:
            raise
        except Exception as exc:  # zip, npy, JSON or key errors: all mean "not ours"
            raise InvalidInput(f"not a modelward drift reference: {exc}") from exc


def _feature_from(i: int, meta: dict[str, Any], arrays: dict[str, Any]) -> FeatureReference:
    name, dtype = str(meta["name"]), str(meta["dtype"])
    n, n_missing = int(meta["n"]), int(meta["n_missing"])
    if meta["kind"] == "numeric":
        keys = ("edges", "proportions", "sample", "histogram_edges", "histogram")
        values = [np.asarray(arrays[f"f{i}.{key}"], dtype=np.float64) for key in keys]
        return NumericReference(name, dtype, n, n_missing, *values)
    if meta["kind"] == "categorical":
        categories = tuple(str(value) for value in meta["categories"])
        counts = np.asarray(arrays[f"f{i}.counts"], dtype=np.int64)
        if len(counts) != len(categories):
            raise ValueError(f"column {name!r}: {len(categories)} categories, {len(counts)} counts")
        return CategoricalReference(
            name, dtype, n, n_missing, categories, counts, int(meta["other"])
        )
    raise ValueError(f"unknown kind {meta['kind']!r}")


def compute_reference(
    data: object,
    columns: Sequence[str] | None = None,
    *,
    bins: int = 10,
    max_categories: int = 50,
    sample_size: int = 100_000,
) -> ReferenceStats:
    """Reference statistics of `columns` (default: every numeric and categorical column).

    `data` is a pandas DataFrame or a pyarrow Table. Named columns of another type
    (dates, binary, nested) are refused; without `columns` they are skipped and listed
    in `ReferenceStats.skipped`.
    """
    if not 2 <= bins <= 1000:
        raise InvalidInput(f"bins must be between 2 and 1000, not {bins}")
    if max_categories < 1:
        raise InvalidInput(f"max_categories must be at least 1, not {max_categories}")
    if sample_size < 100:
        raise InvalidInput(f"sample_size must be at least 100, not {sample_size}")
    table = Columns(data, "reference")
    if table.n_rows == 0:
        raise InvalidInput("the reference data is empty")
    if columns is not None:
        names = [str(name) for name in columns]
        unknown = [name for name in names if name not in table.names]
        if unknown:
            raise InvalidInput(f"the reference data has no column {', '.join(map(repr, unknown))}")
        if len(set(names)) != len(names):
            raise InvalidInput("a column is named twice in the reference columns")
    else:
        names = list(table.names)

    def build(name: str) -> FeatureReference | Unsupported:
        column = read_column(table.source(name), name)
        if isinstance(column, NumericValues):
            return _numeric_reference(name, column, bins, sample_size)
        if isinstance(column, CategoryCounts):
            return _categorical_reference(name, column, max_categories)
        if isinstance(column, NoValues):
            empty = np.zeros(0, dtype=np.int64)
            return CategoricalReference(name, column.dtype, 0, column.n_missing, (), empty, 0)
        if columns is not None:
            raise InvalidInput(
                f"column {name!r} has type {column.dtype}: drift needs numbers or text"
            )
        return column

    workers = max(1, min(len(names), os.cpu_count() or 1, 16))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        built = list(pool.map(build, names))
    features = tuple(f for f in built if not isinstance(f, Unsupported))
    skipped = tuple(n for n, f in zip(names, built, strict=True) if isinstance(f, Unsupported))
    if not features:
        raise InvalidInput("the reference data has no numeric or categorical column")
    return ReferenceStats(features, table.n_rows, bins, sample_size, max_categories, skipped)


def _numeric_reference(
    name: str, column: NumericValues, bins: int, sample_size: int
) -> NumericReference:
    ordered = column.values
    n = len(ordered)
    finite = ordered[np.searchsorted(ordered, -np.inf, "right") : np.searchsorted(ordered, np.inf)]
    if len(finite) == 0:
        edges = np.zeros(0)
        hist_edges = np.zeros(0)
    elif finite[0] == finite[-1]:
        value = float(finite[0])
        edges = np.array([np.nextafter(value, -np.inf), value])
        hist_edges = _histogram_edges(value, value, value, value)
    else:
        edges = np.unique(np.quantile(finite, np.arange(1, bins) / bins))
        low, high = np.quantile(finite, [0.001, 0.999])
        hist_edges = _histogram_edges(float(low), float(high), float(finite[0]), float(finite[-1]))
    counts = bucket_counts(ordered, edges)
    proportions = counts / n if n else np.zeros(len(counts))
    if n > sample_size:
        ranks = ((np.arange(sample_size) + 0.5) * (n / sample_size)).astype(np.int64)
        sample = ordered[ranks]
    else:
        sample = ordered.copy()
    histogram = histogram_counts(ordered, hist_edges) / n if len(hist_edges) else np.zeros(0)
    return NumericReference(
        name, column.dtype, n, column.n_missing, edges, proportions, sample, hist_edges, histogram
    )


def _histogram_edges(low: float, high: float, lowest: float, highest: float) -> FloatArray:
    if not high > low:
        low, high = lowest, highest
    if not high > low:  # constant: one unit-wide window around the value
        half = max(0.5, abs(low) * 1e-6)
        low, high = low - half, low + half
    edges = np.linspace(low, high, HISTOGRAM_BINS + 1)
    return edges if np.all(np.diff(edges) > 0) and math.isfinite(high - low) else np.zeros(0)


def _categorical_reference(
    name: str, column: CategoryCounts, max_categories: int
) -> CategoricalReference:
    order = pc.sort_indices(
        pa.table({"count": column.counts, "value": column.values}),
        sort_keys=[("count", "descending"), ("value", "ascending")],
    )
    top = order.to_numpy()[:max_categories]
    categories = tuple(str(v) for v in column.values.take(pa.array(top)).to_pylist())
    counts = column.counts[top].astype(np.int64)
    n = int(column.counts.sum())
    other = n - int(counts.sum())
    return CategoricalReference(name, column.dtype, n, column.n_missing, categories, counts, other)
