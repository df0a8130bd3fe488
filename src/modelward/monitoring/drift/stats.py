"""The building blocks of drift checks: reading columns, and the statistics.

Columns come from a pandas DataFrame or a pyarrow Table. A numeric column
(integers, floats, decimals) is read as its non-missing values sorted ascending
(null and NaN are missing; +/-inf are values); a categorical column (strings,
booleans, dictionaries / pandas categoricals) as the counts of its distinct
non-missing values, as strings (booleans are "true" / "false").

The statistics work on those: `psi` over bucket proportions, `ks_2samp_sorted`
(scipy's `ks_2samp`, two-sided, method "auto", without re-sorting the data) and
`chisquare_counts` (scipy's `chisquare` against expected counts).
"""

from __future__ import annotations

import math
import sys
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from modelward.errors import InvalidInput

if TYPE_CHECKING:
    import pandas as pd

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Empty buckets count as this proportion in PSI (and as the expected share of a
#: bucket the reference never saw, in chi-square), so that both stay finite.
EPSILON = 1e-4

#: scipy's ks_2samp ("auto") computes the exact p-value up to this sample size.
KS_EXACT_MAX_N = 10_000


@dataclass(frozen=True, eq=False)
class NumericValues:
    """A numeric column: its non-missing values, sorted ascending."""

    values: FloatArray
    n_missing: int
    dtype: str


@dataclass(frozen=True, eq=False)
class CategoryCounts:
    """A categorical column: distinct non-missing values (strings) and their counts."""

    values: pa.Array
    counts: IntArray
    n_missing: int
    dtype: str


@dataclass(frozen=True)
class NoValues:
    """A column without a type (pandas objects that are all None): every value missing."""

    n_missing: int
    dtype: str


@dataclass(frozen=True)
class Unsupported:
    """A column of a type drift checks do not handle (dates, binary, nested)."""

    dtype: str


Column = NumericValues | CategoryCounts | NoValues | Unsupported
Source = Any  # a pandas Series or a pyarrow ChunkedArray


class Columns:
    """The columns of a DataFrame or Table, by (string) name, read on demand."""

    def __init__(self, data: object, what: str) -> None:
        pandas = sys.modules.get("pandas")  # a DataFrame means pandas is imported already
        if isinstance(data, pa.RecordBatch):
            data = pa.Table.from_batches([data])
        if isinstance(data, pa.Table):
            names = [str(name) for name in data.column_names]
            sources: list[Source] = list(data.columns)
            self.n_rows = data.num_rows
        elif pandas is not None and isinstance(data, pandas.DataFrame):
            frame: pd.DataFrame = data
            names = [str(name) for name in frame.columns]
            sources = [frame.iloc[:, i] for i in range(frame.shape[1])]
            self.n_rows = len(frame)
        else:
            raise InvalidInput(
                f"the {what} data must be a pandas DataFrame or a pyarrow Table, "
                f"not {type(data).__name__}"
            )
        seen: set[str] = set()
        for name in names:
            if name in seen:
                raise InvalidInput(f"the {what} data has two columns named {name!r}")
            seen.add(name)
        self.names = names
        self._sources = dict(zip(names, sources, strict=True))

    def source(self, name: str) -> Source:
        return self._sources[name]


def read_column(source: Source, name: str) -> Column:
    """Read one column (a pandas Series or an Arrow ChunkedArray) for drift checks."""
    if isinstance(source, pa.ChunkedArray):
        return _read_arrow(source, name)
    from pandas.api import types

    dtype = source.dtype
    if types.is_numeric_dtype(dtype) and not (
        types.is_bool_dtype(dtype) or types.is_complex_dtype(dtype)
    ):
        values = source.to_numpy(dtype=np.float64, na_value=np.nan)
        return _numeric(values, str(dtype))
    try:
        array = pa.array(source, from_pandas=True)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InvalidInput(f"column {name!r} does not hold one type of value: {detail}") from exc
    # An Arrow-backed pandas column (pandas 3's strings) comes back as the ChunkedArray
    # it holds; wrapping that in pa.chunked_array would convert it value by value.
    chunked = array if isinstance(array, pa.ChunkedArray) else pa.chunked_array([array])
    return _read_arrow(chunked, name, dtype=str(dtype))


def _read_arrow(column: pa.ChunkedArray, name: str, dtype: str | None = None) -> Column:
    kind = column.type
    dtype = dtype or str(kind)
    if pa.types.is_null(kind):
        return NoValues(len(column), dtype)
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        if pa.types.is_decimal(kind):
            column = pc.cast(column, pa.float64())
        values = np.asarray(column.to_numpy(), dtype=np.float64)
        return _numeric(values, dtype)
    if pa.types.is_dictionary(kind):  # pandas categoricals: categorical whatever the values
        column = pc.cast(column, kind.value_type)
        kind = column.type
    elif not (pa.types.is_boolean(kind) or _is_text(kind)):
        return Unsupported(dtype)
    if (
        pa.types.is_boolean(kind)
        or _is_text(kind)
        or pa.types.is_integer(kind)
        or pa.types.is_floating(kind)
    ):
        counted = pc.value_counts(column)
        values = counted.field("values")
        counts = counted.field("counts")
        valid = pc.is_valid(values)
        values = pc.cast(values.filter(valid), pa.string())
        counts = np.asarray(counts.filter(valid).to_numpy(), dtype=np.int64)
        return CategoryCounts(values, counts, column.null_count, dtype)
    return Unsupported(dtype)


def _is_text(kind: pa.DataType) -> bool:
    return bool(
        pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind)
    )


