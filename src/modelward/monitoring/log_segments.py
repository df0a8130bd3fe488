"""The prediction log's Parquet segments: their keys (partitions by model, version and
hour) and their contents, apart from where they are kept.

    model=churn/version=3/hour=2026-12-02T16/1764692400123-<batch id>.parquet
    model=churn/hour=2026-12-02T17/1764696000456-<id>.parquet           (feedback)

A segment is one batch of the writer (or one compaction of a closed hour): immutable,
zstd-compressed, one row group. Its name starts with the newest `created_ms` it
holds, so a resent batch lands under the same key (stored once) and a reader knows
how recent a segment is without opening it. A compacted segment (`...-compact-...`)
names, in its Parquet metadata, the segments it replaces; readers skip those.
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj
import pyarrow.parquet as pq

from modelward.monitoring.prediction_records import (
    PredictionRecord,
    frame_of_inputs,
    json_bytes,
)

HOUR_MS = 3_600_000
COVERS_KEY = b"modelward.covers"  # a compacted segment's metadata: the names it replaces

RECORD_SCHEMA = pa.schema(
    [
        ("request_id", pa.string()),
        ("model_version", pa.int32()),
        ("created_ms", pa.int64()),
        ("status", pa.int16()),
        ("latency_ms", pa.float64()),
        ("n_rows", pa.int32()),
        ("inputs", pa.string()),  # JSON: the logged columns of the request
        ("outputs", pa.string()),  # JSON: the answer's predictions
        ("error", pa.string()),
    ]
)
FEEDBACK_SCHEMA = pa.schema(
    [
        ("request_id", pa.string()),
        ("model_version", pa.int32()),
        ("created_ms", pa.int64()),  # when the prediction was made
        ("status", pa.int16()),
        ("outputs", pa.string()),  # JSON: what the model answered, joined at arrival
        ("label", pa.string()),  # JSON: one label, or one per row
        ("received_ms", pa.int64()),
    ]
)
_DICTIONARY_COLUMNS = ("model_version", "status", "n_rows", "outputs", "error")
_STATISTICS_COLUMNS = (
    "model_version",
    "created_ms",
    "status",
    "latency_ms",
    "n_rows",
    "received_ms",
)
MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")  # a partition of its own
_NAME = re.compile(r"(\d{13})-(compact-)?[A-Za-z0-9._-]{1,80}\.parquet")


def hour_of(ms: int) -> str:
    """The partition name of the UTC hour holding `ms`: `2026-12-02T16`."""
    return time.strftime("%Y-%m-%dT%H", time.gmtime(ms // 1000))


def hour_start_ms(hour: str) -> int:
    """The first millisecond of an hour partition."""
    return calendar.timegm(time.strptime(hour, "%Y-%m-%dT%H")) * 1000


def model_folder(model_name: str) -> str:
    """The folder of a model's segments."""
    return f"model={model_name}/"


def version_folder(model_name: str, version: int) -> str:
    """The folder of one version's hours."""
    return f"{model_folder(model_name)}version={version}/"


def segment_name(newest_ms: int, batch_id: str, *, compacted: bool = False) -> str:
    """The file name of a segment whose newest record was made at `newest_ms`."""
    return f"{newest_ms:013d}-{'compact-' if compacted else ''}{batch_id}.parquet"


@dataclass(frozen=True)
class SegmentName:
    """What a segment's key says about it."""

    key: str
    newest_ms: int
    compacted: bool


def parse_name(key: str) -> SegmentName | None:
    """The segment a key names (None for anything else: a temporary file, say)."""
    found = _NAME.fullmatch(key.rsplit("/", 1)[-1])
    if found is None:
        return None
    return SegmentName(key, int(found.group(1)), found.group(2) is not None)


def partition_value(folder: str, field: str) -> str:
    """`value` of the last `field=value` part of a folder key."""
    return folder.rstrip("/").rsplit("/", 1)[-1].removeprefix(f"{field}=")


def _text(value: Any) -> str | None:
    return None if value is None else json_bytes(value).decode()


def encode(table: pa.Table, *, covers: Sequence[str] = ()) -> bytes:
    """A segment's bytes: one zstd row group (and, compacted, the names it replaces)."""
    if covers:
        table = table.replace_schema_metadata({COVERS_KEY: orjson.dumps(list(covers))})
    out = pa.BufferOutputStream()
    pq.write_table(
        table, out, row_group_size=max(1, table.num_rows), **_write_options(table.schema)
    )
    return bytes(out.getvalue().to_pybytes())


def merge(tables: Iterable[pa.Table], *, covers: Sequence[str]) -> bytes:
    """One segment of the records of `tables` (a row group each, written as they come),
    naming in its metadata the segments it replaces."""
    schema = RECORD_SCHEMA.with_metadata({COVERS_KEY: orjson.dumps(list(covers))})
    out = pa.BufferOutputStream()
    writer: pq.ParquetWriter | None = None
    for table in tables:
        if writer is None:
            writer = pq.ParquetWriter(out, schema, **_write_options(schema))
        writer.write_table(table.replace_schema_metadata(None).cast(RECORD_SCHEMA))
    if writer is None:
        raise ValueError("nothing to merge")
    writer.close()
    return bytes(out.getvalue().to_pybytes())


