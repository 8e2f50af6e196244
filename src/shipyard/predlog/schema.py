"""The prediction log's layout: its kinds, where a segment is stored, its columns.

Three logs, one per kind: every answered prediction row, every label sent back as
feedback, every prediction request refused. Each is a set of Parquet segments
(zstd), never changed once written, stored content-addressed under

    {kind}/{model}/{YYYY-MM-DD}/{worker}/{sha256[:2]}/{sha256}.parquet

where the day is the UTC day the segment was written and ``worker`` the serving
worker that wrote it (every worker its own segments, so replicas never contend).

A batch run (``shipyard score``) writes to the same prediction log, under the worker
``batch-{run id}`` and the UTC day the run started; its rows carry ``source`` ``batch``
and the ``run_id``. When every segment of the run has landed, the run writes one
marker beside them, ``{worker}/{sha256[:2]}/{sha256}.done`` (a JSON list of the run's
segment keys and rows). Segments of a batch worker without a marker belong to a run
that has not finished (still running, or killed mid-way): :func:`list_segments`
leaves them out, so monitoring, ``shipyard predictions`` and feedback joins never see
half a run; they appear, all at once, when the run succeeds.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from shipyard.storage import ArtifactStore

if TYPE_CHECKING:
    import pyarrow as pa

PREDICTIONS, FEEDBACK, REJECTIONS = "predictions", "feedback", "rejections"
KINDS = (PREDICTIONS, FEEDBACK, REJECTIONS)
SUFFIX = ".parquet"
DONE = ".done"
"""The suffix of a batch run's marker: every segment of the run has landed."""
BATCH_WORKER = "batch-"
"""The prefix of the worker name a batch run writes its segments under."""

TIME, INPUTS, PROBABILITIES = "time", "inputs", "probabilities"
PASSTHROUGH = "passthrough"
"""A prediction row's passthrough fields (``models.NAME.passthrough``: an id, a timestamp
the request carried beside the features) as one JSON object per row, null for a row
that carried none. Written only in segments where some row carried one: segments of a
model without passthrough fields (and every segment written before) have no such column."""
VARIANT = "variant"
SOURCE, RUN_ID = "source", "run_id"
SERVE, BATCH = "serve", "batch"
SOURCES = (SERVE, BATCH)
"""A prediction row's source: ``serve`` (an HTTP request) or ``batch`` (``shipyard score``,
whose rows also carry the ``run_id``). Segments written before the column existed hold
served rows only: the reader fills ``serve`` for them (and a null ``run_id``)."""
LIVE, SHADOW = "live", "shadow"
VARIANTS = (LIVE, SHADOW)
"""A prediction row's variant: ``live``, the answer the client got, or ``shadow``, the
other version's answer to a copy of the request, computed off the request path (both
rows of one request share the ``prediction_id``). Segments written before the column
existed hold live rows only."""


REPEATING = ("prediction", "label", "version", "path", "reason", VARIANT, SOURCE, RUN_ID)
"""Columns whose values repeat across a segment's rows: dictionary-encoded. The others
(ids, times, probabilities, the inputs) are stored plain: trying a dictionary on a column
of distinct values and falling back costs about as much as compressing it."""


def segment_parquet(table: pa.Table) -> bytes:
    """``table`` as the bytes of one log segment (Parquet, zstd)."""
    import io

    import pyarrow.parquet as pq

    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd", use_dictionary=list(REPEATING))
    return sink.getvalue()


def time_type() -> pa.DataType:
    """The Arrow type of every log's ``time`` column: microseconds, UTC."""
    import pyarrow as pa  # here, not at import: monitoring reads the kinds without Arrow

    return pa.timestamp("us", tz="UTC")


def probabilities_type() -> pa.DataType:
    """The Arrow type of the ``probabilities`` column: a list of float64."""
    import pyarrow as pa

    return pa.list_(pa.float64())


def _arrow(name: str) -> Callable[[], pa.DataType]:
    def make() -> pa.DataType:
        import pyarrow as pa

        made: Any = getattr(pa, name)()
        return made

    return make


def _strings() -> pa.DataType:
    import pyarrow as pa

    return pa.list_(pa.string())


_KEY = re.compile(
    r"^(?P<kind>[^/]+)/(?P<model>[^/]+)/(?P<day>\d{4}-\d{2}-\d{2})/(?P<worker>[^/]+)/"
    r"(?P<shard>[0-9a-f]{2})/(?P<digest>[0-9a-f]{64})\.parquet$"
)


@dataclass(frozen=True)
class Column:
    """One column of a log: its name and the Arrow type its values are stored as.

    ``type`` is ``None`` where the values decide it: a model's labels and
    predictions, the features in ``inputs`` (a struct with one field per
    feature). A segment where every value of a column is missing may store it
    as Arrow's null type (``list<null>`` for empty lists); the reader promotes it.
    """

    name: str
    make_type: Callable[[], pa.DataType] | None
    doc: str
    optional: bool = False  # written only when some row has a value

    @property
    def type(self) -> pa.DataType | None:
        """The column's Arrow type (``None`` where the values decide it)."""
        return None if self.make_type is None else self.make_type()


