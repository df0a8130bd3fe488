"""The prediction log: every answered request (or a sample), written in batches off the
request path, and the ground-truth labels that arrive later through /feedback."""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from modelward.errors import InvalidInput
from modelward.store.database import Database
from modelward.store.tables import prediction_feedback, prediction_log

log = logging.getLogger("modelward.monitoring")


@dataclass(frozen=True)
class PredictionRecord:
    """One request as answered: inputs by column, outputs, latency, status."""

    request_id: str
    model_name: str
    model_version: int
    created_ms: int
    status: int
    latency_ms: float
    n_rows: int
    inputs: dict[str, list[Any]] | None = None
    outputs: list[Any] | None = None
    error: str | None = None
    id: int | None = None  # the row id once stored (ids grow in the order rows are written)

    def to_row(self) -> dict[str, Any]:
        """The row as stored."""
        return {
            "request_id": self.request_id,
            "model_name": self.model_name,
            "model_version": self.model_version,
            "created_ms": self.created_ms,
            "status": self.status,
            "latency_ms": self.latency_ms,
            "n_rows": self.n_rows,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "error": self.error,
        }


class PredictionLogWriter:
    """Buffers records in memory and writes them in batches from one background thread.

    `record` only appends to a deque, so logging adds no database time to a
    request. `close` writes whatever is left: the server calls it on shutdown
    (SIGTERM included), after in-flight requests have been answered.
    """

    def __init__(
        self,
        db: Database,
        *,
        sample: float = 1.0,
        flush_interval: float = 0.5,
        batch_size: int = 1000,
    ) -> None:
        if not 0.0 <= sample <= 1.0:
            raise InvalidInput(f"the prediction log sample must be between 0 and 1, got {sample}")
        self.db = db
        self.sample = sample
        self.flush_interval = flush_interval
        self.batch_size = batch_size
        self.written = 0
        self.failed_batches = 0
        self._pending: deque[PredictionRecord] = deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._flush_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._insert = _insert_statement(db.dialect)

    def record(self, record: PredictionRecord) -> None:
        """Queue a record (or skip it, by the sample rate)."""
        if self.sample < 1.0 and random.random() >= self.sample:
            return
        self._pending.append(record)  # deque.append is thread-safe
        if len(self._pending) >= self.batch_size:
            self._wake.set()

    @property
    def pending(self) -> int:
        """Records queued but not yet written."""
        return len(self._pending)

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
            except Exception as exc:  # the database may be busy: retried next tick
                self.failed_batches += 1
                log.warning("prediction log write failed, will retry: %s", exc)

    def flush(self) -> int:
        """Write every queued record; returns how many were written."""
        with self._flush_lock:
            total = 0
            while self._pending:
                batch: list[PredictionRecord] = []
                while self._pending and len(batch) < self.batch_size:
                    batch.append(self._pending.popleft())
                try:
                    rows = [_stored(r) for r in batch]
                    with self.db.write() as conn:
                        conn.execute(self._insert, rows)
                except BaseException:
                    self._pending.extendleft(reversed(batch))  # keep them, in order
                    raise
                total += len(batch)
                self.written += len(batch)
            return total

    def close(self, timeout: float = 30.0) -> None:
        """Stop the thread and write what is left (retrying a busy database until `timeout`)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.flush()
                return
            except Exception as exc:
                if time.monotonic() >= deadline:
                    log.error("lost %d prediction records: %s", len(self._pending), exc)
                    raise
                time.sleep(0.1)


def _insert_statement(dialect: str) -> sa.Insert:
    # The JSON columns are bound as text serialised by orjson: SQLAlchemy's JSON type
    # would run the standard library's json.dumps on each value, most of the writer's
    # time (and the GIL the request path needs).
    def json_text(name: str) -> Any:
        param = sa.bindparam(name, type_=sa.Text)
        return sa.cast(param, JSONB) if dialect == "postgresql" else param

    return prediction_log.insert().values(inputs=json_text("inputs"), outputs=json_text("outputs"))


def _stored(record: PredictionRecord) -> dict[str, Any]:
    row = record.to_row()
    row["inputs"] = _json_text(record.inputs)
    row["outputs"] = _json_text(record.outputs)
    return row


def _json_text(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()  # NaN and infinities become null
    except TypeError:  # an integer past 64 bits, say: the standard library writes it
        return json.dumps(value)


@dataclass(frozen=True)
class LabeledPrediction:
    """A logged prediction joined with the label that arrived for it."""

    request_id: str
    created_ms: int
    outputs: list[Any]
    label: Any


class PredictionLogRepository:
    """Queries over the prediction log and the feedback."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add_feedback(self, request_id: str, label: Any) -> bool:
        """Store (or replace) the label of a request; False when the request is unknown."""
        with self.db.write() as conn:
            known = conn.execute(
                sa.select(prediction_log.c.n_rows).where(prediction_log.c.request_id == request_id)
            ).first()
            if known is None:
                return False
            labels = len(label) if isinstance(label, list) else 1
            if labels != known.n_rows:
                raise InvalidInput(
                    f"request {request_id} had {known.n_rows} row(s) but {labels} label(s) "
                    "came: send a list of one label per row"
                )
            upsert = self.db.upsert(prediction_feedback)
            conn.execute(
                upsert.values(
                    request_id=request_id, label=label, received_ms=_now_ms()
                ).on_conflict_do_update(
                    index_elements=["request_id"],
                    set_={
                        "label": upsert.excluded.label,
                        "received_ms": upsert.excluded.received_ms,
                    },
                )
            )
        return True

    def records(
        self,
        model_name: str,
        *,
        since_ms: int = 0,
        limit: int = 100_000,
        status: int | None = 200,
        until_id: int | None = None,
    ) -> list[PredictionRecord]:
        """Logged requests of a model, newest first; `until_id`: only rows stored up to that
        one (what an earlier read saw, whatever was written since)."""
        query = (
            sa.select(prediction_log)
            .where(
                prediction_log.c.model_name == model_name, prediction_log.c.created_ms >= since_ms
            )
            .order_by(prediction_log.c.created_ms.desc(), prediction_log.c.id.desc())
            .limit(limit)
        )
        if status is not None:
            query = query.where(prediction_log.c.status == status)
        if until_id is not None:
            query = query.where(prediction_log.c.id <= until_id)
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        return [
            PredictionRecord(
                request_id=r.request_id,
                model_name=r.model_name,
                model_version=r.model_version,
                created_ms=r.created_ms,
                status=r.status,
                latency_ms=r.latency_ms,
                n_rows=r.n_rows,
                inputs=r.inputs,
                outputs=r.outputs,
                error=r.error,
                id=r.id,
            )
            for r in rows
        ]

    def request_stats(self, model_name: str, since_ms: int) -> tuple[list[float], int, int]:
        """(latencies in ms of answered requests, requests, failed requests) since a time."""
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(prediction_log.c.latency_ms, prediction_log.c.status).where(
                    prediction_log.c.model_name == model_name,
                    prediction_log.c.created_ms >= since_ms,
                )
            ).all()
        latencies = [r.latency_ms for r in rows if r.status == 200]
        return latencies, len(rows), sum(1 for r in rows if r.status != 200)

    def labeled(self, model_name: str, *, last: int = 1000) -> list[LabeledPrediction]:
        """The most recent labeled predictions of a model."""
        query = (
            sa.select(
                prediction_log.c.request_id,
                prediction_log.c.created_ms,
                prediction_log.c.outputs,
                prediction_feedback.c.label,
            )
            .join(
                prediction_feedback,
                prediction_feedback.c.request_id == prediction_log.c.request_id,
            )
            .where(prediction_log.c.model_name == model_name, prediction_log.c.status == 200)
            .order_by(prediction_log.c.created_ms.desc())
            .limit(last)
        )
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        return [LabeledPrediction(r.request_id, r.created_ms, r.outputs, r.label) for r in rows]

    def served_models(self) -> list[dict[str, Any]]:
        """Every model with logged requests: name, versions, requests, first and last time."""
        query = (
            sa.select(
                prediction_log.c.model_name,
                sa.func.count().label("requests"),
                sa.func.min(prediction_log.c.created_ms).label("first_ms"),
                sa.func.max(prediction_log.c.created_ms).label("last_ms"),
                sa.func.min(prediction_log.c.model_version).label("low"),
                sa.func.max(prediction_log.c.model_version).label("high"),
            )
            .group_by(prediction_log.c.model_name)
            .order_by(prediction_log.c.model_name)
        )
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        return [
            {
                "name": r.model_name,
                "requests": int(r.requests),
                "first_ms": int(r.first_ms),
                "last_ms": int(r.last_ms),
                "versions": f"{r.low}" if r.low == r.high else f"{r.low}-{r.high}",
            }
            for r in rows
        ]

    def count(self, model_name: str | None = None) -> int:
        """How many records are stored (of one model, or all)."""
        query = sa.select(sa.func.count()).select_from(prediction_log)
        if model_name is not None:
            query = query.where(prediction_log.c.model_name == model_name)
        with self.db.read() as conn:
            return int(conn.execute(query).scalar_one())

    def request_ids(self, model_name: str) -> set[str]:
        """Every logged request id of a model (tests and audits)."""
        with self.db.read() as conn:
            return set(
                conn.execute(
                    sa.select(prediction_log.c.request_id).where(
                        prediction_log.c.model_name == model_name
                    )
                ).scalars()
            )


def pairs(labeled: Sequence[LabeledPrediction]) -> tuple[list[Any], list[Any]]:
    """(truths, predictions) flattened over requests; a scalar label labels one row."""
    truths: list[Any] = []
    predictions: list[Any] = []
    for item in labeled:
        labels = item.label if isinstance(item.label, list) else [item.label]
        if len(labels) != len(item.outputs):
            continue  # checked when the feedback arrived; skip anything inconsistent
        truths.extend(labels)
        predictions.extend(item.outputs)
    return truths, predictions


def inputs_frame(records: list[PredictionRecord]) -> Any:
    """The logged input rows of answered requests as one DataFrame (None when empty)."""
    import pandas as pd

    tables = [r.inputs for r in records if r.inputs]
    if not tables:
        return None
    columns: dict[str, list[Any]] = {}
    for table in tables:
        for name, values in table.items():
            columns.setdefault(name, []).extend(values)
    lengths = {len(values) for values in columns.values()}
    if len(lengths) != 1:
        return None
    return pd.DataFrame(columns)


def _now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)
