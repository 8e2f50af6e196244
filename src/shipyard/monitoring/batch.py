"""The rows a monitoring run judges when they are not the live log's newest window.

- :meth:`BatchRows.dataset`: a dataset version's (validated) rows, scored in memory by
  the version an alias serves (or ``NAME@V``), so prediction drift is judged too; where
  the rows carry the target column, it is their label and performance is real.
- :meth:`BatchRows.run`: the rows a batch run (``shipyard score``) logged, with the
  labels that arrived for them since; a run of a dataset version times its rows by that
  version's timestamp column (matched by row number), other runs by the run's start.
- :meth:`BatchRows.log`: the prediction log over a long span, timed by the event time the
  requests carried (the model's passthrough field named like its dataset's timestamp
  column) or, without one, by when they were logged.

Each comes back as :class:`Rows`: the log's shape (features, ``prediction``,
``probabilities``, ``version``, ``prediction_id``, ``time``) plus the column
:data:`AT` that times each row for cutting into periods, and the labels as feedback
rows (``prediction_id``, ``label``, ``time``) to join.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from shipyard.batch import ScoreInputError
from shipyard.config.schema import ModelConfig, ProjectConfig
from shipyard.data import Datasets
from shipyard.errors import DataError, NotFoundError
from shipyard.models import Models
from shipyard.predlog import (
    FEEDBACK,
    PASSTHROUGH,
    PREDICTIONS,
    RUN_ID,
    passthrough_fields,
    read_rows,
)
from shipyard.storage import ArtifactStore

from .periods import as_utc

if TYPE_CHECKING:
    from shipyard.batch.records import RunRecord

BatchRun = Callable[[str], "RunRecord"]
"""The batch run with this id (``shipyard score``), or :class:`NotFoundError`."""

AT = "_at"
"""The column that times a row for periods: its event time, else when it was logged."""
LOG_DAYS_BACK = 400  # how far back the log is read when it is cut by event time
EVENT_TIME, ARRIVAL = "event_time", "arrival"


@dataclass(frozen=True)
class Rows:
    """Rows to judge, their labels, and what they are in words."""

    frame: pl.DataFrame
    labels: pl.DataFrame
    scope: dict[str, Any]
    timed_by: str | None  # the column :data:`AT` came from; None: the rows have no time
    served: bool = False  # rows a server answered: their latency and errors are service figures
    notes: list[str] = field(default_factory=list)

    @property
    def said(self) -> str:
        return str(self.scope["said"])


class BatchRows:
    """Reads the rows of a dataset version or of the log by event time, for one project."""

    def __init__(
        self,
        config: ProjectConfig,
        artifacts: ArtifactStore,
        data: Datasets,
        models: Models,
        batch_run: BatchRun | None = None,
    ) -> None:
        self._batch_run = batch_run
        self._config = config
        self._artifacts = artifacts
        self._data = data
        self._models = models

    def read(
        self,
        name: str,
        config: ModelConfig,
        *,
        data: str | None,
        scorer: str | None,
        by: str | None,
        now: datetime,
        run: str | None = None,
    ) -> Rows:
        """The rows of dataset version ``data`` (scored by ``scorer``), of batch run ``run``,
        else of the log."""
        if by not in (None, EVENT_TIME, ARRIVAL):
            raise DataError(f"unknown --by {by!r}", hint=f"use {EVENT_TIME} or {ARRIVAL}")
        if run is not None:
            if data is not None:
                raise DataError("--data or --run: one source of rows, not both")
            return self.run(name, config, run, by=by or EVENT_TIME, now=now)
        if data is not None:
            if by == ARRIVAL:
                raise DataError(
                    f"a dataset's rows have no arrival time: --by {ARRIVAL} reads the log",
                    hint=f"use --by {EVENT_TIME} with --data, or leave out --data",
                )
            return self.dataset(name, config, data, scorer)
        return self.log(name, config, by=by or EVENT_TIME, now=now)

    def dataset(self, name: str, config: ModelConfig, ref: str, scorer: str | None) -> Rows:
        """``ref``'s rows scored by ``scorer`` (default ``NAME@champion``)."""
        version = self._data.show(ref)
        frame = self._data.load(version.ref)
        self._fits(name, config, version.ref, version.dataset, frame)
        chosen = self._models.resolve_champion(scorer or name, use="is monitored with")
        if chosen.model != name:
            raise DataError(
                f"{chosen.ref} is not a version of {name}", hint=f"name one like {name}@3"
            )
        labels, proba = self._models.load(chosen.ref).answer(frame.select(config.features))
        declared = self._config.datasets.get(version.dataset)
        stamp = declared.timestamp if declared else None
        if stamp and stamp in frame.columns:
            at = as_utc(frame.get_column(stamp)).alias(AT)
        else:
            at = pl.Series(AT, [version.created_at] * frame.height, dtype=pl.Datetime("us", "UTC"))
            stamp = None
        ids = pl.Series("prediction_id", [f"{version.ref}#{i}" for i in range(frame.height)])
        columns = [
            *[frame.get_column(f) for f in config.features],
            pl.Series("prediction", np.asarray(labels).tolist()),
            pl.Series("version", [chosen.version] * frame.height, dtype=pl.Int64),
            ids,
            at.alias("time"),
            at,
        ]
        if proba is not None:
            columns.append(pl.Series("probabilities", np.asarray(proba, np.float64).tolist()))
        rows = pl.DataFrame(columns)
        target = self._target(config, version.dataset)
        notes = []
        if target and target in frame.columns:
            truth = pl.DataFrame([ids, frame.get_column(target).alias("label"), at.alias("time")])
            truth = truth.filter(pl.col("label").is_not_null())
            notes.append(f"performance from the dataset's target column '{target}'")
        else:
            truth = pl.DataFrame(
                schema={"prediction_id": pl.String, "label": pl.Boolean, "time": at.dtype}
            )
        said = f"dataset {version.ref}, {frame.height:,} rows, scored by {chosen.ref}"
        scope = {
            "source": "dataset",
            "dataset": version.ref,
            "scored_by": chosen.ref,
            "rows": frame.height,
            "timed_by": stamp,
            "said": said,
        }
        return Rows(rows, truth, scope, stamp, notes=notes)

    def run(self, name: str, config: ModelConfig, run_id: str, *, by: str, now: datetime) -> Rows:
        """The rows batch run ``run_id`` logged for ``name``, and their labels so far."""
        if self._batch_run is None:
            raise DataError("this project has no batch runs to read")
        record = self._batch_run(run_id)
        if record.model != name:
            raise DataError(
                f"batch run {run_id} scored {record.model}, not {name}",
                hint=f"shipyard monitor {record.model} --run {run_id}",
            )
        status = record.shown_status
        if status != "succeeded":
            why = f": {record.error.splitlines()[0]}" if record.error else ""
            raise DataError(
                f"batch run {run_id} of {record.model}@{record.version} {status}{why}; only a "
                "run that succeeded is in the prediction log, whole",
                hint="score again (shipyard score) and monitor the new run; "
                "'shipyard score --json' prints its id",
            )
        started = record.started_at
        frame = read_rows(
            self._artifacts, PREDICTIONS, name,
            started - timedelta(seconds=1), started + timedelta(seconds=1),
            keep=lambda rows: rows.filter(pl.col(RUN_ID) == run_id)
            if RUN_ID in rows.columns else rows.clear(),
        )  # fmt: skip
        notes = []
        if frame.height != record.rows_scored:
            notes.append(
                f"the log holds {frame.height:,} of the run's {record.rows_scored:,} scored rows"
            )
        stamp = None
        if by == EVENT_TIME and frame.height:
            frame, stamp = self._run_event_time(config, record, frame, notes)
        if stamp is None and frame.height:
            frame = frame.with_columns(as_utc(frame.get_column("time")).alias(AT))
        labels = read_rows(self._artifacts, FEEDBACK, name, started, max(now, started))
        if labels.height and frame.height:
            labels = labels.filter(pl.col("prediction_id").is_in(frame["prediction_id"].implode()))
        source = ", ".join(record.source)
        said = (
            f"batch run {run_id} of {source}, {frame.height:,} rows, scored by "
            f"{record.model}@{record.version}"
        )
        scope = {
            "source": "run",
            "run": run_id,
            "of": list(record.source),
            "scored_by": f"{record.model}@{record.version}",
            "rows": frame.height,
            "timed_by": stamp or "time",
            "said": said,
        }
        return Rows(frame, labels, scope, stamp or "time", notes=notes)

    def _run_event_time(
        self, config: ModelConfig, record: RunRecord, frame: pl.DataFrame, notes: list[str]
    ) -> tuple[pl.DataFrame, str | None]:
        """A run's rows timed by the event time of the dataset version it scored (its
        timestamp column, by row number: prediction ids are ``{run}-{row}``), else by the
        passthrough field named like it (``shipyard score`` logs a file's timestamp column
        there); ``(frame, None)`` when neither is there."""
        declared = self._config.datasets.get(config.dataset)
        stamp = declared.timestamp if declared else None
        if len(record.source) == 1:
            try:
                version = self._data.show(record.source[0])
            except NotFoundError:  # a file, not a dataset version
                version = None
            if version is not None:
                theirs = self._config.datasets.get(version.dataset)
                column = theirs.timestamp if theirs else None
                if column:
                    times = self._data.load(version.ref).get_column(column)
                    rows = frame.get_column("prediction_id").str.extract(r"-(\d+)$").cast(pl.Int64)
                    found = as_utc(times).gather((rows - 1).to_list())
                    return frame.with_columns(found.alias(AT)), column
        if stamp and PASSTHROUGH in frame.columns:  # a file's rows: logged by shipyard score
            frame = passthrough_fields(frame, [stamp])
            column = (
                f"{PASSTHROUGH}.{stamp}" if f"{PASSTHROUGH}.{stamp}" in frame.columns else stamp
            )
            at = as_utc(frame.get_column(column).cast(pl.String))
            if at.null_count() < frame.height:  # rows without one: in no period (see backfill)
                return frame.with_columns(at.alias(AT)), stamp
        why = (
            f"{', '.join(record.source)} had no '{stamp}' column, {config.dataset}'s timestamp"
            if stamp
            else f"{config.dataset} declares no timestamp column"
        )
        notes.append(
            f"the run's rows carry no event time ({why}): they are timed by the run's start"
        )
        return frame, None

    def log(self, name: str, config: ModelConfig, *, by: str, now: datetime) -> Rows:
        """``name``'s prediction log of the last :data:`LOG_DAYS_BACK` days, timed by the
        event time its requests carried (``by="event_time"``) or when they were logged."""
        start = now - timedelta(days=LOG_DAYS_BACK)
        frame = read_rows(self._artifacts, PREDICTIONS, name, start, now)
        stamp = self._event_field(config) if by == EVENT_TIME else None
        notes = []
        if by == EVENT_TIME and stamp is None:
            notes.append(
                f"{name} declares no passthrough field named like its dataset's timestamp "
                "column: rows are timed by when they were logged"
            )
        if stamp is not None and frame.height:
            frame = passthrough_fields(frame, [stamp])
            column = f"passthrough.{stamp}" if f"passthrough.{stamp}" in frame.columns else stamp
            if column in frame.columns:
                at = as_utc(frame.get_column(column).cast(pl.String))
            else:  # no row carried passthrough fields
                at = pl.Series(AT, [None] * frame.height, dtype=pl.Datetime("us", "UTC"))
            unparsed = int(at.is_null().sum())
            if unparsed:
                notes.append(f"{unparsed:,} row(s) without a readable '{stamp}': left out")
            frame = frame.with_columns(at.alias(AT)).filter(pl.col(AT).is_not_null())
        elif frame.height:
            frame = frame.with_columns(as_utc(frame.get_column("time")).alias(AT))
        labels = read_rows(self._artifacts, FEEDBACK, name, start, now)
        said = f"prediction log of {name}, {frame.height:,} rows" + (
            f" by event time '{stamp}'" if stamp else " by arrival time"
        )
        scope = {
            "source": "log",
            "rows": frame.height,
            "timed_by": stamp or "time",
            "said": said,
        }
        return Rows(frame, labels, scope, stamp or "time", served=True, notes=notes)

    def _fits(
        self, name: str, config: ModelConfig, ref: str, dataset: str, frame: pl.DataFrame
    ) -> None:
        """One line naming every feature column ``ref`` lacks or types otherwise than the
        model's own dataset declares it."""
        missing = [f for f in config.features if f not in frame.columns]
        own = self._config.datasets.get(config.dataset)
        theirs = self._config.datasets.get(dataset)
        mistyped = []
        if own is not None and theirs is not None:
            for f in config.features:
                if f in own.columns and f in theirs.columns and f not in missing:
                    want, got = own.columns[f].type, theirs.columns[f].type
                    if want != got:
                        mistyped.append(f"{f} is {got}, {name} takes {want}")
        if missing or mistyped:
            said = []
            if missing:
                said.append(f"lacks {name}'s feature column(s) {', '.join(missing)}")
            if mistyped:
                said.append("; ".join(mistyped))
            raise ScoreInputError(
                f"dataset {ref} does not fit {name}: {'; '.join(said)}",
                hint=f"{name} takes {', '.join(config.features)}; monitor it on a version of "
                f"'{config.dataset}' or of a dataset with those columns",
            )

    def _target(self, config: ModelConfig, dataset: str) -> str | None:
        for name in (dataset, config.dataset):
            declared = self._config.datasets.get(name)
            if declared is not None and declared.target:
                return declared.target
        return None

    def _event_field(self, config: ModelConfig) -> str | None:
        declared = self._config.datasets.get(config.dataset)
        stamp = declared.timestamp if declared else None
        return stamp if stamp and stamp in config.passthrough else None
