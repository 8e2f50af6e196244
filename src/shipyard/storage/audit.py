"""The audit log: an append-only record of every change, who made it, when and why.

The database itself refuses UPDATE and DELETE on the table (triggers created by
the first migration), so the history cannot be rewritten through shipyard or
around it.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .metadata import MetadataStore
from .tables import audit_log


@dataclass(frozen=True)
class AuditEvent:
    """One change: ``actor`` did ``action`` to ``subject`` at ``at``, because ``reason``."""

    id: int
    at: datetime
    actor: str
    action: str
    subject: str
    detail: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "action": self.action,
            "subject": self.subject,
            "detail": self.detail,
            "reason": self.reason,
        }


# who acts for the current request (a dashboard action names its user); a context
# variable, so concurrent requests and the threads they hand work to each keep their own
_acting: ContextVar[str | None] = ContextVar("shipyard_actor", default=None)


@contextmanager
def acting_as(actor: str) -> Iterator[None]:
    """Inside the block, changes are audited as done by ``actor`` (this context only)."""
    token = _acting.set(actor)
    try:
        yield
    finally:
        _acting.reset(token)


def current_actor() -> str:
    """Who is acting: the block's :func:`acting_as`, else ``SHIPYARD_ACTOR``, else the login name."""
    actor = _acting.get() or os.environ.get("SHIPYARD_ACTOR")
    if actor:
        return actor
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid:{os.getuid()}"


def record(
    conn: Connection,
    action: str,
    subject: str,
    *,
    detail: dict[str, Any] | None = None,
    reason: str | None = None,
    actor: str | None = None,
) -> AuditEvent:
    """Append one event inside the caller's transaction, so it commits with the change."""
    event = AuditEvent(
        id=0,
        at=datetime.now(UTC),
        actor=actor or current_actor(),
        action=action,
        subject=subject,
        detail=detail or {},
        reason=reason,
    )
    values = {k: v for k, v in vars(event).items() if k != "id"}
    event_id = conn.execute(
        audit_log.insert().values(**values).returning(audit_log.c.id)
    ).scalar_one()
    return replace(event, id=event_id)


def history(
    store: MetadataStore, *, subject: str | None = None, limit: int = 100, parts: bool = False
) -> list[AuditEvent]:
    """The newest ``limit`` events, newest first; only those about ``subject`` if given,
    and with ``parts`` those about its parts too (``risk/drift``: an alert rule of risk)."""
    query = sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    if subject is not None and parts:
        inside = audit_log.c.subject.startswith(f"{subject}/", autoescape=True)
        query = query.where(sa.or_(audit_log.c.subject == subject, inside))
    elif subject is not None:
        query = query.where(audit_log.c.subject == subject)
    with store.read() as conn:
        rows = conn.execute(query).mappings().all()
    return [
        AuditEvent(
            id=row["id"],
            at=as_utc(row["at"]),
            actor=row["actor"],
            action=row["action"],
            subject=row["subject"],
            detail=dict(row["detail"] or {}),
            reason=row["reason"],
        )
        for row in rows
    ]


def as_utc(value: datetime) -> datetime:
    """A datetime read back from the database, in UTC (SQLite keeps no time zone)."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)
