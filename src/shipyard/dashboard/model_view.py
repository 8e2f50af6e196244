"""What the model page shows, read through the Project API (no storage of its own).

Each part is read on its own: a part that cannot be read (a report missing from the
artifact store, a log that does not parse) becomes a :class:`Missing` that names what
and why, and the other parts still render.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from shipyard.errors import NotFoundError

from .live import Live, live_figures
from .parts import Missing, read_part
from .trends import Trends, trends

if TYPE_CHECKING:
    from shipyard.evaluation.records import EvaluationSummary
    from shipyard.maintenance.records import RetrainRun
    from shipyard.models.registry import ModelVersion
    from shipyard.monitoring.alerting import Alert
    from shipyard.monitoring.drift import FeatureDrift
    from shipyard.monitoring.records import RunSummary
    from shipyard.project import Project
    from shipyard.reports import ReportEntry
    from shipyard.storage import AuditEvent

logger = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class FeatureRow:
    """One feature of the latest monitoring run: statistic, threshold, verdict, chart."""

    drift: FeatureDrift
    chart: str  # inline SVG (drawn and escaped by shipyard.charts); "" without a plot

    @property
    def verdict(self) -> str:
        if self.drift.drifted is None:
            return "not judged"
        return "drifted" if self.drift.drifted else "stable"


@dataclass(frozen=True)
class LatestRun:
    """The newest monitoring run and its per-feature verdicts (from its stored report)."""

    run: RunSummary
    features: list[FeatureRow]
    notes: list[str]
    too_few: list[str]  # features not judged, with why (too few rows)


@dataclass
class ModelView:
    """The model page's content."""

    name: str
    at: datetime
    owner: dict[str, Any] = field(default_factory=dict)
    task: str = ""
    budget_ms: float | None = None
    declared: bool = True
    versions: list[ModelVersion] = field(default_factory=list)
    evaluations: dict[int, EvaluationSummary] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)
    lineage_of: str | None = None
    lineage: list[dict[str, Any]] = field(default_factory=list)
    audit: list[AuditEvent] = field(default_factory=list)
    reports: list[ReportEntry] = field(default_factory=list)
    latest: LatestRun | None = None
    runs: int = 0
    trends: Trends | None = None
    firing: list[Alert] = field(default_factory=list)
    past: list[Alert] = field(default_factory=list)
    retrains: list[RetrainRun] = field(default_factory=list)
    live: Live | None = None
    missing: list[Missing] = field(default_factory=list)

    @property
    def param_names(self) -> list[str]:
        return sorted({k for v in self.versions for k in v.params})

    @property
    def metric_names(self) -> list[str]:
        return sorted({k for v in self.versions for k in v.metrics})

    def aliases_of(self, version: int) -> list[str]:
        return sorted(a for a, v in self.aliases.items() if v == version)


def model_view(project: Project, name: str, *, now: datetime | None = None) -> ModelView:
    """Everything the page shows about model ``name``; NotFoundError for no such model."""
    name = project.models.known(name)  # 404 with the models there are
    view = ModelView(name=name, at=now or datetime.now(UTC))
    declared = project.config.models.get(name)
    view.declared = declared is not None
    if declared is not None:
        view.owner = declared.owner.model_dump(exclude_none=True)
        for channel in ("webhook", "slack"):  # their URLs carry secrets: never shown
            view.owner.pop(channel, None)
        view.task = declared.task
        view.budget_ms = float(declared.latency_budget_ms)
    registry = project.models.registry

    def part(what: str, read: Callable[[], T], default: T) -> T:
        return read_part(view.missing, name, what, read, default)

    view.versions = part("the versions", lambda: registry.versions(name), [])
    if not view.task and view.versions:
        view.task = view.versions[0].task
    view.aliases = part("the aliases", lambda: registry.aliases(name), {})
    view.audit = part("the audit trail", lambda: registry.history(name, limit=100), [])
    history: list[EvaluationSummary] = part(
        "the evaluations", lambda: project.evaluations.history(name, limit=500), []
    )
    for evaluation in sorted(history, key=lambda e: e.id):
        view.evaluations[evaluation.version] = evaluation  # the newest per version
    shown = view.aliases.get("champion") or (view.versions[0].version if view.versions else None)
    if shown is not None:
        view.lineage_of = f"{name}@{shown}"
        view.lineage = part(
            f"the lineage of {name}@{shown}",
            lambda: project.models.card(f"{name}@{shown}").lineage,
            [],
        )
    view.reports = part("the reports", lambda: project.reports.list(name, limit=30), [])
    runs: list[RunSummary] = part(
        "the monitoring runs", lambda: project.monitoring.runs(name, limit=1), []
    )
    if runs:
        view.latest = part(
            f"the report of monitoring run #{runs[0].id}",
            lambda: _latest(project, runs[0]),
            None,
        )
        view.runs = len(runs)
    view.trends = part("the monitoring history", lambda: trends(project, name), None)
    alerts: list[Alert] = part(
        "the alerts", lambda: project.monitoring.alerts.list(model=name, every=True, limit=100), []
    )
    view.firing = [a for a in alerts if a.state in ("pending", "firing")]
    view.past = [a for a in alerts if a.state not in ("pending", "firing")]
    view.retrains = part(
        "the retraining runs", lambda: project.maintenance.runs(name, limit=20), []
    )
    view.live = part("the prediction log", lambda: live_figures(project, name, now=view.at), None)
    return view


def _latest(project: Project, run: RunSummary) -> LatestRun:
    """The run's stored report read back: each feature's verdict and distribution chart."""
    from shipyard.monitoring.drift import FeatureDrift
    from shipyard.monitoring.drift_plots import distribution

    try:
        document = json.loads(project.artifacts.get(run.report_key))
    except NotFoundError as exc:
        raise NotFoundError(
            f"the artifact {run.report_key} is not in the artifact store ({exc.message})"
        ) from None
    names = {f.name for f in dataclasses.fields(FeatureDrift)}
    rows: list[FeatureRow] = []
    too_few: list[str] = []
    for item in document.get("drift") or []:
        drift = FeatureDrift(**{k: v for k, v in item.items() if k in names})
        chart = ""
        if drift.plot and drift.drifted is not None:
            try:
                chart = distribution(drift)
            except Exception as exc:  # one chart that cannot be drawn: said in its row
                logger.warning("no distribution chart for %s: %s", drift.feature, exc)
        if drift.drifted is None:
            too_few.append(f"{drift.feature}: {drift.reason or 'not judged'}")
        rows.append(FeatureRow(drift, chart))
    notes = [str(n) for n in document.get("notes") or []]
    return LatestRun(run, rows, notes, too_few)
