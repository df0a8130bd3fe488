"""The prediction log: every answered request (or a sample), and the ground-truth labels
that arrive later through /feedback. `PredictionLogRepository` is its local store; the
serving process fills it through a `PredictionLogWriter` (`monitoring.writer`), in batches
off the request path."""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa

from modelward.errors import InvalidInput
from modelward.identity import current_user
from modelward.monitoring.prediction_records import (
    JSON_FIELDS,
    ROW_FIELDS,
    InputWindow,
    LabeledPrediction,
    PredictionRecord,
    RequestSummary,
    input_window_of,
    inputs_frame,
    json_bytes,
    pairs,
)
from modelward.store.database import Database
from modelward.store.tables import prediction_batches, prediction_feedback, prediction_log

log = logging.getLogger("modelward.monitoring")

__all__ = [
    "InputWindow",
    "LabeledPrediction",
    "PredictionLogRepository",
    "PredictionRecord",
    "RequestSummary",
    "input_window_of",
    "inputs_frame",
    "json_bytes",
    "pairs",
    "without_nul",
]

# A batch id is remembered this long: a client resends a batch within seconds or minutes.
BATCH_ID_RETENTION = timedelta(days=1)
_PRUNE_EVERY = 1_000  # batches between removals of expired batch ids


_COLUMNS = ROW_FIELDS
_JSON_COLUMNS = JSON_FIELDS

# SQLite: a batch is one JSON document (an array of rows) unpacked by one statement.
# executemany would run Python per row and hand the GIL to the request thread and back
# at every row (sqlite3 releases it around each step): under load the request thread
# then waits for the GIL after each of its own system calls.
_SQLITE_BATCH_INSERT = (
    f"INSERT INTO prediction_log ({', '.join(_COLUMNS)}) SELECT "
    + ", ".join(
        f"value -> {i}" if name in _JSON_COLUMNS else f"value ->> {i}"
        for i, name in enumerate(_COLUMNS)
    )
    + " FROM json_each(?) ORDER BY key"
)
# PostgreSQL: plain tuples to the driver's executemany (SQLAlchemy's per-row parameter
# processing and its JSON type's json.dumps of every value would be most of the
# writer's time), the JSON columns as text written by orjson.
_POSTGRES_INSERT = (
    f"INSERT INTO prediction_log ({', '.join(_COLUMNS)}) VALUES ("
    + ", ".join("CAST(%s AS JSONB)" if name in _JSON_COLUMNS else "%s" for name in _COLUMNS)
    + ")"
)


def _values(r: PredictionRecord) -> tuple[Any, ...]:
    """The record's column values, in `_COLUMNS` order."""
    return (
        r.request_id,
        r.model_name,
        r.model_version,
        r.created_ms,
        r.status,
        r.latency_ms,
        r.n_rows,
        r.inputs,
        r.outputs,
        r.error,
    )


