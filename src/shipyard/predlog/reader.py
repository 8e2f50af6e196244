"""Reading the logs back from the artifact store.

Rows by time read the day folders from ``start`` to ``end`` (only the columns
asked for) and keep the rows whose ``time`` falls in ``[start, end)``. The
newest N rows read days backwards from ``end`` until they have enough. The
prediction log's ``inputs`` struct comes back as one column per feature.
"""

from __future__ import annotations

import io
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import polars as pl

from shipyard.storage import ArtifactStore

from .schema import INPUTS, TIME, list_segments

if TYPE_CHECKING:
    import pyarrow as pa

logger = logging.getLogger(__name__)


def read_rows(
    artifacts: ArtifactStore,
    kind: str,
    model: str,
    start: datetime,
    end: datetime,
    *,
    newest: int | None = None,
    columns: list[str] | None = None,
) -> pl.DataFrame:
    """Rows of one log of ``model`` timed in ``[start, end)``, oldest first; only the
    ``newest`` of them when given. An empty frame when there are none."""
    import pyarrow as pa  # here: importing monitoring must not load Arrow
    import pyarrow.compute as pc

    tables: list[pa.Table] = []
    have = 0
    for day in _days(start, end, newest_first=newest is not None):
        for key in list_segments(artifacts, kind, model, day):
            table = _segment(artifacts, key, columns)
            if table is None:
                continue
            times = table.column(TIME)
            low = pa.scalar(start, type=times.type)
            high = pa.scalar(end, type=times.type)
            table = table.filter(pc.and_(pc.greater_equal(times, low), pc.less(times, high)))
            if table.num_rows:
                tables.append(table)
                have += table.num_rows
        if newest is not None and have >= newest:
            break
    if not tables:
        return pl.DataFrame()
    frame = pl.from_arrow(pa.concat_tables(tables, promote_options="permissive"))
    assert isinstance(frame, pl.DataFrame)
    if INPUTS in frame.columns:
        frame = frame.unnest(INPUTS)
    frame = frame.sort(TIME)
    if newest is not None:
        frame = frame.tail(newest)
    return frame


def _days(start: datetime, end: datetime, *, newest_first: bool = False) -> list[datetime]:
    """The UTC day folders ``[start, end)`` spans, oldest first unless ``newest_first``."""
    day = start.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    spanned = []
    while day < end:
        spanned.append(day)
        day += timedelta(days=1)
    return spanned[::-1] if newest_first else spanned


def _segment(artifacts: ArtifactStore, key: str, columns: list[str] | None) -> pa.Table | None:
    import pyarrow.parquet as pq

    try:
        source = io.BytesIO(artifacts.get(key))
        names = pq.read_schema(source).names
        wanted = (
            None if columns is None else [c for c in dict.fromkeys([*columns, TIME]) if c in names]
        )
        return pq.read_table(source, columns=wanted)
    except Exception as exc:  # a broken segment must not stop monitoring: say which
        logger.warning("skipping unreadable log segment %s: %s", key, exc)
        return None
