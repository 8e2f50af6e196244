"""The record one monitoring run produces, and the figures alert rules read from it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from .cbpe import Estimation
from .drift import FeatureDrift
from .multivariate import MultivariateDrift
from .performance import Performance
from .quality import FeatureQuality
from .service import Service


@dataclass(frozen=True)
class Figure:
    """One number of a run, as kept in the metadata store for history and the dashboard."""

    kind: (
        str  # drift, prediction_drift, multivariate_drift, quality, performance, estimated, service
    )
    name: str  # a feature, a metric, a service figure
    statistic: str
    value: float | None
    threshold: float | None = None
    flagged: bool | None = None


@dataclass(frozen=True)
class MonitorReport:
    """Everything one ``shipyard monitor`` run found about one model over one window."""

    model: str
    versions: dict[str, int]  # version → rows it answered in the window
    window: dict[str, Any]
    rows: int
    reference: str  # what drift was measured against
    drift: list[FeatureDrift]
    prediction_drift: list[FeatureDrift]
    quality: list[FeatureQuality]
    performance: Performance
    service: Service
    notes: list[str] = field(default_factory=list)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    estimated: Estimation | None = None  # monitoring.estimate: cbpe — metrics before labels
    multivariate: MultivariateDrift | None = None  # every feature together (PCA reconstruction)
    # what the window was when it is not the live log by arrival time: a dataset version,
    # a batch run, a period cut by event time (:mod:`.backfill`); ``said`` is it in words
    scope: dict[str, Any] | None = None

    @property
    def said(self) -> str | None:
        """``dataset loans@4, 12,000 rows; period 2024-03 by applied_at``, or ``None`` (live log)."""
        return None if self.scope is None else str(self.scope.get("said"))

    @property
    def drifted(self) -> list[str]:
        return [f.feature for f in self.drift if f.drifted]

    @property
    def version(self) -> int | None:
        """The version that answered most rows of the window."""
        if not self.versions:
            return None
        return int(max(self.versions.items(), key=lambda kv: kv[1])[0])

    @property
    def outage(self) -> str | None:
        """``no prediction succeeded: N requests failed (HTTP 503: N)``, or ``None``."""
        return self.service.outage

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        data["outage"] = self.outage
        data["drifted"] = self.drifted
        data["prediction_drifted"] = [f.feature for f in self.prediction_drift if f.drifted]
        if self.multivariate is not None:
            data["multivariate"]["flags_when"] = self.multivariate.flags_when
        return data

    def summary(self) -> dict[str, Any]:
        """A few lines' worth: for listings and the run's row in the metadata store."""
        return {
            "rows": self.rows,
            "outage": self.outage,
            "drifted": self.drifted,
            "prediction_drifted": [f.feature for f in self.prediction_drift if f.drifted],
            "multivariate_drifted": self.multivariate.drifted if self.multivariate else None,
            "metrics": self.performance.metrics,
            "labelled": self.performance.labelled,
            "estimated": {e.metric: e.value for e in self.estimated.estimates}
            if self.estimated
            else {},
            "latency_p95": self.service.latency_p95,
            "degraded_rate": self.service.degraded_rate,
            "degraded_by_cause": self.service.degraded_by_cause,
            "error_rate": self.service.error_rate,
            "shed_rate": self.service.shed_rate,
            **({"scope": self.scope} if self.scope else {}),
        }

    def figures(self) -> list[Figure]:
        out: list[Figure] = []
        for kind, verdicts in (("drift", self.drift), ("prediction_drift", self.prediction_drift)):
            for f in verdicts:
                if f.drifted is None:
                    continue
                out.append(Figure(kind, f.feature, f.method, f.value, f.threshold, f.drifted))
                out += [  # the deciding statistic once, with its threshold and verdict
                    Figure(kind, f.feature, k, v) for k, v in f.statistics.items() if k != f.method
                ]
        m = self.multivariate
        if m is not None and m.drifted is not None:
            out.append(
                Figure(
                    "multivariate_drift", "all features", m.method, m.value, m.threshold, m.drifted
                )
            )
        for q in self.quality:
            for name in ("null_rate", "out_of_range", "unseen_categories"):
                out.append(Figure("quality", q.feature, name, q.figure(name)))
        for metric, value in self.performance.metrics.items():
            out.append(Figure("performance", metric, "value", value))
        out.append(Figure("performance", "labelled", "rows", float(self.performance.labelled)))
        for e in self.estimated.estimates if self.estimated else []:
            out.append(Figure("estimated", e.metric, "value", e.value))
            out += [Figure("estimated", e.metric, "low", e.low)]
            out += [Figure("estimated", e.metric, "high", e.high)]
        for name in ("latency_p50", "latency_p95", "latency_p99", "over_budget_rate",
                     "degraded_rate", "error_rate", "rejected_rate", "shed_rate"):  # fmt: skip
            value = getattr(self.service, name)
            out.append(Figure("service", name, "value", None if value is None else float(value)))
        # the degraded share split by why the fallback answered: one statistic per cause
        for cause, share in self.service.degraded_by_cause.items():
            out.append(Figure("service", "degraded_rate", cause, share))
        out.append(Figure("service", "requests", "count", float(self.service.requests)))
        out.append(Figure("service", "shed", "count", float(self.service.shed)))
        return out
