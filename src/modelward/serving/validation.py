"""Turning a request body into the rows a model takes, or a 4xx that names the problem.

Accepted bodies (PRODUCT.md):

    {"instances": [[1.0, 2.0], ...]}                 values in signature order
    {"instances": [{"age": 31, "income": 2.5}, ...]} values by column name
    {"dataframe_split": {"columns": [...], "data": [[...], ...]}}
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from modelward.errors import InvalidInput


class RequestError(InvalidInput):
    """A bad request: HTTP status, the field at fault and what is wrong with it."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.http_status = status
        self.field = field

    def to_dict(self) -> dict[str, Any]:
        """The JSON error body."""
        kind = "malformed_request" if self.http_status == 400 else "invalid_input"
        return {"error": {"type": kind, "message": self.message, "field": self.field}}


def malformed(message: str, field: str | None = None) -> RequestError:
    """400: the body is not what the protocol describes."""
    return RequestError(400, message, field)


def unfit(message: str, field: str | None = None) -> RequestError:
    """422: well-formed, but does not fit the model's signature."""
    return RequestError(422, message, field)


_NUMBER_KINDS = ("number", "integer")


def columns_from_payload(
    payload: Any, inputs: Sequence[dict[str, str]], *, max_rows: int
) -> dict[str, list[Any]]:
    """Column name -> values, checked against the signature's inputs."""
    if not isinstance(payload, dict):
        raise malformed("the body must be a JSON object with 'instances' or 'dataframe_split'")
    keys = {"instances", "dataframe_split", "inputs"} & set(payload)
    if len(keys) != 1:
        raise malformed("give exactly one of 'instances' or 'dataframe_split'")
    names = [column["name"] for column in inputs]
    if "dataframe_split" in payload:
        rows, columns = _split(payload["dataframe_split"], names)
    else:
        key = "instances" if "instances" in payload else "inputs"
        rows, columns = payload[key], None
        if not isinstance(rows, list):
            raise malformed(f"'{key}' must be a list of rows", key)
    if not rows:
        raise unfit("the batch is empty: send at least one row", "instances")
    if len(rows) > max_rows:
        raise RequestError(413, f"too many rows: {len(rows)} > {max_rows} per request", "instances")
    table = _columns(rows, columns or names, by_name=columns is None)
    for column in inputs:
        _check_kind(column, table[column["name"]])
    return table


def _split(body: Any, names: list[str]) -> tuple[list[Any], list[str]]:
    if not isinstance(body, dict) or "columns" not in body or "data" not in body:
        raise malformed("'dataframe_split' needs 'columns' and 'data'", "dataframe_split")
    columns, data = body["columns"], body["data"]
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise malformed("'dataframe_split.columns' must be a list of names", "columns")
    if not isinstance(data, list):
        raise malformed("'dataframe_split.data' must be a list of rows", "data")
    if len(set(columns)) != len(columns):
        raise unfit("'dataframe_split.columns' names a column twice", "columns")
    unknown = [c for c in columns if c not in names]
    if unknown:
        raise unfit(
            f"unknown column {unknown[0]!r}: the model takes {', '.join(names)}", unknown[0]
        )
    missing = [n for n in names if n not in columns]
    if missing:
        raise unfit(f"missing column {missing[0]!r}", missing[0])
    if any(not isinstance(row, list) for row in data):
        raise malformed("every row of 'dataframe_split.data' must be a list", "data")
    return data, columns


def _columns(rows: list[Any], names: list[str], *, by_name: bool) -> dict[str, list[Any]]:
    first = rows[0]
    if by_name and isinstance(first, dict):
        for index, row in enumerate(rows):
            if not isinstance(row, dict):
                raise malformed(f"row {index} is not an object like the first row", "instances")
            if len(row) != len(names) or any(name not in row for name in names):
                missing = [n for n in names if n not in row]
                if missing:
                    raise unfit(f"row {index} lacks column {missing[0]!r}", missing[0])
                extra = next(k for k in row if k not in names)
                raise unfit(
                    f"row {index} has unknown column {extra!r}: the model takes {', '.join(names)}",
                    str(extra),
                )
        return {name: [row[name] for row in rows] for name in names}
    for index, row in enumerate(rows):
        if not isinstance(row, list):
            raise malformed(
                f"row {index} must be a list of {len(names)} values or an object", "instances"
            )
        if len(row) != len(names):
            raise unfit(
                f"row {index} has {len(row)} values; the model takes {len(names)}: "
                f"{', '.join(names)}",
                "instances",
            )
    return {name: [row[i] for row in rows] for i, name in enumerate(names)}


_ALLOWED_TYPES: dict[str, set[type]] = {
    "number": {int, float, type(None)},
    "integer": {int, float, type(None)},
    "boolean": {bool, type(None)},
    "string": {str, type(None)},
}
_EXPECTED = {"number": "a number", "integer": "a number", "boolean": "true/false", "string": "text"}


def _check_kind(column: dict[str, str], values: list[Any]) -> None:
    name, kind = column["name"], column.get("kind", "number")
    allowed = _ALLOWED_TYPES.get(kind)
    if allowed is None or set(map(type, values)) <= allowed:  # the fast, common path
        return
    index, value = next((i, v) for i, v in enumerate(values) if type(v) not in allowed)
    raise unfit(f"column {name!r}, row {index}: expected {_EXPECTED[kind]}, got {value!r}", name)


def array_from_columns(table: dict[str, list[Any]], names: Sequence[str]) -> Any:
    """A float matrix with the columns in `names` order (None -> NaN); 422 on infinities."""
    import numpy as np

    matrix = np.array([table[name] for name in names], dtype=np.float64).T
    infinite = np.isinf(matrix)
    if infinite.any():
        row, column = (int(i) for i in np.argwhere(infinite)[0])
        name = names[column]
        raise unfit(f"column {name!r}, row {row}: {table[name][row]} is not a finite number", name)
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
                raise unfit(
                    f"column {name!r}, row {row}: {values[row]} is not a finite number", name
                )
            if kind == "integer" and not np.isnan(array).any():
                data[name] = array.astype(np.int64)
            else:
                data[name] = array
        else:
            data[name] = pd.array(values, dtype="boolean" if kind == "boolean" else "str")
    return pd.DataFrame(data)
