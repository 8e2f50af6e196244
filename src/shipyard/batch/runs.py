"""The ``batch_runs`` table: every scoring run, who started it, what it read and wrote.

A run is inserted 'running' before the first row is read, says it is alive every
``HEARTBEAT_S`` seconds, and ends 'succeeded' (after every log segment and the output
landed; the audit log gets a "scored" entry in the same transaction) or 'failed' (with
the error). A process killed mid-run cannot say so: its row stays 'running' with a
heartbeat that goes stale, and is shown 'abandoned' after ``STALE_AFTER``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from shipyard.errors import NotFoundError
from shipyard.storage import MetadataStore, as_utc, record
from shipyard.storage.tables import batch_runs

from .records import FAILED, RUNNING, SUCCEEDED, BatchRun, RunRecord

SCORED = "scored"
"""The audit log's action for a finished run."""


class BatchRuns:
    """The runs of one project's metadata store."""

    def __init__(self, metadata: MetadataStore) -> None:
        self._metadata = metadata

    def start(self, run: BatchRun, *, engine: str) -> RunRecord:
        """Insert ``run`` as 'running'."""
        with self._metadata.transaction() as conn:
            conn.execute(
                batch_runs.insert().values(
                    run_id=run.run_id,
                    model=run.model,
                    version=run.version,
                    source=list(run.source),
                    id_column=run.id_column,
                    engine=engine,
                    status=RUNNING,
                    rows_in=0,
                    rows_scored=0,
                    rows_quarantined=0,
                    output=None,
                    quarantine_key=None,
                    segments=[],
                    actor=run.actor,
                    started_at=run.started_at,
                    heartbeat_at=datetime.now(UTC),
                )
            )
        return self.get(run.run_id)

    def heartbeat(self, run_id: str, *, rows_in: int, scored: int, quarantined: int) -> None:
        """Say the run is alive, with its counts so far."""
        self._update(
            run_id,
            heartbeat_at=datetime.now(UTC),
            rows_in=rows_in,
            rows_scored=scored,
            rows_quarantined=quarantined,
        )

    def succeed(
        self,
        run: BatchRun,
        *,
        rows_in: int,
        scored: int,
        quarantined: int,
        output: str | None,
        quarantine_key: str | None,
        segments: Sequence[str],
    ) -> RunRecord:
        """Mark the run 'succeeded' and add "scored" to the audit log, in one transaction."""
        now = datetime.now(UTC)
        values: dict[str, Any] = {
            "status": SUCCEEDED,
            "rows_in": rows_in,
            "rows_scored": scored,
            "rows_quarantined": quarantined,
            "output": output,
            "quarantine_key": quarantine_key,
            "segments": list(segments),
            "heartbeat_at": now,
            "finished_at": now,
        }
        with self._metadata.transaction() as conn:
            conn.execute(
                batch_runs.update().where(batch_runs.c.run_id == run.run_id).values(values)
            )
            record(
                conn,
                SCORED,
                run.model,
                detail={
                    "run": run.run_id,
                    "version": run.version,
                    "source": list(run.source),
                    "rows": {"in": rows_in, "scored": scored, "quarantined": quarantined},
                    "output": output,
                },
                actor=run.actor,
            )
        return self.get(run.run_id)

    def fail(self, run_id: str, error: str) -> None:
        """Mark the run 'failed' with ``error`` (what the user was told)."""
        now = datetime.now(UTC)
        self._update(run_id, status=FAILED, error=error[:2000], heartbeat_at=now, finished_at=now)

    def get(self, run_id: str) -> RunRecord:
        with self._metadata.read() as conn:
            row = (
                conn.execute(sa.select(batch_runs).where(batch_runs.c.run_id == run_id))
                .mappings()
                .first()
            )
        if row is None:
            raise NotFoundError(
                f"no batch run '{run_id}'", hint="'shipyard score --json' prints a run's id"
            )
        return _record(row)

    def list(self, model: str | None = None, *, limit: int = 100) -> list[RunRecord]:
        """The newest ``limit`` runs (of ``model``), newest first."""
        query = sa.select(batch_runs).order_by(batch_runs.c.started_at.desc()).limit(limit)
        if model is not None:
            query = query.where(batch_runs.c.model == model)
        with self._metadata.read() as conn:
            rows = conn.execute(query).mappings().all()
        return [_record(r) for r in rows]

    def _update(self, run_id: str, **values: Any) -> None:
        with self._metadata.transaction() as conn:
            conn.execute(batch_runs.update().where(batch_runs.c.run_id == run_id).values(values))


def _record(row: Any) -> RunRecord:
    finished = row["finished_at"]
    return RunRecord(
        run_id=row["run_id"],
        model=row["model"],
        version=row["version"],
        source=tuple(row["source"] or ()),
        id_column=row["id_column"],
        engine=row["engine"],
        status=row["status"],
        rows_in=row["rows_in"],
        rows_scored=row["rows_scored"],
        rows_quarantined=row["rows_quarantined"],
        output=row["output"],
        quarantine_key=row["quarantine_key"],
        segments=tuple(row["segments"] or ()),
        actor=row["actor"],
        started_at=as_utc(row["started_at"]),
        heartbeat_at=as_utc(row["heartbeat_at"]),
        finished_at=as_utc(finished) if finished is not None else None,
        error=row["error"],
    )
