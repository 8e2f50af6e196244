"""The evaluation stage's table: one row per evaluation, written with its audit event.

All of the stage's SQL is here; :class:`~shipyard.evaluation.api.Evaluations`
decides what to store and when, this module only how.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from shipyard.storage import MetadataStore, as_utc, current_actor, record
from shipyard.storage.tables import evaluations

from .records import EvaluationSummary
from .report import EvaluationReport


class EvaluationStore:
    """The evaluations of one project's model versions, in the metadata store."""

    def __init__(self, store: MetadataStore) -> None:
        self._store = store

    def add(self, report: EvaluationReport, *, report_key: str, html_key: str) -> int:
        """Record ``report`` (its JSON at ``report_key``) and its ``model.evaluated`` audit
        event in one transaction; the evaluation's id."""
        summary = {
            "failed": [c.name for c in report.failed],
            "metrics": report.metrics,
            "checks": len(report.checks),
        }
        with self._store.transaction() as conn:
            row_id: int = conn.execute(
                evaluations.insert()
                .values(
                    model=report.model,
                    version=report.version,
                    passed=report.passed,
                    dataset=report.dataset,
                    report_key=report_key,
                    html_key=html_key,
                    summary=summary,
                    created_at=report.created_at,
                    created_by=current_actor(),
                )
                .returning(evaluations.c.id)
            ).scalar_one()
            record(
                conn,
                "model.evaluated",
                report.model,
                detail={
                    "version": report.version,
                    "passed": report.passed,
                    "failed": summary["failed"],
                    "report": report_key,
                },
            )
        return row_id

    def latest(self, model: str, version: int) -> EvaluationSummary | None:
        """The newest evaluation of ``model@version``, if any."""
        query = (
            sa.select(evaluations)
            .where((evaluations.c.model == model) & (evaluations.c.version == version))
            .order_by(evaluations.c.id.desc())
            .limit(1)
        )
        with self._store.read() as conn:
            row = conn.execute(query).mappings().first()
        return None if row is None else _summary(row)

    def history(self, model: str | None = None, *, limit: int = 100) -> list[EvaluationSummary]:
        """The newest ``limit`` evaluations (of ``model``), newest first."""
        query = sa.select(evaluations).order_by(evaluations.c.id.desc()).limit(limit)
        if model is not None:
            query = query.where(evaluations.c.model == model)
        with self._store.read() as conn:
            return [_summary(row) for row in conn.execute(query).mappings()]

    def get(self, evaluation_id: int) -> EvaluationSummary | None:
        """The evaluation with this id, if there is one."""
        query = sa.select(evaluations).where(evaluations.c.id == evaluation_id)
        with self._store.read() as conn:
            row = conn.execute(query).mappings().first()
        return None if row is None else _summary(row)


def _summary(row: Any) -> EvaluationSummary:
    return EvaluationSummary(
        id=row["id"],
        model=row["model"],
        version=row["version"],
        passed=bool(row["passed"]),
        dataset=row["dataset"],
        report_key=row["report_key"],
        html_key=row["html_key"],
        failed=list(row["summary"].get("failed", [])),
        created_at=as_utc(row["created_at"]),
        created_by=row["created_by"],
        metrics={str(k): v for k, v in (row["summary"].get("metrics") or {}).items()},
    )
