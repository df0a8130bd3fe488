"""The metadata database: automatic migrations, SQLite settings, both backends."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa
from alembic.config import Config
from alembic.script import ScriptDirectory

from modelward.store.database import HEAD_REVISION, Database
from modelward.store.workspace import Workspace


def test_head_revision_constant_matches_the_migrations() -> None:
    import modelward.store.database as database

    config = Config()
    config.set_main_option("script_location", str(Path(database.__file__).parent / "migrations"))
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD_REVISION


def test_schema_is_created_on_first_use(workspace: Workspace) -> None:
    assert workspace.db.current_revision() == HEAD_REVISION
    with workspace.db.read() as conn:
        tables = set(sa.inspect(conn).get_table_names())
    assert {"datasets", "dataset_versions", "alembic_version"} <= tables


def test_opening_again_keeps_the_schema(workspace: Workspace) -> None:
    again = Database(workspace.settings.db_url)
    assert again.current_revision() == HEAD_REVISION
    again.dispose()


def test_an_older_schema_is_upgraded_on_open_and_keeps_its_data(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = Database(url, migrate=False)
    old.upgrade("0001_datasets")
    with old.write() as conn:
        conn.execute(
            sa.text("INSERT INTO datasets (name, created_at) VALUES ('kept', :now)"),
            {"now": datetime.now(UTC)},
        )
    assert old.current_revision() == "0001_datasets"
    old.dispose()
    reopened = Database(url)
    assert reopened.current_revision() == HEAD_REVISION
    with reopened.read() as conn:
        assert conn.execute(sa.text("SELECT name FROM datasets")).scalar() == "kept"
        assert sa.inspect(conn).has_table("runs")
    reopened.dispose()


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'wal.db'}")
    with db.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    db.dispose()


def test_a_failed_write_transaction_is_rolled_back(workspace: Workspace) -> None:
    from datetime import UTC, datetime

    from modelward.store.tables import datasets

    try:
        with workspace.db.write() as conn:
            conn.execute(datasets.insert().values(name="half", created_at=datetime.now(UTC)))
            raise RuntimeError("fails half-way")
    except RuntimeError:
        pass
    with workspace.db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(datasets)).scalar() == 0


def test_migrations_build_exactly_the_declared_schema(workspace: Workspace) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from modelward.store.tables import metadata

    with workspace.db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, metadata)
    assert differences == []


# -- every checkout sees the latest commit (no read snapshot kept by a pooled connection) ----

_WRITER = """
import sys
from modelward.monitoring.predictions import PredictionLogRepository, PredictionRecord
from modelward.store.database import Database
from modelward.store.tables import prediction_log

db = Database(sys.argv[1])
feedback = PredictionLogRepository(db)
for line in sys.stdin:
    n = int(line)
    with db.write() as conn:
        conn.execute(prediction_log.insert(), [PredictionRecord(
            f"r{n}", "m", 1, n, 200, 1.0, 1, {"x": [n]}, [n % 2]).to_row()])
    feedback.add_feedback(f"r{n}", n % 2)
    print(n, flush=True)
