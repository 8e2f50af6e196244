"""The Ray engine (``shipyard score --engine ray``): the embedded engine's chunks, scored by
a Ray Data pipeline on a Ray cluster.

The driver plans the work without reading a row: each input file's row count (from the
Parquet footer) is cut into exactly the chunks the embedded engine cuts (``chunk_rows``
rows from the start of each file, a chunk never spanning two files), a few chunks per
piece. CSV and JSON-lines files are first streamed, chunk by chunk, into Parquet files in
a scratch folder. The pipeline is ``from_items(pieces)`` → ``map_batches`` with a pool of
actors, each given the model once (:class:`~.scorer.Scorer`, through the object store):
an actor reads its piece's rows from the file, calls :func:`~.chunk.score_chunk` per chunk
(the same step as the embedded engine, so the same answers and log rows byte for byte)
and returns the results as Arrow IPC. The driver takes them in input order and hands them
to the :class:`~.sink.Sink`: the answers file, the log segments (through
:class:`~.log.RunLog`, written by the driver) and the quarantine are written by the same
code as the embedded engine's, and the run is marked succeeded only after all landed.

A worker killed mid-run: Ray restarts the actor and retries its piece (``RETRIES`` times:
Ray Data's own default retries for ever); a piece's results reach the driver once, so the
log holds no duplicate rows. When the retries run out, or the chunk step raises (a chunk
the model refuses: the actor sends the error itself back, as Ray would pass it on only as
text), the error reaches the batch facade, which removes the partial answers and marks
the run failed (its log segments get no marker).

Where the actors read: a dataset version in an S3 artifact store is read where it is
(the driver reads only its footer, remotely): its pieces name the object, its ``s3://``
URL and the store's options that are not secret (the endpoint), and each actor opens it
with the credentials of its own node's environment, reading only its piece's row groups
(no pre-buffer, a 1 MB read buffer: :func:`~.inputs.open_parquet`). Files, and a dataset
version in a local-folder store (copied to the driver's scratch folder first), must be
readable at the same path on every node: the driver's own folder on a local Ray
instance, a shared file system on a cluster.

Ray is imported here only, when a run starts; ``address`` (``Job.options``): ``None``
joins the Ray instance this process already has, the cluster ``RAY_ADDRESS`` names, or
starts a local one on the loopback for the run; ``auto`` joins the cluster running on
this machine; ``ray://host:port`` a remote one through Ray Client.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import os
import platform
import re
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from shipyard.errors import ConfigError, DataError, ShipyardError

from .chunk import score_chunk
from .inputs import PARQUET, InputFile, StoredObject, chunks, parquet
from .records import ChunkResult

if TYPE_CHECKING:
    from .engines import Job
    from .records import BatchRun
    from .scorer import Scorer
    from .sink import Sink

log = logging.getLogger(__name__)

PIECE_CHUNKS = 16
"""Chunks one pipeline item carries at most (an actor reads them in one pass)."""
RETRIES = 3
"""How often a lost actor is restarted, and its piece retried, before the run fails."""
OBJECT_STORE_BYTES = 256 << 20
"""The object store of a Ray instance started for one run (results pass through it)."""
_PARTS = ("answers", "log", "quarantine")


@dataclass(frozen=True)
class Piece:
    """Rows ``start`` to ``stop`` of one file, scored as chunks of ``chunk_rows`` rows;
    ``offset``: the rows of the whole input before ``start``. ``path``: the file's path,
    or the ``s3://`` URL of an object in the artifact store when ``options`` (the store's
    non-secret options as JSON, :class:`~.inputs.StoredObject`) is not empty."""

    path: str
    start: int
    stop: int
    offset: int
    options: str = ""

    @property
    def source(self) -> Path | StoredObject:
        return StoredObject(self.path, self.options) if self.options else Path(self.path)


def plan(files: Sequence[InputFile], chunk_rows: int) -> list[Piece]:
    """The pieces of ``files`` (Parquet), cut where the embedded engine cuts its chunks: a
    piece holds the chunks of about one row group (at least one, at most ``PIECE_CHUNKS``),
    so an actor reads each row group about once."""
    pieces: list[Piece] = []
    before = 0
    for file in files:
        with parquet(file.stored or file.path) as opened:  # the footer only
            meta = opened.metadata
        where = (file.stored.url, file.stored.options) if file.stored else (str(file.path), "")
        rows = meta.num_rows
        group = max((meta.row_group(i).num_rows for i in range(meta.num_row_groups)), default=0)
        span = chunk_rows * min(PIECE_CHUNKS, max(1, -(-group // chunk_rows)))
        pieces += [
            Piece(where[0], start, min(rows, start + span), before + start, where[1])
            for start in range(0, rows, span)
        ]
        before += rows
    return pieces


def read_piece(piece: Piece, chunk_rows: int) -> Iterator[tuple[int, pa.Table]]:
    """The chunks of ``piece`` (each with its offset in the input), read from its file
    from the row group that holds its first row on."""
    with parquet(piece.source) as file:
        yield from _chunks_of(file, piece, chunk_rows)


def _chunks_of(file: Any, piece: Piece, chunk_rows: int) -> Iterator[tuple[int, pa.Table]]:
    meta = file.metadata
    groups: list[int] = []
    first = at = 0
    for index in range(meta.num_row_groups):
        rows = meta.row_group(index).num_rows
        if at + rows > piece.start and at < piece.stop:
            if not groups:
                first = at
            groups.append(index)
        at += rows
    pending: list[pa.RecordBatch] = []
    held = 0
    offset = piece.offset
    skip = piece.start - first
    left = piece.stop - piece.start
    for batch in file.iter_batches(batch_size=chunk_rows, row_groups=groups):
        if skip >= batch.num_rows:
            skip -= batch.num_rows
            continue
        batch = batch.slice(skip)
        skip = 0
        while batch.num_rows and left:
            take = min(batch.num_rows, chunk_rows - held, left)
            pending.append(batch.slice(0, take))
            held += take
            left -= take
            batch = batch.slice(take)
            if held == chunk_rows or not left:
                yield offset, pa.Table.from_batches(pending).combine_chunks()
                offset += held
                pending, held = [], 0
        if not left:
            return


class ChunkScorer:
    """A Ray actor's work: the model, kept from its start, scores one piece per call."""

    def __init__(self, scorer: Scorer, run: BatchRun, chunk_rows: int) -> None:
        with contextlib.suppress(ImportError):  # the actors are the parallelism
            from threadpoolctl import threadpool_limits

            threadpool_limits(1)
        self.scorer = scorer
        self.run = run
        self.chunk_rows = chunk_rows

    def __call__(self, batch: pa.Table) -> pa.Table:
        rows: list[dict[str, Any]] = []
        for item in batch.to_pylist():
            piece = Piece(**item)
            try:
                for offset, table in _read(piece, self.chunk_rows):
                    result = score_chunk(self.scorer, table, run=self.run, offset=offset)
                    rows.append(_packed(result))
            except ShipyardError as exc:  # said to the user as raised (Ray keeps only text)
                return _failed(exc)
        return pa.Table.from_pylist(rows, schema=_RESULTS)


