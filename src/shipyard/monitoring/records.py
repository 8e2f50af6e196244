"""The monitoring stage's records: a run as it happened, a stored run, a stored figure.

Plain frozen dataclasses that do no I/O; ``as_dict`` is what ``--json`` prints.
The run's report itself is :class:`~shipyard.monitoring.report.MonitorReport`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .report import MonitorReport

if TYPE_CHECKING:  # records only name them; importing them would pull in the store
    from .alerting import Alert
    from .notifiers import Delivery


@dataclass(frozen=True)
class MonitorRun:
    """One stored run: its report, where the JSON and HTML are, what it did to alerts."""

    id: int
    report: MonitorReport
    report_key: str
    html_key: str
    alerts: list[Alert] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    # the reports of the other windows its rules name (seconds -> report), read to judge them
    windows: dict[float, MonitorReport] = field(default_factory=dict)

    @property
    def drifted(self) -> list[str]:
        """The features whose drift crossed its threshold in this run's window."""
        return self.report.drifted

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "report_key": self.report_key,
            "html_key": self.html_key,
            "alerts": [a.as_dict() for a in self.alerts],
            "deliveries": [d.as_dict() for d in self.deliveries],
            "report": self.report.as_dict(),
        }


@dataclass(frozen=True)
class RunSummary:
    """A run as the metadata store keeps it: its window, counts, and where its reports are."""

    id: int
    model: str
    version: int | None
    window_start: datetime
    window_end: datetime
    rows: int
    drifted: int
    report_key: str
    html_key: str
    summary: dict[str, Any]
    created_at: datetime | None = None  # when the run was kept (its window may end earlier)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "model": self.model,
            "version": self.version,
            "window_start": self.window_start.isoformat(),
            "window_end": self.window_end.isoformat(),
            "rows": self.rows,
            "drifted": self.drifted,
            "report_key": self.report_key,
            "html_key": self.html_key,
            "summary": self.summary,
            "created_at": self.created_at.isoformat() if self.created_at else None,
        }


@dataclass(frozen=True)
class StoredFigure:
    """One stored number of a run (a :class:`~shipyard.monitoring.report.Figure`) at the
    end of its window: a point of the series the report and the dashboard plot."""

    at: datetime
    kind: str
    name: str
    statistic: str
    value: float | None
    threshold: float | None
    flagged: bool | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "kind": self.kind,
            "name": self.name,
            "statistic": self.statistic,
            "value": self.value,
            "threshold": self.threshold,
            "flagged": self.flagged,
        }
