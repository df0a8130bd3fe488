"""The records of the prediction log, apart from where they are kept: a request as
answered, a window's summary, a prediction joined with its label, and what the
monitor makes of them (label pairs, the logged inputs as a frame)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs the request 10 µs
class PredictionRecord:
    """One request as answered: inputs by column, outputs, latency, status."""

    request_id: str
    model_name: str
    model_version: int
    created_ms: int
    status: int
    latency_ms: float
    n_rows: int
    # As logged; between the writer and a store, already JSON (`encode_io`): an
    # `orjson.Fragment`, which every store's encoder embeds as it is.
    inputs: dict[str, list[Any]] | orjson.Fragment | None = None
    outputs: list[Any] | orjson.Fragment | None = None
    error: str | None = None
    id: int | None = None  # the row id once stored (ids grow in the order rows are written)

    def encode_io(self) -> None:
        """Encode inputs and outputs as JSON now (NaN as null, past-64-bit integers as
        floats). A queued record then holds bytes, not one list per column: the garbage
        collector has nothing of it to walk while it waits for its batch."""
        if self.inputs is not None and not isinstance(self.inputs, orjson.Fragment):
            self.inputs = orjson.Fragment(json_bytes(self.inputs))
        if self.outputs is not None and not isinstance(self.outputs, orjson.Fragment):
            self.outputs = orjson.Fragment(json_bytes(self.outputs))

    def to_row(self) -> dict[str, Any]:
        """The row as stored."""
        return {
            "request_id": self.request_id,
            "model_name": self.model_name,
            "model_version": self.model_version,
            "created_ms": self.created_ms,
            "status": self.status,
            "latency_ms": self.latency_ms,
            "n_rows": self.n_rows,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "error": self.error,
        }

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description (the row and its id)."""
        return {**self.to_row(), "id": self.id}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PredictionRecord:
        """The record a `to_dict()` describes."""
        return cls(
            request_id=data["request_id"],
            model_name=data["model_name"],
            model_version=int(data["model_version"]),
            created_ms=int(data["created_ms"]),
            status=int(data["status"]),
            # JSON has no infinity or NaN: such a latency comes back null (and is refused)
            latency_ms=math.nan if data["latency_ms"] is None else float(data["latency_ms"]),
            n_rows=int(data["n_rows"]),
            inputs=data.get("inputs"),
            outputs=data.get("outputs"),
            error=data.get("error"),
            id=data.get("id"),
        )


# A record as one line for the segment writer: its scalar fields as the items of a JSON
# array (no brackets: a block of heads is then a CSV text, see `line_tables`), then its
# inputs and outputs as JSON, apart. JSON text never holds a raw control character
# (orjson escapes them in strings), so 0x1f separates the three and a newline ends a line.
# The writer gets the inputs' text without parsing a request's values again (parsing and
# re-encoding them cost the uploader ~20 µs a record with 30 features).
LINE_SEPARATOR = b"\x1f"
ROW_FIELDS = (  # a stored record's fields, in `to_row` order
    "request_id",
    "model_name",
    "model_version",
    "created_ms",
    "status",
    "latency_ms",
    "n_rows",
    "inputs",
    "outputs",
    "error",
)
JSON_FIELDS = ("inputs", "outputs")  # stored as JSON documents
LINE_FIELDS = tuple(name for name in ROW_FIELDS if name not in JSON_FIELDS)


def encode_line(record: PredictionRecord) -> bytes:
    """`record` as one line of bytes (see LINE_FIELDS); NaN latency as null."""
    head = orjson.dumps(  # spelled out, not a getattr loop: this runs on every request
        (
            record.request_id,
            record.model_name,
            record.model_version,
            record.created_ms,
            record.status,
            record.latency_ms,
            record.n_rows,
            record.error,
        )
    )[1:-1]
    return b"%b\x1f%b\x1f%b" % (head, json_bytes(record.inputs), json_bytes(record.outputs))


