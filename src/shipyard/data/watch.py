"""Watch a folder where files keep arriving; ingest each file exactly once.

A file is recognised by the sha256 of its content, remembered in the metadata
store, so a restart (or a copy under another name) never ingests it twice; a
file that was rejected or unreadable is remembered too and not retried until its
content changes. A file is only picked up once it has stopped changing: the same
size and modification time on two polls and at least ``settle`` seconds old.
Hidden files and names ending in ``.tmp``, ``.part`` or ``.partial`` (the usual
write-then-rename convention) are never picked up.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from shipyard.errors import BatchRejectedError, DataError

from .api import Datasets
from .sources import TEXT_FORMATS, TYPED_FORMATS

log = logging.getLogger(__name__)

SKIP_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload")


@dataclass(frozen=True)
class WatchEvent:
    """What happened to one file: ``ingested``, ``unchanged`` (nothing new), ``quarantined``
    (ingested, with more quarantined than ``max_quarantined`` allows), ``rejected``,
    ``unreadable`` or ``seen``."""

    path: Path
    outcome: str
    detail: str


def watch(
    data: Datasets,
    name: str,
    folder: Path,
    *,
    interval: float = 2.0,
    settle: float = 1.0,
    once: bool = False,
    on_event: Callable[[WatchEvent], None] | None = None,
    stop: threading.Event | None = None,
) -> list[WatchEvent]:
    """Ingest new files from ``folder`` into ``name`` until ``stop`` is set (or one pass if ``once``)."""
    data.config(name)  # an unknown dataset fails before any file is touched
    if not folder.is_dir():
        raise DataError(f"cannot watch {folder}: not a folder")
    emit = on_event or (lambda _event: None)
    events: list[WatchEvent] = []
    previous: dict[Path, tuple[int, float]] = {}
    stop = stop or threading.Event()
    while True:
        current = _candidates(folder)
        now = time.time()
        for path, (size, mtime) in sorted(current.items()):
            stable = previous.get(path) == (size, mtime) or once
            if not stable or now - mtime < settle:
                continue
            event = _handle(data, name, path)
            if event is not None:
                events.append(event)
                emit(event)
        previous = current
        if once or stop.wait(interval):
            return events


def _candidates(folder: Path) -> dict[Path, tuple[int, float]]:
    known = {*TEXT_FORMATS, *TYPED_FORMATS}
    found = {}
    for path in folder.iterdir():
        if path.name.startswith(".") or path.name.endswith(SKIP_SUFFIXES):
            continue
        if path.suffix.lower() not in known or not path.is_file():
            continue
        stat = path.stat()
        found[path] = (stat.st_size, stat.st_mtime)
    return found


def _handle(data: Datasets, name: str, path: Path) -> WatchEvent | None:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if data.versions.file_outcome(name, digest) is not None:
        return None  # already handled, in this run or an earlier one
    try:
        result = data.ingest(name, path)
    except BatchRejectedError as exc:
        return WatchEvent(path, "rejected", exc.message)
    except DataError as exc:
        data.versions.record_rejection(
            name, None, [exc.message], [(digest, str(path))], outcome="unreadable"
        )
        return WatchEvent(path, "unreadable", exc.message)
    if result.nothing_new:
        return WatchEvent(path, "unchanged", f"nothing new: {result.nothing_new}")
    if result.too_many_quarantined:
        return WatchEvent(
            path, "quarantined", f"{result.version.ref}: {result.too_many_quarantined}"
        )
    report = result.report
    log.info("watch: ingested %s as %s", path.name, result.version.ref)
    return WatchEvent(
        path,
        "ingested",
        f"{result.version.ref}: {report.received} received, {report.accepted} accepted, "
        f"{report.quarantined} quarantined",
    )
