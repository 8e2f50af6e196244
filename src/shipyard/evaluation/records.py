"""The evaluation stage's records: an evaluation as it was run, and as the store keeps it.

Plain frozen dataclasses that do no I/O; ``as_dict`` is what ``--json`` prints.
The report itself is :class:`~shipyard.evaluation.report.EvaluationReport`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .report import CheckOutcome, EvaluationReport


@dataclass(frozen=True)
class Evaluation:
    """A stored evaluation: its report and where the JSON and HTML copies are."""

    id: int
    report: EvaluationReport
    report_key: str
    html_key: str
    html_url: str

    @property
    def ref(self) -> str:
        """The version evaluated, ``NAME@V``."""
        return self.report.ref

    @property
    def passed(self) -> bool:
        """Whether every check passed (what ``promote`` requires)."""
        return self.report.passed

    @property
    def checks(self) -> list[CheckOutcome]:
        """Every check: gates, holdout, champion, slices, behaviour, latency."""
        return self.report.checks

    @property
    def failed_checks(self) -> list[CheckOutcome]:
        """The checks that failed, each with its value, what it needs and why."""
        return self.report.failed

    @property
    def metrics(self) -> dict[str, float]:
        """The metrics measured on the rows evaluated."""
        return self.report.metrics

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
    metrics: dict[str, float] = field(default_factory=dict)  # the figures it measured
