"""A drift window's input rows (`input_window`): from Parquet segments, numbers decoded in
one pass by Arrow's JSON reader, everything else as records are; the frame equals what
the database's log makes of the same records (`inputs_frame`, the reference), whatever
the inputs hold."""

from __future__ import annotations

import random
import time
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pytest
from pandas.testing import assert_frame_equal

from modelward.monitoring.log_segments import inputs_frame as segment_inputs_frame
from modelward.monitoring.prediction_records import frame_of_inputs
from modelward.monitoring.predictions import PredictionRecord

NOW_MS = int(time.time() * 1000)

CASES: dict[str, list[Any]] = {
    "floats, shortest forms": [{"a": [0.1 + 0.2, 5e-324], "b": [1.7976931348623157e308, -0.0]}],
    "digits past a double's": [{"a": [0.30000000000000004441, 123456789.123456789123]}],
    "ints and floats in one column": [{"a": [1, 2]}, {"a": [2.5]}],
    "ints with a null": [{"a": [1, None, 3]}],
    "a list of nulls first": [{"a": [None, None]}, {"a": [2]}, {"a": [None]}],
    "large ints": [{"a": [2**62, -(2**63)]}],
    "a column missing in one request": [{"a": [1], "b": [2]}, {"a": [3]}],
    "columns in another order": [{"b": [1], "a": [2]}, {"c": [3], "a": [1], "b": [2]}],
    "texts with a null": [{"a": [1, 2], "b": ["x", None]}],
    "markup and odd names": [{"<b>é\u0000": ["</script>"], "n": [1]}],
    "booleans": [{"a": [True, False]}],
    "booleans and numbers": [{"a": [True]}, {"a": [1]}],
    "nulls only": [{"a": [None, None]}],
    "empty lists": [{"a": []}],
    "empty objects and none": [{}, None, {"a": [1.5]}, {}],
    "only empty objects": [{}, {}],
    "not objects": [[1, 2], {"a": [1]}],
    "scalars, not lists": [{"a": 1.5}],
    "scalars beside lists": [{"a": 1.5}, {"a": [2.5]}],
    "nested values": [{"a": [{"x": 1}]}],
}


def _column(inputs: list[Any]) -> pa.ChunkedArray:
    """The inputs as a segment stores them: one JSON document per request, null for none."""
    documents = [None if given is None else orjson.dumps(given).decode() for given in inputs]
    return pa.chunked_array([pa.array(documents, pa.string())])


@pytest.mark.parametrize("inputs", CASES.values(), ids=CASES.keys())
def test_a_segments_inputs_column_decodes_as_the_records_do(inputs: list[Any]) -> None:
    expected = frame_of_inputs(inputs)
    found = segment_inputs_frame(_column(inputs))
    if expected is None:
        assert found is None
    else:
        assert_frame_equal(found, expected)


def test_random_inputs_decode_as_the_records_do() -> None:
    chooser = random.Random(11)
    values = [-3, 0, 7, 2**40, 0.25, -1.5e-7, 1e300]
    for _ in range(500):
        names = chooser.sample(["a", "b", "c"], chooser.randint(1, 3))
        inputs: list[Any] = [
            None
            if chooser.random() < 0.1
            else {
                name: [chooser.choice(values) for _ in range(chooser.randint(0, 3))]
                for name in names
                if chooser.random() > 0.15
            }
            for _ in range(chooser.randint(1, 8))
        ]
        expected = frame_of_inputs(inputs)
        found = segment_inputs_frame(_column(inputs))
        if expected is None:
            assert found is None, inputs
        else:
            assert_frame_equal(found, expected, obj=str(inputs))


def test_numbers_keep_their_exact_values() -> None:
    rng = np.random.default_rng(7)
    values = np.concatenate([rng.normal(size=2000), rng.lognormal(0, 40, size=2000)])
    inputs = [{"x": [float(v)], "k": [i]} for i, v in enumerate(values)]
    found = segment_inputs_frame(_column(inputs))
    assert found["x"].dtype == np.float64 and found["k"].dtype == np.int64
    assert np.array_equal(found["x"].to_numpy(), values)  # bit for bit, as sent
    assert found["k"].tolist() == list(range(len(values)))


def test_a_document_with_a_newline_is_decoded_as_records_are() -> None:
    column = pa.chunked_array([pa.array(['{"a":\n[1.5]}', '{"a": [2]}'], pa.string())])
    assert_frame_equal(segment_inputs_frame(column), pd.DataFrame({"a": [1.5, 2.0]}))


def _numeric_records(n: int, start_ms: int, *, missing: bool = False) -> list[PredictionRecord]:
    """Answered and refused requests of 12 numeric features; `missing`: a value of one
    feature null in every 13th request."""
    rng = np.random.default_rng(n)
    records = []
    for i in range(n):
        rows = 1 + i % 3
        status = 422 if i % 11 == 5 else 200
        inputs = {f"feature {j}": rng.normal(size=rows).tolist() for j in range(12)}
        if missing and i % 13 == 0:
            inputs["feature 3"][0] = None
        records.append(
            PredictionRecord(
                request_id=f"r{i}",
                model_name="m",
                model_version=1 + i // 200,
                created_ms=start_ms + i * 50,
                status=status,
                latency_ms=1.0,
                n_rows=rows,
                inputs=inputs,
                outputs=[0] * rows,
            )
        )
    return records


@pytest.mark.parametrize("missing", [False, True], ids=["numbers", "numbers and nulls"])
def test_a_window_from_segments_equals_the_databases(both: tuple[Any, Any], missing: bool) -> None:
    reference, segments = both
    records = _numeric_records(600, NOW_MS - 60_000, missing=missing)
    for store in (reference, segments):
        for start in range(0, len(records), 100):
            store.add_records(records[start : start + 100], batch_id=f"b{start}")
    for since_ms, limit in ((0, 5000), (records[250].created_ms, 5000), (0, 77)):
        found = segments.input_window("m", since_ms=since_ms, limit=limit)
        expected = reference.input_window("m", since_ms=since_ms, limit=limit)
        assert found is not None and expected is not None
        assert_frame_equal(found.frame, expected.frame)
        answered = [r for r in records if r.created_ms >= since_ms and r.status == 200]
        newest_first = sorted(answered, key=lambda r: r.created_ms, reverse=True)[:limit]
        assert len(found.frame) == sum(r.n_rows for r in newest_first)
        nulls = sum(missing and int(r.request_id[1:]) % 13 == 0 for r in newest_first)
        assert found.frame["feature 3"].isna().sum() == nulls
        assert not found.frame.drop(columns="feature 3").isna().to_numpy().any()
    assert segments.input_window("m", since_ms=NOW_MS + 60_000, limit=10) is None
    assert segments.input_window("other", since_ms=0, limit=10) is None


def test_until_id_reads_the_same_window_again(both: tuple[Any, Any]) -> None:
    _, segments = both
    records = _numeric_records(300, NOW_MS - 30_000)
    segments.add_records(records[:150], batch_id="first")
    seen = segments.input_window("m", since_ms=0, limit=5000)
    segments.add_records(records[150:], batch_id="later")
    again = segments.input_window("m", since_ms=0, limit=5000, until_id=seen.until_id)
    assert_frame_equal(again.frame, seen.frame)
    assert len(segments.input_window("m", since_ms=0, limit=5000).frame) > len(seen.frame)
