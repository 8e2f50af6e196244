"""Writing the logs: buffered in memory, flushed to Parquet segments.

The request path only appends a chunk (references to arrays it already has) to
a list. A background task takes the list every ``log_flush_s`` seconds (or
sooner when ``log_max_rows`` rows wait) and, in a thread, writes one Parquet
segment per model to the artifact store where :mod:`.schema` puts it. Segments
are never changed once written.

When the artifact store cannot be written, the segment goes to a local spool
folder and is retried before every later flush; when even that fails (or the
spool holds ``SPOOL_BYTES`` already), the rows stay in memory for the next try,
and a graceful shutdown flushes what is left.

Both have a bound. The spool takes at most ``SPOOL_BYTES`` on disk (all kinds
and workers together); a log keeps at most ``BUFFER_ROWS`` rows in memory per
worker. Past the memory bound the *oldest* rows are dropped, counted in
``shipyard_prediction_log_rows_total{destination="dropped"}`` and named in an
ERROR line (how many, and why). Dropping, not refusing requests, because the log
records the service and is not the service: a store and a disk that are both
down must not turn into an outage of predictions (a fallback's purpose is the
opposite), and the newest rows are the ones monitoring judges drift on. Memory
that grows until the worker is killed would lose every buffered row at once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import orjson
import pyarrow as pa

from shipyard.storage import ArtifactStore
from shipyard.storage.safe_files import TempFile, checked_folder, read_regular

from .schema import (
    INPUTS,
    PASSTHROUGH,
    PROBABILITIES,
    SUFFIX,
    TIME,
    probabilities_type,
    segment_parquet,
    segment_prefix,
    time_type,
)

logger = logging.getLogger(__name__)

BUFFER_ROWS = 100_000
"""Rows one log of one worker keeps in memory at most (ten times the default ``log_max_rows``)."""
SPOOL_BYTES = 1_000_000_000
"""Bytes the spool folder may hold at most, for every log and worker together."""
DROPPED = "dropped"
_DROP_LOG_S = 10.0


class Inputs(Protocol):
    """A request's validated feature rows (serving's ``Rows``) as the writer reads them:
    the feature ``names``, all-numeric rows as one float64 matrix (``whole``, else
    ``None``), one array per feature (``columns``) and each row's passthrough fields
    (``passthrough``: one dict per row, or ``None`` when the request carried none)."""

    @property
    def names(self) -> list[str]: ...

    @property
    def whole(self) -> np.ndarray | None: ...

    @property
    def columns(self) -> dict[str, np.ndarray]: ...

    @property
    def passthrough(self) -> list[dict[str, Any]] | None: ...


@dataclass(slots=True)
class Chunk:
    """What one request adds to a log.

    ``scalars`` hold one value for the whole request (time, version, path, latency),
    repeated for each row only when a segment is written; ``rows`` hold one value
    per row (NumPy arrays or lists); ``inputs`` are the validated feature rows.
    """

    model: str
    n: int
    scalars: tuple[tuple[str, Any], ...]
    rows: tuple[tuple[str, Any], ...]
    inputs: Inputs | None = None


class SegmentLog:
    """One kind of log (predictions, feedback or rejections) of one worker."""

    def __init__(
        self,
        kind: str,
        artifacts: ArtifactStore,
        *,
        worker: str,
        spool: Path,
        on_rows: Callable[[str, str, int], None] | None = None,
        max_rows: int = BUFFER_ROWS,
        spool_bytes: int = SPOOL_BYTES,
    ) -> None:
        self.kind = kind
        self.artifacts = artifacts
        self.worker = worker
        self.spool = spool
        self.max_rows = max_rows
        self.spool_bytes = spool_bytes
        self.dropped = 0
        self._chunks: list[Chunk] = []
        self._buffered = 0
        self._unreported = 0  # dropped rows no ERROR line has named yet
        self._reported_at = -_DROP_LOG_S
        self._why = ""
        self._on_rows = on_rows or (lambda kind, destination, n: None)
        self._lock = threading.Lock()  # one writer at a time (the flusher and shutdown)

    @property
    def buffered(self) -> int:
        return self._buffered

    def append(self, chunk: Chunk) -> None:
        """Buffer ``chunk`` (on the event loop: a list append and a comparison)."""
        self._chunks.append(chunk)
        self._buffered += chunk.n
        if self._buffered > self.max_rows:
            self._drop_oldest("new rows came while earlier ones were still being written")

    def take(self) -> list[Chunk]:
        """Everything buffered so far (call on the thread that appends)."""
        if self._unreported:
            self._report(self._why)
        chunks, self._chunks, self._buffered = self._chunks, [], 0
        return chunks

    def restore(self, chunks: list[Chunk]) -> None:
        """Put back chunks that could not be written anywhere, ahead of newer ones."""
        self._chunks[:0] = chunks
        self._buffered += sum(c.n for c in chunks)
        if self._buffered > self.max_rows:
            self._drop_oldest("neither the artifact store nor the spool could take them")

    def _drop_oldest(self, why: str) -> None:
        """Drop the oldest chunks until at most ``max_rows`` rows wait; count and say so."""
        dropped = 0
        chunks = self._chunks
        cut = 0
        while cut < len(chunks) - 1 and self._buffered - dropped > self.max_rows:
            dropped += chunks[cut].n
            cut += 1
        if not cut:
            return
        del chunks[:cut]
        self._buffered -= dropped
        self.dropped += dropped
        self._unreported += dropped
        self._on_rows(self.kind, DROPPED, dropped)
        self._why = why
        self._report(why)

    def _report(self, why: str) -> None:
        """One ERROR line per 10 s at most, naming every row dropped since the last one."""
        now = time.monotonic()
        if now - self._reported_at < _DROP_LOG_S:
            return
        self._reported_at = now
        logger.error(
            "dropped the %d oldest %s log rows: %s, and this worker keeps at most %d rows "
            "in memory (%d dropped since start)",
            self._unreported,
            self.kind,
            why,
            self.max_rows,
            self.dropped,
        )
        self._unreported = 0

    def spooled_rows(self) -> int:
        return sum(int(p.name.split("__")[3]) for p in self._spooled())

    def write(self, chunks: list[Chunk]) -> list[Chunk]:
        """Write ``chunks`` as segments; return the chunks that could not be written anywhere."""
        with self._lock:
            self.retry_spool()
            failed: list[Chunk] = []
            by_model: dict[str, list[Chunk]] = {}
            for chunk in chunks:
                by_model.setdefault(chunk.model, []).append(chunk)
            for model, group in by_model.items():
                try:
                    data = segment_bytes(group)
                except Exception:
                    logger.exception("could not build a %s segment for %s", self.kind, model)
                    failed += group
                    continue
                rows = sum(c.n for c in group)
                prefix = segment_prefix(self.kind, model, datetime.now(UTC), self.worker)
                if not self._put(data, prefix, rows) and not self._to_spool(data, prefix, rows):
                    failed += group
            return failed

    def retry_spool(self) -> None:
        """Send spooled segments (this worker's and any earlier process's) to the store.

        Spooled files are read without following links and only when regular: a
        link planted in the spool (to a secret, say) is never read into the store.
        """
        spooled = self._spooled()
        if not spooled:
            return
        try:
            with checked_folder(self.spool.parent, (self.spool.name,)) as folder:
                for path in spooled:
                    if not self._send_spooled(folder, path.name):
                        return
        except OSError as exc:  # StorageError (a linked spool) is an OSError too
            logger.warning("cannot read the spool %s: %s", self.spool, exc)

    def _send_spooled(self, folder: int, name: str) -> bool:
        """Send one spooled segment; False when the store is still unavailable."""
        kind, prefix_text, _rows = name.split("__")[:3]
        if kind != self.kind:
            return True
        prefix = prefix_text.replace("~", "/")
        try:
            data = read_regular(folder, name)
        except FileNotFoundError:
            return True  # another worker sent it
        except OSError as exc:
            logger.warning("skipping %s in the spool: not a regular file (%s)", name, exc)
            return True
        rows = int(name.split("__")[3])
        try:
            key = self.artifacts.put(data, prefix=prefix, suffix=SUFFIX).key
        except Exception as exc:
            logger.warning("the artifact store is still unavailable (%s); keeping the spool", exc)
            return False
        self._on_rows(self.kind, "store", rows)
        with contextlib.suppress(FileNotFoundError):  # another worker removed it
            os.unlink(name, dir_fd=folder)
        logger.info("sent a spooled %s segment of %d rows to %s", self.kind, rows, key)
        return True

    def _put(self, data: bytes, prefix: str, rows: int) -> bool:
        try:
            self.artifacts.put(data, prefix=prefix, suffix=SUFFIX)
        except Exception as exc:
            logger.warning("could not write a %s segment to the artifact store: %s", self.kind, exc)
            return False
        self._on_rows(self.kind, "store", rows)
        return True

    def _to_spool(self, data: bytes, prefix: str, rows: int) -> bool:
        used = self._spool_size()
        if used + len(data) > self.spool_bytes:
            logger.warning(
                "the spool %s is full (%d of %d bytes): %d %s rows stay in memory",
                self.spool,
                used,
                self.spool_bytes,
                rows,
                self.kind,
            )
            return False
        name = f"{self.kind}__{prefix.replace('/', '~')}__{time.time_ns()}__{rows}__.parquet"
        try:  # a new file, never through a link, renamed into place when whole
            spool = checked_folder(self.spool.parent, (self.spool.name,), create=True)
            with spool as folder, TempFile(folder, prefix=".") as tmp:
                tmp.file.write(data)
                tmp.commit(folder, name)
        except OSError as exc:  # a full or read-only disk: one line, the rows stay in memory
            logger.error(
                "could not spool %d %s rows to %s either: %s", rows, self.kind, self.spool, exc
            )
            return False
        self._on_rows(self.kind, "spool", rows)
        return True

    def _spool_size(self) -> int:
        """Bytes in the spool folder (every kind and worker; links are not followed)."""
        try:
            with os.scandir(self.spool) as entries:
                return sum(
                    e.stat(follow_symlinks=False).st_size
                    for e in entries
                    if e.is_file(follow_symlinks=False)
                )
        except OSError:
            return 0

    def _spooled(self) -> list[Path]:
        if not self.spool.is_dir():
            return []
        return sorted(p for p in self.spool.glob("*__.parquet") if p.name.startswith(self.kind))


def segment_bytes(chunks: list[Chunk]) -> bytes:
    """One Parquet segment (zstd) of ``chunks`` of one model, assembled column by column."""
    sizes = np.fromiter((c.n for c in chunks), dtype=np.int64, count=len(chunks))
    table: dict[str, pa.Array] = {}
    for index, (name, _) in enumerate(chunks[0].rows):
        table[name] = _row_column(name, [c.rows[index][1] for c in chunks], sizes)
    layout = tuple(name for name, _ in chunks[0].scalars)
    if all(len(c.scalars) == len(layout) for c in chunks) and all(
        c.scalars[i][0] == name for c in chunks for i, name in enumerate(layout)
    ):
        scalars = [[c.scalars[i][1] for c in chunks] for i in range(len(layout))]
    else:  # chunks of different shapes (a column added since): every name, None where missing
        layout = tuple(dict.fromkeys(name for c in chunks for name, _ in c.scalars))
        given = [dict(c.scalars) for c in chunks]
        scalars = [[g.get(name) for g in given] for name in layout]
    for name, column in zip(layout, scalars, strict=True):
        values = np.array(column, dtype=object)
        table[name] = _array(name, np.repeat(values, sizes).tolist())
    inputs = [c.inputs for c in chunks if c.inputs is not None]
    if any(getattr(r, PASSTHROUGH, None) is not None for r in inputs):
        table[PASSTHROUGH] = _passthrough(chunks)
    if len(inputs) == len(chunks) and inputs:
        names = inputs[0].names
        if all(r.whole is not None for r in inputs):
            matrix = np.vstack([r.whole for r in inputs if r.whole is not None])
            fields = [pa.array(matrix[:, i], from_pandas=True) for i in range(len(names))]
        else:  # a missing value travels as NaN in a numeric column: logged as null
            fields = [_input(np.concatenate([r.columns[name] for r in inputs])) for name in names]
        table[INPUTS] = pa.StructArray.from_arrays(fields, names)
    return segment_parquet(pa.table(table))


def _passthrough(chunks: list[Chunk]) -> pa.Array:
    """Each row's passthrough fields as a JSON object (null for a row that carried none)."""
    values: list[str | None] = []
    for chunk in chunks:
        carried = getattr(chunk.inputs, PASSTHROUGH, None)
        if carried is None:
            values += [None] * chunk.n
        else:
            values += [orjson.dumps(row).decode() if row else None for row in carried]
    return pa.array(values, type=pa.string())