def _read(piece: Piece, chunk_rows: int) -> Iterator[tuple[int, pa.Table]]:
    """:func:`read_piece`, its failures to read said as a DataError naming the node."""
    try:
        yield from read_piece(piece, chunk_rows)
    except Exception as exc:  # OSError, Arrow's, s3fs's and botocore's (no credentials)
        said = f"{piece.path}: cannot read it on the Ray node {platform.node()}: {exc}"
        if piece.options:
            hint = (
                "every node reads the artifact store itself: give each one S3 credentials in "
                "its environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, an AWS profile "
                "or an instance role) and the s3fs package"
            )
        else:
            hint = "every node must read the input at the driver's path (a shared file system)"
        raise DataError(said, hint=hint) from None


def _failed(exc: ShipyardError) -> pa.Table:
    """One row that carries ``exc`` to the driver (its class, message and hint)."""
    kind = type(exc)
    said = {"error": f"{kind.__module__}:{kind.__qualname__}", "message": exc.message}
    return pa.Table.from_pylist([{"offset": -1, "rows_in": 0, "hint": exc.hint, **said}])


def _raise(row: dict[str, Any]) -> None:
    """Raise the error an actor sent (as a ShipyardError when its class is not one)."""
    module, _, name = str(row["error"]).partition(":")
    kind: Any = getattr(importlib.import_module(module), name, ShipyardError)
    if not (isinstance(kind, type) and issubclass(kind, ShipyardError)):
        kind = ShipyardError
    error = kind.__new__(kind)
    ShipyardError.__init__(error, row["message"], hint=row.get("hint"))
    raise error


