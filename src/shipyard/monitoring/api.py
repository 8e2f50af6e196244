"""The monitoring stage: reference profiles, monitoring runs, their history, and alerts.

A run reads one window of a model's prediction log (by time or by count), its
refusals and the labels that arrived, compares the window with the reference
(the version's training data, or the window before), judges every alert rule,
stores the report (JSON and HTML) and its figures, moves alert state along and
delivers what is owed.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from shipyard.config.schema import ModelConfig, ProjectConfig
from shipyard.data import Datasets
from shipyard.data.api import Progress
from shipyard.errors import DataError, NotFoundError, ShipyardError
from shipyard.metrics import default_metrics
from shipyard.models import Models, ModelVersion
from shipyard.predlog import FEEDBACK, PREDICTIONS, REJECTIONS
from shipyard.storage import ArtifactStore, MetadataStore

from .alerting import OWNER, Alerts
from .backfill import Backfill, backfill, batch_reference, once
from .batch import EVENT_TIME, BatchRows, BatchRun
from .cbpe import Calibration, Estimation, calibrate, estimate
from .data_profile import DatasetProfile, profile_frame
from .drift import DriftResult, compare
from .html import render, render_periods
from .multivariate import Reconstruction, fit, judge
from .notifiers import Delivery
from .performance import Performance, performance
from .periods import Every
from .profile import Profile, build_profile
from .quality import data_quality
from .records import MonitorRun, RunSummary, StoredFigure
from .report import MonitorReport
from .repository import MonitorStore
from .rules import Condition, evaluate
from .service import service
from .window import Window, read_log

logger = logging.getLogger(__name__)

__all__ = ["Backfill", "MonitorRun", "Monitoring", "RunSummary", "StoredFigure"]

SCORE, PREDICTION = "score", "prediction"
LABEL_LOOKBACK_S = 30 * 86400.0  # labels are joined to predictions up to 30 days older
PREDICTION_SAMPLE = 200_000  # rows of the training data the version predicts for its profile

RECONSTRUCTIONS = "reconstructions"  # artifact prefix: one per model version

Holdout = Callable[[ModelVersion], tuple[Any, Any, str]]
"""A version's labelled holdout: its features, its labels, and what the rows are in words."""


