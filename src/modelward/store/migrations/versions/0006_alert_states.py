"""Alert states: where each rule of a served model stands, so a restart resumes it.

Revision ID: 0006_alert_states
Revises: 0005_monitoring
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_alert_states"
down_revision = "0005_monitoring"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_states",
        sa.Column("model_name", sa.String(128), nullable=False),
        sa.Column("rule", sa.String(128), nullable=False),
        sa.Column("rule_digest", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("since", sa.Float, nullable=True),
        sa.Column("fired_at", sa.Float, nullable=True),
        sa.Column("value", sa.Float, nullable=True),
        sa.Column("zscore", sa.Float, nullable=True),
        sa.Column("evaluated_at", sa.Float, nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("model_name", "rule", name="pk_alert_states"),
    )


def downgrade() -> None:
    op.drop_table("alert_states")
