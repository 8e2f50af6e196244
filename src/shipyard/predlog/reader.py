"""Reading the logs back from the artifact store.

Rows by time read the day folders from ``start`` to ``end`` (only the columns
asked for) and keep the rows whose ``time`` falls in ``[start, end)``: the span (and
the versions asked for) is pushed down into each segment's Parquet read, so a row
group outside it is skipped by its statistics. The newest N rows read days backwards
from ``end`` until they have enough. The prediction log's ``inputs`` struct comes
back as one column per feature. A ``keep`` function sees each segment's rows in
turn and returns those to hold (a query's filter, a join): a large log is never held
whole, and :func:`count_rows` counts what it keeps one segment at a time.

The prediction log holds live rows (the answers clients got) and shadow rows (the
other version's answers to copies of the same requests, see :mod:`.schema`). Readers
get the live rows unless they ask for more with ``variants``; a segment written before
the ``variant`` column existed holds live rows only.

A request's passthrough fields (an id, a timestamp: ``models.NAME.passthrough``) come
back as the ``passthrough`` column, one JSON object per row, when some segment read
has them; :func:`passthrough_fields` turns it into one column per field.

Batch rows (``shipyard score``) sit in the same log with ``source`` ``batch`` and their
``run_id``; only runs that finished are read (see :mod:`.schema`). Where a frame read
has a ``source`` column, rows of segments written before it existed read as ``serve``.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import orjson
import polars as pl

from shipyard.storage import ArtifactStore

from .schema import (
    INPUTS,
    LIVE,
    PASSTHROUGH,
    PREDICTIONS,
    SERVE,
    SOURCE,
    TIME,
    VARIANT,
    VARIANTS,
    list_segments,
)

VERSION = "version"

if TYPE_CHECKING:
    import pyarrow as pa

logger = logging.getLogger(__name__)

Keep = Callable[[pl.DataFrame], pl.DataFrame]
"""What :func:`read_rows` keeps of each segment's rows (a filter, a join)."""


def read_rows(
    artifacts: ArtifactStore,
    kind: str,
    model: str,
    start: datetime,
    end: datetime,
    *,
    newest: int | None = None,
    columns: list[str] | None = None,
    variants: tuple[str, ...] = (LIVE,),
    versions: Sequence[int] | None = None,
    keep: Keep | None = None,
) -> pl.DataFrame:
    """Rows of one log of ``model`` timed in ``[start, end)``, oldest first; only the
    ``newest`` of them when given. An empty frame when there are none.

    Of the prediction log, only the rows of ``variants`` (``live`` by default; add
    ``shadow`` for the copies), with their ``variant`` column unless ``columns`` leaves
    it out; only the rows of ``versions`` when given.

    The time span and ``versions`` are pushed down into the Parquet read (a row group
    whose statistics fall outside them is skipped undecoded). ``keep`` takes each
    segment's rows (``inputs`` already one column per feature) and returns those to keep
    (a filter, a join): only those are held in memory, and ``newest`` counts them.
    """
    tables: list[pa.Table] = []
    frames: list[pl.DataFrame] = []
    have = 0
    for day in _spans(artifacts, kind, model, start, end, newest, columns, variants, versions):
        for table in day:
            if keep is None:
                tables.append(table)
                have += table.num_rows
                continue
            kept = keep(_as_frame(table))
            if kept.height:
                frames.append(kept)
                have += kept.height
        if newest is not None and have >= newest:
            break
    if keep is not None:
        if not frames:
            return pl.DataFrame()
        frame = pl.concat(frames, how="diagonal_relaxed")
    else:
        if not tables:
            return pl.DataFrame()
        frame = _as_frame(_concat(tables))
    frame = frame.sort(TIME)
    if SOURCE in frame.columns:  # rows of segments older than the column were served
        frame = frame.with_columns(pl.col(SOURCE).fill_null(SERVE))
    if newest is not None:
        frame = frame.tail(newest)
    return frame


def count_rows(
    artifacts: ArtifactStore,
    kind: str,
    model: str,
    start: datetime,
    end: datetime,
    *,
    columns: list[str] | None = None,
    variants: tuple[str, ...] = (LIVE,),
    versions: Sequence[int] | None = None,
    keep: Keep | None = None,
) -> int:
    """How many rows :func:`read_rows` would return without ``newest``, one segment in
    memory at a time (``columns``: only those ``keep`` needs)."""
    counted = 0
    for day in _spans(artifacts, kind, model, start, end, None, columns, variants, versions):
        for table in day:
            counted += table.num_rows if keep is None else keep(_as_frame(table)).height
    return counted