class Monitoring:
    """Monitoring of one project's models."""

    def __init__(
        self,
        config: ProjectConfig,
        metadata: MetadataStore,
        artifacts: ArtifactStore,
        data: Datasets,
        models: Models,
        *,
        environ: Mapping[str, str] | None = None,
        root: Path | None = None,
        holdout: Holdout | None = None,
        batch_run: BatchRun | None = None,
    ) -> None:
        self._config = config
        self._holdout = holdout
        self.store = MonitorStore(metadata)
        self._artifacts = artifacts
        self._data = data
        self._models = models
        self._read: dict[str, Profile | Reconstruction] = {}  # immutable artifacts read
        self._batch = BatchRows(config, artifacts, data, models, batch_run)
        self.alerts = Alerts(
            metadata,
            config.alerting,
            project=config.project,
            environ=environ,
            models=config.models,
            root=root,  # a file channel's relative path starts beside shipyard.yaml
        )

    # -- reference profiles -----------------------------------------------------------
    def profile_version(self, version: ModelVersion) -> Profile | None:
        """Compute and keep ``version``'s reference profile (its training data and its
        predictions on it); ``None`` when the version has no dataset to profile."""
        if not version.dataset:
            return None
        frame = self._data.load(version.dataset)
        features = [f for f in version.features if f in frame.columns]
        columns = frame.select(features)
        profile = build_profile(columns, source=version.dataset)
        sample = (
            columns.sample(PREDICTION_SAMPLE, seed=0)
            if columns.height > PREDICTION_SAMPLE
            else columns
        )
        try:  # the prediction distribution, from up to PREDICTION_SAMPLE rows
            labels, proba = self._models.load(version.ref).answer(sample)
            predicted = build_profile(
                pl.DataFrame(_prediction_columns(labels, proba, version.task)),
                categorical=_categorical_outputs(version.task),
            )
            profile = Profile(
                profile.rows, {**profile.columns, **predicted.columns}, profile.source
            )
        except Exception as exc:  # the features are still worth profiling
            logger.warning("no prediction profile for %s: %s", version.ref, exc)
        self._keep_reconstruction(version, columns)
        stored = self._artifacts.put(
            json.dumps(profile.as_dict()).encode(),
            prefix=f"profiles/{version.model}",
            suffix=".json",
        )
        self.store.keep_profile(
            version.model,
            version.version,
            key=stored.key,
            source=version.dataset,
            rows=profile.rows,
            created_at=profile.created_at,
        )
        logger.info("stored the reference profile of %s (%d rows)", version.ref, profile.rows)
        return profile

    def reference(self, version: ModelVersion) -> Profile | None:
        """``version``'s reference profile, computed now if it was registered without one."""
        key = self.store.profile_key(version.model, version.version)
        if key is not None:  # content-addressed: a key read once is that profile for good
            if key not in self._read:
                self._read[key] = Profile.from_dict(json.loads(self._artifacts.get(key)))
            return self._read[key]  # type: ignore[return-value]  # keys name what they hold
        return self.profile_version(version)

    # -- multivariate drift: the reference's reconstruction ---------------------------
    def _keep_reconstruction(
        self, version: ModelVersion, columns: pl.DataFrame
    ) -> Reconstruction | None:
        found = fit(columns, list(version.features))
        self._read.pop(f"{RECONSTRUCTIONS}/{version.model}/{version.version}/", None)
        if found is not None:
            self._artifacts.put(
                json.dumps(found.as_dict()).encode(),
                prefix=f"{RECONSTRUCTIONS}/{version.model}/{version.version}",
                suffix=".json",
            )
        return found

    def reconstruction(self, version: ModelVersion) -> Reconstruction | None:
        """``version``'s reconstruction of its training data (kept with its profile), computed
        now for a version profiled before multivariate drift existed."""
        where = f"{RECONSTRUCTIONS}/{version.model}/{version.version}/"
        if where in self._read:  # one per version, kept at its registration: read once
            return self._read[where]  # type: ignore[return-value]  # keys name what they hold
        kept = self._artifacts.list(where)
        if kept:
            found = Reconstruction.from_dict(json.loads(self._artifacts.get(sorted(kept)[-1])))
            self._read[where] = found
            return found
        if not version.dataset:
            return None
        frame = self._data.load(version.dataset)
        return self._keep_reconstruction(
            version, frame.select([f for f in version.features if f in frame.columns])
        )

    # -- calibration (monitoring.estimate: cbpe) ----------------------------------------
    def calibrate_version(self, version: ModelVersion) -> Calibration:
        """Fit and keep ``version``'s calibration on its holdout (what CBPE estimates with)."""
        if self._holdout is None:
            raise DataError(f"no holdout to calibrate {version.ref} on")
        features, labels, said = self._holdout(version)
        predictor = self._models.load(version.ref)
        _, proba = predictor.answer(features)
        classes = list(version.classes or predictor.classes or [])
        if proba is None or not classes:
            raise DataError(
                f"{version.ref} gives no class probabilities: cbpe has nothing to estimate from",
                hint=f"set models.{version.model}.monitoring.estimate: none",
            )
        found = calibrate(proba, _labels(labels, classes), classes, source=said)
        self._artifacts.put(
            json.dumps(found.as_dict(), default=str).encode(),
            prefix=f"calibrations/{version.model}/{version.version}",
            suffix=".json",
        )
        logger.info(
            "calibrated %s on %s: %s, ECE %.4f -> %.4f",
            version.ref, said, found.method, found.ece_before, found.ece_after,
        )  # fmt: skip
        return found

    def calibration(self, version: ModelVersion) -> Calibration:
        """``version``'s calibration: the one kept at registration, else fitted now and kept."""
        kept = self._artifacts.list(f"calibrations/{version.model}/{version.version}/")
        if kept:
            return Calibration.from_dict(json.loads(self._artifacts.get(sorted(kept)[-1])))
        return self.calibrate_version(version)

    def _estimation(
        self, config: ModelConfig, version: ModelVersion | None, current: pl.DataFrame
    ) -> Estimation | None:
        """The window's performance estimated without labels (``monitoring.estimate: cbpe``)."""
        if config.monitoring.estimate != "cbpe" or config.task == "regression":
            return None
        if version is None:
            return Estimation("cbpe", 0, "none", note="no version to estimate with")
        try:
            calibration = self.calibration(version)
        except ShipyardError as exc:
            return Estimation("cbpe", 0, "none", note=f"no calibration: {exc.message}")
        except Exception as exc:  # the rest of the report is still worth having
            logger.warning("could not calibrate %s: %s", version.ref, exc)
            return Estimation("cbpe", 0, "none", note=f"no calibration: {exc}")
        answered = current
        if "degraded" in answered.columns:  # the fallback's answers are not the model's
            answered = answered.filter(~pl.col("degraded").cast(pl.Boolean).fill_null(False))
        if "probabilities" in answered.columns:
            answered = answered.filter(
                pl.col("probabilities").list.len() == len(calibration.classes)
            )
        if answered.height == 0 or "probabilities" not in answered.columns:
            return estimate(np.empty((0, 2)), [], calibration, [])
        proba = np.asarray(answered.get_column("probabilities").to_list(), dtype=np.float64)
        metrics = config.metrics or default_metrics(config.task)
        return estimate(
            proba,
            answered.get_column("prediction").to_list(),
            calibration,
            metrics,
            min_rows=config.monitoring.min_labels,
        )

    # -- runs -----------------------------------------------------------------------------
    def run(
        self,
        name: str,
        *,
        window: float | None = None,
        rows: int | None = None,
        now: datetime | None = None,
        reference: str | None = None,
        notify: bool = True,
        progress: Progress | None = None,
        data: str | None = None,
        scorer: str | None = None,
        by: str | None = None,
        batch: str | None = None,
    ) -> MonitorRun:
        """Monitor ``name`` over the last ``window`` seconds (or its newest ``rows``);
        ``progress`` is called with each step's name.

        ``data="loans@4"`` judges that dataset version's rows instead, scored by ``scorer``
        (``NAME@V``, ``NAME@alias``; default the champion); ``by="event_time"`` picks the
        log's rows whose event time falls in the window. Either moves alert state as a
        live run does (:mod:`.backfill` cuts rows into periods without moving it)."""
        step = progress or _silent
        config = self._models.config(name)
        now = now or datetime.now(UTC)
        if rows is not None and rows < 1:
            raise DataError(f"--rows must be 1 or more, got {rows}")
        chosen = reference or config.monitoring.reference
        others: dict[float, MonitorReport] = {}
        if data is not None or by is not None or batch is not None:
            chosen = batch_reference(reference)
            step(
                f"reading {data or name + chr(39) + 's prediction log'}, judging it against {chosen}"
            )
            found = self._batch.read(
                name, config, data=data, scorer=scorer, by=by, now=now, run=batch
            )
            log = data is None and batch is None  # the live log by event time: a window of it
            since = now - timedelta(seconds=window or config.monitoring.window) if log else None
            report = once(self, name, config, found, chosen, since=since)
            step("writing the report")
            run_id, report_key, html_key = self.keep(report)
            step("judging the alert rules")
            conditions = [evaluate(rule, report) for rule in config.alerts]
        else:
            span = (
                Window.newest(rows, now=now)
                if rows
                else Window.last(window or config.monitoring.window, now=now)
            )
            step(f"reading {name}'s prediction log and judging it against {chosen}")
            report = self.report(name, config, span, chosen)
            step("writing the report")
            run_id, report_key, html_key = self.keep(report)
            step("judging the alert rules")
            conditions = self._judge(name, config, report, chosen, now, others, own=window or rows)
        changed = self.alerts.advance(name, conditions, now, report=html_key)
        if notify:
            step("notifying owners")
        deliveries = self.alerts.deliver(self._config.models, now) if notify else []
        return MonitorRun(run_id, report, report_key, html_key, changed, deliveries, others)

    def backfill(
        self,
        name: str,
        every: str,
        *,
        data: str | None = None,
        scorer: str | None = None,
        by: str | None = None,
        batch: str | None = None,
        reference: str | None = None,
        now: datetime | None = None,
        progress: Progress | None = None,
    ) -> Backfill:
        """``name``'s rows (dataset version ``data`` scored by ``scorer``, batch run ``batch``,
        else its log) cut
        into calendar periods ``every`` (``1mo``, ``7d``, ``1d``) by event time (``by``),
        one stored run and verdict per period; moves no alert state, notifies nobody."""
        step = progress or _silent
        config = self._models.config(name)
        try:
            period = Every.parse(every)
        except ValueError as exc:
            raise DataError(str(exc)) from None
        chosen = batch_reference(reference)
        step(f"reading {_source(name, data, batch)}")
        found = self._batch.read(
            name,
            config,
            data=data,
            scorer=scorer,
            by=by or EVENT_TIME,
            now=now or datetime.now(UTC),
            run=batch,
        )
        step(f"judging each {period} against {chosen} and writing the reports")
        return backfill(self, name, config, found, period, chosen)

    def keep_backfill(self, result: Backfill) -> Backfill:
        """Store the page that draws ``result``'s periods over time; ``result`` with its key."""
        page = self._artifacts.put(
            render_periods(result).encode(),
            prefix=f"reports/monitoring/{result.model}",
            suffix=".html",
        )
        return dataclasses.replace(result, html_key=page.key)

    def _judge(
        self,
        name: str,
        config: ModelConfig,
        report: MonitorReport,
        reference: str,
        now: datetime,
        others: dict[float, MonitorReport],
        *,
        own: float | int | None,
    ) -> list[Condition]:
        """Each rule judged over its own ``window`` (the report of another window read once,
        kept in ``others`` by its seconds), as its exported Prometheus rule is; over
        ``report`` when the rule names none, or when the run was asked for a window or
        rows of its own (``own``)."""
        main = float(config.monitoring.window)
        conditions = []
        for rule in config.alerts:
            seconds = float(rule.window) if rule.window and not own else main
            if seconds == main:
                conditions.append(evaluate(rule, report))
                continue
            if seconds not in others:
                span = Window.last(seconds, now=now)
                others[seconds] = self.report(name, config, span, reference)
            conditions.append(evaluate(rule, others[seconds]))
        return conditions

    def report(
        self, name: str, config: ModelConfig, window: Window, reference: str
    ) -> MonitorReport:
        """Read the window and judge it (no storing, no alerts)."""
        current = read_log(self._artifacts, PREDICTIONS, name, window)
        if window.rows is not None and current.height:  # labels, refusals: from the oldest row on
            start = current.get_column("time").min()
            window = Window(start, window.end)  # type: ignore[arg-type]
            refused = read_log(self._artifacts, REJECTIONS, name, window)
        elif window.rows is not None:  # nothing answered: the newest refusals say why
            refused = read_log(self._artifacts, REJECTIONS, name, window)
            start = refused.get_column("time").min() if refused.height else window.end
            window = Window(start, window.end)  # type: ignore[arg-type]
        else:
            refused = read_log(self._artifacts, REJECTIONS, name, window)
        notes: list[str] = []
        if current.height == 0 and refused.height == 0:
            notes.append(f"no predictions of {name} in the window; nothing to compare")
        labels = read_log(self._artifacts, FEEDBACK, name, window)
        joined = current
        if labels.height:
            earlier = Window(window.start - timedelta(seconds=LABEL_LOOKBACK_S), window.end)
            joined = read_log(
                self._artifacts, PREDICTIONS, name, earlier,
                columns=["prediction_id", "prediction", "probabilities", "time"],
            )  # fmt: skip
        return self.judge_rows(
            name, config, window, reference, current, refused=refused, labels=labels,
            joined=joined, notes=notes,
        )  # fmt: skip

    def judge_rows(
        self,
        name: str,
        config: ModelConfig,
        window: Window,
        reference: str,
        current: pl.DataFrame,
        *,
        refused: pl.DataFrame,
        labels: pl.DataFrame,
        joined: pl.DataFrame,
        notes: list[str],
        served: pl.DataFrame | None = None,
        scope: dict[str, Any] | None = None,
    ) -> MonitorReport:
        """Judge rows already read (a window of the log, a dataset version scored, a batch
        run): drift against ``reference``, quality, performance from ``labels`` joined to
        ``joined``'s predictions, and the service figures of ``served`` (default: ``current``)."""
        features = list(config.features)
        if current.height:
            current = current.with_columns(_score(current, config.task))
        versions = _versions(current)
        profile, source, rebuild = self._reference_for(
            name, config, window, reference, versions, notes
        )
        columns = [PREDICTION] + ([SCORE] if SCORE in current.columns else [])
        settings = config.monitoring.drift
        if profile is not None and current.height:
            drift = compare(profile, current, features, settings)
            predicted = compare(
                profile, current, [c for c in columns if c in profile.columns], settings
            )
        else:
            drift = predicted = DriftResult([])
        version = self._served(name, versions)
        realized = performance(
            joined,
            labels,
            task=config.task,
            metrics=config.metrics or default_metrics(config.task),
            classes=version.classes if version else None,
            min_labels=config.monitoring.min_labels,
        )
        return MonitorReport(
            model=name,
            versions=versions,
            window=window.as_dict(),
            rows=current.height,
            reference=source,
            drift=drift.features,
            prediction_drift=predicted.features,
            quality=data_quality(current, features, profile, drift, refused),
            performance=realized,
            service=service(
                current if served is None else served, refused, config.latency_budget_ms
            ),
            notes=notes,
            scope=scope,
            multivariate=judge(rebuild, current, min_rows=settings.min_rows)
            if profile is not None and current.height
            else None,
            estimated=_beside(self._estimation(config, version, current), realized),
        )

    def _reference_for(
        self,
        name: str,
        config: ModelConfig,
        window: Window,
        reference: str,
        versions: dict[str, int],
        notes: list[str],
    ) -> tuple[Profile | None, str, Reconstruction | None]:
        """The profile to compare with, what it is in words, and the reconstruction that
        judges the features together (multivariate drift)."""
        if reference == "previous":
            before = read_log(self._artifacts, PREDICTIONS, name, window.before())
            if before.height == 0:
                notes.append("the previous window is empty: no drift verdicts")
                return None, "previous window (empty)", None
            before = before.with_columns(_score(before, config.task))
            columns = [c for c in [*config.features, PREDICTION, SCORE] if c in before.columns]
            previous = build_profile(
                before, columns, source="previous window",
                categorical=_categorical_outputs(config.task),
            )  # fmt: skip
            return previous, "previous window", fit(before, list(config.features))
        if reference != "training":
            raise DataError(f"unknown reference '{reference}'", hint="use 'training' or 'previous'")
        version = self._served(name, versions)
        if version is None:
            notes.append(
                f"{name} has no champion and the window names no version: no drift verdicts"
            )
            return None, "none", None
        profile = self.reference(version)
        if profile is None:
            notes.append(
                f"{version.ref} has no training dataset to profile; "
                "use --reference previous to compare with the window before"
            )
            return None, f"{version.ref} (no training data)", None
        said = f"{version.ref} trained on {profile.source}"
        return profile, said, self.reconstruction(version)

    def _served(self, name: str, versions: dict[str, int]) -> ModelVersion | None:
        """The version that answered most of the window, else the champion, else none."""
        refs = [_main(name, versions)] if versions else []
        for ref in [*refs, f"{name}@champion"]:
            try:
                return self._models.registry.resolve(ref)
            except NotFoundError:  # deleted since, or no champion yet
                continue
        return None

    def keep(self, report: MonitorReport) -> tuple[int, str, str]:
        """Store ``report`` (JSON and HTML) and record it as a run: its id and both keys."""
        prefix = f"reports/monitoring/{report.model}"
        document = json.dumps(report.as_dict(), default=str, indent=1).encode()
        stored = self._artifacts.put(document, prefix=prefix, suffix=".json")
        history = self.history(report.model, kind="drift", limit=2000)
        page = self._artifacts.put(render(report, history).encode(), prefix=prefix, suffix=".html")
        run_id = self.store.add_run(report, report_key=stored.key, html_key=page.key)
        return run_id, stored.key, page.key

    # -- history ----------------------------------------------------------------------------
    def notify_owner(
        self, model: str, title: str, text: str, detail: dict[str, Any] | None = None
    ) -> list[Delivery]:
        """Tell ``model``'s owner something (a retraining decision) through the owner's
        channels (webhook, Slack, e-mail, log), as alerts are sent; failures are reported."""
        config = self._config.models.get(model)
        message = {
            "id": (detail or {}).get("run", "-"),
            "status": "maintenance",
            "project": self._config.project,
            "model": model,
            "rule": title,
            "severity": "info",
            "owner": config.owner.name if config else OWNER,
            "route": OWNER,
            "value": None,
            "threshold": None,
            "message": text,
            "detail": detail or {},
            "started_at": datetime.now(UTC).isoformat(),
            "fired_at": None,
            "resolved_at": None,
        }
        channels = self.alerts.channels(OWNER, config)
        message["deliveries"] = self.alerts.plan(channels)
        return [
            dataclasses.replace(self.alerts.notifier.send(channel, message), model=model)
            for channel in channels
        ]

    def runs(self, name: str, *, limit: int = 50) -> list[RunSummary]:
        """The newest ``limit`` runs of ``name``, newest first."""
        return self.store.runs(name, limit=limit)

    def profile_dataset(self, ref: str) -> DatasetProfile:
        """The profile of dataset version ``ref`` (``loans@3``, ``loans@latest``): each
        column's type, nulls, distinct values, range, quantiles, histogram or top values."""
        version = self._data.show(ref)
        frame = self._data.load(version.ref)
        dataset = self._config.datasets.get(version.dataset)  # gone from the file: no types
        declared = {n: c.type for n, c in dataset.columns.items()} if dataset else {}
        return profile_frame(frame, version.ref, declared=declared)

    def run_summary(self, run_id: int) -> RunSummary | None:
        """The stored run with this id, if there is one."""
        return self.store.run(run_id)

    def recent_runs(self, *, limit: int = 50) -> list[RunSummary]:
        """The newest ``limit`` runs of every model, newest first."""
        return self.store.runs(None, limit=limit)

    def history(
        self, name: str, *, kind: str | None = None, feature: str | None = None, limit: int = 1000
    ) -> list[StoredFigure]:
        """Stored figures of ``name``, oldest first: the series the dashboard plots."""
        return self.store.figures(name, kind=kind, name=feature, limit=limit)

    def link(self, key: str) -> str:
        """Where to open a stored report."""
        return self._artifacts.link(key)


