"""Back-filling: a model's rows cut into calendar periods, one verdict per period.

The rows (a dataset version scored, a batch run, the log by event time: :mod:`.batch`)
are cut by the timestamp that says when each row *happened* (:mod:`.periods`); each
period is judged like a monitoring window and kept as a monitor run spanning its
period (its report, its figures at the period's end), so ``reports list`` and the
dashboard's history show drift month by month.

Alert state: a back-fill never moves it and never notifies anyone. Each period's
verdict says which alert rules its figures would have fired, but last year's drift
pages nobody today; to alert on a batch, monitor it as one window (``--data`` or
``--run`` without ``--every``), which moves alert state as a live run does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import polars as pl

from shipyard.errors import DataError

from .batch import AT, Rows
from .periods import Every, Period, cut
from .report import MonitorReport
from .rules import evaluate
from .window import Window

if TYPE_CHECKING:
    from shipyard.config.schema import ModelConfig

    from .api import Monitoring

NO_ROWS, TOO_FEW, DRIFTED, OK = "no rows", "too few rows", "drifted", "ok"


@dataclass(frozen=True)
class PeriodRun:
    """One period of a back-fill: its rows, its stored run and report, and its verdict."""

    period: Period
    rows: int
    verdict: str  # no rows, too few rows, drifted, ok
    run_id: int | None = None
    report: MonitorReport | None = None
    html_key: str | None = None
    would_fire: list[str] = field(default_factory=list)  # alert rules its figures cross
    note: str = ""

    @property
    def drifted(self) -> list[str]:
        return self.report.drifted if self.report else []

    @property
    def top(self) -> str | None:
        """The drifted feature that moved most (by PSI), with its PSI."""
        from .drift_plots import effect, ranked

        found = ranked(self.report.drift) if self.report else []
        return f"{found[0].feature} (PSI {effect(found[0]):.3g})" if found else None

    @property
    def performance(self) -> dict[str, float]:
        return dict(self.report.performance.metrics) if self.report else {}

    def as_dict(self) -> dict[str, Any]:
        report = self.report
        return {
            "period": self.period.label,
            "start": self.period.start.isoformat(),
            "end": self.period.end.isoformat(),
            "rows": self.rows,
            "verdict": self.verdict,
            "note": self.note,
            "run_id": self.run_id,
            "html_key": self.html_key,
            "drifted": self.drifted,
            "prediction_drifted": [f.feature for f in report.prediction_drift if f.drifted]
            if report
            else [],
            "top_drift": self.top,
            "performance": self.performance,
            "labelled": report.performance.labelled if report else 0,
            "would_fire": self.would_fire,
        }


@dataclass(frozen=True)
class Backfill:
    """Every period of one back-fill, oldest first, and the page that draws them over time."""

    model: str
    scope: dict[str, Any]
    every: str
    reference: str
    periods: list[PeriodRun]
    html_key: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(p.rows for p in self.periods)

    @property
    def said(self) -> str:
        return str(self.scope.get("said"))

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "window": self.scope,
            "every": self.every,
            "reference": self.reference,
            "rows": self.rows,
            "notes": self.notes,
            "html_key": self.html_key,
            "periods": [p.as_dict() for p in self.periods],
        }


def split(rows: Rows, every: Every) -> list[tuple[Period, pl.DataFrame, pl.DataFrame]]:
    """Each period from the oldest row's to the newest's (empty ones too), with its rows and
    the labels of its rows. Every row with a readable time lands in exactly one period;
    one without lands in none (:func:`backfill` counts them in its notes)."""
    frame = rows.frame
    if frame.height == 0:
        return []
    starts = every.starts(frame.get_column(AT))
    frame = frame.with_columns(starts.alias("_period"))
    first, last = starts.min(), starts.max()
    if first is None:  # no row has a readable time: no period (the notes count them)
        return []
    assert isinstance(first, datetime) and isinstance(last, datetime)
    found = []
    for period in cut(first, last, every):
        chosen = frame.filter(pl.col("_period") == period.start).drop("_period")
        ids = chosen.get_column("prediction_id") if "prediction_id" in chosen.columns else None
        labels = rows.labels
        if ids is not None and labels.height:
            labels = labels.filter(pl.col("prediction_id").is_in(ids.implode()))
        found.append((period, chosen, labels))
    return found


def backfill(
    monitoring: Monitoring,
    name: str,
    config: ModelConfig,
    rows: Rows,
    every: Every,
    reference: str,
) -> Backfill:
    """Judge and keep every period of ``rows``; move no alert state."""
    if rows.timed_by is None:
        raise DataError(
            f"{rows.said}: the rows have no timestamp to cut into periods",
            hint=f"declare the dataset's timestamp column (datasets.{config.dataset}.timestamp) "
            "or leave out --every to judge the rows as one window",
        )
    min_rows = config.monitoring.drift.min_rows
    notes = list(rows.notes)
    untimed = rows.frame.get_column(AT).null_count() if rows.frame.height else 0
    if untimed:  # an empty or unreadable timestamp: counted here, not dropped without a word
        notes.append(
            f"{untimed:,} row{'s' if untimed != 1 else ''} had no readable event time "
            f"({rows.timed_by}) and {'are' if untimed != 1 else 'is'} in no period"
        )
    done: list[PeriodRun] = []
    try:
        cuts = split(rows, every)
    except ValueError as exc:  # too many periods: said before any is judged
        raise DataError(f"{rows.said}: {exc}") from None
    for period, frame, labels in cuts:
        if frame.height == 0:
            done.append(PeriodRun(period, 0, NO_ROWS, note="no rows in this period"))
            continue
        scope = {
            **rows.scope,
            "rows": frame.height,
            "period": period.label,
            "every": str(every),
            "said": f"{rows.said}; period {period.label} ({frame.height:,} rows)",
        }
        report = monitoring.judge_rows(
            name, config, Window(period.start, period.end), reference, frame.drop(AT),
            refused=_empty_refusals(), labels=labels, joined=frame.drop(AT),
            notes=list(notes), served=None if rows.served else frame.clear(),
            scope=scope,
        )  # fmt: skip
        run_id, _, html_key = monitoring.keep(report)
        fired = [c.rule.key for c in (evaluate(rule, report) for rule in config.alerts) if c.active]
        if frame.height < min_rows:
            verdict, note = TOO_FEW, f"{frame.height} rows; drift is judged from {min_rows}"
        else:
            verdict, note = (DRIFTED if _drifted(report) else OK), ""
        done.append(PeriodRun(period, frame.height, verdict, run_id, report, html_key, fired, note))
    result = Backfill(name, rows.scope, str(every), reference, done, notes=notes)
    return monitoring.keep_backfill(result)


def batch_reference(reference: str | None) -> str:
    """A dataset, a batch run or periods are compared with the training data."""
    if reference not in (None, "training"):
        raise DataError(
            f"--reference {reference} compares a live window with the one before it; "
            "a dataset version, a batch run or periods are compared with the training data",
            hint="leave out --reference (or give --reference training)",
        )
    return "training"


def _drifted(report: MonitorReport) -> bool:
    multivariate = report.multivariate.drifted if report.multivariate else False
    return bool(report.drifted or [f for f in report.prediction_drift if f.drifted] or multivariate)


def _empty_refusals() -> pl.DataFrame:
    return pl.DataFrame(schema={"time": pl.Datetime("us", UTC), "status": pl.Int64})


def once(
    monitoring: Monitoring,
    name: str,
    config: ModelConfig,
    rows: Rows,
    reference: str,
    *,
    since: datetime | None = None,
) -> MonitorReport:
    """``rows`` judged as one window (those timed from ``since`` on, when given)."""
    frame, labels = rows.frame, rows.labels
    scope = dict(rows.scope)
    if since is not None and frame.height:
        frame = frame.filter(pl.col(AT) >= since)
        scope["since"] = since.isoformat()
        scope["rows"] = frame.height
        scope["said"] = f"{rows.said}; {frame.height:,} timed from {since:%Y-%m-%d %H:%M} UTC on"
    if frame.height and "prediction_id" in frame.columns and labels.height:
        labels = labels.filter(pl.col("prediction_id").is_in(frame["prediction_id"].implode()))
    if frame.height:
        first, last = frame.get_column(AT).min(), frame.get_column(AT).max()
        assert isinstance(first, datetime) and isinstance(last, datetime)
        window = Window(first, last + timedelta(microseconds=1))
    else:
        now = datetime.now(UTC)
        window = Window(since or now, now)
    current = frame.drop(AT) if AT in frame.columns else frame
    return monitoring.judge_rows(
        name, config, window, reference, current, refused=_empty_refusals(), labels=labels,
        joined=current, notes=list(rows.notes), served=None if rows.served else current.clear(),
        scope=scope,
    )  # fmt: skip
