"""Record lines (`prediction_records.encode_line`) as segment tables, one per (model,
version, hour), without a Python step per record.

A block of lines is one buffer: each line is `head 0x1f inputs 0x1f outputs` and lines
are separated by newlines (JSON text holds neither byte raw). NumPy finds the
separators; Arrow slices the three fields out of the buffer; the inputs and outputs
columns are the JSON as sent, never parsed. The heads (the items of a JSON array of
scalars) are read by Arrow's CSV reader, which is exact for them as long as no string
holds an escape: a JSON string with no backslash is a CSV quoted field. A block whose
heads hold a backslash (an error text with a quote or a newline, say) has them read
by orjson instead. Reading 8,000 lines took the uploader child ~12 ms with a list per
record; it takes ~3 ms this way.

Lines come from the server's own `encode_line`, so the reading checks their shape and
types, not their spelling: a quoted number where a number goes is read as that number.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from modelward.monitoring.log_segments import HOUR_MS, RECORD_SCHEMA, hour_of
from modelward.monitoring.prediction_records import LINE_FIELDS

Partition = tuple[str, int, str]  # model, version, hour

MESSAGE_CHARS = 240  # a refused line's message quotes the line: this much of it
_CSV_COLUMN = re.compile(r"CSV column #(\d+)")

_SEPARATOR, _NEWLINE, _BACKSLASH = 0x1F, 0x0A, 0x5C
_LINE_ENDS = np.array([_SEPARATOR, _SEPARATOR, _NEWLINE], np.uint8)  # a line's 3 cuts
# the head's fields typed as the segment's columns (the model is its partition's name)
HEAD_SCHEMA = pa.schema(
    [
        RECORD_SCHEMA.field(name) if name in RECORD_SCHEMA.names else pa.field(name, pa.string())
        for name in LINE_FIELDS
    ]
)
_OPTIONAL = ("latency_ms", "error")  # null in JSON: a NaN latency, no error
_CSV_PARSE = pcsv.ParseOptions(
    quote_char='"', double_quote=False, escape_char=False, newlines_in_values=False
)
_CSV_CONVERT = pcsv.ConvertOptions(
    column_types=HEAD_SCHEMA,
    null_values=["null"],
    true_values=[],  # JSON's true and false are no value of any head field
    false_values=[],
    strings_can_be_null=True,
    quoted_strings_can_be_null=False,  # "null", quoted, is that text
)


def line_partitions(lines: Sequence[bytes]) -> dict[Partition, pa.Table]:
    """`block_partitions` of `lines` (each without its newline)."""
    return block_partitions(block_of(lines))


def block_of(lines: Sequence[bytes]) -> bytearray:
    """`lines` as one block, each ending in a newline (empty for no lines)."""
    if not lines:
        return bytearray()
    block = bytearray(b"\n").join(lines)
    block += b"\n"
    return block


def block_partitions(block: bytearray) -> dict[Partition, pa.Table]:
    """Record lines, each ending in a newline, as one segment table per (model, version,
    hour), rows in their order; `block` is cut in place (its heads' ends become
    newlines). ValueError, naming what is wrong, when a line is malformed."""
    if not block:
        return {}
    try:
        return _partitions(_table(block))
    except (ValueError, TypeError, OverflowError, OSError, pa.ArrowException) as exc:
        raise ValueError(f"a prediction record line is malformed: {_said(exc)}") from None


def _said(exc: BaseException) -> str:
    """The reader's complaint on one line, a CSV column by its field's name, cut short."""
    message = " ".join(str(exc).split())
    message = _CSV_COLUMN.sub(lambda found: LINE_FIELDS[int(found[1])], message)
    return message if len(message) <= MESSAGE_CHARS else message[: MESSAGE_CHARS - 1] + "…"


def _table(data: bytearray) -> pa.Table:
    octets = np.frombuffer(data, np.uint8)
    # JSON text holds no byte under 0x20 raw: those are the separators and the newlines
    cuts = np.flatnonzero(octets < 0x20)
    count = len(cuts) // 3
    if (
        octets[-1] != _NEWLINE
        or len(cuts) % 3
        or not (octets[cuts].reshape(count, 3) == _LINE_ENDS).all()
    ):
        raise ValueError("a line is not a head, inputs and outputs apart by 0x1f")
    octets[cuts[0::3]] = _NEWLINE  # each head ends its own line: the heads are a CSV text
    # The buffer cut in place into 6 pieces a line: head, its end, inputs, 0x1f, outputs,
    # newline. A take of the pieces wanted copies each column out once.
    offsets = np.empty(6 * count + 1, np.int64)
    offsets[0] = 0
    ends = offsets[1:].reshape(count, 6)
    ends[:, 0::2] = cuts.reshape(count, 3)
    ends[:, 1::2] = ends[:, 0::2] + 1
    pieces = pa.Array.from_buffers(
        pa.large_binary(), 6 * count, [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )
    line = np.arange(0, 6 * count, 6)
    heads = _heads(pieces.take(np.column_stack((line, line + 1)).ravel()), count)
    columns = {name: heads[name] for name in LINE_FIELDS}
    columns["latency_ms"] = pc.fill_null(heads["latency_ms"], math.nan)  # JSON has no NaN
    columns["inputs"] = _json_text(pieces.take(line + 2))
    columns["outputs"] = _json_text(pieces.take(line + 4))
    return pa.table(columns)


def _heads(pieces: pa.Array, count: int) -> pa.Table:
    """The heads (pieces of each head, then its newline) as a table of HEAD_SCHEMA."""
    offsets = np.frombuffer(pieces.buffers()[1], np.int64, len(pieces) + 1)
    text = pieces.buffers()[2].slice(0, int(offsets[-1]))
    if _BACKSLASH in np.frombuffer(text, np.uint8):
        table = _heads_by_orjson(text.to_pybytes())
    else:
        table = pcsv.read_csv(
            pa.BufferReader(text),
            read_options=pcsv.ReadOptions(
                column_names=list(LINE_FIELDS), use_threads=False, block_size=text.size + 1
            ),
            parse_options=_CSV_PARSE,
            convert_options=_CSV_CONVERT,
        )
    if table.num_rows != count:
        raise ValueError(f"{table.num_rows} heads were read from {count} lines")
    for name in LINE_FIELDS:
        if name not in _OPTIONAL and table[name].null_count:
            raise ValueError(f"a line has no {name}")
    return table


def _heads_by_orjson(text: bytes) -> pa.Table:
    rows = orjson.loads(b"[[" + text[:-1].replace(b"\n", b"],[") + b"]]")
    if any(type(row) is not list or len(row) != len(LINE_FIELDS) for row in rows):
        raise ValueError(f"a head is not {len(LINE_FIELDS)} fields")
    values = zip(*rows, strict=True)
    return pa.table(
        [pa.array(column, field.type) for column, field in zip(values, HEAD_SCHEMA, strict=True)],
        schema=HEAD_SCHEMA,
    )


def _json_text(documents: pa.Array) -> pa.Array:
    """JSON documents as UTF-8-checked text; JSON null a null."""
    nulls = pc.equal(documents, b"null")
    if pc.any(nulls).as_py():
        documents = pc.if_else(nulls, pa.scalar(None, pa.large_binary()), documents)
    return documents.cast(pa.string())


def _partitions(table: pa.Table) -> dict[Partition, pa.Table]:
    bounds = pc.min_max(table["created_ms"])
    oldest, newest = bounds["min"].as_py(), bounds["max"].as_py()
    if not 0 <= oldest <= newest < 10**13:
        raise ValueError("its created_ms is not a time from 1970 to 2286 in milliseconds")
    names, versions = table["model_name"], table["model_version"]
    records = table.select(RECORD_SCHEMA.names)  # the head's types are the columns'
    first_name, first_version = names[0].as_py(), versions[0].as_py()
    if (
        oldest // HOUR_MS == newest // HOUR_MS
        and pc.all(pc.equal(names, first_name)).as_py()
        and pc.all(pc.equal(versions, first_version)).as_py()
    ):  # a writer's batch of one second: one partition
        return {(first_name, first_version, hour_of(oldest)): records}
    hours = pc.divide(table["created_ms"], HOUR_MS)
    places = pa.table({"m": names, "v": versions, "h": hours})
    found: dict[Partition, pa.Table] = {}
    for key in places.group_by(["m", "v", "h"], use_threads=False).aggregate([]).to_pylist():
        mask = pc.and_(
            pc.and_(pc.equal(names, key["m"]), pc.equal(versions, key["v"])),
            pc.equal(hours, key["h"]),
        )
        found[(key["m"], key["v"], hour_of(key["h"] * HOUR_MS))] = records.filter(mask)
    return found