def _source(name: str, data: str | None, batch: str | None) -> str:
    if data is not None:
        return f"dataset {data}"
    return f"batch run {batch}" if batch is not None else f"{name}'s prediction log"


def _main(name: str, versions: dict[str, int]) -> str:
    """``name@N`` for the version that answered most rows."""
    return f"{name}@{max(versions.items(), key=lambda kv: kv[1])[0]}"


def _versions(frame: pl.DataFrame) -> dict[str, int]:
    if frame.height == 0 or "version" not in frame.columns:
        return {}
    counted = frame.get_column("version").drop_nulls().value_counts()
    return {str(v): int(n) for v, n in counted.iter_rows()}


def _score(frame: pl.DataFrame, task: str) -> list[pl.Series]:
    """The positive class's probability of a binary classifier, as a column to profile."""
    if task != "binary_classification" or "probabilities" not in frame.columns:
        return []
    return [frame.get_column("probabilities").list.last().alias(SCORE)]


def _beside(found: Estimation | None, realized: Performance) -> Estimation | None:
    """The estimates with the realized figures beside them, once labels arrived."""
    if found is None or not realized.labelled:
        return found
    estimates = [
        dataclasses.replace(e, realized=realized.metrics.get(e.metric)) for e in found.estimates
    ]
    return dataclasses.replace(found, estimates=estimates)


def _labels(labels: Any, classes: list[Any]) -> np.ndarray:
    """Holdout labels spelled as the model's classes (a bool column may load as 0/1)."""
    values = [v.item() if hasattr(v, "item") else v for v in np.asarray(labels).tolist()]
    if all(v in classes for v in values):
        return np.asarray(values, dtype=object)
    by_text = {str(c): c for c in classes}
    return np.asarray([by_text.get(str(v), v) for v in values], dtype=object)


def _categorical_outputs(task: str) -> frozenset[str]:
    """A classifier's predicted label is a category, whatever type its classes have."""
    return frozenset({PREDICTION}) if task.endswith("classification") else frozenset()


def _prediction_columns(labels: Any, proba: Any, task: str) -> list[pl.Series]:
    columns = [pl.Series(PREDICTION, np.asarray(labels).tolist())]
    if task == "binary_classification" and proba is not None:
        columns.append(pl.Series(SCORE, np.asarray(proba)[:, -1].astype(np.float64)))
    return columns


def _silent(_message: str) -> None:
    """The progress callback when nobody listens."""
