"""Batch scoring: a table scored with a registered model, logged like served predictions.

``shipyard score`` reads a dataset version or files in chunks, validates each chunk
with ingest's rules (refused rows to a quarantine, with reasons), predicts the rest,
writes the answers and logs every prediction to the same prediction log as serving
(``source`` ``batch`` and the run's id), so feedback, monitoring and retraining treat
batch and live rows alike. The engines (:mod:`.engines`) share one chunk step
(:mod:`.chunk`) and one writer (:mod:`.sink`); runs are kept in ``batch_runs``.

Its names load on first use (:mod:`shipyard.lazy`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard.lazy import exports

if TYPE_CHECKING:
    from .api import Batch
    from .chunk import score_chunk
    from .engines import ENGINES, Job
    from .records import BatchRun, ChunkResult, RunRecord, ScoreInputError
    from .scorer import Scorer
    from .sink import Sink

_NAMES = {
    "Batch": ".api",
    "BatchRun": ".records",
    "ChunkResult": ".records",
    "ENGINES": ".engines",
    "Job": ".engines",
    "RunRecord": ".records",
    "ScoreInputError": ".records",
    "Scorer": ".scorer",
    "Sink": ".sink",
    "score_chunk": ".chunk",
}

__all__ = [
    "ENGINES",
    "Batch",
    "BatchRun",
    "ChunkResult",
    "Job",
    "RunRecord",
    "ScoreInputError",
    "Scorer",
    "Sink",
    "score_chunk",
]

__getattr__, __dir__ = exports(__name__, _NAMES)
