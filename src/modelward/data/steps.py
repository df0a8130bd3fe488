"""The steps of a transform spec, and the steps that learn nothing from the data.

Each step kind is a frozen dataclass built from its spec options
(`from_options`). `fit(frame)` returns the fitted step: the steps that learn
parameters (fill_missing, normalize, one_hot) live in `modelward.data.learned`;
the ones here (cast, filter, drop, select) learn nothing and are their own
fitted step. A fitted step's `apply(frame)` replays it without refitting.

Messages do not name the step; the caller prefixes "step N (kind): ".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, Protocol, TypeAlias, TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd

from modelward.data.expression import Expression, parse_expression, unknown_columns_message
from modelward.errors import InvalidInput

Scalar: TypeAlias = bool | int | float | str
S = TypeVar("S")

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


# -- cast ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cast:
    """Convert columns to a dtype, refusing values that do not convert (no silent NaN)."""

    columns: tuple[tuple[str, str], ...]
    kind: ClassVar[str] = "cast"

    @classmethod
    def from_options(cls, raw: Any) -> Cast:
        mapping = read_options(raw, required=("columns",))["columns"]
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
        require_columns(frame, [column for column, _ in self.columns])
        return self

    def restore(self, params: Mapping[str, Any]) -> Cast:
        return no_params(self, params)

    def params(self) -> dict[str, Any]:
        return {}

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        require_columns(frame, [column for column, _ in self.columns])
        out = frame.copy(deep=False)
        for column, dtype in self.columns:
            out[column] = _cast(frame[column], column, dtype)
        return out


def _cast(series: pd.Series, column: str, dtype: str) -> pd.Series:
    if dtype in _TEXTS:
        return series.astype(pd.api.types.pandas_dtype(dtype))
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
    return numbers.astype(pd.api.types.pandas_dtype(dtype))


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
    return flags.astype(pd.api.types.pandas_dtype(dtype))


def _refuse(
    series: pd.Series, bad: npt.NDArray[np.bool_], column: str, dtype: str, problem: str
) -> None:
    if bad.any():
        example = plain(series.to_numpy()[bad][0])
        raise InvalidInput(
            f"cannot cast column {column!r} to {dtype}: {int(bad.sum())} value(s) do "
            f"not convert, e.g. {example!r} {problem}; fix or filter them first"
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
                f'filter takes an expression in quotes, e.g. filter: "age >= 18"; got {raw!r:.60}'
            )
        return cls(raw.strip(), parse_expression(raw.strip()))

    def options(self) -> str:
        return self.expression

    def fit(self, frame: pd.DataFrame) -> Filter:
        require_columns(frame, sorted(self.parsed.columns))
        return self

    def restore(self, params: Mapping[str, Any]) -> Filter:
        return no_params(self, params)

    def params(self) -> dict[str, Any]:
        return {}

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        require_columns(frame, sorted(self.parsed.columns))
        return frame.loc[self.parsed.evaluate(frame)]


@dataclass(frozen=True)
class Drop:
    """Remove columns. On replay a column that is already absent is not an error."""

    columns: tuple[str, ...]
    kind: ClassVar[str] = "drop"

    @classmethod
    def from_options(cls, raw: Any) -> Drop:
        return cls(column_list(columns_option(raw, cls.kind)))

    def options(self) -> list[str]:
        return list(self.columns)

    def fit(self, frame: pd.DataFrame) -> Drop:
        require_columns(frame, self.columns)
        return self

    def restore(self, params: Mapping[str, Any]) -> Drop:
        return no_params(self, params)

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
        return cls(column_list(columns_option(raw, cls.kind)))

    def options(self) -> list[str]:
        return list(self.columns)

    def fit(self, frame: pd.DataFrame) -> Select:
        require_columns(frame, self.columns)
        return self

    def restore(self, params: Mapping[str, Any]) -> Select:
        return no_params(self, params)

    def params(self) -> dict[str, Any]:
        return {}

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        require_columns(frame, self.columns)
        return frame[list(self.columns)]


# -- helpers -----------------------------------------------------------------------------


def read_options(raw: Any, required: Sequence[str], optional: Sequence[str] = ()) -> dict[str, Any]:
    allowed = (*required, *optional)
    if not isinstance(raw, Mapping):
        raise InvalidInput(f"options must be a mapping with {', '.join(allowed)}; got {raw!r:.60}")
    unknown = [k for k in raw if k not in allowed]
    if unknown:
        raise InvalidInput(f"unknown option {unknown[0]!r}; allowed: {', '.join(allowed)}")
    absent = [k for k in required if k not in raw]
    if absent:
        raise InvalidInput(f"missing option {absent[0]!r}; required: {', '.join(required)}")
    return dict(raw)


def columns_option(raw: Any, kind: str) -> Any:
    """drop/select/one_hot accept a bare list or {columns: [...]}."""
    if isinstance(raw, Mapping):
        return read_options(raw, required=("columns",))["columns"]
    if isinstance(raw, list | tuple):
        return raw
    raise InvalidInput(
        f"{kind} takes a list of column names, e.g. {kind}: [customer_id]; got {raw!r:.60}"
    )


def column_list(raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list | tuple) or not raw:
        raise InvalidInput(
            f"columns must be a non-empty list of column names, e.g. [age, income]; got {raw!r:.60}"
        )
    for name in raw:
        if not isinstance(name, str) or not name:
            raise InvalidInput(f"column names must be non-empty text, got {name!r:.60}; quote it")
    repeated = sorted({name for name in raw if raw.count(name) > 1})
    if repeated:
        raise InvalidInput(f"column {repeated[0]!r} is listed twice")
    return tuple(raw)


def choice(raw: Any, key: str, choices: Sequence[str]) -> str:
    if raw not in choices:
        raise InvalidInput(f"unknown {key} {raw!r}; use one of: {', '.join(choices)}")
    return str(raw)


def require_columns(frame: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InvalidInput(unknown_columns_message(missing, frame.columns))


def no_params(step: S, params: Mapping[str, Any]) -> S:
    """`step` itself, after checking that no parameters were stored for it."""
    if params:
        raise InvalidInput(f"this step has no fitted parameters, got {sorted(params)}")
    return step


def per_column(params: Mapping[str, Any], key: str, columns: Sequence[str]) -> dict[str, Any]:
    """params[key] as {column: value} in the spec's column order.

    The stored key order is not trusted: PostgreSQL's JSONB, for one, reorders keys.
    """
    found = params.get(key)
    if set(params) != {key} or not isinstance(found, Mapping) or set(found) != set(columns):
        raise InvalidInput(
            f"fitted parameters must be {{{key!r}: {{column: ...}}}} for the "
            f"columns {list(columns)}"
        )
    return {column: found[column] for column in columns}


def is_scalar(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, bool | int | str)


def plain(value: Any) -> Any:
    """A numpy scalar as the Python value JSON can hold."""
    return value.item() if isinstance(value, np.generic) else value
