"""A lease: one named row in the metadata database that one process holds at a time.

``shipyard worker`` holds the lease ``worker`` while it acts; it renews it every
tick, so the row's ``expires_at`` keeps moving ahead. A holder that dies stops
renewing, the lease expires, and another process takes it over: with several
workers (or replicas running one) exactly one acts at a time.

Taking the lease is one transaction that is safe against a concurrent taker: on
SQLite every write transaction holds the database's write lock from its start; on
PostgreSQL an advisory lock on the lease's name serialises takers, and the
conditional ``UPDATE … WHERE holder = me OR expires_at < now`` (its row count
checked) and the ``INSERT`` that fails on the primary key would refuse a second
taker even without it. Times are UTC from this machine's clock: hosts that share a
lease need clocks that agree to well within the lease time (NTP does).
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from shipyard.storage import MetadataStore, as_utc, lock
from shipyard.storage.tables import leases

logger = logging.getLogger(__name__)

__all__ = ["Lease", "default_holder"]


def default_holder() -> str:
    """``host:pid``: who this process is, in leases and run records."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Lease:
    """The lease ``name``, held by ``holder`` for ``seconds`` after each acquire or renew."""

    def __init__(
        self,
        metadata: MetadataStore,
        name: str = "worker",
        holder: str | None = None,
        seconds: float = 30.0,
    ) -> None:
        if seconds <= 0:
            raise ValueError(f"a lease lasts a positive number of seconds, got {seconds}")
        self.metadata = metadata
        self.name = name
        self.holder = holder or default_holder()
        self.seconds = float(seconds)

    def acquire(self, now: datetime | None = None) -> bool:
        """Take the lease if it is free, expired or ours already (then it is renewed)."""
        now = _utc(now)
        values = {
            "holder": self.holder,
            "acquired_at": now,
            "expires_at": now + timedelta(seconds=self.seconds),
        }
        try:
            with self.metadata.transaction() as conn:
                lock(conn, f"shipyard.lease:{self.name}")
                row = conn.execute(sa.select(leases).where(leases.c.name == self.name)).first()
                if row is None:
                    conn.execute(leases.insert().values(name=self.name, **values))
                    return True
                if row.holder == self.holder:  # ours already: keep when we took it
                    values["acquired_at"] = as_utc(row.acquired_at)
                taken = conn.execute(
                    leases.update()
                    .where(leases.c.name == self.name)
                    .where(sa.or_(leases.c.holder == self.holder, leases.c.expires_at <= now))
                    .values(**values)
                )
                return taken.rowcount == 1
        except sa.exc.IntegrityError:  # another taker inserted the row first
            return False

    def renew(self, now: datetime | None = None) -> bool:
        """Move the expiry ahead if the lease is still ours; ``False`` when another took it
        (or it was released)."""
        now = _utc(now)
        with self.metadata.transaction() as conn:
            renewed = conn.execute(
                leases.update()
                .where(leases.c.name == self.name, leases.c.holder == self.holder)
                .values(expires_at=now + timedelta(seconds=self.seconds))
            )
            return renewed.rowcount == 1

    def release(self) -> None:
        """Give the lease up now (if ours), so another process need not wait for the expiry."""
        with self.metadata.transaction() as conn:
            conn.execute(
                leases.delete().where(leases.c.name == self.name, leases.c.holder == self.holder)
            )

    def held_by(self, now: datetime | None = None) -> tuple[str, datetime] | None:
        """Who holds the lease and until when; ``None`` when it is free or has expired."""
        now = _utc(now)
        with self.metadata.read() as conn:
            row = conn.execute(sa.select(leases).where(leases.c.name == self.name)).first()
        if row is None or as_utc(row.expires_at) <= now:
            return None
        return str(row.holder), as_utc(row.expires_at)

    def __repr__(self) -> str:
        return f"<Lease {self.name!r} for {self.holder} ({self.seconds:g} s)>"


def _utc(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    return now.astimezone(UTC) if now.tzinfo else now.replace(tzinfo=UTC)
