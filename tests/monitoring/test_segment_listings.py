"""A reader of the segment log lists an hour folder whole once, then only what is new:
new segments and ones stored up to a minute late show at the next read, later ones at
the next whole listing, and a segment gone since the listing (compacted, removed) costs
a relisting, not a failed read. Folders of both kinds list from a name on alike."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from modelward.monitoring.compaction import compact
from modelward.monitoring.log_segments import HOUR_MS, SegmentName
from modelward.monitoring.predictions import PredictionRecord
from modelward.monitoring.segment_cache import SegmentCache
from modelward.monitoring.segment_listings import SegmentListings
from modelward.monitoring.segment_log import SegmentPredictionLog
from modelward.store.object_folders import LocalObjectFolder

HOUR_START = (int(time.time() * 1000) // HOUR_MS) * HOUR_MS  # this hour: one partition


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _batch(first: int, n: int, created_ms: int) -> list[PredictionRecord]:
    return [
        PredictionRecord(f"r{i}", "m", 1, created_ms, 200, 1.0, 1, {"x": [float(i)]}, [0])
        for i in range(first, first + n)
    ]


def _logs(tmp_path: Path, clock: Clock) -> tuple[SegmentPredictionLog, SegmentPredictionLog]:
    """A writer and a reader of one log; the reader's caches are tiny, so that each read
    fetches the segments its listing names."""
    writer = SegmentPredictionLog(LocalObjectFolder(tmp_path / "log"), LocalObjectFolder(tmp_path))
    reader = SegmentPredictionLog(
        LocalObjectFolder(tmp_path / "log"),
        LocalObjectFolder(tmp_path / "fb"),
        cache=SegmentCache(budget=1, raw_budget=1),
        listings=SegmentListings(clock=clock),
    )
    return writer, reader


def test_new_and_slightly_late_segments_show_at_once_later_ones_at_the_whole_listing(
    tmp_path: Path,
) -> None:
    clock = Clock()
    writer, reader = _logs(tmp_path, clock)
    writer.add_records(_batch(0, 10, HOUR_START + 600_000))
    assert reader.request_summary("m", HOUR_START).total == 10
    writer.add_records(_batch(10, 5, HOUR_START + 601_000))  # the next second's batch
    writer.add_records(_batch(15, 5, HOUR_START + 545_000))  # 56 s late: within a minute
    assert reader.request_summary("m", HOUR_START).total == 20
    writer.add_records(_batch(20, 5, HOUR_START + 300_000))  # 5 minutes late
    assert reader.request_summary("m", HOUR_START).total == 20  # not listed yet
    clock.now += 299
    assert reader.request_summary("m", HOUR_START).total == 20
    clock.now += 1  # the whole listing is due
    assert reader.request_summary("m", HOUR_START).total == 25
    assert reader.request_ids("m") == {f"r{i}" for i in range(25)}


def test_a_segment_gone_since_the_listing_is_a_relisting_not_a_failed_read(
    tmp_path: Path,
) -> None:
    clock = Clock()
    writer, reader = _logs(tmp_path, clock)
    for second in range(4):
        writer.add_records(_batch(10 * second, 10, HOUR_START + 1000 * second))
    assert reader.count("m") == 40
    (oldest, *_) = sorted((tmp_path / "log").rglob("*.parquet"))
    oldest.unlink()  # removed behind the reader's back (a lifecycle rule, an operator)
    assert reader.request_summary("m", HOUR_START).total == 30  # its read relisted
    assert reader.count("m") == 30
    # an hour compacted by another process: its sources are gone, the reader sees the
    # merged segment and answers as before
    assert compact(writer, "m", now_ms=HOUR_START + 2 * HOUR_MS) == 3
    assert len(list((tmp_path / "log").rglob("*.parquet"))) == 1
    assert reader.count("m") == 30
    assert len(reader.records("m", limit=100)) == 30


def test_a_segment_stored_while_an_hour_is_compacted_is_kept_for_the_next_round(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = SegmentPredictionLog(LocalObjectFolder(tmp_path / "log"), LocalObjectFolder(tmp_path))
    for second in range(3):
        writer.add_records(_batch(10 * second, 10, HOUR_START + 1000 * second))
    listed = writer.listings.names

    def then_a_late_batch(*args: Any, **kwargs: Any) -> list[SegmentName]:
        found = listed(*args, **kwargs)
        writer.add_records(_batch(100, 5, HOUR_START + 500))  # stored after the listing
        return found

    monkeypatch.setattr(writer.listings, "names", then_a_late_batch)
    assert compact(writer, "m", now_ms=HOUR_START + 2 * HOUR_MS) == 3
    monkeypatch.undo()
    assert writer.count("m") == 35  # the late batch is not removed with the merged ones
    assert compact(writer, "m", now_ms=HOUR_START + 2 * HOUR_MS) == 2  # merged next round
    assert writer.count("m") == 35
    assert len(list((tmp_path / "log").rglob("*.parquet"))) == 1


def test_a_local_folder_lists_from_a_name_on_as_s3_does(tmp_path: Path) -> None:
    folder = LocalObjectFolder(tmp_path)
    for key in ("a/hour=01/1.parquet", "a/hour=02/1.parquet", "a/hour=02/2.parquet"):
        folder.put(key, b"x")
    assert folder.children("a/", after="hour=02") == ["a/hour=02/"]  # holds keys after it
    assert folder.children("a/", after="hour=01/") == ["a/hour=02/"]
    assert folder.files("a/hour=02/", after="1.parquet") == ["a/hour=02/2.parquet"]
    assert folder.files("a/hour=02/") == ["a/hour=02/1.parquet", "a/hour=02/2.parquet"]
