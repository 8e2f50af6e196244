"""Where a model call's time went: computing, waiting for a CPU, or held up by the worker.

A call that runs long is the model's fault when it computed that long, or when it
sat blocked on its own (a sleep, a lock, a remote call). It is not the model's
fault when the machine gave its thread no CPU (other processes), or when the
worker's other threads (the event loop, parsing and answering requests) held the
interpreter lock: that is load. :class:`ThreadUsage` reads, for the thread that
runs the model, its CPU time and its time waiting in the kernel's run queue
(``/proc/self/task/ID/schedstat`` on Linux, read with one ``pread``), and the
process's CPU time; :class:`Usage` is the difference over one call.

The other model threads of the worker (a challenger's, beside the champion's) are
the worker's too: descheduled while holding the interpreter lock, they hold the
model up like the event loop does, so their run-queue waits count as load as well.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Usage:
    """Seconds of one call since its thread began it: in all (``wall``), the model thread
    computing, waiting for a CPU, other threads
    computing (holding the interpreter lock, or a core) meanwhile. ``waited`` includes the
    time the event loop's thread waited for a CPU: descheduled while it held the
    interpreter lock, it held up the model thread too."""

    wall: float
    cpu: float
    waited: float
    others: float

    @property
    def unexplained(self) -> float:
        """Wall time that neither the model's work nor the worker's load accounts for."""
        return self.wall - self.cpu - self.waited - self.others


Snapshot = tuple[float, float, float, float, float, dict[int, float]]

_PEERS: dict[int, int] = {}
"""Every watched model thread of this process: its native id → its schedstat file."""


class ThreadUsage:
    """The clocks of one thread, readable from any thread (``start`` on the thread itself)."""

    def __init__(self) -> None:
        self._stat: int | None = None
        self._clock: int | None = None
        self._loop_stat: int | None = None  # the event loop thread's, once it is known
        self._native: int | None = None

    def start(self) -> None:
        """Open the thread's clocks; call on the thread to watch."""
        with contextlib.suppress(AttributeError, OSError):  # not on every platform
            self._clock = time.pthread_getcpuclockid(threading.get_ident())
        with contextlib.suppress(AttributeError, OSError):  # Linux only
            self._native = threading.get_native_id()
            self._stat = os.open(f"/proc/self/task/{self._native}/schedstat", os.O_RDONLY)
            _PEERS[self._native] = self._stat

    def watch_loop(self) -> None:
        """Also count the run-queue wait of the calling thread (the event loop's)."""
        if self._loop_stat is None:
            with contextlib.suppress(OSError):
                self._loop_stat = os.open(
                    f"/proc/self/task/{threading.get_native_id()}/schedstat", os.O_RDONLY
                )

    def close(self) -> None:
        if self._native is not None:
            _PEERS.pop(self._native, None)
        for fd in (self._stat, self._loop_stat):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._stat = self._loop_stat = None

    def snapshot(self) -> Snapshot | None:
        """(thread CPU, thread run-queue wait, process CPU, the loop thread's run-queue
        wait, the time, each other model thread's run-queue wait) now, in seconds; None
        if unknown."""
        stat, loop = self._stat, self._loop_stat
        now = time.perf_counter()
        if stat is not None:
            try:
                on_cpu, waiting, _slices = os.pread(stat, 64, 0).split()
                loop_waiting = int(os.pread(loop, 64, 0).split()[1]) if loop is not None else 0
                cpu, waited = int(on_cpu) / 1e9, int(waiting) / 1e9
                return (
                    cpu, waited, time.process_time(), loop_waiting / 1e9, now, _peer_waits(stat)
                )  # fmt: skip
            except (OSError, ValueError, IndexError):
                pass
        if self._clock is None:
            return None
        return time.clock_gettime(self._clock), 0.0, time.process_time(), 0.0, now, {}

    def since(self, start: Snapshot | None) -> Usage | None:
        """The usage from ``start`` (a snapshot) until now."""
        now = self.snapshot()
        if start is None or now is None:
            return None
        cpu, waited = now[0] - start[0], now[1] - start[1] + now[3] - start[3]
        before = start[5]
        waited += sum(w - before[t] for t, w in now[5].items() if t in before)  # the peers'
        return Usage(now[4] - start[4], cpu, waited, max(0.0, now[2] - start[2] - cpu))


def _peer_waits(own: int) -> dict[int, float]:
    """The run-queue wait so far of every other watched model thread, by native id."""
    if len(_PEERS) < 2:
        return {}
    waits = {}
    for native, fd in tuple(_PEERS.items()):
        if fd == own:
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):  # it stopped meanwhile
            waits[native] = int(os.pread(fd, 64, 0).split()[1]) / 1e9
    return waits
