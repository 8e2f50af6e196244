"""The health read model: per model a badge (healthy, warning, failing, unknown) and why.

Computed from Project calls only, a few queries for the whole project (not one per
model): the registry's summaries, every open alert at once, each model's newest
monitoring run, and the prediction log's recent window (requests per minute, p99
latency, degraded share; see :mod:`.live`).

The badge is the worst of its reasons:

- a firing alert: ``failing`` when critical, else ``warning``;
- drift in the newest monitoring run: ``warning``;
- the degraded-answer share (fallback answers) of the recent window, or of the newest
  run when the window is empty: ``warning`` from 5%, ``failing`` from 50%;
- the error rate of the newest run: ``warning`` from 1%, ``failing`` from 10%;
- p99 latency over the model's budget in the recent window: ``warning``.

Without any of these and with traffic or a monitoring run to judge by, ``healthy``;
with neither (never served, never monitored), ``unknown`` — and the reasons say what
to run next.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .live import Live, live_figures

if TYPE_CHECKING:
    from shipyard.monitoring.alerting import Alert
    from shipyard.monitoring.records import RunSummary
    from shipyard.project import Project

HEALTHY, WARNING, FAILING, UNKNOWN = "healthy", "warning", "failing", "unknown"
_RANK = {HEALTHY: 0, UNKNOWN: 1, WARNING: 2, FAILING: 3}

DEGRADED_WARNING = 0.05
DEGRADED_FAILING = 0.5
ERRORS_WARNING = 0.01
ERRORS_FAILING = 0.10


@dataclass(frozen=True)
class Reason:
    """One thing that decided the badge, in words, and how bad it is."""

    level: str  # warning, failing, unknown, healthy
    text: str


@dataclass(frozen=True)
class ModelHealth:
    """One model on the overview: who owns it, what is served, how it is doing and why."""

    name: str
    owner: str
    task: str
    versions: int
    latest: int | None
    champion: int | None
    challenger: int | None
    status: str
    reasons: list[Reason]
    alerts: list[Alert]
    last_run: RunSummary | None
    live: Live
    budget_ms: float | None

    @property
    def p99_over_budget(self) -> bool:
        p99 = self.live.p99_ms
        return p99 is not None and self.budget_ms is not None and p99 > self.budget_ms


@dataclass(frozen=True)
class DatasetHealth:
    """One dataset on the overview: its newest version and how much of it was quarantined."""

    name: str
    versions: int
    latest: int | None
    rows: int | None
    received: int | None
    quarantined: int | None
    created_at: datetime | None

    @property
    def quarantine_share(self) -> float | None:
        if not self.received:
            return None
        return (self.quarantined or 0) / self.received


@dataclass(frozen=True)
class Health:
    """The whole project's health, as the overview shows it."""

    at: datetime
    models: list[ModelHealth]
    datasets: list[DatasetHealth]
    counts: dict[str, int] = field(default_factory=dict)


def project_health(project: Project, *, now: datetime | None = None) -> Health:
    """Every model's and dataset's health at ``now`` (default: the current time)."""
    now = now or datetime.now(UTC)
    summaries = project.models.summaries()
    open_alerts = project.monitoring.alerts.list(limit=10_000)
    by_model: dict[str, list[Alert]] = {}
    for alert in open_alerts:
        by_model.setdefault(alert.model, []).append(alert)
    last_runs = latest_runs(project, [s.name for s in summaries if s.versions])
    models = []
    for summary in summaries:
        declared = project.config.models.get(summary.name)
        budget = float(declared.latency_budget_ms) if declared else None
        live = live_figures(project, summary.name, now=now)
        alerts = by_model.get(summary.name, [])
        run = last_runs.get(summary.name)
        min_rows = declared.monitoring.drift.min_rows if declared else 1
        status, reasons = judge(
            summary.name, summary.aliases, alerts, run, live, budget, min_rows=min_rows
        )
        models.append(
            ModelHealth(
                name=summary.name,
                owner=summary.owner,
                task=summary.task,
                versions=summary.versions,
                latest=summary.latest.version if summary.latest else None,
                champion=summary.aliases.get("champion"),
                challenger=summary.aliases.get("challenger"),
                status=status,
                reasons=reasons,
                alerts=alerts,
                last_run=run,
                live=live,
                budget_ms=budget,
            )
        )
    datasets = [
        DatasetHealth(
            name=d.name,
            versions=d.versions,
            latest=d.latest.version if d.latest else None,
            rows=d.latest.rows if d.latest else None,
            received=d.latest.rows_received if d.latest else None,
            quarantined=d.latest.rows_quarantined if d.latest else None,
            created_at=d.latest.created_at if d.latest else None,
        )
        for d in project.data.summaries()
    ]
    counts = {s: sum(1 for m in models if m.status == s) for s in _RANK}
    return Health(now, models, datasets, counts)


