"""Reading a window of the serving logs back from the artifact store.

Segments live under ``{kind}/{model}/{YYYY-MM-DD}/{worker}/``; a window by time
reads the day folders it spans (only the columns asked for) and keeps the rows
whose ``time`` falls inside it. A window by count reads days backwards from the
end until it has enough rows. The prediction log's ``inputs`` struct comes back
as one column per feature.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from shipyard.storage import ArtifactStore

logger = logging.getLogger(__name__)

PREDICTIONS, FEEDBACK, REJECTIONS = "predictions", "feedback", "rejections"
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
    tables: list[pa.Table] = []
    have = 0
    for day in _days(window):
        prefix = f"{kind}/{model}/{day:%Y-%m-%d}/"
        for key in sorted(k for k in artifacts.list(prefix) if k.endswith(".parquet")):
            table = _segment(artifacts, key, columns)
            if table is None:
                continue
            times = table.column("time")
            start = pa.scalar(window.start, type=times.type)
            end = pa.scalar(window.end, type=times.type)
            mask = pa.compute.and_(
                pa.compute.greater_equal(times, start), pa.compute.less(times, end)
            )
            table = table.filter(mask)
            if table.num_rows:
                tables.append(table)
                have += table.num_rows
        if window.rows is not None and have >= window.rows:
            break
    if not tables:
        return pl.DataFrame()
    frame = pl.from_arrow(pa.concat_tables(tables, promote_options="permissive"))
    assert isinstance(frame, pl.DataFrame)
    if "inputs" in frame.columns:
        frame = frame.unnest("inputs")
    frame = frame.sort("time")
    if window.rows is not None:
        frame = frame.tail(window.rows)
    return frame


def _days(window: Window) -> list[datetime]:
    """Day folders the window spans; newest first for a window by count."""
    first = window.start.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    days = []
    day = first
    while day < window.end:
        days.append(day)
        day += timedelta(days=1)
    return days[::-1] if window.rows is not None else days


def _segment(artifacts: ArtifactStore, key: str, columns: list[str] | None) -> pa.Table | None:
    try:
        source = io.BytesIO(artifacts.get(key))
        names = pq.read_schema(source).names
        wanted = (
            None
            if columns is None
            else [c for c in dict.fromkeys([*columns, "time"]) if c in names]
        )
        return pq.read_table(source, columns=wanted)
    except Exception as exc:  # a broken segment must not stop monitoring: say which
        logger.warning("skipping unreadable log segment %s: %s", key, exc)
        return None
