"""The steps of a transform spec: their options, what they learn, and how they replay.

Each step kind is a frozen dataclass built from its spec options
(`from_options`). `fit(frame)` returns the fitted step: for the steps that
learn something (fill_missing, normalize, one_hot) a separate object holding
the learned parameters as plain JSON values; the others (cast, filter, drop,
select) learn nothing and are their own fitted step. A fitted step's
`apply(frame)` replays it with the stored parameters only, never refitting, and
`params()` / `restore(params)` carry those parameters through JSON.

Messages do not name the step; the caller prefixes "step N (kind): ".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, Protocol, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd
from pandas.api import types as ptypes

from modelward.data.expression import Expression, parse_expression, unknown_columns_message
from modelward.errors import InvalidInput

Scalar: TypeAlias = bool | int | float | str
Floats: TypeAlias = npt.NDArray[np.float64]

FILL_STRATEGIES: Final = ("mean", "median", "mode", "constant")
NORMALIZE_METHODS: Final = ("zscore", "minmax")
MAX_CATEGORIES: Final = 1000
_INTEGERS: Final = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
_NULLABLE_INTEGERS: Final = tuple(
    ("UInt" if name.startswith("u") else "Int") + name.removeprefix("u").removeprefix("int")
    for name in _INTEGERS
)
_FLOATS: Final = ("float32", "float64", "Float32", "Float64")
_BOOLS: Final = ("bool", "boolean")
_TEXTS: Final = ("str", "string")
CAST_DTYPES: Final = _INTEGERS + _NULLABLE_INTEGERS + _FLOATS + _BOOLS + _TEXTS
_TRUTHY: Final = {"true": True, "false": False, "1": True, "0": False}


class FittedStep(Protocol):
    """A step with everything it learned: replayable on new rows."""

    @property
    def kind(self) -> str: ...

    def params(self) -> dict[str, Any]: ...

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame: ...


class Step(Protocol):
    """A step as written in the spec."""

    @property
    def kind(self) -> str: ...

    def options(self) -> Any: ...

    def fit(self, frame: pd.DataFrame) -> FittedStep: ...

    def restore(self, params: Mapping[str, Any]) -> FittedStep: ...


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
        opts = _options(raw, required=("columns", "strategy"), optional=("value",))
        strategy = _choice(opts["strategy"], "strategy", FILL_STRATEGIES)
        value = opts.get("value")
        if strategy == "constant":
            if "value" not in opts:
                raise InvalidInput(
                    "strategy 'constant' needs a value, e.g. {strategy: constant, value: 0}"
                )
            if not _is_scalar(value):
                raise InvalidInput(f"value must be a number, text or true/false, got {value!r}")
        elif "value" in opts:
            raise InvalidInput(
                f"'value' is only used with strategy 'constant', not {strategy!r}; remove it"
            )
        return cls(_column_list(opts["columns"]), strategy, value)

    def options(self) -> dict[str, Any]:
        out: dict[str, Any] = {"columns": list(self.columns), "strategy": self.strategy}
        if self.strategy == "constant":
            out["value"] = self.value
        return out

    def fit(self, frame: pd.DataFrame) -> FittedFillMissing:
        _require(frame, self.columns)
        values: dict[str, Scalar] = {}
        for column in self.columns:
            series = frame[column]
            if self.strategy in ("mean", "median"):
                present = _present(_floats(series, column, strict=True))
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
        values = _per_column(params, "values", self.columns)
        for column, value in values.items():
            if not _is_scalar(value):
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
        _require(frame, self.step.columns)
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
    top = [_plain(v) for v in counts.index[counts.to_numpy() == counts.max()]]
    value = _sorted(top)[0]
    if not _is_scalar(value):
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
        opts = _options(raw, required=("columns", "method"))
        return cls(
            _column_list(opts["columns"]), _choice(opts["method"], "method", NORMALIZE_METHODS)
        )

    def options(self) -> dict[str, Any]:
        return {"columns": list(self.columns), "method": self.method}

    def fit(self, frame: pd.DataFrame) -> FittedNormalize:
        _require(frame, self.columns)
        stats: dict[str, dict[str, float]] = {}
        for column in self.columns:
            present = _present(_floats(frame[column], column, strict=True))
            if present.size == 0:
                raise InvalidInput(f"column {column!r} has no values to fit {self.method} on")
            low, high = present.min(), present.max()
            what = f"the {self.method} statistics of column {column!r}"
            if self.method == "zscore":
                # Testing min == max keeps a constant column exactly constant; a computed
                # std can come out as 1e-17 and blow rounding noise up to large values.
                std = 0.0 if low == high else present.std()
                stats[column] = {"mean": _finite(present.mean(), what), "std": _finite(std, what)}
            else:
                stats[column] = {"min": _finite(low, what), "max": _finite(high, what)}
        return FittedNormalize(self, stats)

    def restore(self, params: Mapping[str, Any]) -> FittedNormalize:
        keys = ("mean", "std") if self.method == "zscore" else ("min", "max")
        stats: dict[str, dict[str, float]] = {}
        for column, raw in _per_column(params, "stats", self.columns).items():
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
        _require(frame, self.step.columns)
        out = frame.copy(deep=False)
        for column, stat in self.stats.items():
            x = _floats(frame[column], column, strict=False)
            if self.step.method == "zscore":
                out[column] = (x - stat["mean"]) / (stat["std"] or 1.0)
            elif stat["max"] > stat["min"]:
                out[column] = (x - stat["min"]) / (stat["max"] - stat["min"])
            else:
                out[column] = np.where(np.isnan(x), np.nan, 0.0)
        return out


# -- cast ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cast:
    """Convert columns to a dtype, refusing values that do not convert (no silent NaN)."""

    columns: tuple[tuple[str, str], ...]
    kind: ClassVar[str] = "cast"

    @classmethod
    def from_options(cls, raw: Any) -> Cast:
        mapping = _options(raw, required=("columns",))["columns"]
        if not isinstance(mapping, Mapping) or not mapping:
            raise InvalidInput(
                "columns must map column names to dtypes, e.g. {columns: {age: float64}}"
            )
        pairs: list[tuple[str, str]] = []
        for column, dtype in mapping.items():
            if not isinstance(column, str):
                raise InvalidInput(f"column names must be text, got {column!r}; quote it")
            if dtype not in CAST_DTYPES:
                close = [d for d in CAST_DTYPES if str(dtype).lower() in d.lower()][:3]
                hint = f" (did you mean {' or '.join(close)}?)" if close else ""
                raise InvalidInput(
                    f"unknown dtype {dtype!r} for column {column!r}{hint}; use one "
                    f"of: {', '.join(CAST_DTYPES)}"
                )
            pairs.append((column, dtype))
        return cls(tuple(pairs))

    def options(self) -> dict[str, Any]:
        return {"columns": dict(self.columns)}

    def fit(self, frame: pd.DataFrame) -> Cast:
        _require(frame, [column for column, _ in self.columns])
        return self

    def restore(self, params: Mapping[str, Any]) -> Cast:
        return _no_params(self, params)

    def params(self) -> dict[str, Any]:
        return {}

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        _require(frame, [column for column, _ in self.columns])
        out = frame.copy(deep=False)
        for column, dtype in self.columns:
            out[column] = _cast(frame[column], column, dtype)
        return out


def _cast(series: pd.Series, column: str, dtype: str) -> pd.Series:
    if dtype in _TEXTS:
        return series.astype(dtype)
    kind = getattr(series.dtype, "kind", "O")
    if kind in "mM":
        raise InvalidInput(f"cannot cast date/time column {column!r} to {dtype}")
    if dtype in _BOOLS:
        return _cast_bool(series, column, dtype)
    numbers = series if kind in "biuf" else pd.to_numeric(series, errors="coerce")
    _refuse(
        series,
        numbers.isna().to_numpy() & series.notna().to_numpy(),
        column,
        dtype,
        "is not a number",
    )
    if dtype in _INTEGERS or dtype in _NULLABLE_INTEGERS:
        x = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
        info = np.iinfo(dtype.lower())
        _refuse(series, np.isfinite(x) & (x != np.floor(x)), column, dtype, "is not whole")
        _refuse(series, (x < info.min) | (x > info.max), column, dtype, "is out of range")
        missing = int(np.isnan(x).sum())
        if missing and dtype in _INTEGERS:
            nullable = _NULLABLE_INTEGERS[_INTEGERS.index(dtype)]
            raise InvalidInput(
                f"cannot cast column {column!r} to {dtype}: it has {missing} "
                f"missing value(s); cast to {nullable} or fill_missing first"
            )
    return numbers.astype(dtype)


def _cast_bool(series: pd.Series, column: str, dtype: str) -> pd.Series:
    kind = getattr(series.dtype, "kind", "O")
    present = series.notna().to_numpy()
    if kind == "b":
        flags = series.astype("boolean")
    elif kind in "iuf":
        x = series.to_numpy(dtype=np.float64, na_value=np.nan)
        _refuse(series, present & (x != 0) & (x != 1), column, dtype, "is not 0 or 1")
        flags = (series != 0).astype("boolean").mask(~present)
    else:
        flags = series.astype("str").str.strip().str.lower().map(_TRUTHY).astype("boolean")
        _refuse(series, present & flags.isna().to_numpy(), column, dtype, "is not true/false/1/0")
    if dtype == "bool" and not present.all():
        raise InvalidInput(
            f"cannot cast column {column!r} to bool: it has missing values; cast "
            "to boolean (nullable) or fill_missing first"
        )
    return flags.astype(dtype)


def _refuse(
    series: pd.Series, bad: npt.NDArray[np.bool_], column: str, dtype: str, problem: str
) -> None:
    if bad.any():
        example = _plain(series.to_numpy()[bad][0])
        raise InvalidInput(
            f"cannot cast column {column!r} to {dtype}: {int(bad.sum())} value(s) "
            f"such as {example!r} {problem}; fix or filter them first"
        )


# -- filter, drop, select ------------------------------------------------------------------


@dataclass(frozen=True)
class Filter:
    """Keep the rows where a filter expression holds (see modelward.data.expression)."""

    expression: str
    parsed: Expression = field(compare=False, repr=False)
    kind: ClassVar[str] = "filter"

    @classmethod
    def from_options(cls, raw: Any) -> Filter:
        if not isinstance(raw, str):
            raise InvalidInput(
                f'filter takes an expression in quotes, e.g. filter: "age >= 18"; got {raw!r}'
            )
        return cls(raw.strip(), parse_expression(raw.strip()))

    def options(self) -> str:
        return self.expression

    def fit(self, frame: pd.DataFrame) -> Filter:
        _require(frame, sorted(self.parsed.columns))
        return self

    def restore(self, params: Mapping[str, Any]) -> Filter:
        return _no_params(self, params)

    def params(self) -> dict[str, Any]:
        return {}

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        _require(frame, sorted(self.parsed.columns))
        return frame.loc[self.parsed.evaluate(frame)]


@dataclass(frozen=True)
class Drop:
    """Remove columns. On replay a column that is already absent is not an error."""

    columns: tuple[str, ...]
    kind: ClassVar[str] = "drop"

    @classmethod
    def from_options(cls, raw: Any) -> Drop:
        return cls(_column_list(_columns_option(raw, cls.kind)))

    def options(self) -> list[str]:
        return list(self.columns)

    def fit(self, frame: pd.DataFrame) -> Drop:
        _require(frame, self.columns)
        return self

    def restore(self, params: Mapping[str, Any]) -> Drop:
        return _no_params(self, params)

    def params(self) -> dict[str, Any]:
        return {}

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        # A client sending rows to a model need not send the ids the transform drops.
        return frame.drop(columns=[c for c in self.columns if c in frame.columns])


@dataclass(frozen=True)
class Select:
    """Keep only these columns, in this order."""

    columns: tuple[str, ...]
    kind: ClassVar[str] = "select"

    @classmethod
    def from_options(cls, raw: Any) -> Select:
        return cls(_column_list(_columns_option(raw, cls.kind)))

    def options(self) -> list[str]:
        return list(self.columns)

    def fit(self, frame: pd.DataFrame) -> Select:
        _require(frame, self.columns)
        return self

    def restore(self, params: Mapping[str, Any]) -> Select:
        return _no_params(self, params)

    def params(self) -> dict[str, Any]:
        return {}

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        _require(frame, self.columns)
        return frame[list(self.columns)]


# -- one_hot -----------------------------------------------------------------------------


@dataclass(frozen=True)
class OneHot:
    """Replace each column by one 0/1 column per category seen at fit time."""

    columns: tuple[str, ...]
    kind: ClassVar[str] = "one_hot"

    @classmethod
    def from_options(cls, raw: Any) -> OneHot:
        return cls(_column_list(_columns_option(raw, cls.kind)))

    def options(self) -> dict[str, Any]:
        return {"columns": list(self.columns)}

    def fit(self, frame: pd.DataFrame) -> FittedOneHot:
        _require(frame, self.columns)
        categories: dict[str, tuple[Scalar, ...]] = {}
        for column in self.columns:
            series = frame[column]
            if getattr(series.dtype, "kind", "O") in "mMc":
                raise InvalidInput(
                    f"column {column!r} ({series.dtype}) cannot be one-hot "
                    "encoded; use text, integer or boolean columns"
                )
            found = [_plain(v) for v in series.dropna().unique()]
            if not found:
                raise InvalidInput(f"column {column!r} has no values to learn categories from")
            if len(found) > MAX_CATEGORIES:
                raise InvalidInput(
                    f"column {column!r} has {len(found)} distinct values, more "
                    f"than the {MAX_CATEGORIES} one_hot allows; it looks like an "
                    "identifier: drop it or bucket it first"
                )
            if not all(_is_scalar(v) for v in found):
                raise InvalidInput(
                    f"column {column!r} holds values that are not text, numbers "
                    "or true/false; cast it first"
                )
            categories[column] = tuple(_sorted(found))
        fitted = FittedOneHot(self, categories)
        fitted.check_names(frame)
        return fitted

    def restore(self, params: Mapping[str, Any]) -> FittedOneHot:
        categories = _per_column(params, "categories", self.columns)
        for column, values in categories.items():
            if not isinstance(values, list) or not all(_is_scalar(v) for v in values):
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
        _require(frame, self.step.columns)
        self.check_names(frame)
        dummies: dict[str, npt.NDArray[np.uint8]] = {}
        for column, values in self.categories.items():
            codes = pd.Index(list(values)).get_indexer(frame[column])
            for position, value in enumerate(values):
                dummies[f"{column}_{value}"] = (codes == position).astype(np.uint8)
        rest = frame.drop(columns=list(self.step.columns))
        return pd.concat([rest, pd.DataFrame(dummies, index=frame.index)], axis=1)


STEP_TYPES: Final[dict[str, Any]] = {
    cls.kind: cls for cls in (FillMissing, Normalize, Cast, Filter, Drop, Select, OneHot)
}


# -- helpers -----------------------------------------------------------------------------


def _options(raw: Any, required: Sequence[str], optional: Sequence[str] = ()) -> dict[str, Any]:
    allowed = (*required, *optional)
    if not isinstance(raw, Mapping):
        raise InvalidInput(f"options must be a mapping with {', '.join(allowed)}; got {raw!r}")
    unknown = [k for k in raw if k not in allowed]
    if unknown:
        raise InvalidInput(f"unknown option {unknown[0]!r}; allowed: {', '.join(allowed)}")
    absent = [k for k in required if k not in raw]
    if absent:
        raise InvalidInput(f"missing option {absent[0]!r}; required: {', '.join(required)}")
    return dict(raw)


def _columns_option(raw: Any, kind: str) -> Any:
    """drop/select/one_hot accept a bare list or {columns: [...]}."""
    if isinstance(raw, Mapping):
        return _options(raw, required=("columns",))["columns"]
    if isinstance(raw, list | tuple):
        return raw
    raise InvalidInput(
        f"{kind} takes a list of column names, e.g. {kind}: [customer_id]; got {raw!r}"
    )


def _column_list(raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list | tuple) or not raw:
        raise InvalidInput(
            f"columns must be a non-empty list of column names, e.g. [age, income]; got {raw!r}"
        )
    for name in raw:
        if not isinstance(name, str) or not name:
            raise InvalidInput(f"column names must be non-empty text, got {name!r}; quote it")
    repeated = sorted({name for name in raw if raw.count(name) > 1})
    if repeated:
        raise InvalidInput(f"column {repeated[0]!r} is listed twice")
    return tuple(raw)


def _choice(raw: Any, key: str, choices: Sequence[str]) -> str:
    if raw not in choices:
        raise InvalidInput(f"unknown {key} {raw!r}; use one of: {', '.join(choices)}")
    return str(raw)


def _require(frame: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InvalidInput(unknown_columns_message(missing, frame.columns))


def _no_params(step: Any, params: Mapping[str, Any]) -> Any:
    if params:
        raise InvalidInput(f"{step.kind} has no fitted parameters, got {sorted(params)}")
    return step


def _per_column(params: Mapping[str, Any], key: str, columns: Sequence[str]) -> dict[str, Any]:
    found = params.get(key)
    if set(params) != {key} or not isinstance(found, Mapping) or list(found) != list(columns):
        raise InvalidInput(
            f"fitted parameters must be {{{key!r}: {{column: ...}}}} for the "
            f"columns {list(columns)}"
        )
    return dict(found)


def _floats(series: pd.Series, column: str, strict: bool) -> Floats:
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
        f"column {column!r} is not numeric ({series.dtype}); cast it to float64 "
        "first, or use strategy mode/constant"
    )


def _present(x: Floats) -> Floats:
    return x[~np.isnan(x)]


def _finite(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise InvalidInput(f"{what} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise InvalidInput(f"{what} is not finite ({number}); the column holds infinite values")
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


def _is_scalar(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, bool | int | str)


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value JSON can hold."""
    return value.item() if isinstance(value, np.generic) else value


def _sorted(values: list[Any]) -> list[Any]:
    try:
        return sorted(values)
    except TypeError:  # mixed types in an object column
        return sorted(values, key=lambda v: (type(v).__name__, str(v)))