def latest_runs(project: Project, names: list[str]) -> dict[str, RunSummary]:
    """Each model's newest monitoring run: one query for the recent runs of every model,
    then one per model of ``names`` the recent ones did not cover (monitored long ago,
    or never: a model without versions is left out by the caller)."""
    found: dict[str, RunSummary] = {}
    for run in project.monitoring.recent_runs(limit=max(50, 4 * len(names))):
        found.setdefault(run.model, run)
    for name in names:
        if name not in found:
            older = project.monitoring.runs(name, limit=1)
            if older:
                found[name] = older[0]
    return found


def judge(
    name: str,
    aliases: dict[str, int],
    alerts: list[Alert],
    run: RunSummary | None,
    live: Live,
    budget_ms: float | None,
    *,
    min_rows: int = 1,
) -> tuple[str, list[Reason]]:
    """The badge and its reasons, worst first (``min_rows``: what drift needs to judge)."""
    reasons: list[Reason] = []
    for alert in alerts:
        if alert.state != "firing":
            continue
        level = FAILING if alert.severity == "critical" else WARNING
        acked = f", acknowledged by {alert.acked_by}" if alert.acked_at else ""
        reasons.append(
            Reason(level, f"alert '{alert.rule}' firing ({alert.severity}{acked}): {alert.message}")
        )
    summary: dict[str, Any] = run.summary if run is not None else {}
    drifted = [str(f) for f in summary.get("drifted") or []]
    drifted += [f"the model's {f}" for f in summary.get("prediction_drifted") or []]
    if drifted:
        shown = ", ".join(drifted[:4]) + (
            f" and {len(drifted) - 4} more" if len(drifted) > 4 else ""
        )
        reasons.append(Reason(WARNING, f"drift in the last monitoring run: {shown}"))
    if summary.get("outage"):
        reasons.append(
            Reason(FAILING, f"the last monitoring run saw an outage: {summary['outage']}")
        )
    degraded, where = live.degraded_share, "in the last 15 minutes"
    if degraded is None and summary.get("degraded_rate") is not None:
        degraded, where = float(summary["degraded_rate"]), "in the last monitoring run"
    if degraded is not None and degraded >= DEGRADED_WARNING:
        level = FAILING if degraded >= DEGRADED_FAILING else WARNING
        reasons.append(Reason(level, f"{degraded:.1%} of answers degraded (fallback) {where}"))
    errors = summary.get("error_rate")
    if errors is not None and float(errors) >= ERRORS_WARNING:
        level = FAILING if float(errors) >= ERRORS_FAILING else WARNING
        reasons.append(Reason(level, f"error rate {float(errors):.1%} in the last monitoring run"))
    if live.p99_ms is not None and budget_ms is not None and live.p99_ms > budget_ms:
        reasons.append(
            Reason(
                WARNING,
                f"p99 latency {live.p99_ms:.0f} ms over the {budget_ms:g} ms budget "
                "in the last 15 minutes",
            )
        )
    if reasons:
        reasons.sort(key=lambda r: -_RANK[r.level])
        return reasons[0].level, reasons
    if "champion" not in aliases:
        return UNKNOWN, [
            Reason(UNKNOWN, f"no champion yet: promote a version with `shipyard promote {name}@N`")
        ]
    if run is None and not live.requests:
        return UNKNOWN, [
            Reason(
                UNKNOWN,
                f"never served or monitored: `shipyard serve {name}`, then `shipyard monitor {name}`",
            )
        ]
    if run is not None and run.rows < min_rows and not live.requests:
        return UNKNOWN, [
            Reason(
                UNKNOWN,
                f"the last monitoring run saw {run.rows} predictions; drift needs {min_rows}: "
                f"monitor a longer window, `shipyard monitor {name} --window 24h`",
            )
        ]
    judged = "the last monitoring run" if run is not None else "the last 15 minutes of traffic"
    return HEALTHY, [Reason(HEALTHY, f"no firing alerts and no drift or errors in {judged}")]
