"""The embedded engine: the input streamed in chunks, scored on every core of this machine.

The parent reads the input chunk by chunk and keeps at most two chunks per worker in
flight, so memory stays bounded whatever the input's size. Workers are threads by
default: validation (polars), Arrow and the models' prediction (HistGradientBoosting's
OpenMP loops, NumPy's BLAS) release the GIL, and measured on 2 cores (RESULTS.md) threads
scored 1 M rows 1.7x faster than processes, in 60 % of the memory. Processes
(``options={"pool": "process"}``) are started with ``spawn`` (polars' and OpenMP's
threads do not survive ``fork``), each given the model once and one OpenMP thread. Results come back in input order and the parent
alone writes the answers, the log and the quarantine (:class:`~.sink.Sink`). An input
of one chunk is scored in the parent, without a pool.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from .chunk import score_chunk
from .inputs import chunks

if TYPE_CHECKING:
    import pyarrow as pa

    from .engines import Job
    from .records import BatchRun, ChunkResult
    from .scorer import Scorer
    from .sink import Sink

PROCESS, THREAD = "process", "thread"
IN_FLIGHT_PER_WORKER = 2

_scorer: Scorer | None = None  # a worker process's model, set once when it starts


def run(job: Job, sink: Sink) -> None:
    """Score every chunk of ``job`` and hand the results to ``sink`` in order."""
    workers = max(1, job.workers or os.cpu_count() or 1)
    pieces = _numbered(chunks(job.files, job.chunk_rows))
    first = next(pieces, None)
    if first is None:
        return
    second = next(pieces, None)
    if second is None or workers == 1:  # one chunk (or one worker): no pool to start
        for offset, table in _chain(first, second, pieces):
            sink.add(score_chunk(job.scorer, table, run=job.run, offset=offset))
        return
    pool = _pool(job, workers)
    with pool:
        _ordered(pool, job, _chain(first, second, pieces), sink, workers * IN_FLIGHT_PER_WORKER)


def _pool(job: Job, workers: int) -> Executor:
    if job.options.get("pool", THREAD) == THREAD:
        return ThreadPoolExecutor(
            workers, thread_name_prefix="shipyard-score", initializer=_one_openmp_thread
        )
    import multiprocessing

    return ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(job.scorer,),
    )


def _ordered(
    pool: Executor,
    job: Job,
    pieces: Iterator[tuple[int, pa.Table]],
    sink: Sink,
    limit: int,
) -> None:
    """Submit chunks with at most ``limit`` in flight; hand results over in input order."""
    waiting: deque[Future[ChunkResult]] = deque()
    score: Callable[..., ChunkResult] = (
        _score_in_worker if isinstance(pool, ProcessPoolExecutor) else _score_here(job.scorer)
    )
    try:
        for offset, table in pieces:
            waiting.append(pool.submit(score, table, job.run, offset))
            while len(waiting) >= limit:
                sink.add(waiting.popleft().result())
        while waiting:
            sink.add(waiting.popleft().result())
    except BaseException:
        for future in waiting:
            future.cancel()
        raise


def _score_here(scorer: Scorer) -> Callable[[pa.Table, BatchRun, int], ChunkResult]:
    def score(table: pa.Table, run: BatchRun, offset: int) -> ChunkResult:
        return score_chunk(scorer, table, run=run, offset=offset)

    return score


def _start_worker(scorer: Scorer) -> None:
    """In a worker process: keep the model, and use one OpenMP thread (the processes are
    the parallelism)."""
    global _scorer
    _scorer = scorer
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:  # pragma: no cover - scikit-learn depends on it
        pass


def _one_openmp_thread() -> None:
    """In a worker thread: the model's OpenMP loops on this thread alone (the workers are
    the parallelism). BLAS keeps its threads: a dot product's rounding can depend on them."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="openmp")


def _score_in_worker(table: pa.Table, run: BatchRun, offset: int) -> ChunkResult:
    assert _scorer is not None, "the worker was not started with a model"
    return score_chunk(_scorer, table, run=run, offset=offset)


def _numbered(tables: Iterator[pa.Table]) -> Iterator[tuple[int, pa.Table]]:
    """Each chunk with the number of rows before it."""
    offset = 0
    for table in tables:
        yield offset, table
        offset += table.num_rows


def _chain(
    first: tuple[int, Any], second: tuple[int, Any] | None, rest: Iterator[tuple[int, Any]]
) -> Iterator[tuple[int, Any]]:
    yield first
    if second is not None:
        yield second
        yield from rest
