"""Admission control: a request the model cannot answer within its budget is not queued.

A busy server is not a broken model. When requests arrive faster than a model
can answer them, each one that would wait past its latency budget is refused at
once with 429 and ``Retry-After`` (503 while the worker drains) instead of
joining a queue that only grows: the ones admitted keep their budget, the model
keeps answering at its full rate, and the circuit breaker, which judges the
model, never hears of it.

Whether a request fits is an estimate made on the event loop in a few
arithmetic steps, from three things:

- the time it has already spent: since the app got it, plus the event loop's
  current lag (what a request waited, unseen, before the app got it);
- the model's queue: the rest of the call now running and the calls needed for
  the rows queued before it;
- the model's own service time, learned from its calls (:class:`ServiceTime`),
  seeded from the warm-up calls before the version answers anything.

An idle model always admits (a request that cannot fit its budget even alone is
the budget's problem, not overload); a request admitted on a wrong estimate that
is still waiting when its budget runs out is shed then (``queue_timeout``),
unless the model's call is what overran, which is the model's failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable

from .http import HttpError

ADMIT_SHARE = 0.8
"""Admit a request when its expected finish is within this share of its budget.

The rest covers what the estimate does not see: answering and sending, and the
spread of the model's call times.
"""

LAG_INTERVAL_S = 0.005
OVER_CAPACITY, QUEUE_TIMEOUT = "over_capacity", "queue_timeout"


class OverloadedError(HttpError):
    """A request shed because the model could not answer it within its budget (429 or 503)."""

    def __init__(
        self, model: str, reason: str, retry_after: int, *, draining: bool = False
    ) -> None:
        why = (
            "its queue is longer than its latency budget allows"
            if reason == OVER_CAPACITY
            else "its latency budget ran out while it waited behind other requests"
        )
        super().__init__(
            503 if draining else 429,
            "overloaded",
            f"model '{model}' is busy: {why}; this request was not answered",
            hint=f"retry after {retry_after} s"
            + (" on another replica (this one is shutting down)" if draining else "")
            + ", or add workers or replicas",
        )
        self.model = model
        self.reason = reason
        self.retry_after = retry_after

    @property
    def headers(self) -> list[tuple[bytes, bytes]]:
        return [(b"retry-after", str(self.retry_after).encode())]


def retry_after(seconds: float) -> int:
    """``Retry-After`` in whole seconds (HTTP allows no fraction), at least 1."""
    return max(1, math.ceil(seconds))


class ServiceTime:
    """How long one call of the model takes for ``n`` rows, learned from its calls.

    One moving average per power-of-two batch size (1, 2, 4, … up to the largest
    batch): a call's time grows with its rows, but not in proportion (a call of
    one row and of sixteen cost nearly the same for a tree ensemble). A size not
    seen for ``STALE_S`` gives way to fresher ones: after a flood that slowed every
    call, the sizes still called (small ones, at light load) set the estimate, not
    the slow full batches of the flood.
    """

    ALPHA = 0.2
    STALE_S = 5.0

    def __init__(self, max_batch_size: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_batch_size = max_batch_size
        self._clock = clock
        self._seconds: dict[int, float] = {}
        self._seen: dict[int, float] = {}

    def record(self, rows: int, seconds: float) -> None:
        bucket = _bucket(rows)
        old = self._seconds.get(bucket)
        self._seconds[bucket] = seconds if old is None else old + self.ALPHA * (seconds - old)
        self._seen[bucket] = self._clock()

    def call(self, rows: int) -> float:
        """The expected time of one call of ``rows`` rows (0 before any call was seen)."""
        if rows <= 0 or not self._seconds:
            return 0.0
        known = self._seconds
        cutoff = self._clock() - self.STALE_S
        fresh = {b: t for b, t in known.items() if self._seen[b] >= cutoff}
        if fresh:
            known = fresh
        bucket = _bucket(rows)
        if bucket in known:
            return known[bucket]
        above = [b for b in known if b > bucket]
        below = [b for b in known if b < bucket]
        if above and below:  # between two sizes seen: in proportion to the rows
            low, high = max(below), min(above)
            share = (bucket - low) / (high - low)
            return known[low] + share * (known[high] - known[low])
        if above:  # only larger sizes seen: an over-estimate, on the safe side
            return known[min(above)]
        largest = max(known)  # only smaller ones: scaled up
        return known[largest] * bucket / largest

    def drain(self, rows: int) -> float:
        """The expected time to answer ``rows`` queued rows, in full batches then the rest."""
        if rows <= 0:
            return 0.0
        full, rest = divmod(rows, self.max_batch_size)
        seconds = full * self.call(self.max_batch_size)
        return seconds + (self.call(rest) if rest else 0.0)


def _bucket(rows: int) -> int:
    return 1 << max(0, rows - 1).bit_length()


class LoopLag:
    """How late the event loop runs a callback that is due: the wait a new request meets.

    A task sleeps ``LAG_INTERVAL_S`` at a time and measures how much longer it
    slept; a busy loop (many requests parsed, answered or refused per iteration)
    shows as lag. The figure falls back by half each calm sample, so one slow
    iteration does not shed for long.
    """

    def __init__(self) -> None:
        self.seconds = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._measure())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _measure(self) -> None:
        clock = time.perf_counter
        while True:
            before = clock()
            await asyncio.sleep(LAG_INTERVAL_S)
            late = clock() - before - LAG_INTERVAL_S
            self.seconds = max(late, self.seconds * 0.5) if late > 0 else self.seconds * 0.5
