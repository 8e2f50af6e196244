"""The span of a log a monitoring run judges: the last N seconds, or the newest N rows.

:func:`read_log` reads one log of a model over a window with the prediction
log's reader (:mod:`shipyard.predlog.reader`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import polars as pl

from shipyard.predlog import read_rows
from shipyard.storage import ArtifactStore

MAX_DAYS_BACK = 400  # how far a window by count looks back for rows


@dataclass(frozen=True)
class Window:
    """The time span a monitoring run reads: ``[start, end)``; ``rows`` caps it at the newest rows."""

    start: datetime
    end: datetime
    rows: int | None = None

    @classmethod
    def last(cls, seconds: float, *, now: datetime | None = None) -> Window:
        end = now or datetime.now(UTC)
        return cls(end - timedelta(seconds=seconds), end)

    @classmethod
    def newest(cls, rows: int, *, now: datetime | None = None) -> Window:
        end = now or datetime.now(UTC)
        return cls(end - timedelta(days=MAX_DAYS_BACK), end, rows)

    def before(self) -> Window:
        """The window of the same length just before this one (``reference: previous``)."""
        return Window(self.start - (self.end - self.start), self.start, self.rows)

    def as_dict(self) -> dict[str, object]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "rows": self.rows}


def read_log(
    artifacts: ArtifactStore,
    kind: str,
    model: str,
    window: Window,
    *,
    columns: list[str] | None = None,
) -> pl.DataFrame:
    """Rows of one log of ``model`` in ``window`` (oldest first); an empty frame if none."""
    return read_rows(
        artifacts, kind, model, window.start, window.end, newest=window.rows, columns=columns
    )
