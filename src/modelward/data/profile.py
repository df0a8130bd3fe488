"""Dataset profiles: per-column summary statistics of an Arrow table.

A profile is pure data (frozen dataclasses) that round-trips through JSON with
`DatasetProfile.to_dict` / `DatasetProfile.from_dict`. `compute_profile` works
column by column with vectorised numpy / pyarrow.compute and never converts the
whole table to pandas.

Conventions:

* numeric (integer, floating, decimal) columns: nulls and NaN are *missing*;
  +/-inf are counted in `NumericStats.infinite` and left out of every other
  statistic. Statistics are reported as floats (decimals and float16/32 are
  cast to float64 first). `std` is the population standard deviation (ddof=0,
  like `numpy.std`). Quantiles use linear interpolation and equal
  `numpy.quantile` exactly. The histogram equals `numpy.histogram(values, bins)`
  over [min, max]; where numpy refuses (a range too wide or too narrow for
  `bins` distinct float edges) it is one bin [min, max].
* boolean columns get categorical statistics over the values "true"/"false".
* string and dictionary columns get categorical statistics; nulls are missing
  and the empty string of a typed source (Parquet, JSON lines, a DataFrame) is
  a value (CSV files are read with pandas' null markers, "" and "NA" among
  them, in text columns as in numbers: see `modelward.data.formats`). Top
  values are ordered by count (descending), ties by value (ascending, the
  value's string form).
* timestamp and date columns get their min / max as ISO 8601 strings.
* anything else (binary, nested, time, duration, null type) gets only the
  missing count.
"""

from __future__ import annotations

import math
import os
import queue
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any, Literal, cast, get_args

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "QUANTILE_KEYS",
    "CategoricalStats",
    "ColumnKind",
    "ColumnProfile",
    "DatasetProfile",
    "DatetimeStats",
    "Histogram",
    "NumericStats",
    "compute_profile",
]

ColumnKind = Literal["numeric", "categorical", "boolean", "datetime", "other"]
_KINDS: frozenset[str] = frozenset(get_args(ColumnKind))

_QUANTILES: tuple[tuple[str, float], ...] = (
    ("p1", 0.01),
    ("p5", 0.05),
    ("p25", 0.25),
    ("p50", 0.50),
    ("p75", 0.75),
    ("p95", 0.95),
    ("p99", 0.99),
)
QUANTILE_KEYS: tuple[str, ...] = tuple(key for key, _ in _QUANTILES)

# Columns are profiled on up to this many threads (numpy and arrow release the
# GIL); each thread holds one column's worth of scratch memory.
_MAX_WORKERS = min(2, os.cpu_count() or 1)
_BLOCK = 1 << 15  # elements per block when computing the variance


@dataclass(frozen=True)
class Histogram:
    """Equal-width bins: `counts[i]` values in [edges[i], edges[i+1]) (last bin closed)."""

    edges: tuple[float, ...]
    counts: tuple[int, ...]


@dataclass(frozen=True)
class NumericStats:
    """Statistics of the finite values of a numeric column (`count` of them)."""

    count: int
    mean: float | None
    std: float | None
    min: float | None
    max: float | None
    quantiles: dict[str, float] | None
    histogram: Histogram
    infinite: int = 0


@dataclass(frozen=True)
class CategoricalStats:
    """Number of distinct non-missing values and the most frequent ones."""

    cardinality: int
    top: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class DatetimeStats:
    """Earliest and latest value, ISO 8601; None when the column is all missing."""

    min: str | None
    max: str | None


@dataclass(frozen=True)
class ColumnProfile:
    """The profile of one column; at most one of the statistics fields is set."""

    name: str
    dtype: str
    kind: ColumnKind
    missing: int
    numeric: NumericStats | None = None
    categorical: CategoricalStats | None = None
    datetime: DatetimeStats | None = None


