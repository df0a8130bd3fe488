"""Reading request bodies: the content type a route reads, JSON, CSV.

JSON is parsed by orjson: fast, strict (no NaN or Infinity, numbers that fit a
double) and bounded (1,024 levels of nesting at most), so a hostile body is a
400, never a RecursionError. Prediction routes also take the NaN/Infinity
tokens that Python's `json.dumps` writes (MLflow's scoring client sends NaN
for a missing value): such a body is parsed again by the standard library,
with NaN read as a missing value.
"""

from __future__ import annotations

import json
import math
import re
import reprlib
from collections.abc import Sequence
from typing import Any

import orjson

from modelward.errors import DoesNotFit, InvalidInput, UnsupportedMediaType

JSON = "application/json"
CSV = "text/csv"

_shown = reprlib.Repr()
_shown.maxstring = 60
_shown.maxother = 60


def shown(value: Any) -> str:
    """A short, bounded repr of a client's value, for an error message."""
    return _shown.repr(value)


def media_type(header: str | None, accepted: Sequence[str]) -> str:
    """The body's media type if the route reads it (a missing header means JSON).

    MLflow's scoring-server rules: only UTF-8, no parameter but `charset`, and
    only the listed types; anything else is UnsupportedMediaType (415).
    """
    if header is None or not header.strip():
        return JSON
    mime, *parameters = (part.strip() for part in header.split(";"))
    mime = mime.lower()
    options: dict[str, str] = {}
    for parameter in parameters:
        if parameter:
            key, _, value = parameter.partition("=")
            options[key.strip().lower()] = value.strip().strip('"')
    charset = options.pop("charset", "utf-8").lower()
    if charset != "utf-8":
        raise UnsupportedMediaType(f"only UTF-8 bodies are read, not charset {shown(charset)}")
    if options:
        raise UnsupportedMediaType(
            f"unrecognised content type parameter(s): {', '.join(map(shown, sorted(options)))}"
        )
    if mime not in accepted:
        raise UnsupportedMediaType(
            f"this route reads {' or '.join(accepted)}, not {shown(mime)}: "
            f"send the body as {accepted[0]}"
        )
    return mime


def parse_json(body: bytes, *, non_finite: bool = False) -> Any:
    """The JSON value of a body; InvalidInput (400) when it is not JSON.

    With `non_finite`, the tokens NaN (a missing value, None), Infinity and
    -Infinity are read too.
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if non_finite and (b"NaN" in body or b"Infinity" in body):
            return _parse_non_finite(body)
        raise InvalidInput(f"the body is not valid JSON: {exc}") from None


_CONSTANTS: dict[str, Any] = {"NaN": None, "Infinity": math.inf, "-Infinity": -math.inf}


def _parse_int(text: str) -> int | float:
    # A huge integer is only ever a (too large) number here: a float says so cheaply.
    return int(text) if len(text) <= 20 else float(text)


_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _parse_non_finite(body: bytes) -> Any:
    try:
        value = json.loads(body, parse_constant=_CONSTANTS.__getitem__, parse_int=_parse_int)
    except RecursionError:
        raise InvalidInput("the body is not valid JSON: it is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise InvalidInput(f"the body is not valid JSON: {exc}") from None
    if _SURROGATE.search(body):  # escapes of half a character: refused, as orjson does
        _check_text(value)
    return value


def _check_text(value: Any) -> None:
    pending = [value]
    while pending:  # a loop, not recursion: the value may be nested a thousand deep
        item = pending.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise InvalidInput(
                    "the body is not valid JSON: a string holds half of a surrogate pair "
                    f"({shown(item)}), which is no text"
                ) from None
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())


def parse_csv(body: bytes, inputs: Sequence[dict[str, str]]) -> dict[str, list[Any]]:
    """Column name -> values of a CSV body with a header row naming the signature's columns.

    Empty cells and the usual markers (NA, NaN, null, ...) are missing values,
    in text columns too; numbers, true/false and text are read by column kind.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"the CSV body is not UTF-8 text: {exc}") from None
    names = [column["name"] for column in inputs]
    by_kind = {"number": pa.float64(), "integer": pa.float64(), "boolean": pa.bool_()}
    types = {c["name"]: by_kind.get(c.get("kind", "number"), pa.string()) for c in inputs}
    try:
        table = pacsv.read_csv(
            pa.py_buffer(body),
            convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=True),
        )
    except pa.ArrowInvalid as exc:
        message = " ".join(str(exc).split())[:300]
        if "conversion error" in message and message.startswith("In CSV column #"):
            header = body.split(b"\n", 1)[0].decode("utf-8", "replace").strip().split(",")
            index = int(message[len("In CSV column #") :].split(":", 1)[0])
            field = header[index].strip().strip('"') if index < len(header) else None
            raise DoesNotFit(
                f"the CSV body does not fit the model: {message}", field=field
            ) from None
        raise InvalidInput(f"the body is not a CSV table with a header row: {message}") from None
    check_columns(table.column_names, names)
    return {name: table.column(name).to_pylist() for name in names}


def check_columns(columns: Sequence[str], names: Sequence[str]) -> None:
    """A request's column names must be the signature's, each once (in any order)."""
    if len(set(columns)) != len(columns):
        twice = next(c for i, c in enumerate(columns) if c in columns[:i])
        raise DoesNotFit(f"column {shown(twice)} is named twice", field=str(twice))
    known = set(names)
    unknown = [c for c in columns if c not in known]
    if unknown:
        raise DoesNotFit(
            f"unknown column {shown(unknown[0])}: the model takes {', '.join(names)}",
            field=str(unknown[0]),
        )
    given = set(columns)
    missing = [n for n in names if n not in given]
    if missing:
        raise DoesNotFit(f"missing column {missing[0]!r}", field=missing[0])
