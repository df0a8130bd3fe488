"""Turning a request body into the rows a model takes, or an error that names the problem.

Accepted JSON bodies (PRODUCT.md, and every input format of MLflow's scoring protocol):

    {"instances": [[1.0, 2.0], ...]}                  values in signature order
    {"instances": [{"age": 31, "income": 2.5}, ...]}  values by column name
    {"inputs": [...]}                                 the same as "instances"
    {"inputs": {"age": [31, 40], "income": [2.5, 1.0]}}   values by column
    {"dataframe_split": {"columns": [...], "data": [[...], ...], "index": [...]}}
    {"dataframe_records": [{"age": 31, "income": 2.5}, ...]}

Malformed bodies are InvalidInput (400), bodies that do not fit the model's
signature DoesNotFit (422), too many rows TooLarge (413). A text/csv body (MLflow's
other format) is a header row naming the columns, then one line per row.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain
from typing import Any, NoReturn

from modelward.errors import DoesNotFit, InvalidInput, TooLarge
from modelward.serving.bodies import check_columns, parse_csv, shown

FORMATS = ("instances", "inputs", "dataframe_split", "dataframe_records")
_ONE_OF = "one of 'instances', 'inputs', 'dataframe_split' or 'dataframe_records'"
_NUMBER_KINDS = ("number", "integer")


class RequestReader:
    """Reads request bodies for one signature, checked against it (compiled once per
    model version: names, kinds and allowed types are worked out here, not per request)."""

    def __init__(self, inputs: Sequence[dict[str, str]]) -> None:
        self.inputs = tuple(inputs)
        self.names = [column["name"] for column in inputs]
        self._number_names = [c["name"] for c in inputs if c.get("kind", "number") in _NUMBER_KINDS]
        self._others = [
            c for c in inputs if c.get("kind", "number") not in _NUMBER_KINDS
        ]  # checked column by column
        self._all_numbers = not self._others

    def columns(self, payload: Any, *, max_rows: int) -> dict[str, list[Any]]:
        """Column name -> values, checked against the signature's inputs."""
        return self.read(payload, max_rows=max_rows)[0]

    def read(
        self, payload: Any, *, max_rows: int
    ) -> tuple[dict[str, list[Any]], list[list[Any]] | None]:
        """(column name -> values, and the rows in signature order when the body sent
        them so, else None), checked against the signature's inputs."""
        if not isinstance(payload, dict):
            raise InvalidInput(f"the body must be a JSON object with {_ONE_OF}")
        if len(payload) == 1:
            key = next(iter(payload))
            if key not in FORMATS:
                raise InvalidInput(f"give exactly {_ONE_OF}")
        else:
            key = self._one_key(payload)
        value = payload[key]
        names = self.names
        flat: list[Any] | None = None  # rows in signature order, when the body has them
        if key == "dataframe_split":
            table, flat = _split(value, names, max_rows)
        elif key == "inputs" and isinstance(value, dict):
            table = _by_column(value, names, max_rows)
        else:
            if not isinstance(value, list):
                what = "objects" if key == "dataframe_records" else "rows"
                raise InvalidInput(f"'{key}' must be a list of {what}", field=key)
            _check_count(len(value), max_rows, key)
            if key == "dataframe_records" and not isinstance(value[0], dict):
                raise InvalidInput("'dataframe_records' must be a list of objects", field=key)
            if isinstance(value[0], dict):
                table = _by_name(value, names, key)
            elif len(names) == 1 and not isinstance(value[0], list):  # one value per row
                table = {names[0]: value}
            else:
                table = _by_position(value, names, key)
                flat = value
        self._check_kinds(table, flat)
        return table, flat

    def _one_key(self, payload: dict[str, Any]) -> str:
        keys = [key for key in payload if key in FORMATS]
        if len(keys) != 1:
            raise InvalidInput(f"give exactly {_ONE_OF}")
        extra = next((key for key in payload if key not in FORMATS), None)
        if extra == "params":
            raise DoesNotFit("'params': this model takes no inference parameters", field="params")
        if extra is not None:
            raise InvalidInput(
                f"unknown key {shown(extra)}: the body holds {_ONE_OF}", field=str(extra)
            )
        return keys[0]

    def _check_kinds(self, table: dict[str, list[Any]], flat: list[Any] | None) -> None:
        # The common case in one pass over the values: every number column holds numbers.
        if self._all_numbers and flat is not None:
            if set(map(type, chain.from_iterable(flat))) <= _NUMBER_TYPES:
                return
        elif self._number_names:
            values = chain.from_iterable(table[name] for name in self._number_names)
            if set(map(type, values)) <= _NUMBER_TYPES:
                for column in self._others:
                    _check_kind(column, table[column["name"]])
                return
        for column in self.inputs:  # find the first offending value, in signature order
            _check_kind(column, table[column["name"]])


