"""Alembic environment: runs migrations on the connection modelward hands it."""

from __future__ import annotations

from alembic import context

from modelward.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - modelward always passes a connection
    raise RuntimeError("modelward migrations run through modelward.store.database")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    transaction_per_migration=False,
)
context.run_migrations()