COLUMNS: dict[str, tuple[Column, ...]] = {
    PREDICTIONS: (
        Column("prediction_id", _arrow("string"), "the id the answer carried"),
        Column("prediction", None, "the predicted label or value"),
        Column(PROBABILITIES, probabilities_type, "class probabilities (null for regressors)"),
        Column(TIME, time_type, "when the request was answered"),
        Column("version", _arrow("int64"), "the model version that answered"),
        Column("path", _arrow("string"), "what answered: 'model', a fallback link, or 'shadow'"),
        Column("degraded", _arrow("bool_"), "whether a fallback answered"),
        Column("reason", _arrow("string"), "why a fallback answered (null when the model did)"),
        Column(
            "latency_ms",
            _arrow("float64"),
            "the request's time in the server (shadow: the copy's, queue and call)",
        ),
        Column(VARIANT, _arrow("string"), "'live' (the client's answer) or 'shadow' (a copy's)"),
        Column(
            SOURCE,
            _arrow("string"),
            "'serve' (a request) or 'batch' (shipyard score); older segments: 'serve'",
            optional=True,
        ),
        Column(
            RUN_ID,
            _arrow("string"),
            "the batch run that scored the row (null for served rows)",
            optional=True,
        ),
        Column(
            PASSTHROUGH,
            _arrow("string"),
            "the request's passthrough fields as a JSON object (only where some row has one)",
            optional=True,
        ),
        Column(INPUTS, None, "the validated features, one struct field each"),
    ),
    FEEDBACK: (
        Column("prediction_id", _arrow("string"), "the prediction the label is for"),
        Column("label", None, "the true label or value"),
        Column(TIME, time_type, "when the label arrived"),
    ),
    REJECTIONS: (
        Column("fields", _strings, "the fields the problems named"),
        Column(TIME, time_type, "when the request was refused"),
        Column("status", _arrow("int64"), "the HTTP status answered"),
        Column("code", _arrow("string"), "the error code answered"),
    ),
}
"""The columns of each kind of log, in the order its segments store them (the per-row
values, then the per-request ones, then ``passthrough`` when written, then ``inputs``)."""


@dataclass(frozen=True)
class SegmentKey:
    """The parts of a segment's key."""

    kind: str
    model: str
    day: date
    worker: str
    digest: str


def segment_prefix(kind: str, model: str, day: date, worker: str | None = None) -> str:
    """Where segments go: ``{kind}/{model}/{YYYY-MM-DD}/{worker}``; without a worker, the
    day folder with a trailing slash (what to list)."""
    folder = f"{kind}/{model}/{day:%Y-%m-%d}"
    return f"{folder}/{worker}" if worker is not None else f"{folder}/"


def parse_key(key: str) -> SegmentKey:
    """The parts of a segment key; ValueError when ``key`` is not one."""
    match = _KEY.match(key)
    if match is None:
        raise ValueError(
            f"{key!r} is not a log segment key; expected "
            "'{kind}/{model}/{YYYY-MM-DD}/{worker}/{sha[:2]}/{sha}.parquet'"
        )
    return SegmentKey(
        match["kind"],
        match["model"],
        date.fromisoformat(match["day"]),
        match["worker"],
        match["digest"],
    )


def batch_worker(run_id: str) -> str:
    """The worker name a batch run writes its log segments under."""
    return f"{BATCH_WORKER}{run_id}"


def list_segments(artifacts: ArtifactStore, kind: str, model: str, day: date) -> list[str]:
    """Keys of the segments of one log of ``model`` written on ``day`` (every worker), sorted.

    Segments of a batch run that has not finished (no ``.done`` marker beside them) are
    left out: a run still going, or killed mid-way, shows nothing rather than a part."""
    return _finished(artifacts.list(segment_prefix(kind, model, day)))


def list_segments_written(
    artifacts: ArtifactStore, kind: str, model: str, day: date
) -> dict[str, float]:
    """:func:`list_segments` with when each segment was written (epoch seconds, the
    store's clock), from the same one listing: a reader of a recent window can pass over
    a segment written before it began without reading it."""
    listed = artifacts.listing(segment_prefix(kind, model, day))
    return {k: listed[k] for k in _finished(list(listed))}


def _finished(keys: list[str]) -> list[str]:
    """The segment keys among ``keys``, sorted, but a batch run's without its marker."""
    done = {_worker_folder(k) for k in keys if k.endswith(DONE)}
    return sorted(
        k
        for k in keys
        if k.endswith(SUFFIX) and (not in_batch_folder(k) or _worker_folder(k) in done)
    )


def unfinished_segments(artifacts: ArtifactStore, kind: str, model: str, day: date) -> list[str]:
    """Keys of batch-run segments on ``day`` that :func:`list_segments` leaves out."""
    keys = artifacts.list(segment_prefix(kind, model, day))
    done = {_worker_folder(k) for k in keys if k.endswith(DONE)}
    return sorted(
        k
        for k in keys
        if k.endswith(SUFFIX) and in_batch_folder(k) and _worker_folder(k) not in done
    )


def _worker_folder(key: str) -> str:
    """``{kind}/{model}/{day}/{worker}`` of a key under a worker's folder."""
    return "/".join(key.split("/")[:4])


def in_batch_folder(key: str) -> bool:
    """Whether ``key`` is under a batch run's worker folder (``shipyard score``'s rows)."""
    parts = key.split("/")
    return len(parts) > 3 and parts[3].startswith(BATCH_WORKER)
