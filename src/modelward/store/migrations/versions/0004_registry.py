"""Model registry: registered models, versions, aliases and the alias audit log.

Revision ID: 0004_registry
Revises: 0003_evaluations
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0004_registry"
down_revision = "0003_evaluations"
branch_labels = None
depends_on = None

json_type = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "registered_models",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_registered_models"),
        sa.UniqueConstraint("name", name="uq_registered_models_name"),
    )
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("model_id", sa.Integer, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("flavor", sa.String(32), nullable=False),
        sa.Column("class_name", sa.String(256), nullable=False),
        sa.Column("task", sa.String(32), nullable=False),
        sa.Column("signature", json_type, nullable=False),
        sa.Column("transform", json_type, nullable=True),
        sa.Column("run_id", sa.String(32), nullable=True),
        sa.Column("dataset_version_id", sa.Integer, nullable=True),
        sa.Column("metrics", json_type, nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("tags", json_type, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_model_versions"),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["registered_models.id"],
            name="fk_model_versions_model_id_registered_models",
        ),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_model_versions_run_id_runs"),
        sa.ForeignKeyConstraint(
            ["dataset_version_id"],
            ["dataset_versions.id"],
            name="fk_model_versions_dataset_version_id_dataset_versions",
        ),
        sa.UniqueConstraint("model_id", "version", name="uq_model_versions_number"),
    )
    op.create_table(
        "model_aliases",
        sa.Column("model_id", sa.Integer, nullable=False),
        sa.Column("alias", sa.String(64), nullable=False),
        sa.Column("version_id", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("model_id", "alias", name="pk_model_aliases"),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["registered_models.id"],
            name="fk_model_aliases_model_id_registered_models",
        ),
        sa.ForeignKeyConstraint(
            ["version_id"], ["model_versions.id"], name="fk_model_aliases_version_id_model_versions"
        ),
    )
    op.create_table(
        "alias_audit",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("model_id", sa.Integer, nullable=False),
        sa.Column("alias", sa.String(64), nullable=False),
        sa.Column("from_version", sa.Integer, nullable=True),
        sa.Column("to_version", sa.Integer, nullable=True),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_alias_audit"),
        sa.ForeignKeyConstraint(
            ["model_id"], ["registered_models.id"], name="fk_alias_audit_model_id_registered_models"
        ),
    )
    op.create_index("ix_alias_audit_model_id", "alias_audit", ["model_id"])


def downgrade() -> None:
    for table in ("alias_audit", "model_aliases", "model_versions", "registered_models"):
        op.drop_table(table)
