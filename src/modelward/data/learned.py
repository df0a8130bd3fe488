"""Steps that learn from the data: fill_missing, normalize and one_hot.

`fit(frame)` returns a fitted step holding what was learned as plain JSON
values (fill values, means and stds, mins and maxs, categories); its
`apply(frame)` replays the step with those values only, never refitting, and
`params()` / the spec step's `restore(params)` carry them through JSON.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd
from pandas.api import types as ptypes

from modelward.data.steps import (
    Scalar,
    choice,
    column_list,
    columns_option,
    is_scalar,
    per_column,
    plain,
    read_options,
    require_columns,
)
from modelward.errors import InvalidInput

Floats: TypeAlias = npt.NDArray[np.float64]

FILL_STRATEGIES: Final = ("mean", "median", "mode", "constant")
NORMALIZE_METHODS: Final = ("zscore", "minmax")
MAX_CATEGORIES: Final = 1000


# -- fill_missing ----------------------------------------------------------------------


@dataclass(frozen=True)
class FillMissing:
    """Replace missing values by the column's mean, median or mode, or by a constant."""

    columns: tuple[str, ...]
    strategy: str
    value: Scalar | None = None
    kind: ClassVar[str] = "fill_missing"

    @classmethod
    def from_options(cls, raw: Any) -> FillMissing:
        opts = read_options(raw, required=("columns", "strategy"), optional=("value",))
        strategy = choice(opts["strategy"], "strategy", FILL_STRATEGIES)
        value = opts.get("value")
        if strategy == "constant":
            if "value" not in opts:
                raise InvalidInput(
                    "strategy 'constant' needs a value, e.g. {strategy: constant, value: 0}"
                )
            if not is_scalar(value):
                raise InvalidInput(f"value must be a number, text or true/false, got {value!r:.60}")
        elif "value" in opts:
            raise InvalidInput(
                f"'value' is only used with strategy 'constant', not {strategy!r}; remove it"
            )
        return cls(column_list(opts["columns"]), strategy, value)

    def options(self) -> dict[str, Any]:
        out: dict[str, Any] = {"columns": list(self.columns), "strategy": self.strategy}
        if self.strategy == "constant":
            out["value"] = self.value
        return out

    def fit(self, frame: pd.DataFrame) -> FittedFillMissing:
        require_columns(frame, self.columns)
        values: dict[str, Scalar] = {}
        for column in self.columns:
            series = frame[column]
            if self.strategy in ("mean", "median"):
                hint = ", or use strategy mode or constant"
                present = _present(_floats(series, column, strict=True, hint=hint), column)
                if present.size == 0:
                    raise InvalidInput(
                        f"column {column!r} has no values to take the "
                        f"{self.strategy} of; use strategy constant"
                    )
                stat = present.mean() if self.strategy == "mean" else np.median(present)
                values[column] = _finite(stat, f"the {self.strategy} of column {column!r}")
            elif self.strategy == "mode":
                values[column] = _mode(series, column)
            else:
                assert self.value is not None
                _check_fill_value(series, column, self.value)
                values[column] = self.value
        return FittedFillMissing(self, values)

    def restore(self, params: Mapping[str, Any]) -> FittedFillMissing:
        values = per_column(params, "values", self.columns)
        for column, value in values.items():
            if not is_scalar(value):
                raise InvalidInput(f"fill value of column {column!r} is not a scalar: {value!r}")
        return FittedFillMissing(self, values)


@dataclass(frozen=True)
class FittedFillMissing:
    """fill_missing with its fill value per column. mean/median fills give float64."""

    step: FillMissing
    values: Mapping[str, Scalar]
    kind: ClassVar[str] = "fill_missing"

    def params(self) -> dict[str, Any]:
        return {"values": dict(self.values)}

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        require_columns(frame, self.step.columns)
        out = frame.copy(deep=False)
        for column, value in self.values.items():
            series = frame[column]
            if self.step.strategy in ("mean", "median"):
                numbers = _floats(series, column, strict=False)
                out[column] = np.where(np.isnan(numbers), float(value), numbers)
            elif series.isna().any():
                _check_fill_value(series, column, value)
                out[column] = series.fillna(value)
        return out


def _mode(series: pd.Series, column: str) -> Scalar:
    """The most frequent value; the smallest one on ties (as pandas' mode().iloc[0])."""
    counts = series.value_counts(dropna=True)
    if counts.empty:
        raise InvalidInput(
            f"column {column!r} has no values to take the mode of; use strategy constant"
        )
    top = [plain(v) for v in counts.index[counts.to_numpy() == counts.max()]]
    value = _sorted(top)[0]
    if not is_scalar(value):
        raise InvalidInput(
            f"the mode of column {column!r} ({value!r}) is not a number, text or "
            "true/false; use strategy constant"
        )
    return value  # type: ignore[no-any-return]


