"""Pipeline history: every run of a pipeline file, the steps it recorded (each with the
key that caches it and the outputs it produced), and who started it and why.

A run killed half-way would otherwise stay "running" forever. Each run keeps the host
and pid of the process that started it; a "running" run whose process is gone from
this host is *interrupted*: every read reports it as "failed" with an "interrupted"
error, and the next `start` of the same pipeline writes that down. A run started on
another host cannot be checked from here and is shown as it was recorded. (A pid the
system has since given to another process hides an interruption until that process
ends too: rare, and harmless, since a run's steps are cached as each one ends.)
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelward.errors import NotFound
from modelward.pipelines.run_records import (
    REUSABLE_STATUSES,
    PipelineRun,
    StepRecord,
    as_seen,
    interrupted_error,
    is_interrupted,
    this_host,
    validate_finish,
    validate_limit,
    validate_run_id,
    validate_start,
    validate_step,
)
from modelward.store.database import Database, as_utc
from modelward.store.tables import pipeline_runs, pipeline_steps

# -- the SQL repository -------------------------------------------------------------


class SqlPipelineHistory:
    """Pipeline runs and their steps in the metadata database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def start(
        self,
        *,
        pipeline: str,
        path: str,
        spec_digest: str,
        trigger: str,
        started_by: str,
        host: str | None = None,
        pid: int | None = None,
    ) -> PipelineRun:
        """Record a new "running" run (after marking this pipeline's interrupted runs
        failed); `host` and `pid` default to this process's."""
        validate_start(pipeline=pipeline, path=path, spec_digest=spec_digest, trigger=trigger)
        run_id = uuid.uuid4().hex
        now = datetime.now(UTC)
        with self.db.write() as conn:
            self._mark_interrupted(conn, pipeline, now)
            conn.execute(
                pipeline_runs.insert().values(
                    id=run_id,
                    pipeline=pipeline,
                    path=path,
                    spec_digest=spec_digest,
                    status="running",
                    trigger=trigger,
                    started_by=started_by[:128],
                    started_at=now,
                    host=this_host() if host is None else host[:255],
                    pid=os.getpid() if pid is None else pid,
                )
            )
            return self._load(conn, [run_id])[0]

    def record_step(self, run_id: str, step: StepRecord) -> None:
        """Record (or, recorded again, replace) one step of a run, in one transaction."""
        validate_step(step)
        validate_run_id(run_id)
        values = {
            "status": step.status,
            "key": step.key,
            "outputs": dict(step.outputs),
            "seconds": float(step.seconds),
            "error": step.error,
        }
        with self.db.write() as conn:
            self._require(conn, run_id)
            conn.execute(
                self.db.upsert(pipeline_steps)
                .values(run_id=run_id, name=step.name, **values)
                .on_conflict_do_update(index_elements=["run_id", "name"], set_=values)
            )

    def finish(self, run_id: str, status: str, error: str | None = None) -> PipelineRun:
        """End a run as "succeeded", "failed" or "refused"; returns it."""
        validate_finish(status)
        validate_run_id(run_id)
        with self.db.write() as conn:
            self._require(conn, run_id)
            conn.execute(
                pipeline_runs.update()
                .where(pipeline_runs.c.id == run_id)
                .values(status=status, error=error, finished_at=datetime.now(UTC))
            )
            return self._load(conn, [run_id])[0]

    def get(self, run_id: str) -> PipelineRun:
        """One run with its steps; NotFound for an unknown id."""
        validate_run_id(run_id)
        with self.db.read() as conn:
            found = self._load(conn, [run_id])
        if not found:
            raise NotFound(f"no pipeline run {run_id!r}")
        return as_seen(found[0])

    def runs(self, pipeline: str | None = None, *, limit: int = 50) -> list[PipelineRun]:
        """The newest `limit` runs (of one pipeline, or all), newest first."""
        validate_limit(limit)
        query = sa.select(pipeline_runs.c.id)
        if pipeline is not None:
            query = query.where(pipeline_runs.c.pipeline == pipeline)
        query = query.order_by(pipeline_runs.c.started_at.desc(), pipeline_runs.c.id.desc())
        with self.db.read() as conn:
            ids = list(conn.execute(query.limit(limit)).scalars())
            found = self._load(conn, ids)
        return [as_seen(run) for run in found]

    def cached_step(self, name: str, key: str) -> StepRecord | None:
        """The newest step of that name and key whose outputs can be reused, if any."""
        with self.db.read() as conn:
            row = conn.execute(
                sa.select(pipeline_steps)
                .where(
                    pipeline_steps.c.name == name,
                    pipeline_steps.c.key == key,
                    pipeline_steps.c.status.in_(REUSABLE_STATUSES),
                )
                .order_by(pipeline_steps.c.id.desc())
                .limit(1)
            ).first()
        return None if row is None else _to_step(row)

    # -- helpers ----------------------------------------------------------------
    def _require(self, conn: Connection, run_id: str) -> None:
        found = conn.execute(
            sa.select(pipeline_runs.c.id).where(pipeline_runs.c.id == run_id)
        ).first()
        if found is None:
            raise NotFound(f"no pipeline run {run_id!r}")

    def _mark_interrupted(self, conn: Connection, pipeline: str, now: datetime) -> None:
        running = conn.execute(
            sa.select(pipeline_runs.c.id).where(
                pipeline_runs.c.pipeline == pipeline,
                pipeline_runs.c.status == "running",
                pipeline_runs.c.host == this_host(),
            )
        ).scalars()
        for run in self._load(conn, list(running)):
            if is_interrupted(run):
                conn.execute(
                    pipeline_runs.update()
                    .where(pipeline_runs.c.id == run.id, pipeline_runs.c.status == "running")
                    .values(status="failed", error=interrupted_error(run), finished_at=now)
                )

    @staticmethod
    def _load(conn: Connection, ids: Iterable[str]) -> list[PipelineRun]:
        """The runs of `ids`, in that order, each with its steps."""
        ids = list(ids)
        if not ids:
            return []
        rows = {
            row.id: row
            for row in conn.execute(sa.select(pipeline_runs).where(pipeline_runs.c.id.in_(ids)))
        }
        steps: dict[str, list[StepRecord]] = {run_id: [] for run_id in ids}
        for row in conn.execute(
            sa.select(pipeline_steps)
            .where(pipeline_steps.c.run_id.in_(ids))
            .order_by(pipeline_steps.c.id)
        ):
            steps[row.run_id].append(_to_step(row))
        return [_to_run(rows[run_id], steps[run_id]) for run_id in ids if run_id in rows]


def _to_step(row: Any) -> StepRecord:
    return StepRecord(
        name=row.name,
        key=row.key,
        status=row.status,
        outputs=row.outputs,
        seconds=row.seconds,
        error=row.error,
    )


def _to_run(row: Any, steps: list[StepRecord]) -> PipelineRun:
    return PipelineRun(
        id=row.id,
        pipeline=row.pipeline,
        path=row.path,
        spec_digest=row.spec_digest,
        status=row.status,
        trigger=row.trigger,
        started_by=row.started_by,
        started_at=as_utc(row.started_at),
        finished_at=None if row.finished_at is None else as_utc(row.finished_at),
        steps=tuple(steps),
        error=row.error,
        host=row.host,
        pid=row.pid,
    )
