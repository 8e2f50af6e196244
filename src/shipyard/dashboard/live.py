"""Live figures of a model from its prediction log's recent window.

Requests per minute, p99 latency and the degraded-answer share over the last
:data:`WINDOW_S` seconds. The read is bounded: the day folders the window spans
only, three columns only (``time``, ``latency_ms``, ``degraded``), the span pushed
down into each segment's Parquet read, at most :data:`MAX_ROWS` newest rows kept.
A log that cannot be read is no error: the figures are then unknown.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shipyard.project import Project

logger = logging.getLogger(__name__)

WINDOW_S = 900.0
MAX_ROWS = 100_000


@dataclass(frozen=True)
class Live:
    """What the recent window of the prediction log says (None: no requests in it)."""

    requests: int
    window_s: float
    p99_ms: float | None
    degraded_share: float | None
    error: str | None = None  # why the log could not be read

    @property
    def per_minute(self) -> float:
        return self.requests * 60.0 / self.window_s


def live_figures(project: Project, name: str, *, now: datetime) -> Live:
    """``name``'s requests, p99 latency and degraded share over the last 15 minutes."""
    from shipyard.predlog import PREDICTIONS
    from shipyard.predlog.reader import read_rows

    try:
        frame = read_rows(
            project.artifacts,
            PREDICTIONS,
            name,
            now - timedelta(seconds=WINDOW_S),
            now,
            newest=MAX_ROWS,
            columns=["time", "latency_ms", "degraded"],
        )
    except Exception as exc:  # the log is a view here: unreadable means unknown, said once
        logger.warning("could not read the prediction log of %s: %s", name, exc)
        return Live(0, WINDOW_S, None, None, error=str(exc).splitlines()[0] if str(exc) else "")
    if frame.height == 0:
        return Live(0, WINDOW_S, None, None)
    p99 = None
    if "latency_ms" in frame.columns:
        value = frame.get_column("latency_ms").drop_nulls().quantile(0.99, "higher")
        p99 = float(value) if value is not None else None
    degraded = None
    if "degraded" in frame.columns:
        column = frame.get_column("degraded").drop_nulls()
        share = column.cast(float).mean() if column.len() else None
        degraded = float(share) if isinstance(share, int | float) else None
    return Live(frame.height, WINDOW_S, p99, degraded)
