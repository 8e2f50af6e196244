"""Adaptive micro-batching: requests that arrive while the model is busy go in its next call.

There is no fixed tick: when the model is idle a request is dispatched at once
(no added latency at low load); while a call runs, new requests queue, and the
next call takes all of them, up to ``max_batch_size`` rows. ``max_wait_ms`` > 0
holds a small batch that long for company. Calls run on one thread per model
version, so a model that hangs holds only its own thread; a switch to another
version gets a fresh thread and never waits behind the hung call.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future as ThreadFuture
from typing import Any

import numpy as np

from .validation import Rows

Result = tuple[np.ndarray, np.ndarray | None]


class ModelFailure(Exception):
    """The model raised; ``kind`` is ``error`` (or ``timeout``, ``open``, ``unloaded``)."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.detail = detail


class ModelThread:
    """One daemon thread that runs a model's calls in order.

    Not a ``ThreadPoolExecutor``: its threads are joined at interpreter exit, so a
    model that hangs forever would hang the server's shutdown with it.
    """

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[
            tuple[Callable[..., Any], tuple[Any, ...], ThreadFuture[Any]] | None
        ] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def submit(self, function: Callable[..., Any], *args: Any) -> ThreadFuture[Any]:
        future: ThreadFuture[Any] = ThreadFuture()
        self._jobs.put((function, args, future))
        return future

    def shutdown(self) -> None:
        self._jobs.put(None)

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            function, args, future = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = function(*args)
            except BaseException as exc:  # handed to the event loop, which decides
                future.set_exception(exc)
            else:
                future.set_result(result)


def model_input(parts: list[Rows]) -> Any:
    """The rows of several requests as one model input (a float matrix, or a DataFrame)."""
    if parts[0].numeric:
        if len(parts) == 1:
            return parts[0].matrix()
        return np.vstack([p.matrix() for p in parts])
    import pandas as pd

    names = list(parts[0].columns)
    return pd.DataFrame({n: np.concatenate([p.columns[n] for p in parts]) for n in names})


class Batcher:
    """The queue in front of one model version's thread."""

    def __init__(
        self,
        name: str,
        call: Callable[[Any], Result],
        *,
        max_batch_size: int = 64,
        max_wait_s: float = 0.0,
        on_batch: Callable[[int, float, BaseException | None], None] | None = None,
    ) -> None:
        self.name = name
        self.call = call
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self._on_batch = on_batch or (lambda rows, seconds, error: None)
        self._queue: deque[tuple[Rows, asyncio.Future[Result], float]] = deque()
        self._busy = False
        self._timer: asyncio.TimerHandle | None = None
        self._executor = ModelThread(f"model-{name}")
        self._loop: asyncio.AbstractEventLoop | None = None
        self.closed = False

    def submit(self, rows: Rows) -> asyncio.Future[Result]:
        """Queue ``rows``; the future gives their labels and probabilities."""
        loop = self._loop = self._loop or asyncio.get_running_loop()
        future: asyncio.Future[Result] = loop.create_future()
        if self.closed:
            future.set_exception(ModelFailure("unloaded", "the model version is being replaced"))
            return future
        self._queue.append((rows, future, time.monotonic()))
        if not self._busy:
            self._dispatch()
        return future

    def close(self) -> None:
        """Stop taking requests; queued ones are handed back as failures (the caller retries)."""
        self.closed = True
        while self._queue:
            _rows, future, _at = self._queue.popleft()
            if not future.done():
                future.set_exception(ModelFailure("unloaded", "the model version was replaced"))
        self._executor.shutdown()

    def take_queue(self) -> list[tuple[Rows, asyncio.Future[Result], float]]:
        """The queued requests, removed (a hot switch moves them to the new version)."""
        items = list(self._queue)
        self._queue.clear()
        return items

    def adopt(self, items: list[tuple[Rows, asyncio.Future[Result], float]]) -> None:
        """Take over requests queued for another version (on the event loop)."""
        self._loop = self._loop or asyncio.get_running_loop()
        self._queue.extend(items)
        if self._queue and not self._busy:
            self._dispatch()

    def _dispatch(self) -> None:
        self._timer = None
        queue = self._queue
        while queue and queue[0][1].done():  # timed out while waiting
            queue.popleft()
        if not queue or self._busy or self.closed:
            return
        if self.max_wait_s > 0:
            waited = time.monotonic() - queue[0][2]
            rows = sum(item[0].n for item in queue)
            if rows < self.max_batch_size and waited < self.max_wait_s:
                if self._timer is None and self._loop is not None:
                    self._timer = self._loop.call_later(self.max_wait_s - waited, self._dispatch)
                return
        batch: list[tuple[Rows, asyncio.Future[Result], float]] = []
        rows = 0
        while queue and (not batch or rows + queue[0][0].n <= self.max_batch_size):
            item = queue.popleft()
            if item[1].done():
                continue
            batch.append(item)
            rows += item[0].n
        if not batch:
            return
        self._busy = True
        started = time.perf_counter()
        done = self._executor.submit(self._run, [item[0] for item in batch])
        loop = self._loop
        assert loop is not None
        done.add_done_callback(
            lambda f: loop.call_soon_threadsafe(self._finish, f, batch, rows, started)
        )

    def _run(self, parts: list[Rows]) -> Result:
        return self.call(model_input(parts))

    def _finish(
        self,
        done: ThreadFuture[Result],
        batch: list[tuple[Rows, asyncio.Future[Result], float]],
        rows: int,
        started: float,
    ) -> None:
        self._busy = False
        seconds = time.perf_counter() - started
        error = done.exception()
        self._on_batch(rows, seconds, error)
        if error is not None:
            failure = ModelFailure("error", f"{type(error).__name__}: {error}")
            for _rows, future, _at in batch:
                if not future.done():
                    future.set_exception(failure)
        else:
            labels, proba = done.result()
            offset = 0
            for part, future, _at in batch:
                end = offset + part.n
                if not future.done():
                    future.set_result(
                        (labels[offset:end], None if proba is None else proba[offset:end])
                    )
                offset = end
        if self._queue and not self.closed:
            self._dispatch()
