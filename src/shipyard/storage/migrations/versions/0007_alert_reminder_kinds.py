"""Room for a reminder's name: ``alerts.owed`` and ``alert_notifications.kind`` hold
``reminder-20261203T063800`` (24 characters), wider than their 20. SQLite does not
enforce a length; PostgreSQL refused the first reminder.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

WIDENED = (("alerts", "owed", True), ("alert_notifications", "kind", False))


def upgrade() -> None:
    _resize(40, 20)


def downgrade() -> None:
    _resize(20, 40)


def _resize(length: int, was: int) -> None:
    if op.get_bind().dialect.name == "sqlite":
        return  # a VARCHAR's length is not enforced there: nothing to change
    for table, column, nullable in WIDENED:
        op.alter_column(
            table,
            column,
            type_=sa.String(length),
            existing_type=sa.String(was),
            existing_nullable=nullable,
        )
