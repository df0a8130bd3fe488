"""Stored run rows back into `Run` objects: the hot path of `mw runs list` and search.

Rows are read by position, possibly straight from the driver, and the values logged to
the runs (params, tags, latest metrics, inputs) come in one driver-level query per table.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelward.store.tables import experiments, run_artifacts, runs
from modelward.tracking.entities import Run, RunArtifact, RunInput


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No garbage collection while a search reads and builds its runs.

    Every object a search makes (rows, runs, their dicts) lives on in the result, so a
    young collection finds nothing to free; but it walks them all, and in a process
    holding a large heap (a notebook, a server) the collections a 2,000-run search
    triggers cost a third of the search. The collector is enabled again only by the
    caller that paused it: nested or concurrent pauses never leave it off.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def hydrate_runs(conn: Connection, rows: Sequence[Any], *, with_artifacts: bool) -> list[Run]:
    """Runs from rows of `RUN_COLUMNS` (+ environment), with what was logged to them.

    The hot path of `mw runs list`: rows are read by position (a SQLAlchemy Row's
    attribute lookup costs about as much as the SQL for thousands of rows), may come
    straight from the driver (SQLite's times as ISO text, booleans as 0/1), and the
    logged values come through the driver in one query per table.
    """
    if not rows:
        return []
    ids = [row[0] for row in rows]
    params = _grouped(conn, "run_params", ids)
    tags = _grouped(conn, "run_tags", ids)
    metrics = _grouped(conn, "run_latest_metrics", ids)
    inputs: dict[str, list[RunInput]] = {}
    for run_id, role, name, version, digest in _by_ids(conn, _INPUTS_SQL, ids):
        inputs.setdefault(run_id, []).append(RunInput(f"{name}@{version}", digest, role))
    artifacts: dict[str, list[RunArtifact]] = {}
    if with_artifacts:
        for a in conn.execute(
            sa.select(run_artifacts)
            .where(run_artifacts.c.run_id.in_(ids))
            .order_by(run_artifacts.c.path)
        ):
            artifacts.setdefault(a.run_id, []).append(RunArtifact(a.path, a.digest, a.size_bytes))
    empty: dict[str, Any] = {}
    found = []
    new_run = _new_run
    for row in rows:
        (
            run_id,
            experiment,
            name,
            status,
            start,
            end,
            user,
            commit,
            dirty,
            source,
            seed,
            error,
            *environment,
        ) = row
        found.append(
            new_run(
                id=run_id,
                experiment=experiment,
                name=name,
                status=status,
                start_time=_utc(start),
                end_time=None if end is None else _utc(end),
                user=user,
                git_commit=commit,
                git_dirty=None if dirty is None else bool(dirty),
                source=source,
                environment=environment[0] if environment else None,
                seed=seed,
                error=error,
                params=params.get(run_id, empty),
                tags=tags.get(run_id, empty),
                metrics=metrics.get(run_id, empty),
                inputs=tuple(inputs.get(run_id, ())),
                artifacts=tuple(artifacts.get(run_id, ())),
            )
        )
    return found


def _new_run(**fields: Any) -> Run:
    """A Run from values read back from the store, without the frozen dataclass' __init__.

    That __init__ sets each of the 18 fields through object.__setattr__: about 7 us a
    run, a fifth of a 2,000-run search. The values are what was validated when they
    were written; tests check that every field is given (`Run.__dataclass_fields__`).
    """
    run: Run = object.__new__(Run)
    run.__dict__.update(fields)
    return run


def _utc(moment: datetime | str) -> datetime:
    """A stored time as an aware UTC datetime: all are UTC; SQLite's come back naive, or as
    the ISO text SQLAlchemy wrote when read from the driver."""
    if isinstance(moment, str):
        try:  # one C call instead of parse + replace: the text carries no offset
            return datetime.fromisoformat(moment + "+00:00")
        except ValueError:
            moment = datetime.fromisoformat(moment)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# The columns `hydrate_runs` reads, in its order; `get` adds the environment at the end.
RUN_COLUMNS = (
    runs.c.id,
    experiments.c.name.label("experiment_name"),
    runs.c.name,
    runs.c.status,
    runs.c.start_time,
    runs.c.end_time,
    runs.c.user,
    runs.c.git_commit,
    runs.c.git_dirty,
    runs.c.source,
    runs.c.seed,
    runs.c.error,
)
FULL_SELECT = sa.select(*RUN_COLUMNS, runs.c.environment).join(
    experiments, experiments.c.id == runs.c.experiment_id
)
SUMMARY_SELECT = sa.select(*RUN_COLUMNS).join(experiments, experiments.c.id == runs.c.experiment_id)


_INPUTS_SQL = (
    "SELECT ri.run_id, ri.role, d.name, dv.version, dv.digest FROM run_inputs ri "
    "JOIN dataset_versions dv ON dv.id = ri.dataset_version_id "
    "JOIN datasets d ON d.id = dv.dataset_id WHERE ri.run_id {ids} ORDER BY ri.role, d.name"
)


def _by_ids(conn: Connection, sql: str, ids: list[str]) -> list[Any]:
    """Rows of `sql` (whose `{ids}` is the run-id condition) for a known list of run ids.

    Driver-level SQL with the ids as one parameter (a PostgreSQL array, a JSON array
    that SQLite's `json_each` reads): hydrating thousands of search results is the hot
    path of `mw runs list`; SQLAlchemy's per-parameter compilation dominated it, and
    binding thousands of SQLite parameters costs more than the JSON. `sql` is always
    one of this module's constants.
    """
    postgres = conn.dialect.name == "postgresql"
    # The DBAPI cursor of this same connection (and transaction): plain tuples,
    # without SQLAlchemy's per-row result processing.
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        if postgres:
            cursor.execute(sql.format(ids="= ANY(%s)"), (ids,))
        else:
            cursor.execute(
                sql.format(ids="IN (SELECT value FROM json_each(?))"), (orjson.dumps(ids).decode(),)
            )
        return list(cursor.fetchall())
    finally:
        cursor.close()


def _grouped(conn: Connection, table: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    """key -> value per run, from one of the key/value tables."""
    grouped: dict[str, dict[str, Any]] = {}
    sql = f"SELECT run_id, key, value FROM {table} WHERE run_id {{ids}}"
    for run_id, key, value in _by_ids(conn, sql, ids):
        grouped.setdefault(run_id, {})[key] = value
    return grouped
