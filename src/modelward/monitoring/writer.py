"""The prediction log's writer: records queued on the request path, stored in batches by
one background thread, to the local database or to a team server alike."""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from typing import cast

from modelward.errors import InvalidInput
from modelward.monitoring.ports import EncodedPredictionLog, PredictionSink
from modelward.monitoring.prediction_records import PredictionRecord, decode_line, encode_line

log = logging.getLogger("modelward.monitoring")

Queued = bytes | PredictionRecord  # as JSON for a store that takes it, else the record


class PredictionLogWriter:
    """Buffers records in memory and stores them in batches from one background thread.

    `record` only appends to a list, so logging adds no store time to a request. It
    queues for a store that takes record lines (`EncodedPredictionLog`: the segment
    uploader) each record as its line (`encode_line`, ~3 µs): bytes, which the garbage
    collector does not track, so the records waiting for their batch trigger no
    collection (a queued object per request makes a young collection every 700
    requests). For another store it queues the record, its inputs and outputs encoded
    already.
    Each batch gets an id when it is first sent and keeps it until it is stored: a
    batch that failed (the store busy, the server unreachable or its answer lost) is
    sent again, under the same id, before anything newer, so it is stored once and in
    order. A batch the store refuses for its content (4xx) is sent again record by
    record, and only the records refused alone are dropped, with an error in the log.
    `close` stores whatever is left: the server calls it on shutdown (SIGTERM
    included), after in-flight requests have been answered.
    """

    def __init__(
        self,
        store: PredictionSink,
        *,
        sample: float = 1.0,
        flush_interval: float = 0.5,
        batch_size: int = 1000,
    ) -> None:
        if not 0.0 <= sample <= 1.0:
            raise InvalidInput(f"the prediction log sample must be between 0 and 1, got {sample}")
        self.store = store
        self.sample = sample
        self.flush_interval = flush_interval
        self.batch_size = batch_size
        self.written = 0
        self.failed_batches = 0
        self.dropped = 0  # records the store refused for their content
        self._encoded = isinstance(store, EncodedPredictionLog)
        # The queue is swapped for an empty one, under a lock, when a flush takes it: a
        # pop per record held the GIL from the requests for ~2.5 ms per 4,000 records.
        self._pending: list[Queued] = []
        self._pending_lock = threading.Lock()
        self._taken: list[Queued] = []  # taken by a flush, not yet in a batch
        self._unsent: tuple[str, list[Queued]] | None = None  # sent, not yet stored
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._flush_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def record(self, record: PredictionRecord) -> None:
        """Queue a record (or skip it, by the sample rate)."""
        if self.sample < 1.0 and random.random() >= self.sample:
            return
        if not self._encoded:  # the store takes records: their inputs as JSON already
            record.encode_io()
            queued: Queued = record
        else:
            queued = encode_line(record)
        with self._pending_lock:
            self._pending.append(queued)
            full = len(self._pending) >= self.batch_size
        if full:
            self._wake.set()

    @property
    def pending(self) -> int:
        """Records queued or sent but not yet stored."""
        unsent = self._unsent
        return len(self._pending) + len(self._taken) + (len(unsent[1]) if unsent is not None else 0)

    def start(self) -> None:
        """Start the background writer."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            try:
                self.flush()
            except Exception as exc:  # the store may be busy or unreachable: retried next tick
                self.failed_batches += 1
                log.warning("prediction log write failed, will retry: %s", exc)

    def flush(self) -> int:
        """Store the records queued when it began (and a batch sent before but not stored);
        returns how many were stored. What arrives meanwhile waits for the next flush, so
        under load the writer still sends one batch per interval (or per `batch_size`
        records) instead of a stream of small ones.

        Raises what the store raised when it failed; nothing is lost then: the batch
        is kept, with its id, for the next flush.
        """
        with self._flush_lock:
            total = 0
            with self._pending_lock:
                taken, self._pending = self._pending, []
            self._taken.extend(taken)  # after what an earlier, failed flush took
            while self._unsent is not None or self._taken:
                if self._unsent is None:
                    batch = self._next_batch()
                    self._unsent = (uuid.uuid4().hex, batch)
                batch_id, batch = self._unsent
                try:
                    self._send(batch, batch_id)
                    stored = len(batch)
                except InvalidInput as exc:  # refused for what it holds: find what
                    stored = self._store_one_by_one(batch_id, batch, exc)
                self._unsent = None
                total += stored
                self.written += stored
            return total

    def _next_batch(self) -> list[Queued]:
        batch = self._taken[: self.batch_size]
        del self._taken[: self.batch_size]
        return batch

    def _send(self, batch: list[Queued], batch_id: str) -> None:
        if self._encoded:
            assert isinstance(self.store, EncodedPredictionLog)
            # `record` queued lines for this store: the batch goes as it is, no pass over it
            self.store.add_encoded(cast(list[bytes], batch), batch_id=batch_id)
        else:
            self.store.add_records([_record(item) for item in batch], batch_id=batch_id)

    def _store_one_by_one(self, batch_id: str, batch: list[Queued], refused: InvalidInput) -> int:
        if len(batch) == 1:
            self._drop(batch[0], refused)
            return 0
        stored = 0
        for index, record in enumerate(batch):
            try:
                self._send([record], f"{batch_id}-{index}")
                stored += 1
            except InvalidInput as exc:
                self._drop(record, exc)
        return stored

    def _drop(self, queued: Queued, refused: InvalidInput) -> None:
        self.dropped += 1
        record = _record(queued)
        log.error(
            "the prediction log refused request %s of %s@%s, which is dropped: %s",
            record.request_id,
            record.model_name,
            record.model_version,
            refused,
        )

    def close(self, timeout: float = 30.0) -> None:
        """Stop the thread and store what is left (retrying a busy store until `timeout`)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
        deadline = time.monotonic() + timeout
        while True:
            try:
                while self.pending:  # every flush takes what was queued when it began
                    self.flush()
                return
            except Exception as exc:
                if time.monotonic() >= deadline:
                    log.error("lost %d prediction records: %s", self.pending, exc)
                    raise
                time.sleep(0.1)


def _record(queued: Queued) -> PredictionRecord:
    return queued if isinstance(queued, PredictionRecord) else decode_line(queued)
