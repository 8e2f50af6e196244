"""Peak memory of one benchmark engine: Linux VmHWM, reset before the timed work."""

from __future__ import annotations

import contextlib
from pathlib import Path


def rss_kb(field: str) -> int:
    """A line of /proc/self/status in kB: ``VmRSS`` now, ``VmHWM`` the peak since the reset."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def reset_peak() -> None:
    """Start VmHWM again from the current RSS (Linux); elsewhere the peak includes loading."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")
