"""Dataset versions (immutable, with lineage) and the files a watched folder has ingested.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dataset_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("dataset", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("parents", sa.JSON, nullable=False),
        sa.Column("sources", sa.JSON, nullable=False),
        sa.Column("schema_hash", sa.String(64), nullable=False),
        sa.Column("rows_received", sa.BigInteger, nullable=False),
        sa.Column("rows_accepted", sa.BigInteger, nullable=False),
        sa.Column("rows_quarantined", sa.BigInteger, nullable=False),
        sa.Column("rows", sa.BigInteger, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("data_key", sa.String(300), nullable=False),
        sa.Column("quarantine_key", sa.String(300), nullable=False),
        sa.Column("report_key", sa.String(300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.UniqueConstraint("dataset", "version", name="uq_dataset_versions_dataset_version"),
    )
    op.create_index("ix_dataset_versions_content", "dataset_versions", ["dataset", "content_hash"])
    op.create_table(
        "ingested_files",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("dataset", sa.String(64), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("ingested_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("dataset", "sha256", name="uq_ingested_files_dataset_sha256"),
    )


def downgrade() -> None:
    op.drop_table("ingested_files")
    op.drop_index("ix_dataset_versions_content", "dataset_versions")
    op.drop_table("dataset_versions")
