"""A run's rows in the prediction log: segments written in order, a marker when all landed.

The run's log rows are buffered and written as Parquet segments of about
``SEGMENT_ROWS`` rows under the worker ``batch-{run id}`` and the day the run started.
When the last one has landed, :meth:`RunLog.finish` writes the marker (``.done``, a JSON
list of the segments and their rows) that makes readers see the run (see
``shipyard.predlog.schema``): until then, and forever for a run killed mid-way, the
segments are there but read by nobody.
"""

from __future__ import annotations

import orjson
import pyarrow as pa

from shipyard.predlog.schema import DONE, PREDICTIONS, SUFFIX, segment_parquet, segment_prefix
from shipyard.storage import ArtifactStore

from .records import BatchRun

SEGMENT_ROWS = 250_000
"""Rows per log segment at most (a chunk is never split)."""


class RunLog:
    """The log segments of one run, written as its chunks come in."""

    def __init__(
        self, artifacts: ArtifactStore, run: BatchRun, *, segment_rows: int | None = None
    ) -> None:
        self.artifacts = artifacts
        self.run = run
        self.segment_rows = segment_rows or SEGMENT_ROWS
        self.keys: list[str] = []
        self.rows = 0
        self._pending: list[pa.Table] = []
        self._held = 0
        self._prefix = segment_prefix(PREDICTIONS, run.model, run.started_at, run.worker)

    def add(self, log: pa.Table) -> None:
        """Buffer one chunk's log rows; write a segment when enough wait."""
        if not log.num_rows:
            return
        self._pending.append(log)
        self._held += log.num_rows
        if self._held >= self.segment_rows:
            self.flush()

    def flush(self) -> None:
        """Write what is buffered as one segment."""
        if not self._pending:
            return
        table = pa.concat_tables(self._pending, promote_options="permissive")
        self.keys.append(
            self.artifacts.put(segment_parquet(table), prefix=self._prefix, suffix=SUFFIX).key
        )
        self.rows += table.num_rows
        self._pending, self._held = [], 0

    def finish(self) -> list[str]:
        """Write the rest, then the marker that shows the run to readers; the segment keys."""
        self.flush()
        marker = {"run_id": self.run.run_id, "rows": self.rows, "segments": self.keys}
        self.artifacts.put(orjson.dumps(marker), prefix=self._prefix, suffix=DONE)
        return list(self.keys)