def _row_column(name: str, parts: list[Any], sizes: np.ndarray) -> pa.Array:
    """One value per row from every chunk: arrays are joined in C, lists only when needed."""
    if all(isinstance(p, np.ndarray) for p in parts):
        joined = np.concatenate(parts)
        if joined.ndim == 2:  # probabilities: one list per row
            width = joined.shape[1]
            offsets = pa.array(np.arange(0, (len(joined) + 1) * width, width, dtype=np.int32))
            return pa.ListArray.from_arrays(
                offsets, pa.array(joined.reshape(-1).astype(np.float64))
            )
        if joined.dtype.kind in "biuf":
            return pa.array(joined)
        return _array(name, joined.tolist())
    values: list[Any] = []
    for part, size in zip(parts, sizes.tolist(), strict=True):
        if part is None:
            values += [None] * size
        else:
            values += part.tolist() if isinstance(part, np.ndarray) else list(part)
    if name == PROBABILITIES:
        return pa.array(values, type=probabilities_type())
    return _array(name, values)


def _input(values: np.ndarray) -> pa.Array:
    if values.dtype.kind == "f":
        return pa.array(values, from_pandas=True)
    return _array("", values.tolist())


def _array(name: str, values: list[Any]) -> pa.Array:
    if name == TIME:  # seconds since the epoch
        micros = (np.asarray(values, dtype=np.float64) * 1e6).astype(np.int64)
        return pa.array(micros).cast(time_type())
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed types (a default of another type)
        return pa.array([None if v is None else str(v) for v in values], type=pa.string())
