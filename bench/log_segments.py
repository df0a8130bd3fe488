"""What the prediction log's Parquet segments cost: the figures `docs/scaling.md` builds on.

Run from the repository root::

    python bench/log_segments.py                  # 1,000,000 records, ~2 minutes
    python bench/log_segments.py --records 200000 # quick run

One model's log of ``--records`` one-row requests (two numeric inputs and a text input,
one class out, as `mw serve` logs them), in segments of 20,000 records (the writer's
batch at 12,000 requests/s after 1.7 s), in one hour partition:

- writer: building and encoding one segment (CPU per record: what a replica's writer
  thread spends off the request path), bytes per record in Parquet (zstd) against the
  same record as the JSON row the database would hold;
- object store: one segment PUT to a real S3-protocol server (``moto_server`` on
  127.0.0.1, started here and stopped by its PID) and the cold read of the hour from it;
- readers (local folder, so the store's speed does not hide them): the request summary of
  the hour, cold (fetch + decode) and warm (decoded segments cached), and of the
  monitor's 5-minute window; the monitor's 5,000 drift rows; the
  lookup of a label's request in the hour's oldest segment; a 100,000-record drift
  window (`records`, JSON inputs decoded); the compaction of the hour into one segment.

With ``--postgres URL`` (a database it may fill), the same hour is also written to the
metadata database's table, in the writer's batches of 1,000 (`PredictionLogRepository`):
records per second and bytes per row on disk, the ceiling of the database log.

There is no competitor here: these are the unit costs the scaling estimates multiply.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from bench._common import log, machine_line, now_utc, table  # noqa: E402
from tests import s3 as moto  # noqa: E402

from modelward.monitoring import log_segments as seg  # noqa: E402
from modelward.monitoring.compaction import compact  # noqa: E402
from modelward.monitoring.prediction_records import (  # noqa: E402
    PredictionRecord,
    encode_line,
    json_bytes,
)
from modelward.monitoring.segment_cache import SegmentCache  # noqa: E402
from modelward.monitoring.segment_log import SegmentPredictionLog  # noqa: E402
from modelward.store.object_folders import LocalObjectFolder, S3ObjectFolder  # noqa: E402

SEGMENT = 20_000


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def make_records(n: int, hour_start: int, *, wide: bool = False) -> list[PredictionRecord]:
    """One-row records spread over the hour: a penguin model's 3 features, or (`wide`) a
    30-feature numeric model's (breast cancer's width), random values."""
    import numpy as np

    rng = np.random.default_rng(2 if wide else 1)
    latencies = rng.gamma(2.0, 1.5, n).tolist()
    if wide:
        values = rng.normal(100, 30, (n, 30)).tolist()
        inputs = [{f"feature_{j}": [v] for j, v in enumerate(row)} for row in values]
        outputs = [[i % 2] for i in range(n)]
    else:
        bills = rng.normal(44, 5, n).round(2).tolist()
        masses = rng.normal(4200, 800, n).round(1).tolist()
        islands = rng.choice(["Biscoe", "Dream", "Torgersen"], n).tolist()
        inputs = [
            {"bill": [b], "mass": [m], "island": [i]}
            for b, m, i in zip(bills, masses, islands, strict=True)
        ]
        outputs = [[int(b > 44)] for b in bills]
    step = 3_600_000 / n
    return [
        PredictionRecord(
            request_id=os.urandom(16).hex(),
            model_name="bench-clf",
            model_version=1,
            created_ms=hour_start + int(i * step),
            status=200,
            latency_ms=latencies[i],
            n_rows=1,
            inputs=inputs[i],
            outputs=outputs[i],
        )
        for i in range(n)
    ]


def encode_segment(lines: list[bytes]) -> bytes:
    """What the uploader does with a batch: the lines as a table, the table as Parquet."""
    (table,) = seg.line_partitions(lines).values()
    return seg.encode(table)


def best_of(action: Callable[[], bytes], rounds: int = 4) -> tuple[float, bytes]:
    """The fastest of `rounds` timings, and the result."""
    timings = [timed(action) for _ in range(rounds)]
    return min(t for t, _ in timings), timings[0][1]


def database_log(url: str, records: list[PredictionRecord]) -> tuple[float, float]:
    """Records/s of the database log's inserts, and its bytes per row on disk."""
    import sqlalchemy as sa

    from modelward.monitoring.predictions import PredictionLogRepository
    from modelward.store.database import Database

    db = Database(url)
    repository = PredictionLogRepository(db)
    size_sql = sa.text("SELECT pg_total_relation_size('prediction_log')")
    with db.read() as conn:
        before = int(conn.execute(size_sql).scalar() or 0)
    run = uuid.uuid4().hex[:8]  # batch ids of this run: none was stored before
    started = time.perf_counter()
    for i in range(0, len(records), 1000):
        repository.add_records(records[i : i + 1000], batch_id=f"{run}-{i}")
    elapsed = time.perf_counter() - started
    with db.read() as conn:
        after = int(conn.execute(size_sql).scalar() or 0)
    db.dispose()
    return len(records) / elapsed, (after - before) / len(records)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--postgres", help="a PostgreSQL URL to measure the database log on")
    args = parser.parse_args()
    log(machine_line())
    log(f"{now_utc()}, load average {os.getloadavg()[0]:.1f}")
    hour_start = (int(time.time() * 1000) // seg.HOUR_MS - 2) * seg.HOUR_MS  # a closed hour
    records = make_records(args.records, hour_start)
    rows: list[list[str]] = []

    def add(step: str, value: str, note: str = "") -> None:
        rows.append([step, value, note])
        log(f"{step}: {value} {note}")

    batch = records[:SEGMENT]
    lines = [encode_line(r) for r in batch]  # on the request path, as the server queues them
    encode_s, data = best_of(lambda: encode_segment(lines))
    json_bytes_per = sum(len(json_bytes(r.to_row())) for r in batch) / SEGMENT
    add("encode one segment (20,000 records)", f"{encode_s * 1000:.0f} ms",
        f"{encode_s / SEGMENT * 1e6:.1f} µs/record of one core")  # fmt: skip
    wide = [encode_line(r) for r in make_records(SEGMENT, hour_start, wide=True)]
    wide_s, _ = best_of(lambda: encode_segment(wide))
    add("encode one segment, 30 numeric features", f"{wide_s * 1000:.0f} ms",
        f"{wide_s / SEGMENT * 1e6:.1f} µs/record of one core")  # fmt: skip
    add("bytes per record", f"{len(data) / SEGMENT:.0f} B",
        f"the JSON row: {json_bytes_per:.0f} B")  # fmt: skip

    with tempfile.TemporaryDirectory(dir=ROOT / "bench") as work_dir:
        work = Path(work_dir)
        big_cache = SegmentCache(2 << 30)
        local = SegmentPredictionLog(
            LocalObjectFolder(work / "log"), LocalObjectFolder(work / "fb"), cache=big_cache
        )
        write_s, _ = timed(
            lambda: [
                local.add_records(records[i : i + SEGMENT], batch_id=f"b{i:09d}")
                for i in range(0, len(records), SEGMENT)
            ]
        )
        segments = (len(records) + SEGMENT - 1) // SEGMENT
        add(f"write the hour ({segments} segments, local disk)", f"{write_s:.2f} s",
            f"{len(records) / write_s:,.0f} records/s")  # fmt: skip

        process, endpoint = moto.start_moto(work / "moto.log")
        try:
            os.environ.update(moto.CREDENTIALS)
            os.environ["AWS_ENDPOINT_URL"] = endpoint
            moto.client(endpoint).create_bucket(Bucket="bench-log")
            from modelward.config import s3_location

            location = s3_location("s3://bench-log/team")
            remote = SegmentPredictionLog(
                S3ObjectFolder(location, "prediction-log"),
                S3ObjectFolder(location, "prediction-feedback"),
            )
            puts = []
            for i in range(3):
                started = time.perf_counter()
                remote.add_records(batch, batch_id=f"put{i}")
                puts.append(time.perf_counter() - started)
            put_s = min(puts)
            add(
                "PUT one segment to moto_server",
                f"{put_s * 1000:.0f} ms",
                f"{len(data) / 1e6:.2f} MB",
            )
            read_back = min(len(records), 10 * SEGMENT)
            for i in range(0, read_back, SEGMENT):
                remote.add_records(records[i : i + SEGMENT], batch_id=f"b{i:09d}")
            since = hour_start
            remote.cache = SegmentCache(2 << 30)
            cold_s, _ = timed(lambda: remote.request_summary("bench-clf", since))
            add("request summary, cold, 10 segments from moto_server", f"{cold_s:.2f} s",
                f"{cold_s / (read_back / SEGMENT + 3) * 1000:.0f} ms per segment")  # fmt: skip
        finally:
            moto.stop(process)

        local.cache = SegmentCache(2 << 30)
        cold_s, summary = timed(lambda: local.request_summary("bench-clf", hour_start))
        warm_s, _ = timed(lambda: local.request_summary("bench-clf", hour_start))
        assert summary.total == len(records)
        add(f"request summary of the hour ({len(records):,} records), cold", f"{cold_s:.2f} s")
        add("request summary of the hour, warm (cached)", f"{warm_s * 1000:.0f} ms")
        five_min = hour_start + seg.HOUR_MS - 300_000
        window_cold_s, _ = timed(
            lambda: SegmentPredictionLog(
                LocalObjectFolder(work / "log"), LocalObjectFolder(work / "fb")
            ).request_summary("bench-clf", five_min)
        )
        add("request summary of the monitor's 5 minutes, cold", f"{window_cold_s * 1000:.0f} ms",
            "segments older than the window are not fetched")  # fmt: skip
        drift_s, newest = timed(lambda: local.records("bench-clf", limit=5_000))
        assert len(newest) == 5_000
        add("the monitor's drift rows: 5,000 newest (warm)", f"{drift_s * 1000:.0f} ms")
        oldest = records[0].request_id
        lookup_s, found = timed(lambda: local.add_feedback(oldest, 1, model_name="bench-clf"))
        assert found
        add("label lookup in the hour's oldest segment, ids not yet decoded",
            f"{lookup_s * 1000:.0f} ms", f"scans {segments} segments' ids")  # fmt: skip
        second = records[1].request_id
        lookup_s, found = timed(lambda: local.add_feedback(second, 1, model_name="bench-clf"))
        assert found
        add("label lookup, ids decoded (warm)", f"{lookup_s * 1000:.0f} ms")
        window_s, window = timed(lambda: local.records("bench-clf", limit=100_000))
        assert len(window) == min(100_000, len(records))
        add("drift window: 100,000 newest records (warm)", f"{window_s:.2f} s")
        compact_s, merged = timed(
            lambda: compact(local, "bench-clf", now_ms=hour_start + 3 * seg.HOUR_MS)
        )
        add(f"compact the hour ({merged} segments into 1)", f"{compact_s:.2f} s")
        fresh = SegmentPredictionLog(
            LocalObjectFolder(work / "log"), LocalObjectFolder(work / "fb")
        )
        after_s, again = timed(lambda: fresh.request_summary("bench-clf", hour_start))
        assert again.total == len(records)
        add("request summary of the compacted hour, cold", f"{after_s:.2f} s")

    if args.postgres:
        rate, per_row = database_log(args.postgres, records)
        add("database log: insert (batches of 1,000, PostgreSQL)", f"{rate:,.0f} records/s",
            f"{per_row:.0f} B per row on disk, indexes included")  # fmt: skip

    print()
    print(f"Command: `python bench/log_segments.py --records {args.records}` ({now_utc()})")
    print()
    print(table(rows, ["step", "figure", "note"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
