"""Monitor leases: which process (host and pid) runs the monitor of each model, until
when; renewed every round, so replicas over one database elect one monitor.

Revision ID: 0015_monitor_leases
Revises: 0014_pipelines
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_monitor_leases"
down_revision = "0014_pipelines"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "monitor_leases",
        sa.Column("model_name", sa.String(128), nullable=False),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("host", sa.String(128), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("parent_pid", sa.Integer, nullable=False),
        sa.Column("acquired_ms", sa.BigInteger, nullable=False),
        sa.Column("expires_ms", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("model_name", name="pk_monitor_leases"),
    )


def downgrade() -> None:
    op.drop_table("monitor_leases")
