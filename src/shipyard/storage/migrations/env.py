"""Alembic environment: migrations run on the connection shipyard hands over.

shipyard opens the connection and its transaction (holding a lock so that two
processes opening one fresh database migrate it once), then runs Alembic inside it.
"""

from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    transactional_ddl=True,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
