"""A project: its folder, its parsed ``shipyard.yaml`` and the stores it points at.

``shipyard.open(".")`` is where every entry point starts; the CLI, the HTTP
server and the dashboard call this object and never reach into storage
themselves. Stores are opened on first use, so reading the config is cheap; a
project opened with ``lazy_stores=True`` (a server that may start before its
database) connects to and migrates the database only when it is first queried.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .config import (
    PROJECT_FILE,
    ProjectConfig,
    example_model_code,
    example_project_file,
    expand_env,
    find_project_file,
    load_config,
)
from .errors import ConfigError, StorageError
from .maintenance.records import MaintenanceError
from .storage import (
    ArtifactStore,
    AuditEvent,
    MetadataStore,
    artifact_location,
    history,
    record,
)
from .storage.safe_files import write_atomic

if TYPE_CHECKING:  # each stage is imported when first used: a server loads no data layer
    import polars as pl

    from .batch import Batch, RunRecord
    from .data import Datasets, IngestResult
    from .data.api import Progress
    from .evaluation import Evaluation, Evaluations, VersionComparison
    from .maintenance import Maintenance, RetrainRun
    from .models import Models, ModelVersion
    from .monitoring import DatasetProfile, Monitoring, MonitorRun
    from .reports import Reports

log = logging.getLogger(__name__)


class Project:
    """One shipyard project, opened from its folder."""

    def __init__(
        self,
        root: Path,
        config: ProjectConfig,
        *,
        environ: Mapping[str, str] | None = None,
        lazy_stores: bool = False,
    ) -> None:
        self.root = root
        self.config = config
        self._environ = os.environ if environ is None else environ
        self._lazy = lazy_stores
        self._metadata: MetadataStore | None = None
        self._artifacts: ArtifactStore | None = None
        self._data: Datasets | None = None
        self._models: Models | None = None
        self._evaluations: Evaluations | None = None
        self._monitoring: Monitoring | None = None
        self._maintenance: Maintenance | None = None
        self._reports: Reports | None = None
        self._batch: Batch | None = None

    @property
    def name(self) -> str:
        return self.config.project

    @property
    def file(self) -> Path:
        return self.root / PROJECT_FILE

    @property
    def metadata(self) -> MetadataStore:
        """The metadata database, connected and migrated on first use (of the store itself,
        with ``lazy_stores``)."""
        if self._metadata is None:
            url = expand_env(
                self.config.storage.database, where="storage.database", environ=self._environ
            )
            self._metadata = MetadataStore(url, root=self.root, lazy=self._lazy)
        return self._metadata

    @property
    def data(self) -> Datasets:
        """The data stage: ingest, versions, quarantine, diff, export."""
        if self._data is None:
            from .data.api import Datasets

            self._data = Datasets(self.config, self.root, self.metadata, self.artifacts)
        return self._data

    @property
    def models(self) -> Models:
        """The models stage: train, register, import, aliases, model cards, loading."""
        if self._models is None:
            from .models.api import Models

            # the data stage (polars) is opened when a method of the models needs it
            self._models = Models(
                self.config, self.root, self.metadata, self.artifacts, lambda: self.data
            )
        return self._models

    @property
    def evaluations(self) -> Evaluations:
        """The evaluation stage: evaluate versions, keep the reports, gate promotion."""
        if self._evaluations is None:
            from .evaluation.api import Evaluations

            self._evaluations = Evaluations(
                self.config, self.metadata, self.artifacts, self.data, self.models
            )
        return self._evaluations

    @property
    def monitoring(self) -> Monitoring:
        """The monitoring stage: reference profiles, monitoring runs and history, alerts."""
        if self._monitoring is None:
            from .monitoring.api import Monitoring

            self._monitoring = Monitoring(
                self.config,
                self.metadata,
                self.artifacts,
                self.data,
                self.models,
                environ=self._environ,
                root=self.root,
                holdout=self._holdout,
            )
        return self._monitoring

    def _holdout(self, version: ModelVersion) -> tuple[Any, Any, str]:
        """``version``'s labelled holdout for monitoring to calibrate on (evaluation's rows)."""
        features, labels, holdout = self.evaluations.holdout(version)
        said = holdout.rows_from + (f" — {holdout.note}" if holdout.note else "")
        return features, labels, said

    @property
    def maintenance(self) -> Maintenance:
        """The maintenance stage: retraining runs, shadow comparison, guard, rollback."""
        if self._maintenance is None:
            from .maintenance.api import Maintenance

            self._maintenance = Maintenance(
                self.config,
                self.metadata,
                self.artifacts,
                self.data,
                self.models,
                self.evaluations,
                self.monitoring,
            )
        return self._maintenance

    @property
    def reports(self) -> Reports:
        """The evaluation and monitoring reports written so far: list them, find one by id."""
        if self._reports is None:
            from .reports import Reports

            self._reports = Reports(self.models, self.evaluations, self.monitoring)
        return self._reports

    def retrain(
        self, name: str, *, trigger: str = "manual", reason: str | None = None
    ) -> RetrainRun:
        """Run ``name``'s retraining steps now (data, train, evaluate, challenger, decide)."""
        return self.maintenance.retrain(name, trigger=trigger, reason=reason)

    def rollback(
        self, name: str, *, to: int | None = None, reason: str | None = None
    ) -> tuple[int, int]:
        """Move ``name``'s champion back (to the previous champion, or ``to``); (from, to)."""
        return self.maintenance.rollback(name, to=to, reason=reason)

    @property
    def batch(self) -> Batch:
        """The batch stage: score files or dataset versions with a model, the runs kept."""
        if self._batch is None:
            from .batch.api import Batch

            self._batch = Batch(
                self.config, self.metadata, self.artifacts, self.models, lambda: self.data
            )
        return self._batch

    def score(
        self,
        name: str,
        *,
        data: str | None = None,
        files: list[str | Path] | None = None,
        out: str | Path | None = None,
        id_column: str | None = None,
        engine: str = "local",
        chunk_rows: int | None = None,
        workers: int | None = None,
        options: Mapping[str, Any] | None = None,
        progress: Progress | None = None,
    ) -> RunRecord:
        """Score a dataset version (``data="loans@3"``) or ``files`` with ``name`` (``NAME@V``,
        ``NAME@alias``): answers to ``out`` (or the artifact store), every prediction to the
        prediction log, refused rows to a quarantine; the run's record."""
        from .batch.inputs import CHUNK_ROWS

        return self.batch.score(
            name,
            data=data,
            files=files or (),
            out=out,
            id_column=id_column,
            engine_name=engine,
            chunk_rows=chunk_rows or CHUNK_ROWS,
            workers=workers,
            options=options,
            progress=progress,
        )

    def monitor(
        self,
        name: str,
        *,
        window: float | None = None,
        rows: int | None = None,
        now: datetime | None = None,
        reference: str | None = None,
        notify: bool = True,
        progress: Progress | None = None,
    ) -> MonitorRun:
        """Monitor ``name`` over a window of its prediction log (``window=3600`` s or ``rows=N``)."""
        return self.monitoring.run(
            name,
            window=window,
            rows=rows,
            now=now,
            reference=reference,
            notify=notify,
            progress=progress,
        )

    def predictions(
        self,
        name: str,
        *,
        since: str | datetime | timedelta | None = None,
        until: str | datetime | timedelta | None = None,
        version: int | None = None,
        where: str | None = None,
        with_feedback: bool = False,
        fallback_only: bool = False,
        limit: int | None = None,
        source: str | None = None,
        run: str | None = None,
    ) -> pl.DataFrame:
        """``name``'s logged live predictions, newest first: features, answer, version, path,
        (with ``with_feedback``) labels; ``since="1h"``, ``where="amount > 1000"``, ``limit=N``;
        ``source="batch"`` (or ``"serve"``), ``run=RUN``: batch rows, one run's rows."""
        from .predlog.query import PredictionLog  # here: Arrow loads only when asked

        query = PredictionLog(self.artifacts, self.config).select
        return query(
            name, since=since, until=until, version=version, where=where,
            with_feedback=with_feedback, fallback_only=fallback_only, limit=limit,
            source=source, run=run,
        ).frame  # fmt: skip

    def profile(self, ref: str) -> DatasetProfile:
        """The profile of dataset version ``ref`` (``"loans@3"``): per column its type, nulls,
        distinct values, range, quantiles, histogram or top categories."""
        return self.monitoring.profile_dataset(ref)

    def evaluate(
        self, ref: str, *, data: str | None = None, progress: Progress | None = None
    ) -> Evaluation:
        """Run ``ref``'s evaluation spec (``data="loans@3"`` for another dataset version)."""
        return self.evaluations.evaluate(ref, data=data, progress=progress)

    def compare(
        self, name: str, versions: list[str | int] | None = None, *, latest: int = 3
    ) -> VersionComparison:
        """Versions of ``name`` side by side (default: champion, challenger, ``latest`` newest):
        params, metrics, dataset version, evaluation verdict; differing rows marked."""
        return self.evaluations.compare(name, versions, latest=latest)

    def promote(
        self, ref: str, *, to: str = "champion", force: bool = False, reason: str | None = None
    ) -> tuple[int | None, int]:
        """Make ``ref`` the champion (``to=...``) if its latest evaluation passed; a version
        already there stays, unaudited, as ``(v, v)``.

        A new champion approves the retraining run waiting for it, or (with the model's
        ``retrain.guard``) starts a guard period that rolls it back if a listed alert fires.
        """
        if to == "champion" and not force:
            self._refuse_rejected(ref)
        before, after = self.evaluations.promote(ref, to=to, force=force, reason=reason)
        if to == "champion" and before != after:
            name = ref.split("@", 1)[0]
            try:
                self.maintenance.promoted(name, before, after, reason=reason)
            except Exception as exc:  # promoted already; the guard or approval is reported
                log.warning("after promoting %s: %s", ref, exc)
        return before, after

    def _refuse_rejected(self, ref: str) -> None:
        """A candidate its retraining run rejected is promoted only with ``force``."""
        version = self.models.resolve(ref)
        rejected = self.maintenance.rejection(version.model, version.version)
        if rejected is not None:
            run, why = rejected
            raise MaintenanceError(
                f"{version.ref} was rejected by retraining run #{run}: {why}",
                hint=f"see `shipyard runs show {run}`; promote it anyway with --force --reason TEXT",
            )

    def train(
        self,
        name: str,
        *,
        data: str | None = None,
        params: dict[str, Any] | None = None,
        progress: Progress | None = None,
    ) -> ModelVersion:
        """Train model ``name`` (``data="loans@3"``, ``params={...}``) and register the result."""
        version = self.models.train(name, data=data, params=params, progress=progress)
        if progress is not None:
            progress("profiling its training data for monitoring")
        return self._profiled(version)

    def register(
        self,
        model: Any,
        name: str,
        *,
        dataset: str | None = None,
        metrics: dict[str, float] | None = None,
        params: dict[str, Any] | None = None,
        format: str | None = None,
        features: list[str] | None = None,
        classes: list[Any] | None = None,
        source: str = "register",
        training: dict[str, Any] | None = None,
        code: dict[str, Any] | None = None,
        environment: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
        reason: str | None = None,
        holdout: Any = None,
    ) -> ModelVersion:
        """Hand over a model trained elsewhere (a notebook): ``dataset="tx@4"``, ``metrics={...}``.

        ``holdout`` names the rows kept apart from its training, for evaluation to score it
        on: a dataset version (``"tx@5"``, recorded by reference) or a pandas or polars
        DataFrame (checked against the dataset's columns and stored). Without one, an
        evaluation says it scored rows the model may have trained on, and the gates refuse
        to promote it unless it was evaluated with ``data=`` or the project opts in.
        """
        if holdout is not None:
            if training and "holdout" in training:
                raise ConfigError(
                    "training['holdout'] is where shipyard records the holdout; "
                    "pass the rows or the dataset version as holdout= only"
                )
            known = classes
            if known is None and hasattr(model, "classes_"):
                known = [c.item() if hasattr(c, "item") else c for c in model.classes_]
            kept = self.evaluations.record_holdout(name, holdout, dataset=dataset, classes=known)
            training = {**(training or {}), "holdout": kept}
        version = self.models.register(
            model,
            name,
            dataset=dataset,
            metrics=metrics,
            params=params,
            format=format,
            features=features,
            classes=classes,
            source=source,
            training=training,
            code=code,
            environment=environment,
            extra=extra,
            reason=reason,
        )
        return self._profiled(version)

    def _profiled(self, version: ModelVersion) -> ModelVersion:
        """Keep the new version's reference profile (what monitoring compares with)."""
        try:
            self.monitoring.profile_version(version)
        except Exception as exc:  # the version is registered; monitoring computes it later
            log.warning("could not profile %s now (%s); monitoring will retry", version.ref, exc)
        config = self.config.models.get(version.model)
        if config is not None and config.monitoring.estimate == "cbpe":
            try:  # the calibration CBPE estimates with, on the version's holdout
                self.monitoring.calibrate_version(version)
            except Exception as exc:  # the first monitoring run calibrates it then
                log.warning(
                    "could not calibrate %s now (%s); monitoring will retry", version.ref, exc
                )
        return version

    def ingest(
        self,
        name: str,
        *sources: Any,
        mode: str | None = None,
        delimiter: str | None = None,
        progress: Progress | None = None,
    ) -> IngestResult:
        """Validate ``sources`` (paths, ``SqlQuery``, pandas/polars frames) into ``name``'s next version."""
        return self.data.ingest(name, *sources, mode=mode, delimiter=delimiter, progress=progress)

    @property
    def artifacts(self) -> ArtifactStore:
        """The artifact store, on first use."""
        if self._artifacts is None:
            url = expand_env(
                self.config.storage.artifacts, where="storage.artifacts", environ=self._environ
            )
            self._artifacts = ArtifactStore(artifact_location(url, self.root))
        return self._artifacts

    def record(
        self,
        action: str,
        subject: str,
        *,
        detail: dict[str, Any] | None = None,
        reason: str | None = None,
    ) -> AuditEvent:
        """Append one event to the audit log in its own transaction."""
        with self.metadata.transaction() as conn:
            return record(conn, action, subject, detail=detail, reason=reason)

    def audit(self, *, subject: str | None = None, limit: int = 100) -> list[AuditEvent]:
        """The newest audit events, newest first."""
        return history(self.metadata, subject=subject, limit=limit)

    def ping(self) -> None:
        """Reach both stores: :class:`~shipyard.errors.UnreachableError` names the one that
        does not answer; any other StorageError is a refusal (a wrong URL or password)."""
        self.metadata.ping()
        self.artifacts.ping()

    def close(self) -> None:
        if self._metadata is not None:
            self._metadata.close()
            self._metadata = None

    def __enter__(self) -> Project:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Project {self.name!r} at {self.root}>"


