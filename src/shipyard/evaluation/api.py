"""The evaluation stage's API: evaluate a version, keep the result, gate promotion on it."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import numpy as np

from shipyard.config import ProjectConfig
from shipyard.data import Datasets
from shipyard.errors import ConfigError, ShipyardError
from shipyard.models import Models, ModelVersion
from shipyard.storage import ArtifactStore, MetadataStore
from shipyard.training.run import split

from .html import render
from .records import Evaluation, EvaluationSummary
from .report import EvaluationReport
from .repository import EvaluationStore
from .run import evaluate

__all__ = ["Evaluation", "EvaluationSummary", "Evaluations", "GateError"]


class GateError(ShipyardError):
    """A promotion the gates refuse: the version's evaluation failed or is missing."""

    http_status = 409


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
        self.store = EvaluationStore(metadata)
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
        selection = version.training.get("selection")
        if selection:  # trained on a selection of rows: its holdout is drawn from those
            rows = self._data.rows(selection).drop_nulls(target)
        else:
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
        row_id = self.store.add(report, report_key=stored.key, html_key=page.key)
        return Evaluation(row_id, report, stored.key, page.key, self._artifacts.link(page.key))

    def latest(self, ref: str) -> EvaluationSummary | None:
        """The newest evaluation of the version ``ref`` names, if any."""
        version = self._models.registry.resolve(ref)
        return self.store.latest(version.model, version.version)

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
        # the alias moves and the promotion is audited in one transaction: both or neither
        return self._models.registry.promote(
            version.ref,
            to,
            detail={
                "evaluation": latest.id if latest else None,
                "forced": bool(problem),
                "gate_problem": problem,
            },
            reason=reason,
        )


def _json(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