def _check_fill_value(series: pd.Series, column: str, value: Scalar) -> None:
    kind = _value_kind(series)
    given = "bool" if isinstance(value, bool) else "text" if isinstance(value, str) else "number"
    if kind != "other" and kind != given:
        raise InvalidInput(
            f"cannot fill {kind} column {column!r} with {value!r}; give a {kind} "
            "value or cast the column first"
        )


# -- normalize -------------------------------------------------------------------------


@dataclass(frozen=True)
class Normalize:
    """Scale numeric columns: zscore (x - mean) / std, or minmax (x - min) / (max - min)."""

    columns: tuple[str, ...]
    method: str
    kind: ClassVar[str] = "normalize"

    @classmethod
    def from_options(cls, raw: Any) -> Normalize:
        opts = read_options(raw, required=("columns", "method"))
        return cls(
            column_list(opts["columns"]), choice(opts["method"], "method", NORMALIZE_METHODS)
        )

    def options(self) -> dict[str, Any]:
        return {"columns": list(self.columns), "method": self.method}

    def fit(self, frame: pd.DataFrame) -> FittedNormalize:
        require_columns(frame, self.columns)
        stats: dict[str, dict[str, float]] = {}
        for column in self.columns:
            present = _present(_floats(frame[column], column, strict=True), column)
            if present.size == 0:
                raise InvalidInput(f"column {column!r} has no values to fit {self.method} on")
            low, high = present.min(), present.max()
            what = f"the {self.method} statistics of column {column!r}"
            if self.method == "zscore":
                # A constant column gets mean = its value and std = 0 exactly: computed, they
                # can be off by 1e-17, and dividing that noise by a tiny std blows it up.
                constant = low == high
                mean, std = (low, 0.0) if constant else (present.mean(), present.std())
                stats[column] = {"mean": _finite(mean, what), "std": _finite(std, what)}
            else:
                stats[column] = {"min": _finite(low, what), "max": _finite(high, what)}
        return FittedNormalize(self, stats)

    def restore(self, params: Mapping[str, Any]) -> FittedNormalize:
        keys = ("mean", "std") if self.method == "zscore" else ("min", "max")
        stats: dict[str, dict[str, float]] = {}
        for column, raw in per_column(params, "stats", self.columns).items():
            if not isinstance(raw, Mapping) or set(raw) != set(keys):
                raise InvalidInput(f"stats of column {column!r} must have exactly {keys}")
            stats[column] = {k: _finite(raw[k], f"stats of column {column!r}") for k in keys}
        return FittedNormalize(self, stats)


@dataclass(frozen=True)
class FittedNormalize:
    """normalize with its statistics per column: {"mean", "std"} or {"min", "max"}.

    A zero std divides by 1 (the column is only centred) and a zero range gives 0,
    as scikit-learn's StandardScaler and MinMaxScaler do. Missing values stay missing.
    """

    step: Normalize
    stats: Mapping[str, Mapping[str, float]]
    kind: ClassVar[str] = "normalize"

    def params(self) -> dict[str, Any]:
        return {"stats": {column: dict(stat) for column, stat in self.stats.items()}}

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        require_columns(frame, self.step.columns)
        out = frame.copy(deep=False)
        for column, stat in self.stats.items():
            x = _floats(frame[column], column, strict=False)
            if self.step.method == "zscore":
                scale = stat["std"] if stat["std"] > 0 else 1.0
                out[column] = (x - stat["mean"]) / scale
            elif stat["max"] > stat["min"]:
                out[column] = (x - stat["min"]) / (stat["max"] - stat["min"])
            else:
                out[column] = np.where(np.isnan(x), np.nan, 0.0)
        return out


# -- one_hot -----------------------------------------------------------------------------


