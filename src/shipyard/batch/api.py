"""The batch stage's facade: ``project.batch.score(...)`` and the runs it kept.

One run: the model version resolved, the engine found (an uninstalled one refused
before anything is read), every input's columns checked against the model (a misfit
is one line, nothing written), the run recorded 'running', then every chunk scored by
the engine and written in order (:class:`~.sink.Sink`). At the end, in this order: the
last log segment, the quarantine, the answers renamed into place, the log's marker
(readers see the run from here), and the run 'succeeded' with a "scored" audit entry.
A failure on the way removes the partial answers and marks the run 'failed'.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.config import ProjectConfig
from shipyard.errors import ConfigError, ShipyardError
from shipyard.storage import ArtifactStore, MetadataStore, current_actor

from .chunk import empty_answers
from .engines import LOCAL, Job, engine
from .inputs import (
    CHUNK_ROWS,
    PARQUET,
    InputFile,
    StoredObject,
    check_columns,
    check_id,
    named,
)
from .log import RunLog
from .output import Answers, Quarantine, output_format
from .records import BatchRun, RunRecord
from .runs import BatchRuns
from .scorer import Scorer
from .sink import Sink

if TYPE_CHECKING:
    import pyarrow as pa

    from shipyard.data import Datasets
    from shipyard.models import Models

log = logging.getLogger(__name__)

Step = Callable[[str], None]


def new_run_id(now: datetime) -> str:
    """A run id that sorts by time and is safe in keys: ``20261203T163500-1a2b3c4d``."""
    return f"{now:%Y%m%dT%H%M%S}-{secrets.token_hex(4)}"


class Batch:
    """Batch scoring of one project: score files or dataset versions, list the runs."""

    def __init__(
        self,
        config: ProjectConfig,
        metadata: MetadataStore,
        artifacts: ArtifactStore,
        models: Models,
        data: Callable[[], Datasets],
    ) -> None:
        self._config = config
        self._artifacts = artifacts
        self._models = models
        self._data = data
        self.runs = BatchRuns(metadata)

    def score(
        self,
        ref: str,
        *,
        data: str | None = None,
        files: Sequence[str | Path] = (),
        out: str | Path | None = None,
        id_column: str | None = None,
        engine_name: str = LOCAL,
        chunk_rows: int = CHUNK_ROWS,
        workers: int | None = None,
        options: Mapping[str, Any] | None = None,
        progress: Step | None = None,
    ) -> RunRecord:
        """Score the rows of ``data`` (a dataset version, ``loans@3``) or ``files`` with the
        model version ``ref`` names; the run's record (counts, output, quarantine, log)."""
        if (data is None) == (not files):
            raise ConfigError(
                "name what to score: a dataset version (--data loans@3) or files, not both"
                if data is not None
                else "name what to score: a dataset version (--data loans@3) or files",
            )
        if chunk_rows < 1:
            raise ConfigError(f"--chunk-rows must be at least 1, got {chunk_rows}")
        run_engine = engine(engine_name)
        version = self._models.resolve_champion(ref, use="scores with")
        model = self._models.config(version.model)
        dataset = self._config.datasets.get(model.dataset)
        target = Path(out) if out is not None else None
        if target is not None:
            output_format(target)
        with tempfile.TemporaryDirectory(prefix="shipyard-score-") as scratch:
            inputs, source = self._inputs(data, files, Path(scratch), engine_name, options)
            scorer = Scorer.build(
                self._models.load(version.ref),
                list(version.features),
                dataset.columns if dataset else {},
                # a file's rows carry their event time in the log; a dataset version's
                # are matched to it by row number when monitored (monitor --run)
                dataset.timestamp if dataset and data is None else None,
            )
            id_type = None
            for file in inputs:
                where = source[0] if data is not None else str(file.path)
                columns = named(where, file.columns(), scorer)
                check_columns(where, columns, scorer, version.ref)
                check_id(where, columns, id_column)
                id_type = id_type or (columns.get(id_column) if id_column else None)
                if file.stored is not None:
                    continue
                if target is not None and target.resolve() == file.path.resolve():
                    raise ConfigError(f"--out {target}: is the input itself; name another file")
            now = datetime.now(UTC)
            run = BatchRun(
                new_run_id(now),
                version.model,
                version.version,
                source,
                id_column,
                now,
                current_actor(),
            )
            inputs = [replace(f, id_column=id_column) for f in inputs]
            job = Job(scorer, run, tuple(inputs), chunk_rows, workers, dict(options or {}))
            empty = empty_answers(scorer, run, id_type)
            return self._run(run, job, run_engine, engine_name, target, empty, progress)

    def _inputs(
        self,
        data: str | None,
        files: Sequence[str | Path],
        scratch: Path,
        engine_name: str,
        options: Mapping[str, Any] | None,
    ) -> tuple[list[InputFile], tuple[str, ...]]:
        """The inputs to read. A dataset version is copied to ``scratch`` for the embedded
        engine; an engine whose workers may run on other machines reads it in the S3
        store itself (no copy), and is refused one in a local-folder store when it names
        a remote cluster (the copy would be on this machine only)."""
        if data is None:
            return [InputFile.of(Path(f)) for f in files], tuple(str(f) for f in files)
        version = self._data().show(data)
        name = Path(version.data_key).name
        remote = self._artifacts.remote(version.data_key) if engine_name != LOCAL else None
        if remote is not None:
            stored = StoredObject(remote[0], json.dumps(remote[1], sort_keys=True))
            return [InputFile(Path(name), PARQUET, stored)], (version.ref,)
        address = str((options or {}).get("address") or os.environ.get("RAY_ADDRESS") or "")
        if engine_name != LOCAL and address.startswith("ray://"):
            raise ConfigError(
                f"--data {version.ref}: the artifact store {self._artifacts.url} is a local "
                f"folder, which the Ray cluster at {address} cannot read",
                hint="put the artifacts on S3 (storage.artifacts / SHIPYARD_ARTIFACTS_URL "
                "= s3://…), or score the rows from a file every node reads at the same path",
            )
        path = self._artifacts.download(version.data_key, scratch / "data.parquet")
        return [InputFile(path, PARQUET)], (version.ref,)

    def _run(
        self,
        run: BatchRun,
        job: Job,
        run_engine: Callable[[Job, Sink], None],
        engine_name: str,
        target: Path | None,
        empty: pa.Table,
        progress: Step | None,
    ) -> RunRecord:
        self.runs.start(run, engine=engine_name)
        log.info("batch run %s: scoring %s with %s", run.run_id, ", ".join(run.source), run.ref)
        answers = Answers(target, run, self._artifacts, empty)
        quarantine = Quarantine(run, self._artifacts)
        run_log = RunLog(self._artifacts, run)

        def beat(rows_in: int, scored: int, quarantined: int) -> None:
            self.runs.heartbeat(run.run_id, rows_in=rows_in, scored=scored, quarantined=quarantined)

        sink = Sink(answers, run_log, quarantine, heartbeat=beat, step=progress or _silent)
        try:
            run_engine(job, sink)
            run_log.flush()
            quarantine_key = quarantine.commit()
            output = answers.commit()
            segments = run_log.finish()
        except BaseException as exc:
            answers.abort()
            quarantine.abort()
            said = exc.message if isinstance(exc, ShipyardError) else f"{type(exc).__name__}: {exc}"
            try:
                self.runs.fail(run.run_id, said)
            except Exception:  # the store is what failed: the run shows abandoned later
                log.exception("could not mark batch run %s failed", run.run_id)
            raise
        done = self.runs.succeed(
            run,
            rows_in=sink.rows_in,
            scored=sink.scored,
            quarantined=sink.quarantined,
            output=output,
            quarantine_key=quarantine_key,
            segments=segments,
        )
        log.info(
            "batch run %s: %d rows, %d scored, %d quarantined",
            run.run_id,
            sink.rows_in,
            sink.scored,
            sink.quarantined,
        )
        return self._linked(done)

    def _linked(self, record: RunRecord) -> RunRecord:
        if record.quarantine_key is None:
            return record
        return replace(record, quarantine_link=self._artifacts.link(record.quarantine_key))

    def run(self, run_id: str) -> RunRecord:
        """One run by its id."""
        return self._linked(self.runs.get(run_id))

    def list(self, model: str | None = None, *, limit: int = 100) -> list[RunRecord]:
        """The newest runs (of ``model``), newest first."""
        return self.runs.list(model, limit=limit)


def _silent(_message: str) -> None:
    """The progress callback when nobody watches."""
