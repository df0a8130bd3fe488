"""The gate an alias move passed, with its results, kept in the audit record.

Revision ID: 0013_alias_audit_gate
Revises: 0012_dashboard_login_codes
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_alias_audit_gate"
down_revision = "0012_dashboard_login_codes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alias_audit") as batch:
        batch.add_column(sa.Column("gate", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alias_audit") as batch:
        batch.drop_column("gate")
