"""The metadata store: small, mutable state in SQLite (WAL) or PostgreSQL.

Opening a store connects, then brings the schema to this shipyard's newest
revision with Alembic (an older database is migrated, a newer one refused); a
store opened with ``lazy=True`` does both on its first use instead, so a server
can start before its database answers (see :meth:`MetadataStore.ping`).
Every multi-row change runs in :meth:`MetadataStore.transaction`, which on
SQLite takes the write lock up front (``BEGIN IMMEDIATE``) so concurrent
writers queue instead of failing half-way.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from shipyard.errors import (
    MissingDependencyError,
    NoSpaceError,
    SchemaVersionError,
    StorageError,
    UnreachableError,
    first_line,
)

from .failures import (
    database_full,
    database_read_only,
    disk_full,
    unreachable,
    write_failure,
)
from .tables import SCHEMA_HEAD, audit_log
from .urls import database_url, redact

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
_PG_MIGRATION_LOCK = 0x5348_4950  # "SHIP": one advisory lock id for schema migrations
CONNECT_TIMEOUT_S = 10
SQLITE_BUSY_TIMEOUT_S = 30


class MetadataStore:
    """Versions, aliases, audit and alert state, in one SQL database."""

    def __init__(self, url: str, *, root: Path, lazy: bool = False) -> None:
        resolved = database_url(url, root)
        self.url = redact(resolved if resolved.startswith("sqlite") else url)
        self._engine = _create_engine(resolved, url)
        self.backend = self._engine.dialect.name
        self._migrated = False
        self._migrating = threading.Lock()
        if not lazy:
            try:
                self._migrate_once()
            except Exception:
                self._engine.dispose()
                raise

    @property
    def engine(self) -> Engine:
        return self._engine

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A write transaction: committed when the block ends, rolled back on any error."""
        with self._connect() as conn:
            if self.backend == "sqlite":
                conn.execution_options(sqlite_begin="IMMEDIATE")
            with conn.begin():
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only view for queries (nothing written in it is kept)."""
        with self._connect() as conn, conn.begin() as tx:
            yield conn
            tx.rollback()

    def ping(self) -> None:
        """Connect (and migrate, the first time): :class:`UnreachableError` if nobody answers."""
        with self._connect():
            pass

    def schema_revision(self) -> str | None:
        """The Alembic revision the database is at."""
        with self.read() as conn:
            return _current_revision(conn)

    def check(self) -> None:
        """Prove the database can be written and read back, leaving nothing behind."""
        with self._connect() as conn:
            if self.backend == "sqlite":
                conn.execution_options(sqlite_begin="IMMEDIATE")
            tx = conn.begin()
            try:
                row_id = conn.execute(
                    audit_log.insert()
                    .values(
                        at=sa.func.now(),
                        actor="shipyard doctor",
                        action="doctor.check",
                        subject="doctor",
                        detail={},
                    )
                    .returning(audit_log.c.id)
                ).scalar_one()
                found = conn.execute(
                    sa.select(audit_log.c.action).where(audit_log.c.id == row_id)
                ).scalar_one()
                if found != "doctor.check":
                    raise StorageError(
                        f"database {self.url} returned {found!r} for a row just written"
                    )
            except sa.exc.DBAPIError as exc:
                raise _wrap(
                    exc, f"could not write to the metadata database {self.url}", self.url
                ) from exc
            finally:
                tx.rollback()

    def close(self) -> None:
        self._engine.dispose()

    @contextmanager
    def _connect(self) -> Iterator[Connection]:
        """A connection to a migrated database; a failure of the database is a StorageError."""
        if not self._migrated:
            self._migrate_once()
        with self._session() as conn:
            yield conn

    @contextmanager
    def _session(self) -> Iterator[Connection]:
        try:
            conn = self._engine.connect()
        except sa.exc.DBAPIError as exc:
            raise _wrap(
                exc, f"could not connect to the metadata database {self.url}", self.url
            ) from exc
        with conn:
            try:
                yield conn
            except sa.exc.OperationalError as exc:  # lost, full, read-only, locked too long
                raise _wrap(exc, f"the metadata database {self.url} failed", self.url) from exc

    def _migrate_once(self) -> None:
        with self._migrating:
            if not self._migrated:
                self._migrate()
                self._migrated = True

    def _migrate(self) -> None:
        with self._session() as conn:
            with conn.begin():
                current = _current_revision(conn)
            if current == SCHEMA_HEAD:
                return
            if self.backend == "sqlite":
                conn.execution_options(sqlite_begin="IMMEDIATE")
            try:
                with conn.begin():
                    if self.backend == "postgresql":
                        conn.execute(sa.text(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})"))
                    _upgrade(conn, self.url)
            except sa.exc.DBAPIError as exc:
                raise _wrap(
                    exc, f"could not migrate the metadata database {self.url}", self.url
                ) from exc


def lock(conn: Connection, key: str) -> None:
    """Serialise transactions on ``key`` until this one ends: a PostgreSQL advisory lock.

    SQLite needs none: every write transaction takes the database's write lock up front.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": key})


