"""A prediction record as the line the segment uploader receives: it comes back whole
(hostile text included), segments built from lines hold the inputs as the JSON that was
sent, and a malformed line is refused with a message, storing nothing."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from modelward.errors import InvalidInput
from modelward.monitoring.line_tables import line_partitions
from modelward.monitoring.log_segments import HOUR_MS, hour_of
from modelward.monitoring.prediction_records import PredictionRecord, decode_line, encode_line
from modelward.monitoring.segment_log import SegmentPredictionLog
from modelward.store.object_folders import LocalObjectFolder

START_MS = 1_764_000_000_000 // HOUR_MS * HOUR_MS

HOSTILE = ["\x1f", "a\nb", "\x00", "[/red]<script>", "é✓", '"\\', "\u2028"]


def _record(i: int, **changes: object) -> PredictionRecord:
    record = PredictionRecord(
        request_id=f"req-{i}",
        model_name="m",
        model_version=1,
        created_ms=START_MS + i,
        status=200,
        latency_ms=0.25 * i,
        n_rows=1,
        inputs={"x": [float(i)], "text": [HOSTILE[i % len(HOSTILE)]]},
        outputs=[i % 2],
    )
    for name, value in changes.items():
        setattr(record, name, value)
    return record


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"inputs": None, "outputs": None, "status": 500, "n_rows": 0, "error": "boom\x1f\n<b>"},
        {"request_id": "id\x1f\nwith separators"},
        {"inputs": {"big": [2**70], "nested": [{"a": [1, [2, [3]]]}]}},
    ],
)
def test_a_record_line_comes_back_whole(changes: dict[str, object]) -> None:
    record = _record(3, **changes)
    line = encode_line(record)
    assert b"\n" not in line and line.count(b"\x1f") == 2
    back = decode_line(line)
    expected = record.to_row()
    if isinstance(record.inputs, dict) and "big" in record.inputs:
        expected["inputs"] = {**record.inputs, "big": [float(2**70)]}  # as every store writes it
    assert back.to_row() == expected


def test_a_nan_latency_is_kept_as_nan() -> None:
    line = encode_line(_record(1, latency_ms=math.nan))
    assert math.isnan(decode_line(line).latency_ms)
    (table,) = line_partitions([line]).values()
    assert math.isnan(table["latency_ms"][0].as_py())


def test_segments_built_from_lines_hold_what_was_sent_in_order() -> None:
    records = [_record(i) for i in range(10)]
    records += [_record(i, created_ms=START_MS + HOUR_MS + i) for i in range(10, 13)]
    records += [_record(i, model_version=2) for i in range(13, 15)]
    records += [_record(i, model_name="other") for i in range(15, 16)]
    tables = line_partitions([encode_line(r) for r in records])
    expected: dict[tuple[str, int, str], list[PredictionRecord]] = {}
    for r in records:
        expected.setdefault((r.model_name, r.model_version, hour_of(r.created_ms)), []).append(r)
    assert set(tables) == set(expected)
    for place, table in tables.items():
        rows = table.to_pylist()
        assert [row["request_id"] for row in rows] == [r.request_id for r in expected[place]]
        for row, record in zip(rows, expected[place], strict=True):
            assert json.loads(row["inputs"]) == record.inputs  # the standard library's reading
            assert json.loads(row["outputs"]) == record.outputs
            assert row["latency_ms"] == record.latency_ms
            assert row["created_ms"] == record.created_ms


def test_no_lines_make_no_segments(tmp_path: Path) -> None:
    assert line_partitions([]) == {}
    log = SegmentPredictionLog(LocalObjectFolder(tmp_path / "log"), LocalObjectFolder(tmp_path))
    assert log.add_lines([]) == 0


ESCAPED = b'"r\\"q"'  # a request id holding a quote: its block is read by orjson


@pytest.mark.parametrize(
    ("line", "words"),
    [
        (b"no separators at all", "apart by 0x1f"),
        (b'"r","m",1,2,200,1.0,1,null\x1f{}\x1f[0]\x1fextra', "apart by 0x1f"),
        (b'"r","m",1,2,200,1.0,1\x1f{}\x1f[0]', "expected 8 columns, got 7"),
        (b'"r","m",1,2,200,1.0,1,null,9\x1f{}\x1f[0]', "expected 8 columns, got 9"),
        (b'"r","m","one",2,200,1.0,1,null\x1f{}\x1f[0]', "model_version: row #2"),
        (b'"r","m",1,2,200,true,1,null\x1f{}\x1f[0]', "latency_ms"),
        (b'"r",null,1,2,200,1.0,1,null\x1f{}\x1f[0]', "no model_name"),
        (b'"r","m",1,2,200,1.0,1,null\x1f{"x":[1]}\x1f\xff\xfe', "utf8"),
        (b'"r","m",1,2,200,1.0,1,null\x1f\xff{}\x1f[0]', "utf8"),
        (b'"r","m",' + b"9" * 400 + b",2,200,1.0,1,null\x1f{}\x1f[0]", "model_version"),
        (b'"r","m",1,' + b"9" * 18 + b",200,1.0,1,null\x1f{}\x1f[0]", "1970 to 2286"),
        (ESCAPED + b',"m",1,2,200,1.0,1\x1f{}\x1f[0]', "not 8 fields"),
        (ESCAPED + b',"m","one",2,200,1.0,1,null\x1f{}\x1f[0]', "int32"),
        (ESCAPED + b",7,1,2,200,1.0,1,null\x1f{}\x1f[0]", "int"),
        (ESCAPED + b',"m",1,2,200,1.0,1,null\x1f{}\x1f[0]\n"r"\x1f{}\x1f[0]', "not 8 fields"),
        (ESCAPED + b',"m",1,2,200,1.0,1,null]\x1f{}\x1f[0]', "unexpected"),
    ],
)
def test_a_malformed_line_is_refused_and_nothing_is_stored(
    tmp_path: Path, line: bytes, words: str
) -> None:
    folder = tmp_path / "log"
    log = SegmentPredictionLog(LocalObjectFolder(folder), LocalObjectFolder(tmp_path / "fb"))
    good = encode_line(_record(1))
    with pytest.raises(InvalidInput) as refused:
        log.add_lines([good, line], batch_id="b1")
    message = str(refused.value)
    assert message.startswith("a prediction record line is malformed: ")
    assert words in message.lower() and "\n" not in message
    assert len(message) < 300  # a long line is quoted cut short
    assert not list(folder.rglob("*.parquet"))


def test_a_line_naming_no_model_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "log"
    log = SegmentPredictionLog(LocalObjectFolder(folder), LocalObjectFolder(tmp_path / "fb"))
    lines = [encode_line(_record(1)), encode_line(_record(2, model_name="../escape"))]
    with pytest.raises(InvalidInput, match="is not a model name"):
        log.add_lines(lines)
    assert not list(folder.rglob("*.parquet"))


def test_a_line_refused_by_arrow_is_a_value_error() -> None:
    # a status past int16 is no HTTP status: Arrow refuses it, named as the line's fault
    with pytest.raises(ValueError, match="malformed"):
        line_partitions([encode_line(_record(1, status=70_000))])


@pytest.mark.parametrize(
    "line",
    [
        b"no separators",
        b'"r","m",1,2,200,1.0,1\x1f{}\x1f[0]',
        b'"r","m","one",2,200,1.0,1,null\x1f{}\x1f[0]',
        b'"r","m",1,2,200,1.0,1,null\x1f{oops\x1f[0]',
    ],
)
def test_decoding_a_malformed_line_names_the_fault(line: bytes) -> None:
    with pytest.raises(ValueError, match=r"^a prediction record line is malformed: "):
        decode_line(line)


@pytest.mark.parametrize(
    "texts",
    [
        # no backslash in any head: the heads are read as CSV
        ["plain", "a,b", "é✓ <b>[/red]", "null", "", "1e5", "  spaced  ", "'single'"],
        # a quote, a newline, a backslash or a control character: escaped, read by orjson
        ['say "hi"', "a\nb", "back\\slash", "\x1f\x00", "\u2028", "plain"],
    ],
)
def test_head_texts_come_back_exactly_in_segments(texts: list[str]) -> None:
    records = [
        _record(i, request_id=f"{text}#{i}", error=text, latency_ms=[0.5, math.nan, 1e-7][i % 3])
        for i, text in enumerate(texts)
    ]
    records[0].error = None
    records[0].latency_ms = 12345.678901234
    (table,) = line_partitions([encode_line(r) for r in records]).values()
    rows = table.to_pylist()
    assert [row["request_id"] for row in rows] == [r.request_id for r in records]
    assert [row["error"] for row in rows] == [r.error for r in records]
    for row, record in zip(rows, records, strict=True):
        assert row["created_ms"] == record.created_ms and row["status"] == record.status
        if math.isnan(record.latency_ms):
            assert math.isnan(row["latency_ms"])
        else:
            assert row["latency_ms"] == record.latency_ms  # the float read back bit for bit