def open_project(
    path: str | os.PathLike[str] = ".",
    *,
    environ: Mapping[str, str] | None = None,
    lazy_stores: bool = False,
) -> Project:
    """Open the project whose ``shipyard.yaml`` is in ``path`` or the nearest folder above.

    ``lazy_stores``: connect to the database on its first query, not when it is
    first named (for a server that starts before its database answers).
    """
    file = find_project_file(Path(path))
    config = load_config(file, environ)
    log.debug("opened project %s from %s", config.project, file)
    return Project(file.parent, config, environ=environ, lazy_stores=lazy_stores)


EXAMPLES = ("credit",)  # what `shipyard init --example` can write


def init_project(
    directory: str | os.PathLike[str] = ".",
    *,
    name: str | None = None,
    force: bool = False,
    example: str | None = None,
) -> Path:
    """Write the commented example ``shipyard.yaml`` into ``directory``; return its path.

    ``example="credit"``: also its sample data (``data/loans.csv``, made the same way
    every time), so the README's tour runs as written.
    """
    if example is not None and example not in EXAMPLES:
        raise ConfigError(
            f"no example named '{example}'",
            hint=f"the examples are: {', '.join(EXAMPLES)}",
        )
    folder = Path(directory).resolve()
    file = folder / PROJECT_FILE
    if file.exists() and not force:
        raise ConfigError(
            f"{file} already exists; not overwriting it",
            hint="pass --force to replace it, or edit it by hand",
        )
    name = name or _project_name(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # exclusive temporary files renamed into place: a link planted at any of
        # these names is refused (the project file) or left alone (the others)
        write_atomic(file, example_project_file(name).encode())
        code = folder / "credit_model.py"
        if not os.path.lexists(code):
            write_atomic(code, example_model_code().encode())
        gitignore = folder / ".gitignore"
        if not os.path.lexists(gitignore):
            write_atomic(gitignore, b"# shipyard's local state (database, artifacts)\n.shipyard/\n")
        if example is not None:
            _write_sample_data(folder)
    except StorageError:  # a full or read-only disk, a planted link: said already
        raise
    except OSError as exc:
        raise ConfigError(f"cannot write {file}: {exc}") from exc
    log.info("wrote %s", file)
    return file


def _write_sample_data(folder: Path) -> None:
    """The example's loan applications, beside the project file (kept if already there)."""
    import io

    from .config.example_data import SAMPLE_FILE, SAMPLE_ROWS, SAMPLE_SEED, write_loans

    target = folder / SAMPLE_FILE
    if os.path.lexists(target):
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    text = io.StringIO()
    write_loans(text, rows=SAMPLE_ROWS, seed=SAMPLE_SEED)
    write_atomic(target, text.getvalue().encode())


def _project_name(folder: Path) -> str:
    cleaned = "".join(c if c.isalnum() or c in "_.-" else "-" for c in folder.name).strip("-._")
    return cleaned[:64] or "project"


def register(
    model: Any,
    name: str,
    *,
    project: str | os.PathLike[str] = ".",
    dataset: str | None = None,
    metrics: dict[str, float] | None = None,
    params: dict[str, Any] | None = None,
    format: str | None = None,
    features: list[str] | None = None,
    classes: list[Any] | None = None,
    source: str = "register",
    training: dict[str, Any] | None = None,
    code: dict[str, Any] | None = None,
    environment: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    reason: str | None = None,
    holdout: Any = None,
) -> ModelVersion:
    """``shipyard.register(model, name="fraud", dataset="tx@4", holdout="tx@5")`` from a notebook.

    :meth:`Project.register` for the project in ``project`` (or a folder above it).
    """
    with open_project(project) as opened:
        return opened.register(
            model,
            name,
            dataset=dataset,
            metrics=metrics,
            params=params,
            format=format,
            features=features,
            classes=classes,
            source=source,
            training=training,
            code=code,
            environment=environment,
            extra=extra,
            reason=reason,
            holdout=holdout,
        )