@dataclass(frozen=True)
class DatasetProfile:
    """The profile of a table: its row count and one profile per column, in order."""

    n_rows: int
    columns: tuple[ColumnProfile, ...]

    def column(self, name: str) -> ColumnProfile:
        """The profile of the column called `name` (KeyError if there is none)."""
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict; `from_dict` reads it back."""
        return {"n_rows": self.n_rows, "columns": [_jsonable(asdict(c)) for c in self.columns]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DatasetProfile:
        """Rebuild a profile from `to_dict` output; ValueError if it is malformed."""
        try:
            return cls(
                n_rows=int(d["n_rows"]),
                columns=tuple(_column_from_dict(c) for c in d["columns"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed dataset profile: {exc!r}") from exc


# --------------------------------------------------------------------------- computing


def compute_profile(table: pa.Table, *, top_k: int = 10, bins: int = 20) -> DatasetProfile:
    """Profile every column of `table`: `top_k` most frequent values, `bins` histogram bins.

    Columns are profiled in parallel on up to two threads for large tables.
    """
    if top_k < 0:
        raise ValueError(f"top_k must be >= 0, got {top_k}")
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    names = [str(n) for n in table.column_names]
    workers = _MAX_WORKERS if table.num_columns > 1 and table.num_rows > 100_000 else 1
    # One scratch per worker, reused column after column: fresh 80 MB arrays per
    # column would cost as much in page faults as the statistics themselves.
    free: queue.SimpleQueue[_Scratch] = queue.SimpleQueue()
    for _ in range(workers):
        free.put(_Scratch())

    def one(i: int) -> ColumnProfile:
        scratch = free.get()
        try:
            return _profile_column(names[i], table.column(i), scratch, top_k=top_k, bins=bins)
        finally:
            free.put(scratch)

    indices = range(table.num_columns)
    if workers > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            columns = tuple(pool.map(one, indices))
    else:
        columns = tuple(one(i) for i in indices)
    return DatasetProfile(n_rows=table.num_rows, columns=columns)


class _Scratch:
    """Reusable buffers for one worker: a column's values and a block for the variance."""

    def __init__(self) -> None:
        self._values: npt.NDArray[np.uint8] = np.empty(0, np.uint8)
        self.block: npt.NDArray[np.float64] = np.empty(_BLOCK, np.float64)

    def values(self, n: int, dtype: np.dtype[Any]) -> npt.NDArray[Any]:
        need = n * dtype.itemsize
        if self._values.size < need:
            self._values = np.empty(0, np.uint8)  # let the old buffer go first
            self._values = np.empty(need, np.uint8)
        return self._values[:need].view(dtype)


def _profile_column(
    name: str, col: pa.ChunkedArray, scratch: _Scratch, *, top_k: int, bins: int
) -> ColumnProfile:
    typ = col.type
    dtype = str(typ)
    nulls = int(col.null_count)
    if pa.types.is_boolean(typ):
        return ColumnProfile(name, dtype, "boolean", nulls, categorical=_boolean_stats(col))
    if pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_decimal(typ):
        stats, nan = _numeric_stats(col, bins, scratch)
        return ColumnProfile(name, dtype, "numeric", nulls + nan, numeric=stats)
    if (
        pa.types.is_string(typ)
        or pa.types.is_large_string(typ)
        or pa.types.is_string_view(typ)
        or pa.types.is_dictionary(typ)
    ):
        stats_c = _categorical_stats(col, top_k)
        return ColumnProfile(name, dtype, "categorical", nulls, categorical=stats_c)
    if pa.types.is_timestamp(typ) or pa.types.is_date(typ):
        return ColumnProfile(name, dtype, "datetime", nulls, datetime=_datetime_stats(col))
    return ColumnProfile(name, dtype, "other", nulls)