"""


def _leak_a_half_read_cursor(db: Database) -> object:
    """What a careless reader leaves behind: a result read half-way, still referenced."""
    from modelward.store.tables import prediction_log

    with db.write() as conn:
        rows = [{"request_id": f"seed{i}", "model_name": "seed", "model_version": 1,
                 "created_ms": i, "status": 200, "latency_ms": 1.0, "n_rows": 0}
                for i in range(3)]  # fmt: skip
        conn.execute(prediction_log.insert(), rows)
    with db.read() as conn:
        result = conn.execute(sa.select(prediction_log.c.id))
        result.fetchone()  # two rows left unread: the statement is still stepping
    return result


def _stored(db: Database) -> int:
    from modelward.store.tables import prediction_log

    with db.read() as conn:
        return int(
            conn.execute(sa.select(sa.func.count()).select_from(prediction_log)).scalar_one()
        )


def test_a_half_read_result_does_not_freeze_the_connection_it_came_from(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'mw.db'}"
    reader, writer = Database(url), Database(url)
    kept = _leak_a_half_read_cursor(reader)
    from modelward.store.tables import prediction_log

    for n in range(1, 51):
        with writer.write() as conn:
            conn.execute(
                prediction_log.insert().values(
                    request_id=f"r{n}", model_name="m", model_version=1, created_ms=n,
                    status=200, latency_ms=1.0, n_rows=0,
                )
            )  # fmt: skip
        assert _stored(reader) == 3 + n, f"commit {n} not seen by the next read"
    del kept
    reader.dispose()
    writer.dispose()


@pytest.mark.timeout(120)
def test_a_long_lived_reader_sees_every_commit_of_another_process_within_one_poll(
    tmp_path: Path,
) -> None:
    """The monitor's and the alias poller's situation: one process reads on a pool of
    connections (from several threads), another process commits; each commit must be
    visible to the very next read, 2,000 times over, whatever an earlier reader left."""
    import subprocess
    import sys
    from concurrent.futures import ThreadPoolExecutor

    from modelward.monitoring.predictions import PredictionLogRepository

    url = f"sqlite:///{tmp_path / 'mw.db'}"
    reader = Database(url)
    kept = _leak_a_half_read_cursor(reader)
    log = PredictionLogRepository(reader)
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdin is not None and writer.stdout is not None
    stale: list[int] = []
    try:
        with ThreadPoolExecutor(max_workers=3) as pool:  # reads from several threads
            for n in range(1, 2001):
                writer.stdin.write(f"{n}\n")
                writer.stdin.flush()
                assert writer.stdout.readline().strip() == str(n)
                labeled = pool.submit(log.labeled, "m", last=5).result()
                if not labeled or labeled[0].request_id != f"r{n}":
                    stale.append(n)
    finally:
        writer.stdin.close()
        writer.wait(timeout=30)
    assert not stale, f"{len(stale)} of 2000 commits were not seen by the next read"
    assert len(log.labeled("m", last=5000)) == 2000
    del kept
    reader.dispose()


def test_large_floats_in_json_columns_read_back_as_floats(workspace: Workspace) -> None:
    # PostgreSQL's JSONB writes 1e20 back as 100000000000000000000: a 67-bit int that
    # JSON writers limited to 64 bits (the team server's answers) cannot write
    from modelward.store.tables import dataset_versions, datasets

    values = {"big": 1e20, "max": 1.7976931348623157e308, "tiny": 5e-324, "count": 2**62}
    with workspace.db.write() as conn:
        conn.execute(datasets.insert().values(id=1, name="d", created_at=datetime.now(UTC)))
        conn.execute(
            dataset_versions.insert().values(
                id=1, dataset_id=1, version=1, digest="0" * 64, format="csv", size_bytes=1,
                n_rows=1, n_columns=0, schema=[], profile=values, source={},
                created_at=datetime.now(UTC), created_by="t",
            )
        )  # fmt: skip
    with workspace.db.read() as conn:
        stored = conn.execute(sa.select(dataset_versions.c.profile)).scalar_one()
    assert stored == values
    assert isinstance(stored["big"], float) and isinstance(stored["count"], int)
    orjson.dumps(stored)  # what the team server answers with


def test_a_forked_child_opens_its_own_connections_and_leaves_the_parents_alone(
    tmp_path: Path,
) -> None:
    import os

    from modelward.store.tables import prediction_log

    url = f"sqlite:///{tmp_path / 'mw.db'}"
    database = Database(url)
    with database.write() as conn:  # the parent now has a pooled connection
        conn.execute(sa.text("PRAGMA user_version = 7"))
    parent_pool = database.engine.pool
    pid = os.fork()
    if pid == 0:  # the child: writes through the same Database object, then exits
        code = 1
        try:
            if database.engine.pool is not parent_pool:
                with database.write() as conn:
                    for n in range(200):
                        conn.execute(
                            prediction_log.insert().values(
                                request_id=f"child{n}", model_name="m", model_version=1,
                                created_ms=n, status=200, latency_ms=1.0, n_rows=0,
                            )
                        )  # fmt: skip
                code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the child reused its parent's pool"
    assert database.engine.pool is parent_pool  # the parent's side is untouched
    with database.read() as conn:
        assert conn.execute(sa.text("PRAGMA integrity_check")).scalar() == "ok"
        assert conn.execute(sa.select(sa.func.count()).select_from(prediction_log)).scalar() == 200
    database.dispose()
