"""Batch ids of a run's logged values, so that a batch resent by a client is stored once.

Revision ID: 0008_run_batches
Revises: 0007_api_tokens
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_run_batches"
down_revision = "0007_api_tokens"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "run_batches",
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("batch_id", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "batch_id", name="pk_run_batches"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_run_batches_run_id_runs"),
    )


def downgrade() -> None:
    op.drop_table("run_batches")
