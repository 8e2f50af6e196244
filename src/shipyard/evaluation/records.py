"""The evaluation stage's records: an evaluation as it was run, and as the store keeps it.

Plain frozen dataclasses that do no I/O; ``as_dict`` is what ``--json`` prints.
The report itself is :class:`~shipyard.evaluation.report.EvaluationReport`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .report import EvaluationReport


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
    metrics: dict[str, float] = field(default_factory=dict)  # the figures it measured
