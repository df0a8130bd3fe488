"""The prediction log as Parquet segments in an object store, for logs that outgrow the
metadata database (MODELWARD_PREDICTION_LOG=segments; the default with an S3 store).

Every replica's `PredictionLogWriter` stores its batches here, off the request path:
one segment per batch and (model, version, hour), written whole or not at all. Labels
from /feedback are joined with their prediction when they arrive (the request is
looked up in its model's segments, newest hour first) and kept as feedback segments
of their own, so live metrics read only feedback, and drift windows and request
summaries read only the hours they cover. The monitor holding a model's lease
compacts closed hours into one segment each (`compact`). Segments never change, so
a reader caches what it decoded and fetches only what is new.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from modelward.errors import InvalidInput
from modelward.monitoring import line_tables
from modelward.monitoring import log_segments as seg
from modelward.monitoring.ports import MAX_RECORDS
from modelward.monitoring.prediction_records import (
    InputWindow,
    LabeledPrediction,
    PredictionRecord,
    RequestSummary,
    encode_line,
)
from modelward.monitoring.segment_folders import SegmentFolders, relisted_when_gone
from modelward.store.object_folders import check_key

if TYPE_CHECKING:
    from modelward.config import Settings

FEEDBACK_LOOKBACK_MS = 7 * 24 * seg.HOUR_MS  # how far back a label's request is looked up
SUMMARY = ("created_ms", "status", "latency_ms")  # what a request summary reads
INPUTS = ("created_ms", "status", "inputs")  # what a drift window reads


class SegmentPredictionLog(SegmentFolders):
    """The prediction log and feedback as Parquet segments (see the module's docstring)."""

    flush_interval = 1.0  # seconds between the writer's batches: fewer, larger segments
    batch_size = 20_000

    def prepare(self) -> None:
        """Load now what the first batch and the first read would load (the object stores'
        clients and their service description, pyarrow's Parquet code), so that a server
        has it in memory before it freezes its start-up objects out of the collector's way
        and its first monitor round does not load it during traffic."""
        segment = self.prepare_writes()
        self.feedback.children("")  # a client of its own
        seg.decode(segment)

    def prepare_writes(self) -> bytes:
        """Load what the first batch would load (the uploader child's warm-up); returns a
        sample segment."""
        self.predictions.children("")
        sample = PredictionRecord("r", "m", 1, 0, 200, 1.0, 1, {"x": [1.0]}, [0])
        (table,) = line_tables.line_partitions([encode_line(sample)]).values()  # casts included
        return seg.encode(table)

    # -- writes -----------------------------------------------------------------------------
    def add_records(
        self, records: Sequence[PredictionRecord], *, batch_id: str | None = None
    ) -> int:
        """One segment per (model, version, hour) of the batch; how many records were stored.
        With a `batch_id`, the part of a batch stored before (a resend after a lost answer:
        same id, same records, so the same keys) is not stored again."""
        return self.add_lines([encode_line(r) for r in records], batch_id=batch_id)

    def add_lines(
        self, lines: Sequence[bytes], *, batch_id: str | None = None, first_send: bool = False
    ) -> int:
        """`add_records` for records as `encode_line` wrote them: their inputs and outputs
        stored as sent, never parsed. `first_send`: the caller knows no part of the batch
        was stored before (its writer's first try), so its segments are not looked up
        first."""
        block = line_tables.block_of(lines)
        return self.add_block(block, batch_id=batch_id, first_send=first_send)

    def add_block(
        self, block: bytearray, *, batch_id: str | None = None, first_send: bool = False
    ) -> int:
        """`add_lines` for the lines as one block, each ending in a newline (the
        uploader's batches, as they came down the pipe); `block` is cut in place."""
        resend = batch_id is not None and not first_send
        batch_id = batch_id or uuid.uuid4().hex
        check_key(batch_id)
        try:
            partitions = line_tables.block_partitions(block)
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
        for model, _, _ in partitions:
            if not seg.MODEL_NAME.fullmatch(model):
                raise InvalidInput(f"{model!r} is not a model name")
        stored = 0
        for (model, version, hour), table in partitions.items():
            newest = pc.max(table["created_ms"]).as_py()
            key = (
                f"{seg.version_folder(model, version)}hour={hour}/"
                f"{seg.segment_name(newest, batch_id)}"
            )
            check_key(key)
            # the same records under the same key: stored before, they are not counted
            if resend and self.predictions.exists(key):
                continue
            self.predictions.put(key, seg.encode(table))
            stored += table.num_rows
        return stored

    @relisted_when_gone
    def add_feedback(self, request_id: str, label: Any, *, model_name: str | None = None) -> bool:
        """Join the label with its logged request and store it; False when no segment of the
        last FEEDBACK_LOOKBACK_MS holds the request (of `model_name`, or of any model)."""
        models = [model_name] if model_name is not None else self.models()
        now = _now_ms()
        for model in models:
            found = self._find_request(model, request_id, since_ms=now - FEEDBACK_LOOKBACK_MS)
            if found is None:
                continue
            labels = len(label) if isinstance(label, list) else 1
            if labels != found["n_rows"]:
                raise InvalidInput(
                    f"request {request_id} had {found['n_rows']} row(s) but {labels} label(s) "
                    "came: send a list of one label per row"
                )
            table = seg.feedback_table(
                request_id=request_id,
                model_version=int(found["model_version"]),
                created_ms=int(found["created_ms"]),
                status=int(found["status"]),
                outputs=found["outputs"],
                label=label,
                received_ms=now,
            )
            key = (
                f"{seg.model_folder(model)}hour={seg.hour_of(now)}/"
                f"{seg.segment_name(now, uuid.uuid4().hex)}"
            )
            self.feedback.put(key, seg.encode(table))
            return True
        return False

    def _find_request(self, model: str, request_id: str, *, since_ms: int) -> dict[str, Any] | None:
        for hour in self.hours(model, since_ms):
            for key, _segment_id in self.live_segments(self.predictions, hour):
                ids = self.cache.get(self.predictions, key, ("request_id",))
                index = pc.index(ids.column("request_id"), request_id).as_py()
                if index >= 0:
                    table = self.cache.get(self.predictions, key)
                    row: dict[str, Any] = table.slice(index, 1).to_pylist()[0]
                    return row
        return None

    # -- reads ------------------------------------------------------------------------------
    @relisted_when_gone
    def records(
        self,
        model_name: str,
        *,
        since_ms: int = 0,
        limit: int = MAX_RECORDS,
        status: int | None = 200,
        until_id: int | None = None,
    ) -> list[PredictionRecord]:
        """Logged requests of a model, newest first; `until_id`: only segments whose newest
        record is no newer than that (the `id` of every record of a segment)."""
        table = self._newest(model_name, limit, since_ms, until_id, status)
        if table is None:
            return []
        found: list[PredictionRecord] = []
        for segment_id, rows in _split_by_segment(table):
            found.extend(seg.to_records(rows, model_name, segment_id))
        return found

    @relisted_when_gone
    def input_window(
        self, model_name: str, *, since_ms: int, limit: int, until_id: int | None = None
    ) -> InputWindow | None:
        """The input rows of the `limit` newest answered requests from `since_ms` on, read
        from the inputs column alone and decoded in one pass (`log_segments.inputs_frame`)."""
        table = self._newest(model_name, limit, since_ms, until_id, 200, INPUTS)
        if table is None:
            return None
        frame = seg.inputs_frame(table.column("inputs"))
        if frame is None:
            return None
        return InputWindow(frame, int(pc.max(table.column("segment_id")).as_py()))

    @relisted_when_gone
    def request_summary(self, model_name: str, since_ms: int) -> RequestSummary:
        """Requests since a time, failed ones, and the p95 latency of the answered ones
        (numpy.percentile's linear rule)."""
        import numpy as np

        total = 0
        latencies = []
        for _newest, key in self._window(model_name, since_ms):
            table = self.cache.get(self.predictions, key, SUMMARY)
            table = table.filter(pc.greater_equal(table.column("created_ms"), since_ms))
            total += table.num_rows
            answered = table.filter(pc.equal(table.column("status"), 200))
            latencies.append(answered.column("latency_ms").to_numpy())
        values = np.concatenate(latencies) if latencies else np.array([])
        p95 = float(np.percentile(values, 95)) if len(values) else None
        return RequestSummary(total, total - len(values), p95)

    @relisted_when_gone
    def labeled(self, model_name: str, *, last: int = 1000) -> list[LabeledPrediction]:
        """The `last` labeled predictions of a model, newest prediction first; a request
        labeled twice counts with its newest label."""
        newest: dict[str, dict[str, Any]] = {}
        for hour in self._feedback_hours(model_name):
            table = self._hour_table(self.feedback, [hour])
            if table is not None:
                table = table.filter(pc.equal(table.column("status"), 200))
                for row in table.sort_by([("received_ms", "descending")]).to_pylist():
                    newest.setdefault(row["request_id"], row)
            if len(newest) >= last:
                cutoff = sorted((r["created_ms"] for r in newest.values()), reverse=True)[last - 1]
                if hour.start_ms <= cutoff:  # older labels are of older predictions
                    break
        chosen = sorted(newest.values(), key=lambda r: r["created_ms"], reverse=True)[:last]
        return [
            LabeledPrediction(
                r["request_id"],
                int(r["created_ms"]),
                seg.json_value(r["outputs"]) or [],
                seg.json_value(r["label"]),
            )
            for r in chosen
        ]

    @relisted_when_gone
    def requests_per_version(self, model_name: str) -> dict[int, int]:
        """How many requests each version of a model answered (versions never served: absent)."""
        counts: dict[int, int] = {}
        for hour in self.hours(model_name):
            assert hour.version is not None
            segments = self.live_segments(self.predictions, hour)
            rows = sum(self.cache.rows(self.predictions, key) for key, _ in segments)
            counts[hour.version] = counts.get(hour.version, 0) + rows
        return {version: n for version, n in counts.items() if n}

    def count(self, model_name: str | None = None) -> int:
        """How many records are stored (of one model, or all)."""
        models = [model_name] if model_name is not None else self.models()
        return sum(sum(self.requests_per_version(model).values()) for model in models)

    @relisted_when_gone
    def request_ids(self, model_name: str, *, limit: int | None = None) -> set[str]:
        """The logged request ids of a model (the newest `limit`)."""
        if limit is None:
            return {
                request_id
                for _newest, key in self._window(model_name)
                for request_id in self.cache.get(self.predictions, key, ("request_id",))
                .column("request_id")
                .to_pylist()
            }
        table = self._newest(model_name, limit, 0, None, None)
        return set(table.column("request_id").to_pylist()) if table is not None else set()

    @relisted_when_gone
    def served_models(self) -> list[dict[str, Any]]:
        """Every model with logged requests: name, versions, requests, first and last time."""
        served = []
        for model in self.models():
            counts = self.requests_per_version(model)
            if not counts:
                continue
            table = self._hour_table(self.predictions, self.hours(model), ("created_ms",))
            assert table is not None
            times = table.column("created_ms")
            low, high = min(counts), max(counts)
            served.append(
                {
                    "name": model,
                    "requests": sum(counts.values()),
                    "first_ms": int(pc.min(times).as_py()),
                    "last_ms": int(pc.max(times).as_py()),
                    "versions": f"{low}" if low == high else f"{low}-{high}",
                }
            )
        return served


def _split_by_segment(table: pa.Table) -> Iterator[tuple[int, pa.Table]]:
    """Consecutive runs of rows of one segment (the table is sorted, ids mostly grouped)."""
    ids = table.column("segment_id").to_pylist()
    start = 0
    for index in range(1, len(ids) + 1):
        if index == len(ids) or ids[index] != ids[start]:
            yield ids[start], table.slice(start, index - start)
            start = index


def _now_ms() -> int:
    return int(time.time() * 1000)


def segment_prediction_log(settings: Settings) -> SegmentPredictionLog:
    """The segment log beside the artifacts of `settings` (their bucket, or the home)."""
    from modelward.store.object_folders import object_folder

    return SegmentPredictionLog(
        object_folder(settings, "prediction-log"), object_folder(settings, "prediction-feedback")
    )
