"""Indexes the dashboard reads by: runs newest first, a metric series as one index scan.

`ix_run_metrics_series` (run, key, step, value) replaces `ix_run_metrics_run_key_step`:
the same leading columns, so every lookup the old one served it serves too, and a
series read never visits the table.

Revision ID: 0011_dashboard_indexes
Revises: 0010_dashboard_sessions
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0011_dashboard_indexes"
down_revision = "0010_dashboard_sessions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_runs_start_time", "runs", ["start_time", "id"])
    op.create_index("ix_run_metrics_series", "run_metrics", ["run_id", "key", "step", "value"])
    op.drop_index("ix_run_metrics_run_key_step", table_name="run_metrics")


def downgrade() -> None:
    op.create_index("ix_run_metrics_run_key_step", "run_metrics", ["run_id", "key", "step"])
    op.drop_index("ix_run_metrics_series", table_name="run_metrics")
    op.drop_index("ix_runs_start_time", table_name="runs")
