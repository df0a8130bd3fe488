"""Dashboard sessions: a hash of the cookie, the token it stands for, its CSRF secret.

Revision ID: 0010_dashboard_sessions
Revises: 0009_prediction_batches
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_dashboard_sessions"
down_revision = "0009_prediction_batches"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dashboard_sessions",
        sa.Column("id_sha256", sa.String(64), nullable=False),
        sa.Column("token_id", sa.Integer, nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id_sha256", name="pk_dashboard_sessions"),
        sa.ForeignKeyConstraint(
            ["token_id"], ["api_tokens.id"], name="fk_dashboard_sessions_token_id_api_tokens"
        ),
    )


def downgrade() -> None:
    op.drop_table("dashboard_sessions")