def columns_from_payload(
    payload: Any, inputs: Sequence[dict[str, str]], *, max_rows: int
) -> dict[str, list[Any]]:
    """Column name -> values, checked against the signature's inputs."""
    return RequestReader(inputs).columns(payload, max_rows=max_rows)


def columns_from_csv(
    body: bytes, inputs: Sequence[dict[str, str]], *, max_rows: int
) -> dict[str, list[Any]]:
    """Column name -> values of a CSV body (a header row, then one line per row)."""
    table = parse_csv(body, inputs)
    _check_count(len(next(iter(table.values()), [])), max_rows, "rows")
    return table


def _check_count(count: int, max_rows: int, field: str) -> None:
    if count == 0:
        raise DoesNotFit("the batch is empty: send at least one row", field=field)
    if count > max_rows:
        raise TooLarge(f"too many rows: {count} > {max_rows} per request", field=field)


def _split(
    body: Any, names: list[str], max_rows: int
) -> tuple[dict[str, list[Any]], list[Any] | None]:
    if not isinstance(body, dict) or "columns" not in body or "data" not in body:
        raise InvalidInput("'dataframe_split' needs 'columns' and 'data'", field="dataframe_split")
    extra = next((key for key in body if key not in ("columns", "data", "index")), None)
    if extra is not None:
        raise InvalidInput(
            f"unknown key {shown(extra)} in 'dataframe_split': it holds 'columns', 'data' "
            "and optionally 'index'",
            field="dataframe_split",
        )
    columns, data = body["columns"], body["data"]
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise InvalidInput("'dataframe_split.columns' must be a list of names", field="columns")
    if not isinstance(data, list):
        raise InvalidInput("'dataframe_split.data' must be a list of rows", field="data")
    if columns != names:
        check_columns(columns, names)
    _check_count(len(data), max_rows, "data")
    if any(not isinstance(row, list) for row in data):
        raise InvalidInput("every row of 'dataframe_split.data' must be a list", field="data")
    return _by_position(data, columns, "data"), data if columns == names else None


def _by_column(body: dict[str, Any], names: list[str], max_rows: int) -> dict[str, list[Any]]:
    check_columns(list(body), names)
    values = [body[name] for name in names]
    if not any(isinstance(v, list) for v in values):  # one value per column: one row
        return {name: [body[name]] for name in names}
    if not all(isinstance(v, list) for v in values):
        scalar = next(name for name in names if not isinstance(body[name], list))
        raise InvalidInput(
            f"'inputs.{scalar}' must be a list of values like the other columns", field=scalar
        )
    lengths = {len(v) for v in values}
    if len(lengths) != 1:
        raise DoesNotFit(
            "the columns of 'inputs' have different lengths: "
            + ", ".join(f"{name} {len(body[name])}" for name in names[:10]),
            field="inputs",
        )
    _check_count(lengths.pop(), max_rows, "inputs")
    return {name: body[name] for name in names}


