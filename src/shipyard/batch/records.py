"""The plain records of batch scoring: a run, one chunk's outcome, a run's stored state.

``BatchRun`` is what every chunk of one ``shipyard score`` run shares (its id, the model
version, where the rows came from, who started it and when). Everything derived from
it is deterministic: a row's prediction id is ``{run id}-{row number}``, its log time
the run's start, its segments' worker ``batch-{run id}``, so two engines scoring the
same input for the same run write the same answers and the same log rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shipyard.errors import ShipyardError
from shipyard.predlog.schema import batch_worker

if TYPE_CHECKING:
    import pyarrow as pa

RUNNING, SUCCEEDED, FAILED, ABANDONED = "running", "succeeded", "failed", "abandoned"
STATUSES = (RUNNING, SUCCEEDED, FAILED, ABANDONED)
STALE_AFTER = timedelta(minutes=5)
"""A run still 'running' whose heartbeat is older than this was killed: shown 'abandoned'."""
HEARTBEAT_S = 10.0
"""How often a running run says it is alive."""


class ScoreInputError(ShipyardError, ValueError):
    """The rows to score do not fit the model: columns missing or of the wrong type.
    Nothing was scored or written. Exit 1: the input was read and judged."""

    exit_code = 1
    http_status = 422


@dataclass(frozen=True)
class BatchRun:
    """One scoring run: what every chunk of it shares.

    ``source``: the dataset version (``loans@3``) or the files scored, as given.
    ``id_column``: the input column that names each row (kept in the answers and as the
    log row's passthrough field), or ``None`` (rows are named by their row number).
    """

    run_id: str
    model: str
    version: int
    source: tuple[str, ...]
    id_column: str | None
    started_at: datetime
    actor: str

    @property
    def worker(self) -> str:
        """The worker name the run's log segments are written under."""
        return batch_worker(self.run_id)

    @property
    def ref(self) -> str:
        return f"{self.model}@{self.version}"

    def prediction_id(self, row: int) -> str:
        """The prediction id of input row ``row`` (1-based, counted over the whole input)."""
        return f"{self.run_id}-{row}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "model": self.model,
            "version": self.version,
            "source": list(self.source),
            "id_column": self.id_column,
            "started_at": self.started_at.isoformat(),
            "actor": self.actor,
        }


@dataclass(frozen=True)
class ChunkResult:
    """What one chunk of input became (:func:`shipyard.batch.chunk.score_chunk`).

    ``answers``: the id column (or ``_row``), ``prediction_id``, ``prediction`` and, for a
    classifier, ``probability_{class}`` per class, one row per accepted input row.
    ``log``: the same rows in the prediction log's columns (``predlog.schema.COLUMNS``).
    ``quarantine``: the refused rows as they arrived (as text), ``_source``, ``_row`` and
    ``_reasons``. ``rows_in`` = ``answers.num_rows`` + ``quarantine.num_rows``.
    """

    offset: int
    rows_in: int
    answers: pa.Table
    log: pa.Table
    quarantine: pa.Table

    @property
    def scored(self) -> int:
        return int(self.answers.num_rows)

    @property
    def quarantined(self) -> int:
        return int(self.quarantine.num_rows)


@dataclass(frozen=True)
class RunRecord:
    """A run as the ``batch_runs`` table keeps it (and ``shipyard score --json`` says it)."""

    run_id: str
    model: str
    version: int
    source: tuple[str, ...]
    id_column: str | None
    engine: str
    status: str
    rows_in: int
    rows_scored: int
    rows_quarantined: int
    output: str | None
    quarantine_key: str | None
    segments: tuple[str, ...]
    actor: str
    started_at: datetime
    heartbeat_at: datetime
    finished_at: datetime | None = None
    error: str | None = None
    quarantine_link: str | None = field(default=None, compare=False)

    @property
    def shown_status(self) -> str:
        """``status``, but a 'running' run whose heartbeat went stale shows 'abandoned'."""
        return self.status_at(datetime.now(UTC))

    def status_at(self, now: datetime) -> str:
        if self.status == RUNNING and now - self.heartbeat_at > STALE_AFTER:
            return ABANDONED
        return self.status

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "model": self.model,
            "version": self.version,
            "source": list(self.source),
            "id_column": self.id_column,
            "engine": self.engine,
            "status": self.shown_status,
            "rows": {
                "in": self.rows_in,
                "scored": self.rows_scored,
                "quarantined": self.rows_quarantined,
            },
            "output": self.output,
            "quarantine": self.quarantine_key,
            "quarantine_path": self.quarantine_link,
            "segments": list(self.segments),
            "actor": self.actor,
            "started_at": self.started_at.isoformat(),
            "heartbeat_at": self.heartbeat_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "error": self.error,
        }
