"""Counter cells: the float64 cells that hold one worker's counters and histograms.

A worker's counters live in a memory map. With several workers it is a file of
its own in the server's metrics folder, mapped shared: every increment is in the
file the moment it is made (a store to memory, no system call), and it stays
there when the worker dies, even by SIGKILL. ``/metrics`` on any worker adds up
every file, so a counter it reports only grows: each cell only grows, and no
file leaves the folder while the server runs, except under the folder's lock when
the supervisor folds a dead worker's file into ``counters-retired.cells``.

The file: a 16-byte header (``SHYM``, format version, bytes used), then one entry
per series: key length and cell count (two 32-bit integers), the key (JSON
``[name, [label values]]``), zero padding to 8 bytes, and the cells. A new entry
is written first and published by one aligned 8-byte store of "bytes used", so a
reader never parses half an entry; cells are aligned 8-byte floats, read and
written whole.

The map has a fixed size (``CAPACITY``, reserved on disk when the file is made,
so a full disk is an error at start and never a SIGBUS later): it never moves
and needs no lock on the request path. Label
values come from bounded sets (see ``metrics.route_label``), so it does not fill;
if it ever did, a new series would not be counted and an ERROR says so, once.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import mmap
import os
import stat
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

logger = logging.getLogger(__name__)

CAPACITY = 1024 * 1024
"""Bytes mapped per worker: room for about 5,000 series (a histogram is one series)."""
MAGIC = b"SHYM"
VERSION = 1
HEADER = 16
RETIRED = "counters-retired.cells"
_LOCK = "counters.lock"
_ENTRY = struct.Struct("<II")
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)

Series = tuple[str, tuple[str, ...]]


def cells_name(worker: str) -> str:
    return f"counters-{worker}.cells"


class Cells:
    """Float64 cells in a memory map (anonymous, or a file only this process writes)."""

    def __init__(self, path: Path | None = None, capacity: int = CAPACITY) -> None:
        self.path = path
        self.capacity = capacity
        self.index: dict[str, dict[tuple[str, ...], int]] = {}
        self._lock = threading.Lock()  # new series only (the log writer counts from a thread)
        self._full = False
        if path is None:
            self._map = mmap.mmap(-1, capacity)
            existing = b""
        else:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | _NOFOLLOW | _CLOEXEC, 0o600)
            try:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    raise OSError(f"{path} is not a regular file")
                size = os.fstat(fd).st_size
                if size < capacity:  # reserved on disk now: a full disk fails here, not later
                    os.posix_fallocate(fd, 0, capacity)
                self._map = mmap.mmap(fd, max(size, capacity))
            finally:
                os.close(fd)
            existing = bytes(self._map[:HEADER])
        self.cells = memoryview(self._map).cast("d")
        self._words = memoryview(self._map).cast("Q")
        if existing[:4] == MAGIC:  # reopened (the retired counters): rebuild the index
            self._used = int(self._words[1])
            for (name, labels), start, _count in _entries(self._map, self._used):
                self.index.setdefault(name, {})[labels] = start
        else:
            self._map[:8] = MAGIC + struct.pack("<I", VERSION)
            self._used = HEADER
            self._words[1] = HEADER

    def allocate(self, name: str, labels: tuple[str, ...], count: int) -> int:
        """The first cell of a new series of ``count`` cells; -1 when the map is full."""
        with self._lock:
            series = self.index.setdefault(name, {})
            found = series.get(labels)
            if found is not None:
                return found
            key = json.dumps([name, list(labels)]).encode()
            start = self._used
            first = (start + _ENTRY.size + len(key) + 7) // 8 * 8
            end = first + 8 * count
            if end > self.capacity:
                if not self._full:
                    self._full = True
                    logger.error(
                        "the metrics map is full (%d bytes): series %s%s and later new ones are "
                        "not counted; this means a label takes unbounded values (a bug)",
                        self.capacity,
                        name,
                        labels,
                    )
                return -1
            _ENTRY.pack_into(self._map, start, len(key), count)
            self._map[start + _ENTRY.size : start + _ENTRY.size + len(key)] = key
            self._used = end
            self._words[1] = end  # publish: one aligned store
            series[labels] = first // 8
            return first // 8

    def series(self) -> Iterator[tuple[Series, list[float]]]:
        """Every series and its cells, as they are now."""
        return _read(self._map, int(self._words[1]))

    def close(self) -> None:
        self.cells.release()
        self._words.release()
        self._map.close()


def _entries(buffer: mmap.mmap, used: int) -> Iterator[tuple[Series, int, int]]:
    """(series, first cell, cell count) of every entry below ``used``."""
    offset = HEADER
    while offset + _ENTRY.size <= used:
        length, count = _ENTRY.unpack_from(buffer, offset)
        key_end = offset + _ENTRY.size + length
        first = (key_end + 7) // 8 * 8
        end = first + 8 * count
        if end > used:
            return
        name, labels = json.loads(buffer[offset + _ENTRY.size : key_end])
        yield (name, tuple(labels)), first // 8, count
        offset = end


def _read(buffer: mmap.mmap, used: int) -> Iterator[tuple[Series, list[float]]]:
    with memoryview(buffer).cast("d") as cells:  # whole aligned loads: never half a number
        for series, first, count in _entries(buffer, used):
            yield series, list(cells[first : first + count])


def read_file(path: Path) -> list[tuple[Series, list[float]]]:
    """The series of one counter file (never through a link; [] when it is not one)."""
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _CLOEXEC)
    except OSError:
        return []  # gone, or a link
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size < HEADER:
            return []
        with mmap.mmap(fd, info.st_size, access=mmap.ACCESS_READ) as buffer:
            if buffer[:4] != MAGIC:
                return []
            with memoryview(buffer).cast("Q") as words:
                used = min(int(words[1]), info.st_size)
            return list(_read(buffer, used))
    finally:
        os.close(fd)


@contextlib.contextmanager
def folder_lock(folder: Path, *, exclusive: bool) -> Iterator[None]:
    """The folder's lock: shared to read every file, exclusive to fold one into another."""
    fd = os.open(folder / _LOCK, os.O_RDWR | os.O_CREAT | _NOFOLLOW | _CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def read_folder(folder: Path) -> Iterator[tuple[Series, list[float]]]:
    """Every series of every counter file in ``folder`` (live workers, dead ones, retired)."""
    with folder_lock(folder, exclusive=False):
        files = sorted(folder.glob("counters-*.cells"))
        found = [read_file(path) for path in files]
    for series in found:
        yield from series


def retire(folder: Path, prefix: str) -> int:
    """Fold the counter files of dead workers (``counters-{prefix}*``) into the retired file.

    The supervisor calls this before it starts a worker again, so the folder holds
    one file per live worker plus one, however often workers die, and the totals
    a scrape sees never drop: the fold happens under the folder's exclusive lock,
    so a reader sees the dead file or its counts in the retired file, never both,
    never neither. Returns how many files were folded.
    """
    with folder_lock(folder, exclusive=True):
        dead = sorted(folder.glob(f"counters-{prefix}*.cells"))
        if not dead:
            return 0
        retired = Cells(folder / RETIRED)
        try:
            for path in dead:
                for (name, labels), values in read_file(path):
                    first = retired.allocate(name, labels, len(values))
                    if first < 0:
                        continue
                    for offset, value in enumerate(values):
                        retired.cells[first + offset] += value
                retired._map.flush()
                path.unlink(missing_ok=True)
        finally:
            retired.close()
    return len(dead)
