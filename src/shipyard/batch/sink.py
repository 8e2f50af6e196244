"""Where every engine hands each scored chunk, in input order: one place that writes.

:class:`Sink` takes the :class:`~.records.ChunkResult` of each chunk, in the order of
the input, and writes its answers, log rows and quarantined rows, counts them, says
the run is alive now and then, and reports progress. An engine only has to produce
chunk results (in the parent, a process pool or a Ray cluster) and hand them over.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .log import RunLog
from .output import Answers, Quarantine
from .records import HEARTBEAT_S, ChunkResult

Step = Callable[[str], None]


class Sink:
    """The writers of one run, and its counts."""

    def __init__(
        self,
        answers: Answers,
        log: RunLog,
        quarantine: Quarantine,
        *,
        heartbeat: Callable[[int, int, int], None],
        step: Step,
    ) -> None:
        self.answers = answers
        self.log = log
        self.quarantine = quarantine
        self.rows_in = 0
        self.scored = 0
        self.quarantined = 0
        self._heartbeat = heartbeat
        self._step = step
        self._beat = time.monotonic()
        self._next = 0  # the offset the next chunk must start at

    def add(self, result: ChunkResult) -> None:
        """Write one chunk's outcome; chunks must come in input order, none skipped."""
        if result.offset != self._next:
            raise RuntimeError(
                f"chunk at row {result.offset} handed over out of order (expected {self._next})"
            )
        self._next = result.offset + result.rows_in
        self.answers.write(result.answers)
        self.log.add(result.log)
        self.quarantine.write(result.quarantine)
        self.rows_in += result.rows_in
        self.scored += result.scored
        self.quarantined += result.quarantined
        self._step(f"{self.rows_in:,} rows")
        now = time.monotonic()
        if now - self._beat >= HEARTBEAT_S:
            self._beat = now
            self._heartbeat(self.rows_in, self.scored, self.quarantined)