def _numeric_stats(col: pa.ChunkedArray, bins: int, scratch: _Scratch) -> tuple[NumericStats, int]:
    """The stats of a numeric column and its NaN count."""
    if col.null_count:
        col = pc.drop_null(col)
    if pa.types.is_decimal(col.type):
        col = pc.cast(col, pa.float64())
    floating = pa.types.is_floating(col.type)
    dtype = np.dtype(np.float64) if floating else np.dtype(col.type.to_pandas_dtype())
    # Copy the values into the scratch buffer (the caller's arrays are only
    # read) and sort them there: quantiles, min, max and the histogram are then
    # lookups, and NaN / -inf / +inf gather at known places (numpy sorts NaN last).
    out = scratch.values(len(col), dtype)
    pos = 0
    for chunk in col.chunks:
        view: npt.NDArray[Any] = chunk.to_numpy()  # zero-copy: no nulls left
        out[pos : pos + view.size] = view  # float16/32 widen to float64 here
        pos += view.size
    values = out[:pos]
    values.sort()
    nan = infinite = 0
    if floating:
        end = int(np.searchsorted(values, np.nan, side="left"))
        first = int(np.searchsorted(values[:end], -np.inf, side="right"))
        last = int(np.searchsorted(values[:end], np.inf, side="left"))
        nan, infinite = pos - end, first + end - last
        values = values[first:last]
    n = int(values.size)
    if n == 0:
        empty = NumericStats(0, None, None, None, None, None, Histogram((), ()), infinite)
        return empty, nan
    with np.errstate(over="ignore", invalid="ignore"):  # |x| near 1e308 may overflow to inf
        mean = float(np.mean(values))
        std = math.sqrt(_variance(values, mean, scratch.block))
    qs = _sorted_quantiles(values, np.array([q for _, q in _QUANTILES]))
    quantiles = {key: float(v) for (key, _), v in zip(_QUANTILES, qs, strict=True)}
    lo, hi = float(values[0]), float(values[-1])
    if not (math.isfinite(mean) and math.isfinite(std)):
        # The sums overflowed (values near the float64 limit): redo them scaled
        # to [-1, 1]; the results themselves are bounded by max |x|.
        scale = max(abs(lo), abs(hi))
        scaled = values / scale
        mean = float(np.mean(scaled)) * scale
        std = float(np.std(scaled)) * scale
    hist = _sorted_histogram(values, bins)
    return NumericStats(n, mean, std, lo, hi, quantiles, hist, infinite), nan


def _variance(x: npt.NDArray[Any], mean: float, block: npt.NDArray[np.float64]) -> float:
    """Population variance, two-pass, block by block (no temporary the size of `x`)."""
    total = 0.0
    for start in range(0, x.size, block.size):
        part = x[start : start + block.size]
        d = block[: part.size]
        np.subtract(part, mean, out=d)
        np.square(d, out=d)
        total += float(np.sum(d))
    return total / x.size


