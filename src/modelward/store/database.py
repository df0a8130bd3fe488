"""The metadata database: engine, transactions and automatic migrations.

SQLite (the default) runs in WAL mode with a busy timeout, and every write
transaction starts with `BEGIN IMMEDIATE`, so several processes can share one
home: writers queue instead of failing with "database is locked". PostgreSQL
(or any SQLAlchemy URL) works the same way through `MODELWARD_DB`.

A pooled SQLite connection goes back to the pool with no cursor left open. In
WAL mode a SELECT statement that was stepped but never reset (a result read
half-way and still referenced) keeps its read snapshot after COMMIT (Python
3.11's sqlite3 no longer resets statements on commit), and every later
transaction on that connection reads the database as it was then: a
long-lived server would stop seeing other processes' and threads' commits.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from modelward.errors import InvalidInput, ModelwardError

# The newest migration; checked cheaply on every open so Alembic is imported
# only when the schema actually needs upgrading.
HEAD_REVISION = "0015_monitor_leases"

_SQLITE_BUSY_TIMEOUT_MS = 60_000
_FIRST_OPEN_RETRY_S = 30.0
_MIGRATION_LOCK_KEY = 0x6D77_0001  # PostgreSQL advisory lock id ("mw" 1)


class Database:
    """One metadata database: short transactions, schema kept at the newest revision."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        self.engine = _create_engine(url)
        _LIVE.add(self)
        if migrate:
            self._ensure_schema()

    @property
    def dialect(self) -> str:
        """The SQLAlchemy dialect name ("sqlite", "postgresql", ...)."""
        return self.engine.dialect.name

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction: committed when the block ends, rolled back if it raises."""
        with self.engine.connect() as conn:
            conn = conn.execution_options(modelward_write=True)
            with conn.begin():
                yield conn

    @contextmanager
    def driver_write(self) -> Iterator[Any]:
        """One write transaction on the driver's own cursor (DB-API paramstyle), for hot
        paths where SQLAlchemy's work per statement would cost more than the SQL; the
        driver's errors come out as SQLAlchemy's, as from `write`."""
        raw = self.engine.raw_connection()
        cursor = raw.cursor()
        sqlite = self.dialect == "sqlite"
        try:
            if sqlite:
                cursor.execute("BEGIN IMMEDIATE")  # as `write` begins (see the module doc)
            yield cursor
            if sqlite:
                cursor.execute("COMMIT")
            else:
                raw.commit()
        except self.engine.dialect.loaded_dbapi.Error as exc:
            raw.rollback()
            raise sa.exc.DBAPIError.instance(
                None, None, exc, self.engine.dialect.loaded_dbapi.Error
            ) from exc
        except BaseException:
            raw.rollback()
            raise
        finally:
            cursor.close()
            raw.close()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """One read-only transaction with a consistent view."""
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def upsert(self, table: sa.Table) -> Any:
        """An INSERT of this dialect that supports `on_conflict_do_nothing/do_update`."""
        if self.dialect == "postgresql":
            from sqlalchemy.dialects import postgresql

            return postgresql.insert(table)
        from sqlalchemy.dialects import sqlite

        return sqlite.insert(table)

    def lock_named(
        self, conn: Connection, table: sa.Table, name: str, *, create_at: datetime | None
    ) -> int | None:
        """Id of the row called `name` in `table` (`id`, `name`, `created_at` columns),
        locked for this transaction, so numbering below it is one writer at a time.

        With `create_at`, a missing row is created first; without, None is returned.
        (SQLite already serialises writers; PostgreSQL takes a row lock.)
        """
        if create_at is not None:
            conn.execute(
                self.upsert(table).values(name=name, created_at=create_at).on_conflict_do_nothing()
            )
        found = conn.execute(
            sa.select(table.c.id).where(table.c.name == name).with_for_update()
        ).scalar()
        return None if found is None else int(found)

    @staticmethod
    def next_number(conn: Connection, column: Any, parent: Any, parent_id: int) -> int:
        """1 + the highest `column` among the rows whose `parent` is `parent_id`."""
        highest = conn.execute(
            sa.select(sa.func.coalesce(sa.func.max(column), 0)).where(parent == parent_id)
        ).scalar_one()
        return int(highest) + 1

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    # -- migrations ------------------------------------------------------------
    def current_revision(self) -> str | None:
        """The schema revision recorded in the database, or None when it is empty."""
        with self.read() as conn:
            if not sa.inspect(conn).has_table("alembic_version"):
                return None
            return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()

    def _ensure_schema(self) -> None:
        # Two processes creating one new SQLite home under load were seen to get
        # "database is locked" here despite the busy timeout (SQLite does not wait in
        # some lock upgrades, such as the first switch to WAL): retried, not fatal.
        deadline = time.monotonic() + _FIRST_OPEN_RETRY_S
        pause = 0.02
        while True:
            try:
                if self.current_revision() != HEAD_REVISION:
                    self.upgrade()
                return
            except sa.exc.OperationalError as exc:
                locked = self.dialect == "sqlite" and "locked" in str(exc.orig)
                if not locked or time.monotonic() + pause > deadline:
                    raise ModelwardError(
                        f"cannot open the metadata database {redact_url(self.url)}: {exc.orig}"
                    ) from None
                self.engine.dispose()  # a connection that met the race is not reused
                time.sleep(pause)
                pause = min(pause * 2, 0.5)

    def upgrade(self, revision: str = "head") -> None:
        """Apply migrations up to `revision`, serialised against other processes."""
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
        with self.write() as conn:
            if self.dialect == "postgresql":
                conn.execute(
                    sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
                )
            config.attributes["connection"] = conn
            command.upgrade(config, revision)


# Every open Database, so that a forked child never touches its parent's connections.
_LIVE: weakref.WeakSet[Database] = weakref.WeakSet()
# The parent's pools, kept referenced in a forked child: letting them be collected would
# close inherited SQLite handles there, and a close can checkpoint or truncate the WAL
# under the parent's feet.
_INHERITED_POOLS: list[Any] = []


def _after_fork_in_child() -> None:
    for database in list(_LIVE):
        _INHERITED_POOLS.append(database.engine.pool)
        database.engine.dispose(close=False)  # a fresh pool; the old one left untouched


os.register_at_fork(after_in_child=_after_fork_in_child)


def _create_engine(url: str) -> Engine:
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        raise InvalidInput(
            f"MODELWARD_DB is not a valid SQLAlchemy URL: {redact_url(url)}"
        ) from None
    if parsed.get_backend_name() != "sqlite":
        try:
            return sa.create_engine(parsed, pool_pre_ping=True, json_deserializer=_json_loads)
        except (ImportError, sa.exc.NoSuchModuleError) as exc:
            raise InvalidInput(f"no database driver for {redact_url(url)}: {exc}") from None
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(
        parsed,
        connect_args={"timeout": _SQLITE_BUSY_TIMEOUT_MS / 1000, "factory": _SqliteConnection},
    )
    event.listen(engine, "connect", _configure_sqlite_connection)
    event.listen(engine, "begin", _begin_sqlite_transaction)
    event.listen(engine, "checkin", _close_open_cursors)
    return engine


def _json_loads(text: str | bytes) -> Any:
    """JSON as PostgreSQL returns it, with large floats floats again.

    JSONB keeps numbers as `numeric` and writes 1e20 back as
    `100000000000000000000`: read as a Python int, it would no longer fit the
    64-bit integers JSON writers (orjson, the team server's answers) handle.
    Integers that long were floats when they were stored.
    """
    return json.loads(text, parse_int=_parse_int)


def _parse_int(digits: str) -> int | float:
    value = int(digits)
    return value if -(2**63) <= value < 2**64 else float(digits)


class _SqliteConnection(sqlite3.Connection):
    """A sqlite3 connection that knows its cursors, so that none outlives a checkout."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.open_cursors: weakref.WeakSet[sqlite3.Cursor] = weakref.WeakSet()

    def cursor(self, factory: Any = sqlite3.Cursor) -> Any:
        """A new cursor, remembered until it is garbage (`Connection.execute` comes here too)."""
        cursor = super().cursor(factory)
        self.open_cursors.add(cursor)
        return cursor


def _close_open_cursors(dbapi_connection: Any, _record: Any) -> None:
    # Closing a cursor resets its statement, which releases the WAL read snapshot
    # a half-read result would otherwise keep on this connection for good.
    if isinstance(dbapi_connection, _SqliteConnection):
        for cursor in list(dbapi_connection.open_cursors):
            cursor.close()


def _configure_sqlite_connection(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    # Take transaction control away from the sqlite3 module so BEGIN is ours.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _begin_sqlite_transaction(conn: Connection) -> None:
    # IMMEDIATE takes the write lock up front: a writer waits for another
    # writer at BEGIN (honouring busy_timeout) instead of failing on upgrade.
    mode = "IMMEDIATE" if conn.get_execution_options().get("modelward_write") else "DEFERRED"
    conn.exec_driver_sql(f"BEGIN {mode}")


def as_utc(moment: datetime) -> datetime:
    """A stored time as an aware UTC datetime (SQLite returns naive ones; all are UTC)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def redact_url(url: str) -> str:
    """The URL with its password hidden, for messages."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "<unparseable URL>"