def _insert(conn: sa.Connection, records: Sequence[PredictionRecord]) -> None:
    """Insert `records` as one statement (SQLite) or one executemany (PostgreSQL)."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(_SQLITE_BATCH_INSERT, (json_bytes([_values(r) for r in records]),))
        return
    rows = []
    for record in records:
        *head, inputs, outputs, error = _values(record)
        rows.append((*head, _json_text(inputs), _json_text(outputs), error))
    conn.exec_driver_sql(_POSTGRES_INSERT, rows)


# `\u0000` in JSON text, not preceded by an escaping backslash
_NUL_ESCAPE = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


def without_nul(text: str) -> str:
    """JSON text with every NUL character (`\\u0000`) made U+FFFD, the replacement character.

    PostgreSQL's jsonb holds no NUL and the team server refuses one in any body: a
    logged request whose inputs held one would be refused again on every retry.
    """
    return _NUL_ESCAPE.sub(r"\1\\ufffd", text) if "\\u0000" in text else text


def _json_text(value: Any) -> str:
    # PostgreSQL's: the only store whose JSON column holds no NUL
    return without_nul(json_bytes(value).decode())


def _json_column(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    # Read as text and parsed by orjson (`_json_value`): the JSON type's json.loads per
    # value is most of the time of reading thousands of logged rows.
    return sa.cast(column, sa.Text).label(column.key)


def _json_value(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # what only the standard library reads
        return json.loads(text)


def _percentile_of_two(values: Sequence[float], fraction: float) -> float:
    # numpy.percentile's default ("linear") between two neighbouring order statistics,
    # with its own formula on each side of the midpoint, so the same float results.
    low = values[0]
    high = values[1] if len(values) > 1 else low
    gap = high - low
    return high - gap * (1 - fraction) if fraction >= 0.5 else low + gap * fraction


class PredictionLogRepository:
    """The prediction log and the feedback in the metadata database."""

    flush_interval = 0.5
    batch_size = 1000

    def __init__(self, db: Database) -> None:
        self.db = db
        self._batches = 0

    def prepare(self) -> None:
        """Nothing to load ahead of the first batch (the port's hook for stores that do)."""

    def add_records(
        self, records: Sequence[PredictionRecord], *, batch_id: str | None = None
    ) -> int:
        """Store records in one transaction; how many were stored.

        With a `batch_id`, a batch stored before (a resend after a lost answer) stores
        nothing and answers 0: the id is recorded in the same transaction as the rows.
        """
        with self.db.write() as conn:
            if batch_id is not None:
                claimed = conn.execute(
                    self.db.upsert(prediction_batches)
                    .values(
                        batch_id=batch_id,
                        n_records=len(records),
                        created_by=current_user(),
                        received_at=datetime.now(UTC),
                    )
                    .on_conflict_do_nothing(index_elements=["batch_id"])
                    .returning(prediction_batches.c.batch_id)
                ).first()
                if claimed is None:  # rowcount is -1 here on PostgreSQL: ask for the row
                    return 0
                self._batches += 1
                if self._batches % _PRUNE_EVERY == 0:
                    expired = datetime.now(UTC) - BATCH_ID_RETENTION
                    conn.execute(
                        prediction_batches.delete().where(
                            prediction_batches.c.received_at < expired
                        )
                    )
            if records:
                _insert(conn, records)
        return len(records)

    def add_feedback(self, request_id: str, label: Any, *, model_name: str | None = None) -> bool:
        """Store (or replace) the label of a request; False when the request (of `model_name`,
        when given) is unknown."""
        with self.db.write() as conn:
            query = sa.select(prediction_log.c.n_rows).where(
                prediction_log.c.request_id == request_id
            )
            if model_name is not None:
                query = query.where(prediction_log.c.model_name == model_name)
            known = conn.execute(query).first()
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
        columns = [_json_column(c) if c.key in _JSON_COLUMNS else c for c in prediction_log.c]
        query = (
            sa.select(*columns)
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
                inputs=_json_value(r.inputs),
                outputs=_json_value(r.outputs),
                error=r.error,
                id=r.id,
            )
            for r in rows
        ]

    def request_summary(self, model_name: str, since_ms: int) -> RequestSummary:
        """Requests since a time, failed ones, and the 95th percentile latency of the
        answered ones (as `numpy.percentile`), all counted and sorted by the database."""
        log = prediction_log.c
        window = (log.model_name == model_name) & (log.created_ms >= since_ms)
        answered = sa.func.coalesce(sa.func.sum(sa.case((log.status == 200, 1), else_=0)), 0)
        with self.db.read() as conn:  # one snapshot for both statements
            total, ok = conn.execute(sa.select(sa.func.count(), answered).where(window)).one()
            p95 = None
            if ok:
                position = 0.95 * (ok - 1)
                below = math.floor(position)
                values = (
                    conn.execute(
                        sa.select(log.latency_ms)
                        .where(window, log.status == 200)
                        .order_by(log.latency_ms)
                        .offset(below)
                        .limit(2)
                    )
                    .scalars()
                    .all()
                )
                p95 = _percentile_of_two(values, position - below)
        return RequestSummary(int(total), int(total) - int(ok), p95)

    def labeled(self, model_name: str, *, last: int = 1000) -> list[LabeledPrediction]:
        """The most recent labeled predictions of a model."""
        query = (
            sa.select(
                prediction_log.c.request_id,
                prediction_log.c.created_ms,
                _json_column(prediction_log.c.outputs),
                _json_column(prediction_feedback.c.label),
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
        return [
            LabeledPrediction(
                r.request_id, r.created_ms, _json_value(r.outputs), _json_value(r.label)
            )
            for r in rows
        ]

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

    def requests_per_version(self, model_name: str) -> dict[int, int]:
        """How many requests each version of a model answered (versions never served: absent)."""
        query = (
            sa.select(prediction_log.c.model_version, sa.func.count().label("requests"))
            .where(prediction_log.c.model_name == model_name)
            .group_by(prediction_log.c.model_version)
        )
        with self.db.read() as conn:
            return {int(r.model_version): int(r.requests) for r in conn.execute(query)}

    def input_window(
        self, model_name: str, *, since_ms: int, limit: int, until_id: int | None = None
    ) -> InputWindow | None:
        """The input rows of the `limit` newest answered requests from `since_ms` on."""
        return input_window_of(
            self.records(model_name, since_ms=since_ms, limit=limit, until_id=until_id)
        )

    def count(self, model_name: str | None = None) -> int:
        """How many records are stored (of one model, or all)."""
        query = sa.select(sa.func.count()).select_from(prediction_log)
        if model_name is not None:
            query = query.where(prediction_log.c.model_name == model_name)
        with self.db.read() as conn:
            return int(conn.execute(query).scalar_one())

    def request_ids(self, model_name: str, *, limit: int | None = None) -> set[str]:
        """Every logged request id of a model (tests and audits; the newest `limit`)."""
        with self.db.read() as conn:
            return set(
                conn.execute(
                    sa.select(prediction_log.c.request_id)
                    .where(prediction_log.c.model_name == model_name)
                    .order_by(prediction_log.c.id.desc())
                    .limit(limit)
                ).scalars()
            )


def _now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)
