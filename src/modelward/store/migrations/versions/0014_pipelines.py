"""Pipeline history: a run of a pipeline file (who started it, why, how it ended) and
the steps it recorded, each with its cache key and outputs.

Revision ID: 0014_pipelines
Revises: 0013_alias_audit_gate
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0014_pipelines"
down_revision = "0013_alias_audit_gate"
branch_labels = None
depends_on = None

json_type = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "pipeline_runs",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("pipeline", sa.String(128), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("spec_digest", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("trigger", sa.String(500), nullable=False),
        sa.Column("started_by", sa.String(128), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_pipeline_runs"),
    )
    op.create_index("ix_pipeline_runs_started_at", "pipeline_runs", ["started_at", "id"])
    op.create_index(
        "ix_pipeline_runs_pipeline_started_at", "pipeline_runs", ["pipeline", "started_at"]
    )
    op.create_table(
        "pipeline_steps",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("outputs", json_type, nullable=False),
        sa.Column("seconds", sa.Float, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_pipeline_steps"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["pipeline_runs.id"], name="fk_pipeline_steps_run_id_pipeline_runs"
        ),
        sa.UniqueConstraint("run_id", "name", name="uq_pipeline_steps_run_step"),
    )
    op.create_index("ix_pipeline_steps_name_key", "pipeline_steps", ["name", "key", "id"])


def downgrade() -> None:
    op.drop_index("ix_pipeline_steps_name_key", table_name="pipeline_steps")
    op.drop_table("pipeline_steps")
    op.drop_index("ix_pipeline_runs_pipeline_started_at", table_name="pipeline_runs")
    op.drop_index("ix_pipeline_runs_started_at", table_name="pipeline_runs")
    op.drop_table("pipeline_runs")
