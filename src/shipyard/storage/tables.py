"""The metadata database's tables, as SQLAlchemy Core objects for queries.

The schema itself is created and changed only by the Alembic migrations in
``migrations/versions``; ``SCHEMA_HEAD`` names the newest one, so opening an
up-to-date database needs no Alembic at all. A test pins that the two agree.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, DateTime, Index, Integer, MetaData, String, Table, Text

SCHEMA_HEAD = "0001"

metadata = MetaData()

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(100), nullable=False),
    Column("subject", String(300), nullable=False),
    Column("detail", JSON, nullable=False),
    Column("reason", Text, nullable=True),
)
Index("ix_audit_log_subject", audit_log.c.subject, audit_log.c.id)