def _numeric(values: FloatArray, dtype: str) -> NumericValues:
    ordered = np.sort(values)  # NaN sorts last
    n_valid = int(np.searchsorted(ordered, np.nan, side="left"))
    return NumericValues(ordered[:n_valid], len(ordered) - n_valid, dtype)


# --------------------------------------------------------------------------- statistics


def psi(reference: FloatArray, current: FloatArray) -> float:
    """Population stability index of two proportion vectors over the same buckets.

    ``sum((cur - ref) * ln(cur / ref))``, each proportion floored at `EPSILON`.
    """
    ref = np.maximum(reference, EPSILON)
    cur = np.maximum(current, EPSILON)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def bucket_counts(ordered: FloatArray, edges: FloatArray) -> IntArray:
    """Counts of sorted values in the buckets (-inf, e0], (e0, e1], ..., (e_last, inf)."""
    cumulative = np.searchsorted(ordered, edges, side="right")
    return np.diff(cumulative, prepend=0, append=len(ordered)).astype(np.int64)


def histogram_counts(ordered: FloatArray, edges: FloatArray) -> IntArray:
    """Counts of sorted values below edges[0], in [e_i, e_i+1) (the last bin closed), above.

    The result has ``len(edges) + 1`` entries: underflow, ``len(edges) - 1`` bins, overflow.
    """
    inner = np.searchsorted(ordered, edges[:-1], side="left")
    last = np.searchsorted(ordered, edges[-1:], side="right")
    bounds = np.concatenate([inner, last])
    return np.diff(bounds, prepend=0, append=len(ordered)).astype(np.int64)


def ks_2samp_sorted(reference: FloatArray, current: FloatArray) -> tuple[float, float]:
    """Two-sided two-sample KS statistic and p-value of two sorted, NaN-free samples.

    Equal to ``scipy.stats.ks_2samp(reference, current)`` (method "auto"): for samples
    up to `KS_EXACT_MAX_N` it calls scipy (exact p-value); above, the statistic is
    computed here from the sorted samples (the same integer counts and divisions as
    scipy, so the same float) and the p-value is scipy's asymptotic one.
    """
    from scipy import stats

    n1, n2 = len(reference), len(current)
    if n1 == 0 or n2 == 0:
        raise InvalidInput("a KS test needs values on both sides")
    if max(n1, n2) <= KS_EXACT_MAX_N:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            result = stats.ks_2samp(reference, current)
        return float(result.statistic), float(result.pvalue)
    # The ECDF gap is extreme at a reference value (both ECDFs taken at it) or just
    # below one (the current ECDF taken at the largest current value under it).
    last_of_run = np.empty(n1, dtype=bool)
    np.not_equal(reference[1:], reference[:-1], out=last_of_run[:-1])
    last_of_run[-1] = True
    unique = reference[last_of_run]
    at_most = np.flatnonzero(last_of_run) + 1
    below = np.concatenate([[0], at_most[:-1]])
    gaps = np.concatenate(
        [
            at_most / n1 - np.searchsorted(current, unique, side="right") / n2,
            below / n1 - np.searchsorted(current, unique, side="left") / n2,
        ]
    )
    statistic = float(max(gaps.max(), np.clip(-gaps.min(), 0, 1)))
    m, n = sorted([float(n1), float(n2)], reverse=True)
    pvalue = stats.kstwo.sf(statistic, np.round(m * n / (m + n)))
    return statistic, float(np.clip(pvalue, 0, 1))


def chisquare_counts(observed: IntArray, expected: FloatArray) -> tuple[float, float]:
    """``scipy.stats.chisquare(observed, expected)``; one bucket gives (0.0, 1.0).

    With a single bucket observed equals expected and there are no degrees of
    freedom: scipy returns NaN, we return "no difference".
    """
    from scipy import stats

    if len(observed) < 2:
        return 0.0, 1.0
    result = stats.chisquare(observed, expected)
    statistic, pvalue = float(result.statistic), float(result.pvalue)
    return statistic, (pvalue if math.isfinite(pvalue) else 1.0)