def _write_options(schema: pa.Schema) -> dict[str, Any]:
    """zstd at level 1 (Arrow's default, 3, took 13-40% longer to encode 5,000 records of
    3 or 30 features for segments no smaller); columns of few distinct values
    dictionary-encoded and only numbers with min/max statistics: hashing and comparing
    every request's inputs text took a fifth of the encoding for nothing (no reader
    filters on them)."""
    names = set(schema.names)
    return {
        "compression": "zstd",
        "compression_level": 1,
        "use_dictionary": [c for c in _DICTIONARY_COLUMNS if c in names],
        "write_statistics": [c for c in _STATISTICS_COLUMNS if c in names],
    }


def decode(data: bytes, columns: Sequence[str] | None = None) -> pa.Table:
    """A segment's table (only `columns`, when given; the schema's metadata kept)."""
    # ParquetFile, not pq.read_table: read_table goes through Arrow's datasets, whose
    # threads can drop the last reference to the bytes after the interpreter began to
    # exit; that destructor, waiting there for the GIL, aborts the process ("terminate
    # called without an active exception", about 1 exit in 40 of a reading process).
    with pq.ParquetFile(pa.BufferReader(data)) as segment:
        return segment.read(columns=list(columns) if columns else None)


def row_count(data: bytes) -> int:
    """How many records a segment holds, from its footer alone."""
    return int(pq.ParquetFile(pa.BufferReader(data)).metadata.num_rows)


def covered(table: pa.Table) -> list[str]:
    """The segment names a compacted segment replaces."""
    metadata = table.schema.metadata or {}
    raw = metadata.get(COVERS_KEY)
    return [str(name) for name in orjson.loads(raw)] if raw else []


def feedback_table(
    *,
    request_id: str,
    model_version: int,
    created_ms: int,
    status: int,
    outputs: str | None,
    label: Any,
    received_ms: int,
) -> pa.Table:
    """One label, joined with its prediction, as a feedback segment's table."""
    return pa.Table.from_pydict(
        {
            "request_id": [request_id],
            "model_version": [model_version],
            "created_ms": [created_ms],
            "status": [status],
            "outputs": [outputs],
            "label": [_text(label)],
            "received_ms": [received_ms],
        },
        schema=FEEDBACK_SCHEMA,
    )


def json_value(text: str | None) -> Any:
    """A JSON column's value."""
    return None if text is None else orjson.loads(text)


def to_records(table: pa.Table, model_name: str, segment_id: int) -> list[PredictionRecord]:
    """A segment table's rows as records (`id`: the segment's newest time)."""
    return [
        PredictionRecord(
            request_id=row["request_id"],
            model_name=model_name,
            model_version=int(row["model_version"]),
            created_ms=int(row["created_ms"]),
            status=int(row["status"]),
            latency_ms=float(row["latency_ms"]),
            n_rows=int(row["n_rows"]),
            inputs=json_value(row["inputs"]),
            outputs=json_value(row["outputs"]),
            error=row["error"],
            id=segment_id,
        )
        for row in table.to_pylist()
    ]


def inputs_frame(inputs: pa.ChunkedArray) -> Any:
    """A segment table's inputs column (JSON, one document per request) as the frame of its
    input rows that `prediction_records.inputs_frame` makes of the decoded records.

    When every column holds numbers, Arrow's JSON reader decodes the whole column in one
    pass: a drift window of 5,000 requests in a fifth of the CPU of one orjson document
    per request, then lists per column. Anything else (text, booleans, a document that
    is not an object, a null) is decoded as the records are: Arrow's reader cannot tell
    those apart the same way, and it breaks lists holding nulls (texts or numbers)."""
    documents = inputs.drop_null().to_pylist()
    joined = "\n".join(documents).encode()
    # Arrow's reader misplaces nulls in a list whose first values are all null (26.0: a
    # list of [null, null], [2], [null] comes back as [null, 2], [null], [null]): a
    # window with a null anywhere is decoded as the records are.
    if documents and joined.count(b"\n") == len(documents) - 1 and b"null" not in joined:
        numbers = _number_columns(joined)
        if numbers is not None:
            return _frame_of_lists(numbers)
    return frame_of_inputs([orjson.loads(document) for document in documents])


def _number_columns(joined: bytes) -> pa.Table | None:
    """Newline-separated JSON objects as a table of one list of numbers per column and
    request; None when they are anything else."""
    options = pj.ReadOptions(use_threads=False, block_size=len(joined) + 1)
    try:
        table = pj.read_json(pa.BufferReader(joined), read_options=options)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    for field in table.schema:
        if not pa.types.is_list(field.type):
            return None
        values = field.type.value_type
        if not (pa.types.is_integer(values) or pa.types.is_floating(values)):
            return None
    return table


def _frame_of_lists(table: pa.Table) -> Any:
    """The rows of a table of lists (one per column and request) as one DataFrame; None
    when it has no column or the columns' row counts differ (as `frame_of_inputs`)."""
    import pandas as pd

    columns = {name: pc.list_flatten(table.column(name)) for name in table.column_names}
    if not columns or len({len(values) for values in columns.values()}) != 1:
        return None
    return pd.DataFrame({name: values.to_pandas() for name, values in columns.items()})
