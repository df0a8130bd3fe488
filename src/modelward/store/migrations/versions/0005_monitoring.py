"""Monitoring: the prediction log, feedback, fired alerts and cached drift references.

Revision ID: 0005_monitoring
Revises: 0004_registry
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0005_monitoring"
down_revision = "0004_registry"
branch_labels = None
depends_on = None

json_type = sa.JSON().with_variant(JSONB(), "postgresql")
id_type = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "prediction_log",
        sa.Column("id", id_type, nullable=False, autoincrement=True),
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.Column("model_name", sa.String(128), nullable=False),
        sa.Column("model_version", sa.Integer, nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("latency_ms", sa.Float, nullable=False),
        sa.Column("n_rows", sa.Integer, nullable=False),
        sa.Column("inputs", json_type, nullable=True),
        sa.Column("outputs", json_type, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_prediction_log"),
    )
    op.create_index("ix_prediction_log_request_id", "prediction_log", ["request_id"])
    op.create_index("ix_prediction_log_model_time", "prediction_log", ["model_name", "created_ms"])
    op.create_table(
        "prediction_feedback",
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.Column("label", json_type, nullable=False),
        sa.Column("received_ms", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("request_id", name="pk_prediction_feedback"),
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("rule", sa.String(128), nullable=False),
        sa.Column("metric", sa.String(128), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("value", sa.Float, nullable=True),
        sa.Column("model_name", sa.String(128), nullable=True),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("details", json_type, nullable=False),
        sa.Column("webhook_status", sa.String(200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_alerts"),
    )

    op.create_table(
        "drift_references",
        sa.Column("dataset_version_id", sa.Integer, nullable=False),
        sa.Column("columns_digest", sa.String(64), nullable=False),
        sa.Column("artifact_digest", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("dataset_version_id", "columns_digest", name="pk_drift_references"),
        sa.ForeignKeyConstraint(
            ["dataset_version_id"],
            ["dataset_versions.id"],
            name="fk_drift_references_dataset_version_id_dataset_versions",
        ),
    )


def downgrade() -> None:
    for table in ("drift_references", "alerts", "prediction_feedback", "prediction_log"):
        op.drop_table(table)
