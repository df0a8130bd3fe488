"""Evaluation records: a model on a dataset version -> metrics and plots.

Revision ID: 0003_evaluations
Revises: 0002_tracking
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003_evaluations"
down_revision = "0002_tracking"
branch_labels = None
depends_on = None

json_type = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "evaluations",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("run_id", sa.String(32), nullable=True),
        sa.Column("model_ref", sa.String(200), nullable=False),
        sa.Column("dataset_version_id", sa.Integer, nullable=False),
        sa.Column("target", sa.String(250), nullable=False),
        sa.Column("task", sa.String(32), nullable=False),
        sa.Column("n_rows", sa.BigInteger, nullable=False),
        sa.Column("metrics", json_type, nullable=False),
        sa.Column("plots", json_type, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_evaluations"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_evaluations_run_id_runs"),
        sa.ForeignKeyConstraint(
            ["dataset_version_id"],
            ["dataset_versions.id"],
            name="fk_evaluations_dataset_version_id_dataset_versions",
        ),
    )
    op.create_index("ix_evaluations_run_id", "evaluations", ["run_id"])


def downgrade() -> None:
    op.drop_table("evaluations")