def _spans(
    artifacts: ArtifactStore,
    kind: str,
    model: str,
    start: datetime,
    end: datetime,
    newest: int | None,
    columns: list[str] | None,
    variants: tuple[str, ...],
    versions: Sequence[int] | None,
) -> Iterator[Iterator[pa.Table]]:
    """Per day folder (newest first when ``newest`` is asked for), its segments' rows in
    ``[start, end)`` of ``variants`` (and ``versions``), each an Arrow table."""
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown variant(s) {unknown}; expected some of {list(VARIANTS)}")
    by_variant = kind == PREDICTIONS
    keep_variant = columns is None or VARIANT in columns
    if by_variant and columns is not None and VARIANT not in columns:
        columns = [*columns, VARIANT]

    def segments(day: datetime) -> Iterator[pa.Table]:
        import pyarrow as pa  # here: importing monitoring must not load Arrow
        import pyarrow.compute as pc

        for key in list_segments(artifacts, kind, model, day):
            table = _segment(artifacts, key, columns, start, end, versions)
            if table is None:
                continue
            times = table.column(TIME)
            low = pa.scalar(start, type=times.type)
            high = pa.scalar(end, type=times.type)
            table = table.filter(pc.and_(pc.greater_equal(times, low), pc.less(times, high)))
            if by_variant:
                table = _of_variants(table, variants, keep=keep_variant)
            if table.num_rows:
                yield table

    for day in _days(start, end, newest_first=newest is not None):
        yield segments(day)


def _concat(tables: list[pa.Table]) -> pa.Table:
    import pyarrow as pa

    return pa.concat_tables(tables, promote_options="permissive")


def _as_frame(table: pa.Table) -> pl.DataFrame:
    """``table`` as a polars frame, its ``inputs`` one column per feature."""
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    if SOURCE in frame.columns:
        frame = frame.with_columns(pl.col(SOURCE).fill_null(SERVE))
    if INPUTS in frame.columns:
        frame = frame.unnest(INPUTS)
    return frame


def passthrough_fields(frame: pl.DataFrame, names: list[str] | None = None) -> pl.DataFrame:
    """``frame`` with its ``passthrough`` column as one column per field (``names``, by
    default every field found; null where a row has none). A field named like a column
    already there comes as ``passthrough.NAME``. Without the column: ``frame`` as it is."""
    if PASSTHROUGH not in frame.columns:
        return frame
    decoded = [
        orjson.loads(text) if text is not None else {}
        for text in frame.get_column(PASSTHROUGH).to_list()
    ]
    if names is None:
        names = list(dict.fromkeys(k for row in decoded for k in row))
    taken = set(frame.columns)
    fields = {
        (f"{PASSTHROUGH}.{name}" if name in taken else name): pl.Series(
            [row.get(name) for row in decoded], strict=False
        )
        for name in names
    }
    return frame.drop(PASSTHROUGH).with_columns(**fields)


def _of_variants(table: pa.Table, variants: tuple[str, ...], *, keep: bool) -> pa.Table:
    """The rows of ``variants``; a row without a variant (an older segment) is live."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if VARIANT in table.column_names:
        index = table.column_names.index(VARIANT)
        column = pc.fill_null(table.column(index).cast(pa.string()), LIVE)
        table = table.set_column(index, VARIANT, column)
    else:
        column = pa.array([LIVE] * table.num_rows, type=pa.string())
        index = len(table.column_names)
        if INPUTS in table.column_names:  # where the writer puts it: before the inputs
            index = table.column_names.index(INPUTS)
        table = table.add_column(index, VARIANT, column)
    if set(variants) != set(VARIANTS):
        table = table.filter(pc.is_in(column, value_set=pa.array(list(variants), pa.string())))
    return table if keep else table.drop_columns([VARIANT])


def _days(start: datetime, end: datetime, *, newest_first: bool = False) -> list[datetime]:
    """The UTC day folders ``[start, end)`` spans, oldest first unless ``newest_first``."""
    day = start.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    spanned = []
    while day < end:
        spanned.append(day)
        day += timedelta(days=1)
    return spanned[::-1] if newest_first else spanned


def _segment(
    artifacts: ArtifactStore,
    key: str,
    columns: list[str] | None,
    start: datetime,
    end: datetime,
    versions: Sequence[int] | None,
) -> pa.Table | None:
    """One segment's rows in ``[start, end)`` (and of ``versions``): the span is pushed
    down into the Parquet read, so row groups outside it are skipped by their statistics."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    try:
        source = io.BytesIO(artifacts.get(key))
        names = pq.read_schema(source).names
        wanted = (
            None if columns is None else [c for c in dict.fromkeys([*columns, TIME]) if c in names]
        )
        span = (pc.field(TIME) >= pc.scalar(start)) & (pc.field(TIME) < pc.scalar(end))
        if versions is not None:
            if VERSION not in names:
                return None
            span = span & pc.field(VERSION).isin(list(versions))
        return pq.read_table(source, columns=wanted, filters=span)
    except Exception as exc:  # a broken segment must not stop monitoring: say which
        logger.warning("skipping unreadable log segment %s: %s", key, exc)
        return None