def decode_line(line: bytes) -> PredictionRecord:
    """The record an `encode_line` wrote; ValueError, naming the fault, when malformed."""
    try:
        head, inputs, outputs = line.split(LINE_SEPARATOR)
        data = dict(zip(LINE_FIELDS, orjson.loads(b"[%b]" % head), strict=True))
        data["inputs"] = orjson.loads(inputs)
        data["outputs"] = orjson.loads(outputs)
        return PredictionRecord.from_dict(data)
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"a prediction record line is malformed: {exc}") from None


@dataclass(frozen=True)
class RequestSummary:
    """Requests of a model in a window: how many, how many failed, the p95 latency."""

    total: int
    failed: int
    latency_p95_ms: float | None  # over answered requests; None when there are none

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description."""
        p95 = self.latency_p95_ms
        return {"requests": self.total, "failed": self.failed, "latency_p95_ms": p95}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RequestSummary:
        """The summary a `to_dict()` describes."""
        p95 = data["latency_p95_ms"]
        return cls(int(data["requests"]), int(data["failed"]), None if p95 is None else float(p95))


@dataclass(frozen=True)
class LabeledPrediction:
    """A logged prediction joined with the label that arrived for it."""

    request_id: str
    created_ms: int
    outputs: list[Any]
    label: Any

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description."""
        return {
            "request_id": self.request_id,
            "created_ms": self.created_ms,
            "outputs": self.outputs,
            "label": self.label,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LabeledPrediction:
        """The labeled prediction a `to_dict()` describes."""
        return cls(data["request_id"], int(data["created_ms"]), data["outputs"], data["label"])


def pairs(labeled: Sequence[LabeledPrediction]) -> tuple[list[Any], list[Any]]:
    """(truths, predictions) flattened over requests; a scalar label labels one row."""
    truths: list[Any] = []
    predictions: list[Any] = []
    for item in labeled:
        labels = item.label if isinstance(item.label, list) else [item.label]
        if len(labels) != len(item.outputs):
            continue  # checked when the feedback arrived; skip anything inconsistent
        truths.extend(labels)
        predictions.extend(item.outputs)
    return truths, predictions


def inputs_frame(records: Sequence[PredictionRecord]) -> Any:
    """The logged input rows of answered requests as one DataFrame (None when empty)."""
    return frame_of_inputs([r.inputs for r in records])


def frame_of_inputs(inputs: Sequence[Any]) -> Any:
    """Requests' decoded inputs (a list per column each) as one DataFrame of their rows
    in order; None when none has inputs or the columns' row counts differ. Anything
    else logged as a request's inputs (not columns of lists) is skipped."""
    import pandas as pd

    tables = [
        given
        for given in inputs
        if isinstance(given, dict) and given and all(isinstance(v, list) for v in given.values())
    ]
    if not tables:
        return None
    columns: dict[str, list[Any]] = {}
    for table in tables:
        for name, values in table.items():
            columns.setdefault(name, []).extend(values)
    lengths = {len(values) for values in columns.values()}
    if len(lengths) != 1:
        return None
    return pd.DataFrame(columns)


@dataclass(frozen=True)
class InputWindow:
    """The input rows of a model's newest answered requests, as a drift window reads them."""

    frame: Any  # pandas.DataFrame: `inputs_frame` of the requests
    until_id: int  # the newest record's id among them: with the same since_ms, these again


def input_window_of(records: Sequence[PredictionRecord]) -> InputWindow | None:
    """The window of `records` (None when they hold no input rows)."""
    frame = inputs_frame(records)
    if frame is None:
        return None
    return InputWindow(frame, max(r.id or 0 for r in records))


def json_bytes(value: Any) -> bytes:
    """`value` as JSON: NaN and infinities become null, an integer past 64 bits a float."""
    try:
        return orjson.dumps(value)
    except TypeError:  # an integer past 64 bits, say
        return orjson.dumps(json.loads(json.dumps(value), parse_int=_int_or_float))


def _int_or_float(text: str) -> int | float:
    number = int(text)
    return number if -(2**63) <= number < 2**63 else float(number)
