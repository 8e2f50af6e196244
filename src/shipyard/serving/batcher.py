"""Adaptive micro-batching: requests that arrive while the model is busy go in its next call.

There is no fixed tick: when the model is idle a request is dispatched at once
(no added latency at low load); while a call runs, new requests queue, and the
next call takes all of them, up to ``max_batch_size`` rows. ``max_wait_ms`` > 0
holds a small batch that long for company. Calls run on one thread per model
version, so a model that hangs holds only its own thread; a switch to another
version gets a fresh thread and never waits behind the hung call.

A call of several requests that raises is made again request by request: one
client's rows the model cannot take (a null for a model that refuses NaN) fail that
request alone, not the others that shared its call. Only when every request fails
does the model count as failing (the breaker hears it).
"""

from __future__ import annotations

import asyncio
import math
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future as ThreadFuture
from typing import Any

import numpy as np

from .usage import Snapshot, ThreadUsage, Usage
from .validation import Rows

Result = tuple[np.ndarray, np.ndarray | None]


class Isolated(list[Result | Exception]):
    """A shared call that raised, made again per request: each request's result or error."""


class ModelFailure(Exception):
    """Why the model did not answer: ``error`` (it raised), ``timeout`` (its call ran past
    the budget), ``queue_timeout`` (the budget ran out in the queue), ``unloaded``."""

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
        self.usage = ThreadUsage()  # where its calls' time goes (see usage.py)
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
        self.usage.start()
        while True:
            job = self._jobs.get()
            if job is None:
                self.usage.close()
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


class Pending:
    """A request's rows waiting for (or in) a model call."""

    __slots__ = ("at", "future", "owner", "queued", "rows", "timer")

    def __init__(self, rows: Rows, future: asyncio.Future[Result], owner: Batcher) -> None:
        self.rows = rows
        self.future = future
        self.at = time.monotonic()
        self.queued = True  # counted in its batcher's ``queued_rows``
        self.owner = owner
        self.timer: asyncio.TimerHandle | None = None

    def done(self, _future: object = None) -> None:
        """The request has its answer, or gave up: no longer waiting, no timer."""
        if self.timer is not None:
            self.timer.cancel()
        if self.queued:
            self.queued = False
            self.owner.queued_rows -= self.rows.n


