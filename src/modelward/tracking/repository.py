"""Persistence of experiments and runs; search filters become bound SQL here."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from modelward.errors import AlreadyExists, InvalidInput, NotFound
from modelward.store.database import Database, as_utc
from modelward.store.tables import (
    experiments,
    run_artifacts,
    run_batches,
    run_inputs,
    run_latest_metrics,
    run_params,
    run_tags,
    runs,
)
from modelward.tracking.entities import (
    Experiment,
    MetricRow,
    Run,
)
from modelward.tracking.hydration import (
    FULL_SELECT,
    SUMMARY_SELECT,
    collector_paused,
    hydrate_runs,
)
from modelward.tracking.metric_reads import MetricReads
from modelward.tracking.search import Node, OrderBy
from modelward.tracking.search_sql import condition, order_column


class RunRepository(MetricReads):
    """Experiments, runs and everything logged to them."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- experiments -----------------------------------------------------------
    def experiment(self, name: str, *, create: bool = False) -> Experiment:
        """The experiment called `name`, created on demand when `create`."""
        with self.db.write() if create else self.db.read() as conn:
            row = conn.execute(sa.select(experiments).where(experiments.c.name == name)).first()
            if row is None and create:
                conn.execute(
                    self.db.upsert(experiments)
                    .values(name=name, created_at=datetime.now(UTC))
                    .on_conflict_do_nothing()
                )
                row = conn.execute(sa.select(experiments).where(experiments.c.name == name)).first()
            if row is None:
                raise NotFound(f"unknown experiment {name!r}: see `mw runs list`")
            return Experiment(row.id, row.name, as_utc(row.created_at))

    def experiments(self) -> list[Experiment]:
        """Every experiment, by name."""
        with self.db.read() as conn:
            rows = conn.execute(sa.select(experiments).order_by(experiments.c.name)).all()
        return [Experiment(r.id, r.name, as_utc(r.created_at)) for r in rows]

    # -- writes ----------------------------------------------------------------
    def create_run(self, values: dict[str, Any], tags: Sequence[tuple[str, str]] = ()) -> None:
        """Insert a new run row (and its first tags, in the same transaction)."""
        with self.db.write() as conn:
            conn.execute(runs.insert().values(**values))
            if tags:
                conn.execute(
                    run_tags.insert(),
                    [{"run_id": values["id"], "key": k, "value": v} for k, v in tags],
                )

    def log_batch(
        self,
        run_id: str,
        *,
        params: Sequence[tuple[str, str]] = (),
        tags: Sequence[tuple[str, str]] = (),
        metrics: Sequence[MetricRow] = (),
        batch_id: str | None = None,
    ) -> bool:
        """Write params, tags and metric points of one run in one transaction.

        With a `batch_id`, the id is recorded in the same transaction and a batch
        whose id is already recorded is skipped: False means it was stored before.
        """
        if not (params or tags or metrics):
            return True
        with self.db.write() as conn:
            if batch_id is not None:
                # Inserted first: a concurrent copy of the batch waits on this row
                # (PostgreSQL) or on the write lock (SQLite), then finds it.
                recorded = conn.execute(
                    self.db.upsert(run_batches)
                    .values(run_id=run_id, batch_id=batch_id)
                    .on_conflict_do_nothing()
                    .returning(run_batches.c.batch_id)
                ).first()
                if recorded is None:
                    return False
            if params:
                self._write_params(conn, run_id, params)
            if tags:
                insert = self.db.upsert(run_tags)
                statement = insert.on_conflict_do_update(
                    index_elements=["run_id", "key"], set_={"value": insert.excluded.value}
                )
                conn.execute(statement, [{"run_id": run_id, "key": k, "value": v} for k, v in tags])
            if metrics:
                self._write_metrics(conn, run_id, metrics)
        return True

    def _write_params(
        self, conn: Connection, run_id: str, params: Sequence[tuple[str, str]]
    ) -> None:
        wanted = dict(params)
        existing = dict(
            conn.execute(
                sa.select(run_params.c.key, run_params.c.value).where(
                    run_params.c.run_id == run_id, run_params.c.key.in_(list(wanted))
                )
            ).all()
        )
        for key, value in existing.items():
            if wanted[key] != value:
                raise InvalidInput(
                    f"param {key!r} was already logged as {value!r}; params cannot change "
                    f"(got {wanted[key]!r}): log a metric or a tag instead"
                )
        new = [
            {"run_id": run_id, "key": k, "value": v} for k, v in wanted.items() if k not in existing
        ]
        if new:
            conn.execute(run_params.insert(), new)

    def _write_metrics(self, conn: Connection, run_id: str, rows: Sequence[MetricRow]) -> None:
        # The hot path of logging: plain tuples to the driver's executemany,
        # without per-row parameter processing by SQLAlchemy.
        marker = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        conn.exec_driver_sql(
            "INSERT INTO run_metrics (run_id, key, value, step, timestamp) "
            f"VALUES ({marker}, {marker}, {marker}, {marker}, {marker})",
            [(run_id, key, value, step, millis) for key, value, step, millis in rows],
        )
        latest: dict[str, MetricRow] = {}
        for row in rows:
            current = latest.get(row[0])
            if current is None or (row[2], row[3]) >= (current[2], current[3]):
                latest[row[0]] = row
        insert = self.db.upsert(run_latest_metrics)
        table = run_latest_metrics.c
        statement = insert.on_conflict_do_update(
            index_elements=["run_id", "key"],
            set_={
                "value": insert.excluded.value,
                "step": insert.excluded.step,
                "timestamp": insert.excluded.timestamp,
            },
            where=sa.or_(
                insert.excluded.step > table.step,
                sa.and_(
                    insert.excluded.step == table.step, insert.excluded.timestamp >= table.timestamp
                ),
            ),
        )
        conn.execute(
            statement,
            [
                {"run_id": run_id, "key": key, "value": value, "step": step, "timestamp": millis}
                for key, value, step, millis in latest.values()
            ],
        )

    def finish_run(self, run_id: str, status: str, error: str | None = None) -> None:
        """Record the final status and end time."""
        with self.db.write() as conn:
            conn.execute(
                runs.update()
                .where(runs.c.id == run_id)
                .values(status=status, end_time=datetime.now(UTC), error=error)
            )

    def add_inputs(self, run_id: str, inputs: Iterable[tuple[int, str]]) -> None:
        """Record dataset versions (by id) the run read, with their roles."""
        rows = [{"run_id": run_id, "dataset_version_id": vid, "role": role} for vid, role in inputs]
        if rows:
            with self.db.write() as conn:
                conn.execute(self.db.upsert(run_inputs).on_conflict_do_nothing(), rows)

    def add_artifacts(self, run_id: str, artifacts: Iterable[tuple[str, str, int]]) -> None:
        """Record files (path inside the run, digest, size) logged by the run."""
        rows = [
            {"run_id": run_id, "path": path, "digest": digest, "size_bytes": size}
            for path, digest, size in artifacts
        ]
        if not rows:
            return
        insert = self.db.upsert(run_artifacts)
        statement = insert.on_conflict_do_update(
            index_elements=["run_id", "path"],
            set_={"digest": insert.excluded.digest, "size_bytes": insert.excluded.size_bytes},
        )
        with self.db.write() as conn:
            conn.execute(statement, rows)

    # -- reads -----------------------------------------------------------------
    def readers_of(self, dataset_version_id: int) -> list[tuple[str, str, str]]:
        """(run id, run name, role) of every run that read a dataset version, oldest first."""
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(runs.c.id, runs.c.name, run_inputs.c.role)
                .join(run_inputs, run_inputs.c.run_id == runs.c.id)
                .where(run_inputs.c.dataset_version_id == dataset_version_id)
                .order_by(runs.c.start_time, runs.c.id)
            ).all()
        return [(str(r.id), str(r.name), str(r.role)) for r in rows]

    def get(self, run_id: str) -> Run:
        """One run with everything logged to it; a unique id prefix is enough."""
        if not run_id:
            raise NotFound("unknown run '': see `mw runs list`")
        with self.db.read() as conn:
            query = FULL_SELECT.where(runs.c.id.startswith(run_id, autoescape=True))
            rows = conn.execute(query.limit(2)).all()
            if not rows:
                raise NotFound(f"unknown run {run_id!r}: see `mw runs list`")
            if len(rows) > 1:
                raise InvalidInput(f"run id prefix {run_id!r} is ambiguous: give more characters")
            return hydrate_runs(conn, rows, with_artifacts=True)[0]

    def status(self, run_id: str) -> str:
        """The status of the run with exactly this id."""
        with self.db.read() as conn:
            found = conn.execute(sa.select(runs.c.status).where(runs.c.id == run_id)).scalar()
        if found is None:
            raise NotFound(f"unknown run {run_id!r}: see `mw runs list`")
        return str(found)

    def search(
        self,
        *,
        where: Node | None = None,
        order_by: Sequence[OrderBy] = (),
        experiment: str | None = None,
        limit: int = 1000,
        offset: int = 0,
    ) -> list[Run]:
        """Runs matching a parsed filter, sorted, newest first by default (`offset` pages).

        Search results carry params, tags, latest metrics and inputs; the
        environment and the artifact list come with `get` (one run). `offset`
        skips that many results (pages of the same sorted search).
        """
        query = SUMMARY_SELECT
        if where is not None:
            query = query.where(condition(where))
        for index, order in enumerate(order_by):
            column = order_column(order.key, index)
            if isinstance(column, tuple):
                joined, column = column
                query = query.outerjoin(joined, joined.c.run_id == runs.c.id)
            query = query.order_by(
                column.is_(None), column.desc() if order.descending else column.asc()
            )
        query = query.order_by(runs.c.start_time.desc(), runs.c.id).limit(limit)
        if offset:
            query = query.offset(offset)
        with self.db.read() as conn:
            if experiment is not None:
                found = conn.execute(
                    sa.select(experiments.c.id).where(experiments.c.name == experiment)
                ).scalar()
                if found is None:
                    raise NotFound(f"unknown experiment {experiment!r}: see `mw runs list`")
                query = query.where(self._experiment_condition(conn, found, where))
            # SQLAlchemy builds and binds the query; the rows are read from the driver's
            # cursor as they come (`hydrate_runs` converts them), without its per-row work.
            with collector_paused():
                result = conn.execute(query)
                try:
                    rows = result.cursor.fetchall()
                finally:
                    result.close()
                return hydrate_runs(conn, rows, with_artifacts=False)

    # -- single changes and lookups (the MLflow-compatible API uses them) --------
    def experiment_by_id(self, experiment_id: int) -> Experiment:
        """The experiment with this id."""
        with self.db.read() as conn:
            row = conn.execute(
                sa.select(experiments).where(experiments.c.id == experiment_id)
            ).first()
        if row is None:
            raise NotFound(f"unknown experiment id {experiment_id}: see `mw runs list`")
        return Experiment(row.id, row.name, as_utc(row.created_at))

    def create_experiment(self, name: str) -> Experiment:
        """A new experiment called `name`; AlreadyExists if the name is taken."""
        with self.db.write() as conn:
            inserted = conn.execute(
                self.db.upsert(experiments)
                .values(name=name, created_at=datetime.now(UTC))
                .on_conflict_do_nothing()
                .returning(experiments.c.id)
            ).first()
            if inserted is None:  # (rowcount says -1 on PostgreSQL here)
                raise AlreadyExists(f"an experiment called {name!r} already exists")
            row = conn.execute(sa.select(experiments).where(experiments.c.name == name)).one()
        return Experiment(row.id, row.name, as_utc(row.created_at))

    def update_run(
        self,
        run_id: str,
        *,
        status: str | None = None,
        end_time: datetime | None = None,
        name: str | None = None,
        error: str | None = None,
        tags: Sequence[tuple[str, str]] = (),
    ) -> None:
        """Change a run's status, end time, name or error (only what is given), and set
        `tags`, in one transaction."""
        values: dict[str, Any] = {}
        if status is not None:
            values["status"] = status
            values["error"] = error
        if end_time is not None:
            values["end_time"] = end_time
        if name is not None:
            values["name"] = name
        with self.db.write() as conn:
            if values:
                changed = conn.execute(
                    runs.update().where(runs.c.id == run_id).values(**values)
                ).rowcount
            else:
                changed = len(conn.execute(sa.select(runs.c.id).where(runs.c.id == run_id)).all())
            if not changed:
                raise NotFound(f"unknown run {run_id!r}: see `mw runs list`")
            if tags:
                insert = self.db.upsert(run_tags)
                conn.execute(
                    insert.on_conflict_do_update(
                        index_elements=["run_id", "key"], set_={"value": insert.excluded.value}
                    ),
                    [{"run_id": run_id, "key": k, "value": v} for k, v in tags],
                )

    def delete_tag(self, run_id: str, key: str) -> None:
        """Remove one tag of a run; NotFound when the run has no such tag."""
        with self.db.write() as conn:
            deleted = conn.execute(
                run_tags.delete().where(run_tags.c.run_id == run_id, run_tags.c.key == key)
            ).rowcount
        if not deleted:
            raise NotFound(f"run {run_id!r} has no tag {key!r}")

    def append_metrics(self, run_id: str, rows: Sequence[MetricRow]) -> None:
        """Append metric points in one transaction, through the driver only.

        `log_batch` builds its statements with SQLAlchemy, which costs more than the
        SQL for the one point a per-call client (MLflow's `log_metric`) sends: about
        0.5 ms against the SQL's 0.1 ms on SQLite.
        """
        if not rows:
            return
        latest: dict[str, MetricRow] = {}
        for row in rows:
            current = latest.get(row[0])
            if current is None or (row[2], row[3]) >= (current[2], current[3]):
                latest[row[0]] = row
        marker = "?" if self.db.engine.dialect.paramstyle == "qmark" else "%s"
        values = f"({marker}, {marker}, {marker}, {marker}, {marker})"
        points = [(run_id, key, value, step, millis) for key, value, step, millis in rows]
        tops = [(run_id, key, value, step, millis) for key, value, step, millis in latest.values()]
        with self.db.driver_write() as cursor:
            cursor.executemany(
                f"INSERT INTO run_metrics (run_id, key, value, step, timestamp) VALUES {values}",
                points,
            )
            cursor.executemany(_UPSERT_LATEST.format(values=values), tops)

    def run_exists(self, run_id: str) -> bool:
        """Whether a run with exactly this id exists."""
        with self.db.read() as conn:
            return conn.execute(sa.select(runs.c.id).where(runs.c.id == run_id)).first() is not None

    def _experiment_condition(
        self, conn: Connection, experiment_id: int, where: Node | None
    ) -> ColumnElement[bool]:
        """`runs.experiment_id = id`, written so SQLite picks the cheaper way in.

        SQLite has no statistics here, so it takes the experiment's index and tests the
        filter on every run of the experiment: 10,000 lookups for a filter that matches
        2,000. For a large experiment `+ 0` hides that index and the search starts from
        the filter's own (the latest metrics' (key, value), or params'). A small
        experiment is cheap to walk whatever the filter, so it keeps its index.
        """
        column: Any = runs.c.experiment_id
        if where is not None and self.db.dialect == "sqlite":
            size = conn.execute(
                sa.select(sa.func.count()).select_from(runs).where(column == experiment_id)
            ).scalar_one()
            if size > _SMALL_EXPERIMENT:
                column = column + 0
        return column == experiment_id  # type: ignore[no-any-return]


# the newest point of a series (highest step, then latest time) stays in run_latest_metrics
_UPSERT_LATEST = (
    "INSERT INTO run_latest_metrics (run_id, key, value, step, timestamp) VALUES {values} "
    "ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value, step = excluded.step, "
    "timestamp = excluded.timestamp WHERE excluded.step > run_latest_metrics.step OR "
    "(excluded.step = run_latest_metrics.step "
    "AND excluded.timestamp >= run_latest_metrics.timestamp)"
)
_SMALL_EXPERIMENT = 2000  # runs: walking them all costs a few milliseconds
