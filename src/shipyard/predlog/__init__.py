"""The prediction log: what serving records and monitoring (and maintenance) read back.

Three modules, one concern each: :mod:`.schema` (the kinds of log, the segment
key layout, the columns and their Arrow types), :mod:`.writer` (buffered chunks
flushed to Parquet segments, spooled to local disk while the store is down) and
:mod:`.reader` (the rows of a model over a time span or its newest N rows); and
:mod:`.query` with :mod:`.where` (the log as a query people read: ``shipyard
predictions``). It sits below serving and monitoring and uses only storage and config.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .schema import (
    BATCH,
    COLUMNS,
    DONE,
    FEEDBACK,
    KINDS,
    LIVE,
    PASSTHROUGH,
    PREDICTIONS,
    REJECTIONS,
    RUN_ID,
    SERVE,
    SHADOW,
    SOURCE,
    SOURCES,
    VARIANT,
    VARIANTS,
    Column,
    SegmentKey,
    batch_worker,
    list_segments,
    parse_key,
    segment_prefix,
    unfinished_segments,
)

if TYPE_CHECKING:  # at run time the writer (and Arrow with it) loads when serving asks for
    # it, and the reader (polars) when monitoring does: a serving worker never reads the log
    from .reader import count_rows, passthrough_fields, read_rows
    from .writer import BUFFER_ROWS, SPOOL_BYTES, Chunk, Inputs, SegmentLog, segment_bytes

_WRITER = {"BUFFER_ROWS", "SPOOL_BYTES", "Chunk", "Inputs", "SegmentLog", "segment_bytes"}
_READER = {"count_rows", "passthrough_fields", "read_rows"}


def __getattr__(name: str) -> Any:
    if name in _WRITER:
        from . import writer

        return getattr(writer, name)
    if name in _READER:
        from . import reader

        return getattr(reader, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BATCH",
    "BUFFER_ROWS",
    "COLUMNS",
    "DONE",
    "FEEDBACK",
    "KINDS",
    "LIVE",
    "PASSTHROUGH",
    "PREDICTIONS",
    "REJECTIONS",
    "RUN_ID",
    "SERVE",
    "SHADOW",
    "SOURCE",
    "SOURCES",
    "SPOOL_BYTES",
    "VARIANT",
    "VARIANTS",
    "Chunk",
    "Column",
    "Inputs",
    "SegmentKey",
    "SegmentLog",
    "batch_worker",
    "count_rows",
    "list_segments",
    "parse_key",
    "passthrough_fields",
    "read_rows",
    "segment_bytes",
    "segment_prefix",
    "unfinished_segments",
]