class Batcher:
    """The queue in front of one model version's thread.

    It knows what an admission decision needs: the rows queued, the rows of the
    call running and since when. A request with a deadline that passes is taken
    out of the queue and told why: ``timeout`` when the call running overruns by
    the model's own fault (``blame(wall, usage)``, given the call's wall-clock
    seconds and where they went so far, see :mod:`.usage`; by default: running past
    ``stall_s``), ``queue_timeout``
    when it merely waited behind other calls (load).
    """

    def __init__(
        self,
        name: str,
        call: Callable[[Any], Result],
        *,
        max_batch_size: int = 64,
        max_wait_s: float = 0.0,
        stall_s: float = math.inf,
        blame: Callable[[float, Usage | None], bool] | None = None,
        on_batch: Callable[[int, float, Usage | None, BaseException | None], None] | None = None,
    ) -> None:
        self.name = name
        self.call = call
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self.stall_s = stall_s
        self._blame = blame or (lambda wall, usage: wall >= self.stall_s)
        self._on_batch = on_batch or (lambda rows, seconds, usage, error: None)
        self._queue: deque[Pending] = deque()
        self.queued_rows = 0  # rows waiting, not counting requests whose deadline passed
        self.running_rows = 0
        self.running_since: float | None = None  # perf_counter start of the call running
        self._began: float | None = None  # when the thread began the call running
        self._usage_start: Snapshot | None = None  # the model thread's clocks then
        self._usage: Usage | None = None  # where the time of the call that finished went
        self._timer: asyncio.TimerHandle | None = None
        self._executor = ModelThread(f"model-{name}")
        self._loop: asyncio.AbstractEventLoop | None = None
        self.closed = False

    def report_to(
        self, on_batch: Callable[[int, float, Usage | None, BaseException | None], None]
    ) -> None:
        """Call ``on_batch(rows, seconds, usage, error)`` after every call from now on
        (before the call's requests get their answers)."""
        self._on_batch = on_batch

    @property
    def stalled(self) -> bool:
        """Whether the call running is overrunning by its own fault (see ``blame``)."""
        since, began = self.running_since, self._began
        if since is None or began is None or began < since:
            return False  # the call has not begun on its thread: waiting for it is load
        usage = self._executor.usage.since(self._usage_start)
        return self._blame(time.perf_counter() - began, usage)

    def submit(self, rows: Rows, deadline: float | None = None) -> asyncio.Future[Result]:
        """Queue ``rows``; the future gives their labels and probabilities.

        ``deadline`` (the event loop's time) is when the request stops waiting: see
        the class docstring for what it is told then.
        """
        loop = self._loop or self._bind_loop()
        future: asyncio.Future[Result] = loop.create_future()
        if self.closed:
            future.set_exception(ModelFailure("unloaded", "the model version is being replaced"))
            return future
        item = Pending(rows, future, self)
        self._queue.append(item)
        self.queued_rows += rows.n
        if deadline is not None:
            item.timer = loop.call_at(deadline, _expire, item)
        future.add_done_callback(item.done)
        if self.running_since is None:
            self._dispatch()
        return future

    def close(self) -> None:
        """Stop taking requests; queued ones are handed back as failures (the caller retries)."""
        self.closed = True
        while self._queue:
            item = self._queue.popleft()
            item.queued = False
            if not item.future.done():
                item.future.set_exception(
                    ModelFailure("unloaded", "the model version was replaced")
                )
        self.queued_rows = 0
        self._executor.shutdown()

    def take_queue(self) -> list[Pending]:
        """The queued requests, removed (a hot switch moves them to the new version)."""
        items = [item for item in self._queue if not item.future.done()]
        self._queue.clear()
        self.queued_rows = 0
        for item in items:
            item.queued = False
        return items

    def adopt(self, items: list[Pending]) -> None:
        """Take over requests queued for another version (on the event loop)."""
        self._loop or self._bind_loop()
        for item in items:
            item.owner = self
            item.queued = True
            self.queued_rows += item.rows.n
        self._queue.extend(items)
        if self._queue and self.running_since is None:
            self._dispatch()

    def _bind_loop(self) -> asyncio.AbstractEventLoop:
        """Remember the event loop (this thread's): its run-queue wait explains slow calls."""
        self._loop = asyncio.get_running_loop()
        self._executor.usage.watch_loop()
        return self._loop

    def expire(self, item: Pending) -> None:
        """``item``'s deadline passed: out of the queue, failed with the reason."""
        if item.future.done():
            return
        kind = "timeout" if self.stalled else "queue_timeout"
        item.future.set_exception(ModelFailure(kind))

    def _dispatch(self) -> None:
        self._timer = None
        queue = self._queue
        while queue and queue[0].future.done():  # timed out while waiting
            queue.popleft()
        if not queue or self.running_since is not None or self.closed:
            return
        if self.max_wait_s > 0:
            waited = time.monotonic() - queue[0].at
            if self.queued_rows < self.max_batch_size and waited < self.max_wait_s:
                if self._timer is None and self._loop is not None:
                    self._timer = self._loop.call_later(self.max_wait_s - waited, self._dispatch)
                return
        batch: list[Pending] = []
        rows = 0
        while queue and (not batch or rows + queue[0].rows.n <= self.max_batch_size):
            item = queue.popleft()
            if item.future.done():
                continue
            item.queued = False
            batch.append(item)
            rows += item.rows.n
        if not batch:
            return
        self.queued_rows -= rows
        self.running_rows = rows
        started = self.running_since = time.perf_counter()
        done = self._executor.submit(self._run, [item.rows for item in batch])
        loop = self._loop
        assert loop is not None
        done.add_done_callback(
            lambda f: loop.call_soon_threadsafe(self._finish, f, batch, rows, started)
        )

    def _run(self, parts: list[Rows]) -> Result | Isolated:
        clocks = self._executor.usage
        start = self._usage_start = clocks.snapshot()
        self._began = time.perf_counter()
        try:
            try:
                return self.call(model_input(parts))
            except Exception:
                if len(parts) == 1:
                    raise
            return Isolated(self._each(part) for part in parts)
        finally:
            self._usage = clocks.since(start)

    def _each(self, part: Rows) -> Result | Exception:
        try:
            return self.call(model_input([part]))
        except Exception as exc:
            return exc

    def _finish(
        self,
        done: ThreadFuture[Result | Isolated],
        batch: list[Pending],
        rows: int,
        started: float,
    ) -> None:
        self.running_since = None
        self.running_rows = 0
        self._usage_start = None  # until the next call starts on the thread
        seconds = time.perf_counter() - started
        error = done.exception()
        outcomes: list[Result | BaseException]
        if error is not None:
            outcomes = [error] * len(batch)
        else:
            answer = done.result()
            if isinstance(answer, Isolated):
                outcomes = list(answer)
                failed = [e for e in answer if isinstance(e, Exception)]
                # some requests answered: the model works, those rows were the trouble
                error = failed[0] if len(failed) == len(batch) else None
            else:
                outcomes = _split(answer, batch)
        self._on_batch(rows, seconds, self._usage, error)
        for item, each in zip(batch, outcomes, strict=True):
            if item.future.done():
                continue
            if isinstance(each, BaseException):
                item.future.set_exception(ModelFailure("error", f"{type(each).__name__}: {each}"))
            else:
                item.future.set_result(each)
        if self._queue and not self.closed:
            self._dispatch()


def _split(answer: Result, batch: list[Pending]) -> list[Result | BaseException]:
    """One call's labels and probabilities, cut into each request's rows."""
    labels, proba = answer
    parts: list[Result | BaseException] = []
    offset = 0
    for item in batch:
        end = offset + item.rows.n
        parts.append((labels[offset:end], None if proba is None else proba[offset:end]))
        offset = end
    return parts


def _expire(item: Pending) -> None:
    item.owner.expire(item)