_RESULTS = pa.schema(
    [("offset", pa.int64()), ("rows_in", pa.int64())] + [(p, pa.binary()) for p in _PARTS]
)


def _packed(result: ChunkResult) -> dict[str, Any]:
    """One chunk's result as one row: its counts and its three tables as Arrow IPC."""
    packed: dict[str, Any] = {"offset": result.offset, "rows_in": result.rows_in}
    for part in _PARTS:
        table: pa.Table = getattr(result, part)
        sink = io.BytesIO()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        packed[part] = sink.getvalue()
    return packed


def _unpacked(row: dict[str, Any]) -> ChunkResult:
    tables = [pa.ipc.open_stream(row[part]).read_all() for part in _PARTS]
    return ChunkResult(row["offset"], row["rows_in"], *tables)


def run(job: Job, sink: Sink) -> None:
    """Score every chunk of ``job`` on Ray and hand the results to ``sink`` in order."""
    with tempfile.TemporaryDirectory(prefix="shipyard-ray-") as scratch:
        files = _as_parquet(job.files, job.chunk_rows, Path(scratch))
        pieces = plan(files, job.chunk_rows)
        for file in job.files:
            if file.stored is not None:
                log.info("batch run %s: the Ray actors read %s from the artifact store",
                         job.run.run_id, file.stored.url)  # fmt: skip
        if not pieces:
            return
        with _ray_warnings_off(), connected(job.options.get("address"), job.workers) as ray:
            for result in _results(ray, job, pieces):
                sink.add(result)


def _results(ray: Any, job: Job, pieces: list[Piece]) -> Iterator[ChunkResult]:
    from ray.data import ActorPoolStrategy

    cpus = int(ray.cluster_resources().get("CPU", 1))
    actors = max(1, min(len(pieces), job.workers or cpus, cpus))
    items = [vars(piece) for piece in pieces]
    dataset = ray.data.from_items(items, override_num_blocks=len(items))
    context = dataset.context
    context.execution_options.preserve_order = True  # the results come in input order
    context.enable_progress_bars = False  # the CLI shows its own
    context.print_on_execution_start = False
    scored = dataset.map_batches(
        ChunkScorer,
        fn_constructor_args=(job.scorer, job.run, job.chunk_rows),
        batch_size=1,
        batch_format="pyarrow",
        compute=ActorPoolStrategy(size=actors),
        num_cpus=1,
        ray_remote_args_fn=_retries,  # Ray Data's default: restart and retry for ever
    )
    try:
        with _quiet("ray.data"):  # its progress lines and hints: the CLI shows its own
            for batch in scored.iter_batches(batch_format="pyarrow", batch_size=None):
                for row in batch.to_pylist():
                    if row.get("error"):
                        _raise(row)
                    yield _unpacked(row)
    except ShipyardError:
        raise
    except Exception as exc:  # Ray's errors (a lost actor after its retries, a task's own)
        cause = _cause(exc)
        raise ShipyardError(
            f"the Ray run failed: {cause}; nothing was written and the run is marked failed",
            hint="see the Ray logs of the cluster (/tmp/ray/session_latest/logs on a node)",
        ) from exc