def _current_revision(conn: Connection) -> str | None:
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def _upgrade(conn: Connection, url: str) -> None:
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = conn
    scripts = ScriptDirectory.from_config(config)
    current = _current_revision(conn)  # again, now that we hold the lock
    known = {rev.revision for rev in scripts.walk_revisions()}
    if current is not None and current not in known:
        raise SchemaVersionError(
            f"the metadata database {url} is at schema revision '{current}', which this "
            f"shipyard does not know (it knows up to '{scripts.get_current_head()}'): "
            "it was written by a newer shipyard",
            hint="upgrade shipyard (pip install -U shipyard) on this machine; "
            "do not point an older shipyard at it",
        )
    if current != scripts.get_current_head():
        log.info("migrating metadata database %s from %s to %s", url, current, SCHEMA_HEAD)
        command.upgrade(config, "head")


def _create_engine(sa_url: str, url: str) -> Engine:
    try:
        return _engine_for(sa_url, url)
    except (sa.exc.ArgumentError, ValueError) as exc:  # a port that is no number, a bad option
        raise StorageError(
            f"the database URL {redact(url)} is malformed: {_url_problem(url, exc)}",
            hint="write it as postgresql://USER:PASSWORD@HOST:PORT/DATABASE or "
            "sqlite:///PATH in storage.database (or SHIPYARD_DATABASE_URL)",
        ) from None


def _url_problem(url: str, exc: Exception) -> str:
    """What is wrong with ``url``, in words (the driver's own message names Python internals)."""
    host = url.partition("://")[2].partition("/")[0].rpartition("@")[2]
    if host.startswith("[") and "]" not in host:
        return "the IPv6 address after '[' has no closing ']'"
    port = host.rpartition("]")[2] if host.startswith("[") else host
    if ":" in port and not port.rpartition(":")[2].isdigit():
        return f"its port {port.rpartition(':')[2]!r} is not a number"
    return first_line(exc)


def _engine_for(sa_url: str, url: str) -> Engine:
    if sa_url.startswith("sqlite"):
        return _sqlite_engine(sa_url, url)
    if sa_url.startswith("postgresql"):
        try:
            import psycopg  # noqa: F401 - imported to give a clear error when it is missing
        except ImportError:
            raise MissingDependencyError("psycopg", "postgres", "a PostgreSQL database") from None
        return sa.create_engine(
            sa_url,
            pool_pre_ping=True,
            connect_args={"connect_timeout": CONNECT_TIMEOUT_S},
        )
    raise StorageError(f"unsupported database URL {redact(url)}; use sqlite:/// or postgresql://")


def _sqlite_engine(sa_url: str, url: str) -> Engine:
    path = sa_url[len("sqlite:///") :]
    if path:
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            failure = write_failure(
                exc, Path(path).parent, setting="storage.database (or SHIPYARD_DATABASE_URL)"
            )
            raise failure or StorageError(
                f"cannot create the folder for the metadata database {url}: {exc}"
            ) from exc
    engine = sa.create_engine(sa_url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_conn.cursor()
        _use_wal(cursor)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def _use_wal(cursor: Any) -> None:
    """Switch to WAL once per database file; the switch itself can meet a lock, so retry."""
    import sqlite3

    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


_PSYCOPG_PREFIX = re.compile(
    r'^connection failed: (connection to server at "[^"]*", port \d+ failed: )?'
)


def _wrap(exc: sa.exc.DBAPIError, what: str, url: str) -> StorageError:
    """The error a user reads: the store did not answer, had no room, or refused."""
    reason = first_line(exc.orig if exc.orig is not None else exc)
    where = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else url
    local = url.startswith("sqlite:///")
    if database_full(exc) or (local and "disk i/o error" in reason.lower() and disk_full(where)):
        return NoSpaceError(
            f"no space left on {where} (the metadata database), nothing was written",
            hint="free some space on the database's disk (or raise its quota) and run it again",
        )
    if database_read_only(exc):
        return StorageError(
            f"the metadata database {where} is read-only, nothing was written",
            hint="give this user write access to the file and its folder, or point "
            "storage.database (or SHIPYARD_DATABASE_URL) at one it can write",
        )
    if unreachable(exc):
        return UnreachableError(
            f"{what}: {reason}",
            store="metadata store",
            url=url,
            reason=_PSYCOPG_PREFIX.sub("", reason),  # the URL names host and port already
            hint="check that the database server is running and reachable from here; "
            "`shipyard serve` waits for it",
        )
    return StorageError(
        f"{what}: {reason}",
        hint="check that the server is running and reachable and that the URL in "
        "storage.database (or SHIPYARD_DATABASE_URL) is right",
    )
