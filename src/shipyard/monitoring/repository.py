"""The monitoring stage's tables: reference profiles, runs and their figures.

All of the stage's SQL is here; :class:`~shipyard.monitoring.api.Monitoring`
decides what to store and when, this module only how.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from shipyard.storage import MetadataStore, as_utc, current_actor
from shipyard.storage.tables import monitor_figures, monitor_runs, reference_profiles

from .records import RunSummary, StoredFigure
from .report import MonitorReport


class MonitorStore:
    """Reference profiles, runs and figures of one project's models, in the metadata store."""

    def __init__(self, store: MetadataStore) -> None:
        self._store = store

    # -- reference profiles -----------------------------------------------------------
    def profile_key(self, model: str, version: int) -> str | None:
        """Where the reference profile of ``model@version`` is stored, if it has one."""
        with self._store.read() as conn:
            key: str | None = conn.execute(
                sa.select(reference_profiles.c.key).where(
                    (reference_profiles.c.model == model)
                    & (reference_profiles.c.version == version)
                )
            ).scalar()
        return key

    def keep_profile(
        self, model: str, version: int, *, key: str, source: str, rows: int, created_at: datetime
    ) -> None:
        """Record (or replace) ``model@version``'s reference profile, stored at ``key``."""
        with self._store.transaction() as conn:
            conn.execute(
                reference_profiles.delete().where(
                    (reference_profiles.c.model == model)
                    & (reference_profiles.c.version == version)
                )
            )
            conn.execute(
                reference_profiles.insert().values(
                    model=model,
                    version=version,
                    key=key,
                    source=source,
                    rows=rows,
                    created_at=created_at,
                )
            )

    # -- runs -------------------------------------------------------------------------
    def add_run(self, report: MonitorReport, *, report_key: str, html_key: str) -> int:
        """Record a run and its figures in one transaction; the run's id."""
        at = datetime.fromisoformat(report.window["end"])
        with self._store.transaction() as conn:
            run_id = conn.execute(
                monitor_runs.insert()
                .values(
                    model=report.model,
                    version=report.version,
                    window_start=datetime.fromisoformat(report.window["start"]),
                    window_end=at,
                    rows=report.rows,
                    drifted=len(report.drifted),
                    report_key=report_key,
                    html_key=html_key,
                    summary=json.loads(json.dumps(report.summary(), default=str)),
                    created_at=report.created_at,
                    created_by=current_actor(),
                )
                .returning(monitor_runs.c.id)
            ).scalar_one()
            figures = [
                {"run_id": run_id, "model": report.model, "at": at, **f.__dict__}
                for f in report.figures()
            ]
            if figures:
                conn.execute(monitor_figures.insert(), figures)
        return int(run_id)

    def runs(self, model: str | None, *, limit: int = 50) -> list[RunSummary]:
        """The newest ``limit`` runs of ``model`` (of every model: None), newest first."""
        query = sa.select(monitor_runs).order_by(monitor_runs.c.id.desc()).limit(limit)
        if model is not None:
            query = query.where(monitor_runs.c.model == model)
        with self._store.read() as conn:
            rows = conn.execute(query).all()
        return [_run(r) for r in rows]

    def run(self, run_id: int) -> RunSummary | None:
        """The run with this id, if there is one."""
        with self._store.read() as conn:
            row = conn.execute(sa.select(monitor_runs).where(monitor_runs.c.id == run_id)).first()
        return None if row is None else _run(row)

    def figures(
        self, model: str, *, kind: str | None = None, name: str | None = None, limit: int = 1000
    ) -> list[StoredFigure]:
        """The newest ``limit`` stored figures of ``model`` (of one ``kind``, one ``name``),
        oldest first."""
        query = sa.select(monitor_figures).where(monitor_figures.c.model == model)
        if kind:
            query = query.where(monitor_figures.c.kind == kind)
        if name:
            query = query.where(monitor_figures.c.name == name)
        query = query.order_by(monitor_figures.c.id.desc()).limit(limit)
        with self._store.read() as conn:
            rows = conn.execute(query).all()
        return [_figure(r) for r in reversed(rows)]


def _run(r: Any) -> RunSummary:
    return RunSummary(
        id=r.id,
        model=r.model,
        version=r.version,
        window_start=as_utc(r.window_start),
        window_end=as_utc(r.window_end),
        rows=r.rows,
        drifted=r.drifted,
        report_key=r.report_key,
        html_key=r.html_key,
        summary=r.summary,
        created_at=as_utc(r.created_at),
    )


def _figure(row: Any) -> StoredFigure:
    return StoredFigure(
        at=as_utc(row.at),
        kind=row.kind,
        name=row.name,
        statistic=row.statistic,
        value=row.value,
        threshold=row.threshold,
        flagged=row.flagged,
    )
