"""Dataset versions: immutable records in the metadata store, addressed as ``NAME@REF``.

A version is written once, in one transaction with its audit event, after all
of its artifacts (data, quarantine, report) are safely in the artifact store:
a crash before the commit leaves no version, only unreferenced objects.
Versions are numbered per dataset and never reused: the number is taken under
a lock (``BEGIN IMMEDIATE`` on SQLite, an advisory lock on PostgreSQL), and a
unique constraint backs it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from shipyard.config.checks import did_you_mean
from shipyard.errors import NotFoundError, ShipyardError
from shipyard.refs import parse_ref
from shipyard.storage import MetadataStore, as_utc, current_actor, record
from shipyard.storage.tables import dataset_versions, ingested_files


@dataclass(frozen=True)
class DatasetVersion:
    """One immutable version of a dataset, with its lineage and counts."""

    dataset: str
    version: int
    mode: str
    parents: list[int]
    sources: list[dict[str, Any]]
    schema_hash: str
    rows_received: int
    rows_accepted: int
    rows_quarantined: int
    rows: int
    content_hash: str
    data_key: str
    quarantine_key: str
    report_key: str
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    created_by: str = ""

    @property
    def ref(self) -> str:
        return f"{self.dataset}@{self.version}"

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ref"] = self.ref
        data["created_at"] = self.created_at.isoformat()
        return data


class ConcurrentIngestError(ShipyardError):
    """Another ingest committed a version of the same dataset first."""

    http_status = 409


class VersionStore:
    """The dataset-version records of one project."""

    def __init__(self, store: MetadataStore) -> None:
        self._store = store

    def resolve(self, ref: str, *, known: list[str] | None = None) -> DatasetVersion:
        """The version ``ref`` names: ``NAME@3``, ``NAME@latest`` or ``NAME@<hash prefix>``."""
        name, selector = parse_ref(ref, what="dataset version")
        table = dataset_versions
        query = sa.select(table).where(table.c.dataset == name)
        if selector == "latest":
            query = query.order_by(table.c.version.desc()).limit(1)
        elif selector.isdigit():
            query = query.where(table.c.version == int(selector))
        elif len(selector) >= 4 and re.fullmatch(r"[0-9a-f]+", selector):
            query = query.where(table.c.content_hash.like(f"{selector}%")).order_by(
                table.c.version.desc()
            )
        else:
            raise NotFoundError(
                f"'{ref}': '{selector}' is neither a version number, 'latest', "
                "nor a hash prefix (at least 4 hex digits)"
            )
        with self._store.read() as conn:
            rows = conn.execute(query).mappings().all()
        found = {_version(row).version: _version(row) for row in rows}
        if not selector.isdigit() and selector != "latest":
            hashes = {v.content_hash for v in found.values()}
            if len(hashes) > 1:
                matches = ", ".join(f"{name}@{v}" for v in sorted(found))
                raise NotFoundError(
                    f"'{ref}' matches several versions ({matches}); give more digits"
                )
        if not found:
            raise NotFoundError(self._missing(name, selector, known))
        return found[max(found)]

    def _missing(self, name: str, selector: str, known: list[str] | None) -> str:
        if known is not None and name not in known:
            return f"no dataset named '{name}'{did_you_mean(name, known)}"
        versions = [v.version for v in self.log(name)]
        if not versions:
            return f"dataset '{name}' has no versions yet; ingest a batch first"
        return (
            f"dataset '{name}' has no version '{selector}'; "
            f"it has {', '.join(map(str, sorted(versions)))}"
        )

    def log(self, dataset: str) -> list[DatasetVersion]:
        """Every version of ``dataset``, newest first."""
        query = (
            sa.select(dataset_versions)
            .where(dataset_versions.c.dataset == dataset)
            .order_by(dataset_versions.c.version.desc())
        )
        with self._store.read() as conn:
            return [_version(row) for row in conn.execute(query).mappings()]

    def latest(self, dataset: str) -> DatasetVersion | None:
        """The newest version of ``dataset``, or None when it has none."""
        query = (
            sa.select(dataset_versions)
            .where(dataset_versions.c.dataset == dataset)
            .order_by(dataset_versions.c.version.desc())
            .limit(1)
        )
        with self._store.read() as conn:
            row = conn.execute(query).mappings().first()
        return _version(row) if row is not None else None

    def latest_per_dataset(self) -> dict[str, DatasetVersion]:
        """The newest version of every dataset that has one."""
        table = dataset_versions
        newest = (
            sa.select(table.c.dataset, sa.func.max(table.c.version).label("version"))
            .group_by(table.c.dataset)
            .subquery()
        )
        query = sa.select(table).join(
            newest, (table.c.dataset == newest.c.dataset) & (table.c.version == newest.c.version)
        )
        with self._store.read() as conn:
            return {v.dataset: v for v in (_version(r) for r in conn.execute(query).mappings())}

    def counts(self) -> dict[str, int]:
        """How many versions each dataset has."""
        query = sa.select(dataset_versions.c.dataset, sa.func.count()).group_by(
            dataset_versions.c.dataset
        )
        with self._store.read() as conn:
            return {name: int(n) for name, n in conn.execute(query)}

    def file_outcome(self, dataset: str, sha256: str) -> str | None:
        """How a file with these bytes was handled before (``None`` if never seen)."""
        query = sa.select(ingested_files.c.outcome, ingested_files.c.version).where(
            (ingested_files.c.dataset == dataset) & (ingested_files.c.sha256 == sha256)
        )
        with self._store.read() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return f"{row.outcome} as {dataset}@{row.version}" if row.version else str(row.outcome)

    def commit(
        self,
        pending: DatasetVersion,
        *,
        expected_parent: int | None,
        files: Sequence[tuple[str, str]] = (),
    ) -> DatasetVersion:
        """Write ``pending`` as the next version, if the latest is still ``expected_parent``."""
        with self._store.transaction() as conn:
            self._lock(conn, pending.dataset)
            latest = conn.execute(
                sa.select(sa.func.max(dataset_versions.c.version)).where(
                    dataset_versions.c.dataset == pending.dataset
                )
            ).scalar()
            if latest != expected_parent:
                raise ConcurrentIngestError(
                    f"another ingest committed {pending.dataset}@{latest} while this one ran "
                    f"(it started from @{expected_parent})",
                    hint="run the ingest again; it will build on the newest version",
                )
            number = (latest or 0) + 1
            created = datetime.now(UTC)
            actor = current_actor()
            version = DatasetVersion(
                **{**asdict(pending), "version": number, "created_at": created, "created_by": actor}
            )
            values = asdict(version)
            conn.execute(dataset_versions.insert().values(**values))
            for sha256, path in files:
                _remember_file(conn, version.dataset, sha256, path, number, "ingested")
            record(
                conn,
                "data.version.created",
                version.dataset,
                detail={
                    "version": number,
                    "content_hash": version.content_hash,
                    "received": version.rows_received,
                    "accepted": version.rows_accepted,
                    "quarantined": version.rows_quarantined,
                    "sources": [s.get("uri") for s in version.sources],
                },
                actor=actor,
            )
        return version

    def record_rejection(
        self,
        dataset: str,
        report_key: str | None,
        reasons: list[str],
        files: Sequence[tuple[str, str]],
        *,
        outcome: str = "rejected",
    ) -> None:
        """Remember a batch that made no version: why, in the audit log; its files as seen."""
        with self._store.transaction() as conn:
            for sha256, path in files:
                _remember_file(conn, dataset, sha256, path, None, outcome)
            record(
                conn,
                f"data.batch.{outcome}",
                dataset,
                detail={"report": report_key, "failed": reasons, "files": [p for _, p in files]},
            )

    def record_unchanged(
        self,
        version: DatasetVersion,
        reason: str,
        sources: Sequence[str],
        files: Sequence[tuple[str, str]],
    ) -> None:
        """Remember a batch that brought nothing new: no version, an audit event saying
        why, and its new files as seen (so that a watched folder does not retry them)."""
        with self._store.transaction() as conn:
            for sha256, path in files:
                _remember_file(conn, version.dataset, sha256, path, version.version, "unchanged")
            record(
                conn,
                "data.batch.unchanged",
                version.dataset,
                detail={"version": version.version, "reason": reason, "sources": list(sources)},
            )

    def _lock(self, conn: Connection, dataset: str) -> None:
        if conn.dialect.name == "postgresql":
            conn.execute(
                sa.text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
                {"key": f"shipyard.dataset:{dataset}"},
            )


def _remember_file(
    conn: Connection, dataset: str, sha256: str, path: str, version: int | None, outcome: str
) -> None:
    table = ingested_files
    match = (table.c.dataset == dataset) & (table.c.sha256 == sha256)
    values = {
        "path": path,
        "version": version,
        "outcome": outcome,
        "ingested_at": datetime.now(UTC),
    }
    if conn.execute(sa.select(table.c.id).where(match)).first() is None:
        conn.execute(table.insert().values(dataset=dataset, sha256=sha256, **values))
    else:
        conn.execute(table.update().where(match).values(**values))


def _version(row: Any) -> DatasetVersion:
    return DatasetVersion(
        dataset=row["dataset"],
        version=row["version"],
        mode=row["mode"],
        parents=list(row["parents"]),
        sources=list(row["sources"]),
        schema_hash=row["schema_hash"],
        rows_received=row["rows_received"],
        rows_accepted=row["rows_accepted"],
        rows_quarantined=row["rows_quarantined"],
        rows=row["rows"],
        content_hash=row["content_hash"],
        data_key=row["data_key"],
        quarantine_key=row["quarantine_key"],
        report_key=row["report_key"],
        created_at=as_utc(row["created_at"]),
        created_by=row["created_by"],
    )
