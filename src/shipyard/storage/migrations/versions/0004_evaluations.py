"""Evaluation results, kept per model version (the newest decides promotion).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "evaluations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("passed", sa.Boolean, nullable=False),
        sa.Column("dataset", sa.String(200), nullable=True),
        sa.Column("report_key", sa.String(300), nullable=False),
        sa.Column("html_key", sa.String(300), nullable=False),
        sa.Column("summary", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
    )
    op.create_index("ix_evaluations_model_version", "evaluations", ["model", "version", "id"])


def downgrade() -> None:
    op.drop_index("ix_evaluations_model_version", "evaluations")
    op.drop_table("evaluations")
