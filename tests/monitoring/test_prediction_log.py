"""The local prediction log as stored: a batch written by one statement (SQLite's
json_each, PostgreSQL's executemany) reads back as written, in order."""

from __future__ import annotations

import math
from pathlib import Path

from modelward.monitoring.predictions import PredictionLogRepository, PredictionRecord
from modelward.store.workspace import open_workspace


def _record(n: int, status: int, latency: float, **fields: object) -> PredictionRecord:
    values: dict[str, object] = {
        "request_id": f"req-{n}",
        "model_name": "m",
        "model_version": 1,
        "created_ms": 1_000 + n,
        "status": status,
        "latency_ms": latency,
        "n_rows": 1 if status == 200 else 0,
        "inputs": {"x": [float(n)], "kind": ["a"]},
        "outputs": [n % 2] if status == 200 else None,
        "error": None if status == 200 else "bad row",
    }
    values.update(fields)
    return PredictionRecord(**values)  # type: ignore[arg-type]


def test_a_batch_reads_back_as_written_in_its_order(backend_home: Path) -> None:
    db = open_workspace().db
    postgres = db.dialect == "postgresql"
    sent = [
        _record(0, 200, 1.5),
        _record(1, 200, 2.5, inputs={"x": [None, 2.0], "kind": ["é✓\"'\\", None]}, outputs=[1, 0]),
        _record(2, 200, 3.0, inputs={"n": [2**70, -(2**63)]}, outputs=[2**64]),  # past 64 bits
        _record(3, 422, 0.25, inputs=None, error="x: not a number ✗"),
        _record(4, 200, 1.0, outputs=[math.nan, math.inf]),
        _record(5, 200, 7, inputs={"t": ["a\x00b"]}),  # an int latency; a NUL in text
        _record(6, 200, 1.0, inputs={}, outputs=[]),
    ]
    repository = PredictionLogRepository(db)
    assert repository.add_records(sent, batch_id="one-batch") == len(sent)
    stored = repository.records("m", status=None)
    assert [r.request_id for r in stored] == [f"req-{n}" for n in reversed(range(len(sent)))]
    ids = [r.id or 0 for r in reversed(stored)]
    assert ids == sorted(ids) and 0 not in ids  # rows get their ids in the batch's order
    found = {r.request_id: r for r in stored}
    for record in sent:
        got = found[record.request_id]
        assert (got.model_name, got.model_version, got.created_ms) == ("m", 1, record.created_ms)
        assert (got.status, got.latency_ms, got.n_rows, got.error) == (
            record.status,
            record.latency_ms,
            record.n_rows,
            record.error,
        )
        assert isinstance(got.latency_ms, float) and isinstance(got.created_ms, int)
    assert found["req-0"].inputs == {"x": [0.0], "kind": ["a"]}
    assert found["req-1"].inputs == {"x": [None, 2.0], "kind": ["é✓\"'\\", None]}
    # an integer past 64 bits is stored as the float it stands for
    assert found["req-2"].inputs == {"n": [float(2**70), -(2**63)]}
    assert found["req-2"].outputs == [float(2**64)]
    assert found["req-3"].inputs is None and found["req-3"].outputs is None
    assert found["req-4"].outputs == [None, None]  # NaN and infinity: null, as JSON has
    # PostgreSQL's jsonb holds no NUL: the replacement character, as the team server keeps
    assert found["req-5"].inputs == {"t": ["a\ufffdb" if postgres else "a\x00b"]}
    assert (found["req-6"].inputs, found["req-6"].outputs) == ({}, [])
    assert repository.add_records(sent, batch_id="one-batch") == 0  # the same batch: nothing
    assert repository.count("m") == len(sent)


def test_large_batches_are_stored_whole(backend_home: Path) -> None:
    repository = PredictionLogRepository(open_workspace().db)
    batch = [_record(n, 200, n / 10) for n in range(5_000)]
    assert repository.add_records(batch) == 5_000
    assert repository.request_ids("m") == {f"req-{n}" for n in range(5_000)}
    latest = repository.records("m", limit=1)[0]
    assert (latest.request_id, latest.latency_ms) == ("req-4999", 499.9)
