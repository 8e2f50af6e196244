"""The HTML reports a project has written, as one listing: evaluations and monitoring runs.

The evaluation stage keeps a page per ``shipyard evaluate`` and the monitoring stage
one per ``shipyard monitor`` run; each stage keeps its own table. This index reads
both through their facades and gives each report a short id that says which kind it
is — ``eval-3`` (evaluation #3), ``mon-7`` (monitoring run #7) — so
``shipyard reports open ID`` finds it again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .errors import NotFoundError
from .evaluation import Evaluations, EvaluationSummary
from .models import Models
from .monitoring import Monitoring
from .monitoring.records import RunSummary

KINDS = {"eval": "evaluation", "mon": "monitoring"}
_ID = re.compile(r"^(eval|mon)-([1-9][0-9]{0,17})$")
_LIST = "'shipyard reports list' lists them"


@dataclass(frozen=True)
class ReportEntry:
    """One written report: what it is of, when it was written, its verdict and where it is."""

    id: str  # eval-3, mon-7
    kind: str  # evaluation, monitoring
    model: str
    version: int | None  # a monitoring window may hold no predictions, so no version
    created_at: datetime
    verdict: str
    passed: bool | None  # evaluation: its gates; monitoring: no drift (None: nothing to judge)
    path: str  # a file path for a local artifact store, else the store's URL

    @property
    def subject(self) -> str:
        return f"{self.model}@{self.version}" if self.version is not None else self.model

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "model": self.model,
            "version": self.version,
            "subject": self.subject,
            "created_at": self.created_at.isoformat(),
            "verdict": self.verdict,
            "passed": self.passed,
            "path": self.path,
        }


class Reports:
    """The evaluation and monitoring reports of one project, newest first."""

    def __init__(self, models: Models, evaluations: Evaluations, monitoring: Monitoring) -> None:
        self._models = models
        self._evaluations = evaluations
        self._monitoring = monitoring

    def list(self, name: str | None = None, *, limit: int = 100) -> list[ReportEntry]:
        """The newest ``limit`` reports (of model ``name``), newest first."""
        if name is not None:
            try:
                self._models.known(name)
            except NotFoundError as exc:  # said in one line, with where to look
                raise NotFoundError(f"{exc.message}; {exc.hint or _LIST}") from None
        evaluations = self._evaluations.history(name, limit=limit)
        runs = (
            self._monitoring.runs(name, limit=limit)
            if name is not None
            else self._monitoring.recent_runs(limit=limit)
        )
        entries = [self._evaluation(e) for e in evaluations] + [self._run(r) for r in runs]
        entries.sort(key=lambda e: (e.created_at, e.id), reverse=True)
        return entries[:limit]

    def get(self, report_id: str) -> ReportEntry:
        """The report ``report_id`` names (``eval-3``, ``mon-7``)."""
        match = _ID.match(report_id.strip().lower())
        if match is None:
            raise NotFoundError(
                f"no report '{report_id}': a report id is eval-N (an evaluation) "
                f"or mon-N (a monitoring run); {_LIST}"
            )
        kind, number = match.group(1), int(match.group(2))
        if kind == "eval":
            evaluation = self._evaluations.get(number)
            if evaluation is not None:
                return self._evaluation(evaluation)
        else:
            run = self._monitoring.run_summary(number)
            if run is not None:
                return self._run(run)
        raise NotFoundError(
            f"no report '{report_id}': there is no {KINDS[kind]} #{number}; {_LIST}"
        )

    def _evaluation(self, e: EvaluationSummary) -> ReportEntry:
        verdict = "passed" if e.passed else "failed: " + ", ".join(e.failed or ["?"])
        return ReportEntry(
            id=f"eval-{e.id}",
            kind="evaluation",
            model=e.model,
            version=e.version,
            created_at=e.created_at,
            verdict=verdict,
            passed=e.passed,
            path=self._evaluations.link(e.html_key),
        )

    def _run(self, r: RunSummary) -> ReportEntry:
        verdict, passed = _monitoring_verdict(r)
        return ReportEntry(
            id=f"mon-{r.id}",
            kind="monitoring",
            model=r.model,
            version=r.version,
            created_at=r.created_at or r.window_end,
            verdict=verdict,
            passed=passed,
            path=self._monitoring.link(r.html_key),
        )


def _monitoring_verdict(run: RunSummary) -> tuple[str, bool | None]:
    """A few words for a run: how many rows, and which features drifted."""
    if run.rows == 0:
        return "no predictions in the window", None
    drifted = [str(f) for f in run.summary.get("drifted", [])]
    drifted += [f"prediction {p}" for p in run.summary.get("prediction_drifted", [])]
    rows = f"{run.rows:,} rows"
    if not drifted:
        return f"{rows}, no drift", True
    shown = ", ".join(drifted[:3]) + (f" and {len(drifted) - 3} more" if len(drifted) > 3 else "")
    return f"{rows}, drift in {shown}", False