def _by_name(rows: list[Any], names: list[str], field: str) -> dict[str, list[Any]]:
    wanted = set(names)
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            raise InvalidInput(f"row {index} is not an object like the first row", field=field)
        if len(row) != len(names) or not wanted.issuperset(row):
            missing = [n for n in names if n not in row]
            if missing:
                raise DoesNotFit(f"row {index} lacks column {missing[0]!r}", field=missing[0])
            extra = next(k for k in row if k not in wanted)
            raise DoesNotFit(
                f"row {index} has unknown column {shown(extra)}: the model takes "
                f"{', '.join(names)}",
                field=str(extra),
            )
    return {name: [row[name] for row in rows] for name in names}


def _by_position(rows: list[Any], names: list[str], field: str) -> dict[str, list[Any]]:
    width = len(names)
    for index, row in enumerate(rows):
        if not isinstance(row, list):
            raise InvalidInput(
                f"row {index} must be a list of {width} values or an object", field=field
            )
        if len(row) != width:
            raise DoesNotFit(
                f"row {index} has {len(row)} values; the model takes {width}: {', '.join(names)}",
                field=field,
            )
    if len(rows) == 1:
        return {name: [value] for name, value in zip(names, rows[0], strict=True)}
    return {name: list(values) for name, values in zip(names, zip(*rows, strict=True), strict=True)}


_ALLOWED_TYPES: dict[str, set[type]] = {
    "number": {int, float, type(None)},
    "integer": {int, float, type(None)},
    "boolean": {bool, type(None)},
    "string": {str, type(None)},
}
_NUMBER_TYPES = frozenset(_ALLOWED_TYPES["number"])
_EXPECTED = {"number": "a number", "integer": "a number", "boolean": "true/false", "string": "text"}


def _check_kind(column: dict[str, str], values: list[Any]) -> None:
    name, kind = column["name"], column.get("kind", "number")
    allowed = _ALLOWED_TYPES.get(kind)
    if allowed is None or set(map(type, values)) <= allowed:  # the fast, common path
        return
    index, value = next((i, v) for i, v in enumerate(values) if type(v) not in allowed)
    raise DoesNotFit(
        f"column {name!r}, row {index}: expected {_EXPECTED[kind]}, got {shown(value)}",
        field=name,
    )


def array_from_columns(table: dict[str, list[Any]], names: Sequence[str]) -> Any:
    """A float matrix with the columns in `names` order (None -> NaN); 422 on infinities."""
    import numpy as np

    matrix = np.array([table[name] for name in names], dtype=np.float64).T
    infinite = np.isinf(matrix)
    if infinite.any():
        row, column = (int(i) for i in np.argwhere(infinite)[0])
        not_finite(names[column], row, table[names[column]][row])
    return matrix


def frame_from_columns(table: dict[str, list[Any]], inputs: Sequence[dict[str, str]]) -> Any:
    """A pandas DataFrame with each column in the dtype its kind calls for."""
    import numpy as np
    import pandas as pd

    data: dict[str, Any] = {}
    for column in inputs:
        name, kind, values = column["name"], column.get("kind", "number"), table[column["name"]]
        if kind in _NUMBER_KINDS:
            array = np.array(values, dtype=np.float64)  # None -> NaN
            infinite = np.isinf(array)
            if infinite.any():
                row = int(np.argmax(infinite))
                not_finite(name, row, values[row])
            if kind == "integer" and not np.isnan(array).any():
                data[name] = array.astype(np.int64)
            else:
                data[name] = array
        else:
            data[name] = pd.array(values, dtype="boolean" if kind == "boolean" else "str")
    return pd.DataFrame(data)


def not_finite(name: str, row: int, value: Any) -> NoReturn:
    """DoesNotFit for an infinite number sent in column `name`."""
    raise DoesNotFit(
        f"column {name!r}, row {row}: {shown(value)} is not a finite number", field=name
    )