def _retries() -> dict[str, Any]:
    return {"max_restarts": RETRIES, "max_task_retries": RETRIES}


def _cause(exc: BaseException) -> str:
    """What went wrong inside Ray, in one line: the last ``SomeError: …`` line of its
    report (Ray passes a worker's error on as text), else its first line."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    said = [line for line in lines if _ERROR_LINE.match(line)]
    return said[-1] if said else f"{type(exc).__name__}: {lines[0] if lines else ''}"


_ERROR_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Died|Lost)\w*(\(.*\))?: ")


def _as_parquet(files: Sequence[InputFile], chunk_rows: int, scratch: Path) -> list[InputFile]:
    """Every input as Parquet files: Parquet as it is (a stored object too); CSV and JSON
    lines streamed through the embedded engine's reader into ``scratch``, one file per
    chunk, so each chunk keeps the types its reader gave it (memory: one chunk)."""
    import pyarrow.parquet as pq

    parquets: list[InputFile] = []
    for index, file in enumerate(files):
        if file.format == PARQUET:
            parquets.append(file)
            continue
        for number, table in enumerate(chunks([file], chunk_rows)):
            target = scratch / f"{index}-{number}.parquet"
            pq.write_table(table, target, row_group_size=chunk_rows)
            parquets.append(InputFile(target, PARQUET))
    return parquets


@contextlib.contextmanager
def _ray_warnings_off() -> Iterator[None]:
    """No deprecation warnings from Ray's own code about Ray's own settings (its data
    context sets deprecated fields when it is created): not the user's to act on."""
    with warnings.catch_warnings():
        for _ in range(2):  # again after Ray's import, which puts its own filter first
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            warnings.filterwarnings("ignore", category=FutureWarning, module="ray")
            import ray.data  # noqa: F401
        yield


@contextlib.contextmanager
def _quiet(name: str) -> Iterator[None]:
    """Only errors from the logger ``name`` while the block runs."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(max(level, logging.ERROR))
    try:
        yield
    finally:
        logger.setLevel(level)


@contextlib.contextmanager
def connected(address: str | None, workers: int | None = None) -> Iterator[Any]:
    """``ray``, connected to the cluster ``address`` names (see the module's docstring);
    a Ray instance started here is stopped at the end."""
    if address is not None and address != "auto" and not address.startswith("ray://"):
        raise ConfigError(
            f"--address {address!r}: not a Ray address",
            hint="use 'auto' (the cluster on this machine) or 'ray://HOST:PORT' (Ray Client)",
        )
    import ray

    if ray.is_initialized():
        yield ray
        return
    quiet = {"log_to_driver": False, "configure_logging": False}
    where = address or os.environ.get("RAY_ADDRESS")
    # Ray's own C++ log lines on this process's stderr: only fatal ones (an actor's model
    # passing through the object store is logged as an ERROR); RAY_BACKEND_LOG_LEVEL wins
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    try:
        with _quiet("ray"):  # its notice that token authentication is on (it is)
            _init(ray, where, workers, quiet)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        said = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"could not join the Ray cluster at {where or 'a new local instance'}: {said}",
            hint="start one with 'ray start --head', or leave out --address to score on a "
            "Ray instance started for this run",
        ) from None
    try:
        yield ray
    finally:
        ray.shutdown()


def _init(ray: Any, where: str | None, workers: int | None, quiet: dict[str, Any]) -> None:
    if where:
        ray.init(address=where, **quiet)
        return
    ray.init(
        address="local",
        num_cpus=workers or os.cpu_count() or 1,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        object_store_memory=OBJECT_STORE_BYTES,
        **quiet,
    )
