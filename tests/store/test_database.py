"""The metadata database: automatic migrations, SQLite settings, both backends."""

from __future__ import annotations

from pathlib import Path

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
