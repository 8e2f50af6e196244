"""Maintenance: retraining runs, one lock per model with an active run, and named leases.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "retrain_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("trigger", sa.String(100), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("dataset", sa.String(200), nullable=True),
        sa.Column("feedback", sa.JSON, nullable=True),
        sa.Column("candidate", sa.Integer, nullable=True),
        sa.Column("champion", sa.Integer, nullable=True),
        sa.Column("checks", sa.JSON, nullable=False),
        sa.Column("comparison", sa.JSON, nullable=True),
        sa.Column("decision", sa.String(20), nullable=True),
        sa.Column("decided_by", sa.String(200), nullable=True),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("shadow_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("promoted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("steps", sa.JSON, nullable=False),
    )
    op.create_index("ix_retrain_runs_model", "retrain_runs", ["model", "id"])
    op.create_index("ix_retrain_runs_state", "retrain_runs", ["state"])
    op.create_table(
        "retrain_locks",
        sa.Column("model", sa.String(64), primary_key=True),
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "leases",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("leases")
    op.drop_table("retrain_locks")
    op.drop_index("ix_retrain_runs_state", "retrain_runs")
    op.drop_index("ix_retrain_runs_model", "retrain_runs")
    op.drop_table("retrain_runs")
