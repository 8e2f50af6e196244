"""The evaluation stage's API: evaluate a version, keep the result, gate promotion on it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import sqlalchemy as sa

from shipyard.config import ProjectConfig
from shipyard.data import Datasets
from shipyard.errors import ConfigError, ShipyardError
from shipyard.models import Models, ModelVersion
from shipyard.storage import ArtifactStore, MetadataStore, as_utc, current_actor, record
from shipyard.storage.tables import evaluations
from shipyard.training.run import split

from .html import render
from .report import EvaluationReport
from .run import evaluate


class GateError(ShipyardError):
    """A promotion the gates refuse: the version's evaluation failed or is missing."""

    http_status = 409


@dataclass(frozen=True)
class Evaluation:
    """A stored evaluation: its report and where the JSON and HTML copies are."""

    id: int
    report: EvaluationReport
    report_key: str
    html_key: str
    html_url: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "report_key": self.report_key,
            "html_key": self.html_key,
            "html": self.html_url,
            **self.report.as_dict(),
        }


@dataclass(frozen=True)
class EvaluationSummary:
    """The record of an evaluation kept in the registry."""

    id: int
    model: str
    version: int
    passed: bool
    dataset: str | None
    report_key: str
    html_key: str
    failed: list[str]
    created_at: datetime
    created_by: str


class Evaluations:
    """Evaluate model versions and promote only those that pass."""

    def __init__(
        self,
        config: ProjectConfig,
        metadata: MetadataStore,
        artifacts: ArtifactStore,
        data: Datasets,
        models: Models,
    ) -> None:
        self._config = config
        self._store = metadata
        self._artifacts = artifacts
        self._data = data
        self._models = models

    def evaluate(self, ref: str, *, data: str | None = None) -> Evaluation:
        """Run the model's evaluation spec on ``ref``; store the report; return it."""
        version = self._models.registry.resolve(ref)
        model = self._models.config(version.model)
        dataset = self._data.config(model.dataset)
        target = dataset.target
        assert target is not None
        frame, used = self._frame(version, data, target)
        predictor = self._models.load(version.ref)
        champion = self._champion(version)
        golden = None
        if model.evaluation.golden is not None:
            golden = self._data.load(model.evaluation.golden.dataset).to_pandas()
        report = evaluate(
            predictor,
            frame,
            model,
            target,
            ref=(version.model, version.version),
            dataset=used,
            champion=(champion.ref, self._models.load(champion.ref)) if champion else None,
            golden=golden,
        )
        return self._keep(report)

    def _frame(self, version: ModelVersion, data: str | None, target: str) -> tuple[Any, str]:
        """The rows to evaluate on: a named dataset version whole, or the version's own holdout."""
        model = self._models.config(version.model)
        if data is not None:
            chosen = self._data.show(data)
            rows = self._data.load(chosen.ref).drop_nulls(target)
            return rows.to_pandas(), chosen.ref
        if version.dataset is None:
            raise ConfigError(
                f"{version.ref} records no dataset version, so it has no holdout to be evaluated on",
                hint=f"name one: shipyard evaluate {version.ref} --data {model.dataset}@latest",
            )
        rows = self._data.load(version.dataset).drop_nulls(target)
        split_rule = model.split
        _, holdout = split(
            rows,
            split_rule.strategy,
            split_rule.holdout,
            split_rule.seed,
            self._data.config(model.dataset).timestamp,
        )
        return rows[holdout].to_pandas(), f"{version.dataset} (holdout)"

    def _champion(self, version: ModelVersion) -> ModelVersion | None:
        pointed = self._models.registry.aliases(version.model).get("champion")
        if pointed is None or pointed == version.version:
            return None
        return self._models.registry.resolve(f"{version.model}@{pointed}")

    def _keep(self, report: EvaluationReport) -> Evaluation:
        prefix = f"evaluations/{report.model}"
        document = json.dumps(report.as_dict(), sort_keys=True, default=_json).encode()
        stored = self._artifacts.put(document, prefix=prefix, suffix=".json")
        page = self._artifacts.put(render(report).encode(), prefix=prefix, suffix=".html")
        summary = {
            "failed": [c.name for c in report.failed],
            "metrics": report.metrics,
            "checks": len(report.checks),
        }
        with self._store.transaction() as conn:
            row_id = conn.execute(
                evaluations.insert()
                .values(
                    model=report.model,
                    version=report.version,
                    passed=report.passed,
                    dataset=report.dataset,
                    report_key=stored.key,
                    html_key=page.key,
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
                    "report": stored.key,
                },
            )
        return Evaluation(row_id, report, stored.key, page.key, self._artifacts.link(page.key))

    def latest(self, ref: str) -> EvaluationSummary | None:
        """The newest evaluation of the version ``ref`` names, if any."""
        version = self._models.registry.resolve(ref)
        query = (
            sa.select(evaluations)
            .where(
                (evaluations.c.model == version.model) & (evaluations.c.version == version.version)
            )
            .order_by(evaluations.c.id.desc())
            .limit(1)
        )
        with self._store.read() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            return None
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
        )

    def promote(
        self, ref: str, *, to: str = "champion", force: bool = False, reason: str | None = None
    ) -> tuple[int | None, int]:
        """Point alias ``to`` at ``ref`` if its newest evaluation passed (or ``force`` with a reason)."""
        version = self._models.registry.resolve(ref)
        latest = self.latest(version.ref)
        problem = None
        if latest is None:
            problem = f"{version.ref} has not been evaluated"
        elif not latest.passed:
            problem = f"the latest evaluation of {version.ref} failed: {', '.join(latest.failed)}"
        if problem and not force:
            raise GateError(
                f"refusing to promote {version.ref} to {to}: {problem}",
                hint=f"see 'shipyard evaluate {version.ref}'; or override with --force --reason \"...\"",
            )
        if force and not (reason and reason.strip()):
            raise ConfigError(
                "--force needs --reason: an override is written to the audit log with why"
            )
        before, after = self._models.alias(version.ref, to, reason=reason)
        with self._store.transaction() as conn:
            record(
                conn,
                "model.promoted",
                version.model,
                detail={
                    "version": version.version,
                    "alias": to,
                    "from": before,
                    "to": after,
                    "evaluation": latest.id if latest else None,
                    "forced": bool(problem),
                    "gate_problem": problem,
                },
                reason=reason,
            )
        return before, after


def _json(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
