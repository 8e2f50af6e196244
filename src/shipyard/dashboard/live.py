"""Live figures of a model from its prediction log's recent window.

Requests per minute and their p99 latency (a request of 50 rows is one request, as
``/metrics`` counts it), and the degraded-answer share of rows, over the last
:data:`WINDOW_S` seconds, from the live rows of the prediction log that served requests
wrote (a batch run's rows are not requests, and its segments are not read).

The read is bounded: the day folders the window spans only, three columns only
(``time``, ``latency_ms``, ``degraded``). Segments are content-addressed and never
rewritten, so what one holds is read once and kept by its key (its times, latencies
and degraded flags; of a segment wholly before the window, only that): a later page
lists the day folders and reads the segments that are new since. A segment the store
says was written before the window began (less :data:`CLOCK_SLACK_S`) is not read at
all: its rows were logged earlier still, so the first page after a restart reads the
last minutes' segments, not the whole day's. Keys no longer
listed, or of days the window has left, are dropped. A day folder's listing is reused
for :data:`LIST_TTL_S` seconds (a server writes a segment per worker at most once per
``server.log_flush_s``, 5 s by default, so the figures lag the log by no more than the
log lags the requests). A log that cannot be read is no error: the figures are then
unknown, and the page says so.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from shipyard.project import Project
    from shipyard.storage import ArtifactStore

logger = logging.getLogger(__name__)

WINDOW_S = 900.0
LIST_TTL_S = 5.0
CLOCK_SLACK_S = 300.0
"""How far the store's clock (when a segment was written) may lag the servers' (the rows'
times) and a segment written "before" the window still be read."""
COLUMNS = ("time", "latency_ms", "degraded")


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


@dataclass(frozen=True)
class _Segment:
    """The live rows of one segment: their times (epoch seconds), latencies, degraded
    flags, and which row is its request's first (a request's rows share its time and
    latency: requests and their latency are counted on those)."""

    last: float  # the newest time in it (-inf: no live rows)
    times: np.ndarray
    latency: np.ndarray
    degraded: np.ndarray
    first: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=bool))


_EMPTY = np.empty(0)
_lock = threading.Lock()
_segments: dict[tuple[str, str], _Segment] = {}  # (store url, key) -> what it holds
_listings: dict[tuple[str, str, date], tuple[float, dict[str, float]]] = {}  # (when, keys)
_BEFORE = _Segment(float("-inf"), _EMPTY, _EMPTY, _EMPTY)  # written before the window


def live_figures(project: Project, name: str, *, now: datetime) -> Live:
    """``name``'s requests, p99 latency and degraded share over the last 15 minutes."""
    start = now - timedelta(seconds=WINDOW_S)
    try:
        parts = _window(project.artifacts, name, start, now)
    except Exception as exc:  # the log is a view here: unreadable means unknown, said once
        logger.warning("could not read the prediction log of %s: %s", name, exc)
        return Live(0, WINDOW_S, None, None, error=str(exc).splitlines()[0] if str(exc) else "")
    low, high = start.timestamp(), now.timestamp()
    latency, degraded, count = [], [], 0
    for part in parts:
        if part.last < low:
            continue
        inside = (part.times >= low) & (part.times < high)
        count += int((inside & part.first).sum())
        latency.append(part.latency[inside & part.first])
        degraded.append(part.degraded[inside])
    if count == 0:
        return Live(0, WINDOW_S, None, None)
    latencies = np.concatenate(latency)
    latencies = latencies[~np.isnan(latencies)]
    flags = np.concatenate(degraded)
    p99 = float(np.quantile(latencies, 0.99, method="higher")) if latencies.size else None
    return Live(count, WINDOW_S, p99, float(flags.mean()))


def _window(artifacts: ArtifactStore, name: str, start: datetime, end: datetime) -> list[_Segment]:
    """What every segment of the window's day folders holds (read once per key)."""
    from shipyard.predlog import PREDICTIONS
    from shipyard.predlog.schema import in_batch_folder, list_segments_written

    url = artifacts.url
    days = sorted({start.date(), end.date()})
    keys: list[tuple[str, float]] = []
    for day in days:
        with _lock:
            listed = _listings.get((url, name, day))
        if listed is None or time.monotonic() - listed[0] >= LIST_TTL_S:
            written = list_segments_written(artifacts, PREDICTIONS, name, day)
            served = {k: at for k, at in written.items() if not in_batch_folder(k)}
            listed = (time.monotonic(), served)
            with _lock:
                _listings[(url, name, day)] = listed
        keys += listed[1].items()
    found = []
    before = start.timestamp() - CLOCK_SLACK_S
    for key, written_at in keys:
        with _lock:
            part = _segments.get((url, key))
        if part is None:
            # written before the window began: its rows are older still (a row is logged
            # after it is answered), so it is not read at all
            old = written_at < before
            part = _BEFORE if old else _read(artifacts, key, start.timestamp())
            with _lock:
                _segments[(url, key)] = part
        found.append(part)
    _forget(url, name, {k for k, _ in keys}, [(name, d) for d in days])
    return found


def _forget(url: str, name: str, listed: set[str], days: list[tuple[str, date]]) -> None:
    """Drop the kept segments of ``name``'s log that its day folders no longer list, and
    the listings of days the window has left."""
    from shipyard.predlog import PREDICTIONS

    prefix = f"{PREDICTIONS}/{name}/"
    with _lock:
        for folder in [k for k in _listings if k[:2] == (url, name) and k[1:] not in days]:
            del _listings[folder]
        gone = [
            k for k in _segments if k[0] == url and k[1].startswith(prefix) and k[1] not in listed
        ]
        for k in gone:
            del _segments[k]


def _read(artifacts: ArtifactStore, key: str, before: float) -> _Segment:
    """One segment's live rows; of one wholly before ``before``, only its newest time."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from shipyard.predlog import LIVE, VARIANT

    source = io.BytesIO(artifacts.get(key))
    names = pq.read_schema(source).names
    wanted = [c for c in (*COLUMNS, VARIANT) if c in names]
    table = pq.read_table(source, columns=wanted)
    if VARIANT in table.column_names:  # shadow rows are another version's, not answers
        variant = pc.fill_null(table.column(VARIANT).cast("string"), LIVE)
        table = table.filter(pc.equal(variant, LIVE))
    if table.num_rows == 0:
        return _Segment(float("-inf"), _EMPTY, _EMPTY, _EMPTY)
    times = _seconds(table.column("time"))
    last = float(times.max())
    if last < before:
        return _Segment(last, _EMPTY, _EMPTY, _EMPTY)
    latency = (
        table.column("latency_ms").to_numpy(zero_copy_only=False).astype(float)
        if "latency_ms" in table.column_names
        else np.full(len(times), np.nan)
    )
    degraded = (
        table.column("degraded").fill_null(False).to_numpy(zero_copy_only=False).astype(bool)
        if "degraded" in table.column_names
        else np.zeros(len(times), dtype=bool)
    )
    first = np.zeros(len(times), dtype=bool)
    first[np.unique(times, return_index=True)[1]] = True
    return _Segment(last, times, latency, degraded, first)


def _seconds(column: object) -> np.ndarray:
    """A ``time`` column (a timestamp, or epoch seconds) as epoch seconds."""
    import pyarrow as pa
    import pyarrow.compute as pc

    assert isinstance(column, pa.ChunkedArray)
    if pa.types.is_timestamp(column.type):
        micros = pc.cast(column, pa.timestamp("us", tz=column.type.tz)).cast(pa.int64())
        return np.asarray(micros.to_numpy(zero_copy_only=False), dtype=float) / 1e6
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=float)