@dataclass(frozen=True)
class OneHot:
    """Replace each column by one 0/1 column per category seen at fit time."""

    columns: tuple[str, ...]
    kind: ClassVar[str] = "one_hot"

    @classmethod
    def from_options(cls, raw: Any) -> OneHot:
        return cls(column_list(columns_option(raw, cls.kind)))

    def options(self) -> dict[str, Any]:
        return {"columns": list(self.columns)}

    def fit(self, frame: pd.DataFrame) -> FittedOneHot:
        require_columns(frame, self.columns)
        categories: dict[str, tuple[Scalar, ...]] = {}
        for column in self.columns:
            series = frame[column]
            if getattr(series.dtype, "kind", "O") in "mMc":
                raise InvalidInput(
                    f"column {column!r} ({series.dtype}) cannot be one-hot "
                    "encoded; use text, integer or boolean columns"
                )
            found = [plain(v) for v in series.dropna().unique()]
            if not found:
                raise InvalidInput(f"column {column!r} has no values to learn categories from")
            if len(found) > MAX_CATEGORIES:
                raise InvalidInput(
                    f"column {column!r} has {len(found)} distinct values, more "
                    f"than the {MAX_CATEGORIES} one_hot allows; it looks like an "
                    "identifier: drop it or bucket it first"
                )
            if not all(is_scalar(v) for v in found):
                raise InvalidInput(
                    f"column {column!r} holds values that are not text, numbers "
                    "or true/false; cast it first"
                )
            categories[column] = tuple(_sorted(found))
        fitted = FittedOneHot(self, categories)
        fitted.check_names(frame)
        return fitted

    def restore(self, params: Mapping[str, Any]) -> FittedOneHot:
        categories = per_column(params, "categories", self.columns)
        for column, values in categories.items():
            if not isinstance(values, list) or not all(is_scalar(v) for v in values):
                raise InvalidInput(f"categories of column {column!r} must be a list of scalars")
        return FittedOneHot(self, {c: tuple(v) for c, v in categories.items()})


@dataclass(frozen=True)
class FittedOneHot:
    """one_hot with its sorted categories per column.

    Output columns are `{column}_{category}` (uint8 0/1), appended after the
    remaining columns as pandas.get_dummies does; a missing value or a category
    not seen at fit time gives a row of zeros.
    """

    step: OneHot
    categories: Mapping[str, tuple[Scalar, ...]]
    kind: ClassVar[str] = "one_hot"

    @property
    def output_columns(self) -> tuple[str, ...]:
        """The names of the 0/1 columns this step adds, in order."""
        return tuple(f"{c}_{v}" for c, values in self.categories.items() for v in values)

    def params(self) -> dict[str, Any]:
        return {"categories": {c: list(v) for c, v in self.categories.items()}}

    def check_names(self, frame: pd.DataFrame) -> None:
        """Refuse output names that repeat or collide with columns kept alongside."""
        kept = {str(c) for c in frame.columns} - set(self.step.columns)
        seen: set[str] = set()
        for name in self.output_columns:
            if name in kept or name in seen:
                raise InvalidInput(
                    f"one_hot would create column {name!r} twice or over an "
                    "existing column; rename or drop the column first"
                )
            seen.add(name)

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        require_columns(frame, self.step.columns)
        self.check_names(frame)
        dummies: dict[str, npt.NDArray[np.uint8]] = {}
        for column, values in self.categories.items():
            # Factorize first so the lookup runs on the few distinct values, not every row.
            codes, uniques = pd.factorize(frame[column])
            found = pd.Index(list(values)).get_indexer(pd.Index(uniques))
            codes = np.append(found, -1)[codes]  # a missing value's code -1 picks the last -1
            for position, value in enumerate(values):
                dummies[f"{column}_{value}"] = (codes == position).astype(np.uint8)
        rest = frame.drop(columns=list(self.step.columns))
        return pd.concat([rest, pd.DataFrame(dummies, index=frame.index)], axis=1)


# -- helpers -----------------------------------------------------------------------------


def _floats(series: pd.Series, column: str, strict: bool, hint: str = "") -> Floats:
    """A numeric column as float64 with NaN for missing; `strict` refuses object columns."""
    kind = getattr(series.dtype, "kind", "O")
    if kind in "iuf":
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    if kind != "b" and not strict:  # rows from JSON arrive as object columns
        try:
            return pd.to_numeric(series).to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError):
            pass
    raise InvalidInput(
        f"column {column!r} is not numeric ({series.dtype}); cast it to float64 first{hint}"
    )


def _present(x: Floats, column: str) -> Floats:
    """The values that are not missing; infinities have no mean, std or range to fit."""
    present = x[~np.isnan(x)]
    if np.isinf(present).any():
        raise InvalidInput(f"column {column!r} holds infinite values; filter them out first")
    return present


def _finite(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise InvalidInput(f"{what} must be a number, got {value!r:.60}")
    number = float(value)
    if not math.isfinite(number):
        raise InvalidInput(f"{what} is not finite ({number})")
    return number


def _value_kind(series: pd.Series) -> str:
    kind = getattr(series.dtype, "kind", "O")
    if kind == "b":
        return "bool"
    if kind in "iuf":
        return "number"
    if ptypes.is_string_dtype(series):
        return "text"
    return "other"


def _sorted(values: list[Any]) -> list[Any]:
    try:
        return sorted(values)
    except TypeError:  # mixed types in an object column
        return sorted(values, key=lambda v: (type(v).__name__, str(v)))
