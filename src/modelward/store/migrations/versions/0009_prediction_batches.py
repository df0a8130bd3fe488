"""Idempotent writes from remote clients: prediction-log batches and alerts sent once.

A serving process sends its prediction log to the team server in batches, each
with an id of its own; `prediction_batches` remembers the ids it stored, so a
batch resent after a lost answer is stored once. An alert carries the client's
id the same way (`alerts.client_id`, unique when set).

Revision ID: 0009_prediction_batches
Revises: 0008_run_batches
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_prediction_batches"
down_revision = "0008_run_batches"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "prediction_batches",
        sa.Column("batch_id", sa.String(64), nullable=False),
        sa.Column("n_records", sa.Integer, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("batch_id", name="pk_prediction_batches"),
    )
    op.add_column("alerts", sa.Column("client_id", sa.String(64), nullable=True))
    op.create_index("ix_alerts_client_id", "alerts", ["client_id"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_alerts_client_id", table_name="alerts")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("client_id")
    op.drop_table("prediction_batches")
