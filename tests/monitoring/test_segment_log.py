"""The prediction log as Parquet segments (MODELWARD_PREDICTION_LOG=segments), in a local
folder: what it answers equals what the database's table answers for the same records
(the reference), its files are partitioned by model, version and hour, a resent batch
is stored once, compaction changes no answer, and feedback is joined on arrival."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from modelward.config import load_settings
from modelward.errors import InvalidInput
from modelward.monitoring.compaction import compact
from modelward.monitoring.log_segments import HOUR_MS, hour_of
from modelward.monitoring.ports import monitor_lease_store, prediction_log_store
from modelward.monitoring.predictions import PredictionLogRepository, PredictionRecord
from modelward.monitoring.segment_log import SegmentPredictionLog, segment_prediction_log
from modelward.store.object_folders import LocalObjectFolder
from modelward.store.workspace import close_workspaces, open_workspace
from tests.helpers import mw_in_process

NOW_MS = int(time.time() * 1000)
START_MS = (NOW_MS // HOUR_MS - 3) * HOUR_MS  # three whole hours ago


def _records(n: int, *, model: str = "m", start_ms: int = START_MS) -> list[PredictionRecord]:
    rng = np.random.default_rng(n)
    records = []
    for i in range(n):
        status = 500 if i % 7 == 3 else 200
        rows = 1 + i % 3
        records.append(
            PredictionRecord(
                request_id=f"{model}-req-{i}",
                model_name=model,
                model_version=1 if i < n // 2 else 2,
                created_ms=start_ms + i * 37_000,  # spreads over hours
                status=status,
                latency_ms=float(rng.gamma(2.0, 3.0)),
                n_rows=rows if status == 200 else 0,
                inputs={"x": [float(i)] * rows, "kind": ["é✓<b>"] * rows},
                outputs=[i % 2] * rows if status == 200 else None,
                error=None if status == 200 else "boom",
            )
        )
    return records


def _same_records(a: list[PredictionRecord], b: list[PredictionRecord]) -> None:
    assert [r.request_id for r in a] == [r.request_id for r in b]
    for x, y in zip(a, b, strict=True):
        assert (x.to_row()) == (y.to_row())


def test_segments_answer_as_the_database_does(both: tuple[object, object]) -> None:
    reference, segments = both
    assert isinstance(reference, PredictionLogRepository)
    assert isinstance(segments, SegmentPredictionLog)
    records = _records(400)
    for store in (reference, segments):
        for start in range(0, len(records), 64):  # batches, as the writer sends them
            store.add_records(records[start : start + 64], batch_id=f"batch-{start}")
    since = START_MS + 100 * 37_000
    for status in (200, None, 500):
        _same_records(
            segments.records("m", since_ms=since, status=status),
            reference.records("m", since_ms=since, status=status),
        )
    _same_records(segments.records("m", limit=17), reference.records("m", limit=17))
    assert segments.request_summary("m", since) == reference.request_summary("m", since)
    answered = [r.latency_ms for r in records if r.created_ms >= since and r.status == 200]
    summary = segments.request_summary("m", since)
    assert summary.latency_p95_ms == pytest.approx(np.percentile(answered, 95))
    assert summary.total == sum(r.created_ms >= since for r in records)
    assert segments.count("m") == reference.count("m") == 400
    assert segments.count() == 400 and segments.count("other") == 0
    assert segments.requests_per_version("m") == reference.requests_per_version("m")
    assert segments.request_ids("m") == reference.request_ids("m")
    assert segments.request_ids("m", limit=5) == reference.request_ids("m", limit=5)
    assert segments.served_models() == reference.served_models()

    # labels: unknown requests, wrong label counts, relabelling, newest prediction first
    assert segments.add_feedback("nope", 1, model_name="m") is False
    for store in (reference, segments):
        with pytest.raises(InvalidInput, match="had 0 row"):  # a failed request has no rows
            store.add_feedback("m-req-3", 1)
        with pytest.raises(InvalidInput, match="had 3 row"):
            store.add_feedback("m-req-2", [1], model_name="m")
        assert store.add_feedback("m-req-0", 1, model_name="other") is False
    for store in (reference, segments):
        for i in (0, 1, 2, 11, 250, 399):
            rows = records[i].n_rows
            assert store.add_feedback(f"m-req-{i}", [i % 2] * rows if rows > 1 else 1)
        assert store.add_feedback("m-req-11", [0, 0, 0])  # relabelled: the newest label counts
    assert segments.labeled("m") == reference.labeled("m")
    assert segments.labeled("m", last=2) == reference.labeled("m", last=2)
    assert [item.label for item in segments.labeled("m") if item.request_id == "m-req-11"] == [
        [0, 0, 0]
    ]


def test_segments_are_partitioned_by_model_version_and_hour(tmp_path: Path) -> None:
    folder = tmp_path / "log"
    segments = SegmentPredictionLog(LocalObjectFolder(folder), LocalObjectFolder(tmp_path / "fb"))
    records = _records(300)
    segments.add_records(records, batch_id="b1")
    files = sorted(folder.rglob("*.parquet"))
    expected = {f"model=m/version={r.model_version}/hour={hour_of(r.created_ms)}" for r in records}
    assert {str(p.parent.relative_to(folder)) for p in files} == expected
    assert len(files) == len(expected)  # one segment per partition of the batch
    total = 0
    for path in files:
        table = pq.read_table(path)
        hour = path.parent.name.removeprefix("hour=")
        created = table.column("created_ms").to_pylist()
        assert {hour_of(ms) for ms in created} == {hour}
        assert path.name.startswith(f"{max(created):013d}-")  # named by its newest record
        assert pq.ParquetFile(path).metadata.row_group(0).column(0).compression == "ZSTD"
        total += table.num_rows
    assert total == 300
    assert all(oct(p.stat().st_mode)[-3:] == "600" for p in files)
    # a resend after a lost answer (same id, same records) stores nothing twice
    assert segments.add_records(records, batch_id="b1") == 0
    assert sorted(folder.rglob("*.parquet")) == files and segments.count("m") == 300
    # a batch cut short (one partition stored): its resend stores the rest, once
    files[-1].unlink()
    missing = sum(1 for r in records if files[-1].parent.name == f"hour={hour_of(r.created_ms)}"
                  and files[-1].parent.parent.name == f"version={r.model_version}")  # fmt: skip
    assert segments.add_records(records, batch_id="b1") == missing > 0
    assert sorted(folder.rglob("*.parquet")) == files


def test_compaction_merges_closed_hours_and_changes_no_answer(tmp_path: Path) -> None:
    folder = LocalObjectFolder(tmp_path / "log")
    segments = SegmentPredictionLog(folder, LocalObjectFolder(tmp_path / "fb"))
    records = _records(300)
    for start in range(0, 300, 10):
        segments.add_records(records[start : start + 10], batch_id=f"b{start}")
    before = segments.records("m", status=None)
    per_partition: dict[Path, int] = {}
    for path in (tmp_path / "log").rglob("*.parquet"):
        per_partition[path.parent] = per_partition.get(path.parent, 0) + 1
    merged = compact(segments, "m", now_ms=NOW_MS + 2 * HOUR_MS)  # every hour closed
    assert merged == sum(n for n in per_partition.values() if n > 1) > 0
    files = list((tmp_path / "log").rglob("*.parquet"))
    assert sorted(p.parent for p in files) == sorted(per_partition)  # one per partition
    assert all(("-compact-" in p.name) == (per_partition[p.parent] > 1) for p in files)
    fresh = SegmentPredictionLog(folder, LocalObjectFolder(tmp_path / "fb"))  # no cache
    for reader in (segments, fresh):
        after = reader.records("m", status=None)
        assert [r.to_row() for r in after] == [r.to_row() for r in before]
        assert reader.count("m") == 300
    # an hour still open (or just closed) is left alone
    late = _records(20, model="m", start_ms=NOW_MS // HOUR_MS * HOUR_MS)  # this hour
    segments.add_records(late[0::2], batch_id="late-1")  # both versions in each batch
    segments.add_records(late[1::2], batch_id="late-2")
    assert compact(segments, "m", now_ms=NOW_MS) == 0
    assert segments.count("m") == 320
    # once it has closed (with what an earlier compaction made of this hour, if any)
    assert compact(segments, "m", now_ms=NOW_MS + 2 * HOUR_MS) >= 4
    partitions = {p.parent for p in (tmp_path / "log").rglob("*.parquet")}
    assert all(len(list(folder.glob("*.parquet"))) == 1 for folder in partitions)
    assert segments.count("m") == 320


def test_a_compaction_cut_short_is_never_counted_twice(tmp_path: Path) -> None:
    """A compactor that stored the merged segment but died before removing the old ones:
    readers skip what the merged one replaces; the next compaction finishes the job."""

    class DiesBeforeDeleting(LocalObjectFolder):
        def delete(self, keys: Iterable[str]) -> None:
            raise OSError("killed")

    dying = DiesBeforeDeleting(tmp_path / "log")
    segments = SegmentPredictionLog(dying, LocalObjectFolder(tmp_path / "fb"))
    records = _records(60)
    for start in range(0, 60, 6):
        segments.add_records(records[start : start + 6], batch_id=f"b{start}")
    with pytest.raises(OSError, match="killed"):
        compact(segments, "m", now_ms=NOW_MS + 2 * HOUR_MS)
    reader = SegmentPredictionLog(LocalObjectFolder(tmp_path / "log"), dying)
    assert reader.count("m") == 60 and len(reader.records("m", status=None)) == 60
    assert reader.request_ids("m") == {r.request_id for r in records}
    compact(reader, "m", now_ms=NOW_MS + 2 * HOUR_MS)
    partitions = {p.parent for p in (tmp_path / "log").rglob("*.parquet")}
    assert all(len(list(folder.glob("*.parquet"))) == 1 for folder in partitions)
    assert reader.count("m") == 60 and len(reader.records("m", status=None)) == 60


def test_until_id_reads_again_what_an_earlier_read_saw(tmp_path: Path) -> None:
    segments = SegmentPredictionLog(
        LocalObjectFolder(tmp_path / "log"), LocalObjectFolder(tmp_path / "fb")
    )
    records = _records(40, start_ms=NOW_MS - 600_000)
    segments.add_records(records[:20], batch_id="first")
    seen = segments.records("m", status=None)
    until = max(r.id or 0 for r in seen)
    segments.add_records(records[20:], batch_id="later")
    again = segments.records("m", status=None, until_id=until)
    assert [r.request_id for r in again] == [r.request_id for r in seen]
    assert len(segments.records("m", status=None)) == 40


def test_the_setting_chooses_the_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELWARD_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MODELWARD_ARTIFACTS", raising=False)
    monkeypatch.delenv("MODELWARD_DB", raising=False)
    close_workspaces()
    monkeypatch.delenv("MODELWARD_PREDICTION_LOG", raising=False)
    assert isinstance(prediction_log_store(open_workspace()), PredictionLogRepository)
    monkeypatch.setenv("MODELWARD_PREDICTION_LOG", "segments")
    close_workspaces()
    log = prediction_log_store(open_workspace())
    assert isinstance(log, SegmentPredictionLog)
    assert log is prediction_log_store(open_workspace())  # one per process: one cache
    assert isinstance(segment_prediction_log(load_settings()), SegmentPredictionLog)
    close_workspaces()
    monkeypatch.setenv("MODELWARD_PREDICTION_LOG", "parquet<script>")
    result = mw_in_process("models", "list", home=tmp_path / "home")
    assert result.code == 2
    assert result.stderr.strip().splitlines() == [
        "mw models list: error: MODELWARD_PREDICTION_LOG='parquet<script>': give 'database' "
        "or 'segments' (unset: segments with an S3 artifact store, else the database)"
    ]


def test_one_compactor_of_a_deployment_merges_every_models_closed_hours(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelward.monitoring.compaction import COMPACTION_LEASE, LogCompactor

    monkeypatch.setenv("MODELWARD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MODELWARD_PREDICTION_LOG", "segments")
    monkeypatch.delenv("MODELWARD_ARTIFACTS", raising=False)
    monkeypatch.delenv("MODELWARD_DB", raising=False)
    close_workspaces()
    workspace = open_workspace()
    log = prediction_log_store(workspace)
    for model in ("a", "b"):
        records = _records(40, model=model)
        for start in range(0, 40, 4):
            log.add_records(records[start : start + 4], batch_id=f"{model}{start}")
    first, second = LogCompactor(workspace), LogCompactor(workspace)
    assert first.run_once() > 0
    assert second.run_once() == 0  # the first holds the lease
    for model in ("a", "b"):
        partitions = {p.parent for p in (tmp_path / "home" / "prediction-log").rglob("*.parquet")}
        assert all(len(list(folder.glob("*.parquet"))) == 1 for folder in partitions)
        assert log.count(model) == 40
    first.start()
    first.stop()  # gives the lease up: the other takes over
    assert second.run_once() == 0  # nothing left to merge, but it may now
    holder = monitor_lease_store(workspace).acquire(COMPACTION_LEASE, first.holder, 10)
    assert holder == second.holder
    close_workspaces()


def test_the_newest_records_of_overlapping_replicas_segments(both: tuple[object, object]) -> None:
    """Two replicas' batches cover the same minutes: the newest N are still exactly the
    database's newest N, however many segments that takes."""
    reference, segments = both
    assert isinstance(reference, PredictionLogRepository)
    assert isinstance(segments, SegmentPredictionLog)
    records = _records(500)
    reference.add_records(records)
    replicas = (records[0::2], records[1::2])  # each request answered by one of two
    for start in range(0, 250, 25):
        for name, answered in zip(("one", "two"), replicas, strict=True):
            segments.add_records(answered[start : start + 25], batch_id=f"{name}-{start}")
    for limit in (1, 7, 24, 25, 26, 60, 499, 500, 501):
        for status in (200, None):
            _same_records(
                segments.records("m", limit=limit, status=status),
                reference.records("m", limit=limit, status=status),
            )
        assert segments.request_ids("m", limit=limit) == reference.request_ids("m", limit=limit)
    since = records[321].created_ms
    _same_records(
        segments.records("m", since_ms=since, limit=50),
        reference.records("m", since_ms=since, limit=50),
    )


_READ_AND_EXIT = """
import pyarrow as pa
from modelward.monitoring import log_segments as seg
data = seg.encode(pa.table({"request_id": [str(i) for i in range(1000)], "n_rows": [1] * 1000}))
for _ in range(20):
    assert seg.decode(data, ["request_id"]).num_rows == seg.row_count(data) == 1000
"""


def test_a_process_that_read_segments_exits_cleanly() -> None:
    # Read through pq.read_table (Arrow's datasets) from a Python object, about 3 in 10
    # such processes aborted at exit: "terminate called without an active exception".
    for _ in range(15):
        done = subprocess.run(
            [sys.executable, "-c", _READ_AND_EXIT], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr[-500:]
