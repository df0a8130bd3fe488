"""One-time dashboard sign-in links: a hash of the code, the token it signs in as, its expiry.

Revision ID: 0012_dashboard_login_codes
Revises: 0011_dashboard_indexes
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_dashboard_login_codes"
down_revision = "0011_dashboard_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dashboard_login_codes",
        sa.Column("code_sha256", sa.String(64), nullable=False),
        sa.Column("token_id", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("code_sha256", name="pk_dashboard_login_codes"),
        sa.ForeignKeyConstraint(
            ["token_id"], ["api_tokens.id"], name="fk_dashboard_login_codes_token_id_api_tokens"
        ),
    )


def downgrade() -> None:
    op.drop_table("dashboard_login_codes")