def _sorted_quantiles(s: npt.NDArray[Any], q: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """`numpy.quantile(s, q)` (method "linear") for a sorted non-empty 1-d `s`, in O(len(q)).

    Mirrors numpy's own arithmetic step by step so the results are bit-identical.
    """
    n = s.size
    virtual = (n - 1) * q
    previous = np.floor(virtual)
    nxt = previous + 1
    above = virtual >= n - 1
    prev_i = np.where(above, n - 1, previous).astype(np.intp)
    next_i = np.where(above, n - 1, nxt).astype(np.intp)
    gamma = virtual - previous
    a, b = s[prev_i], s[next_i]
    diff = b - a
    result = a + diff * gamma
    high = gamma >= 0.5
    result[high] = (b - diff * (1 - gamma))[high]
    return np.asarray(result, dtype=np.float64)


def _sorted_histogram(s: npt.NDArray[Any], bins: int) -> Histogram:
    """`numpy.histogram(s, bins)` for a sorted non-empty finite `s`, by binary search."""
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            edges = np.histogram_bin_edges(s, bins, range=(float(s[0]), float(s[-1])))
    except ValueError:
        # The range is too wide (overflows) or too narrow for `bins` distinct
        # float edges: numpy refuses; fall back to a single bin.
        return Histogram((float(s[0]), float(s[-1])), (int(s.size),))
    below = np.searchsorted(s, edges[1:-1], side="left")
    counts = np.diff(np.concatenate(([0], below, [s.size])))
    return Histogram(tuple(float(e) for e in edges), tuple(int(c) for c in counts))


def _boolean_stats(col: pa.ChunkedArray) -> CategoricalStats:
    valid = len(col) - int(col.null_count)
    true = int(pc.sum(col).as_py() or 0) if valid else 0
    pairs = [(v, c) for v, c in (("true", true), ("false", valid - true)) if c > 0]
    pairs.sort(key=lambda p: (-p[1], p[0]))
    return CategoricalStats(len(pairs), tuple(pairs))


def _categorical_stats(col: pa.ChunkedArray, top_k: int) -> CategoricalStats:
    if pa.types.is_dictionary(col.type):
        col = col.unify_dictionaries()
    counted = pc.value_counts(col)
    values = counted.field("values")
    counts = counted.field("counts")
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    if values.null_count:
        valid = values.is_valid()
        values, counts = values.filter(valid), counts.filter(valid)
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        values = pc.cast(values, pa.string())
    cardinality = len(values)
    k = min(top_k, cardinality)
    if k == 0:
        return CategoricalStats(cardinality, ())
    both = pa.table({"values": values, "counts": counts})
    order = pc.select_k_unstable(
        both, k, sort_keys=[("counts", "descending"), ("values", "ascending")]
    )
    top = both.take(order)
    pairs = zip(top.column("values").to_pylist(), top.column("counts").to_pylist(), strict=True)
    return CategoricalStats(cardinality, tuple((str(v), int(c)) for v, c in pairs))


def _datetime_stats(col: pa.ChunkedArray) -> DatetimeStats:
    if len(col) == col.null_count:
        return DatetimeStats(None, None)
    bounds = pc.min_max(col)
    return DatetimeStats(_iso(bounds["min"]), _iso(bounds["max"]))


def _iso(scalar: Any) -> str:
    try:
        return str(scalar.as_py().isoformat())
    except (ValueError, OverflowError, AttributeError):  # out of Python's datetime range
        return str(pc.cast(scalar, pa.string()).as_py())


# --------------------------------------------------------------------------- JSON


def _jsonable(x: Any) -> Any:
    """`dataclasses.asdict` output with tuples as lists, as JSON has them."""
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, tuple | list):
        return [_jsonable(v) for v in x]
    return x


def _opt_float(x: Any) -> float | None:
    return None if x is None else float(x)


def _column_from_dict(d: Mapping[str, Any]) -> ColumnProfile:
    kind = str(d["kind"])
    if kind not in _KINDS:
        raise ValueError(f"unknown column kind {kind!r}")
    numeric = categorical = datetime = None
    if (n := d.get("numeric")) is not None:
        q = n["quantiles"]
        h = n["histogram"]
        numeric = NumericStats(
            count=int(n["count"]),
            mean=_opt_float(n["mean"]),
            std=_opt_float(n["std"]),
            min=_opt_float(n["min"]),
            max=_opt_float(n["max"]),
            quantiles=None if q is None else {str(k): float(v) for k, v in q.items()},
            histogram=Histogram(
                tuple(float(e) for e in h["edges"]), tuple(int(c) for c in h["counts"])
            ),
            infinite=int(n.get("infinite", 0)),
        )
    if (c := d.get("categorical")) is not None:
        categorical = CategoricalStats(
            cardinality=int(c["cardinality"]),
            top=tuple((str(v), int(k)) for v, k in c["top"]),
        )
    if (t := d.get("datetime")) is not None:
        datetime = DatetimeStats(t["min"], t["max"])
    return ColumnProfile(
        name=str(d["name"]),
        dtype=str(d["dtype"]),
        kind=cast(ColumnKind, kind),
        missing=int(d["missing"]),
        numeric=numeric,
        categorical=categorical,
        datetime=datetime,
    )
