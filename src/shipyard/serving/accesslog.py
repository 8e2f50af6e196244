"""The structured access log: one JSON line per request, written in batches off the request path.

The buffer holds at most ``MAX_BUFFER_BYTES`` between writes (about a second
apart). Past it, new lines are dropped rather than written on the request path
or kept without limit: the access log is a diagnostic, and a stalled stderr
(a full pipe, a stuck terminal) must neither block answers nor grow the
worker's memory. A drop is never silent: the next write adds a line
``{"dropped_lines": N, ...}`` to the log itself and an ERROR to the worker's log.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from typing import Any, TextIO

import orjson

# What JSON leaves raw but a terminal obeys: DEL, C1 controls, bidi marks and overrides
# (a client's path or model name could reorder or hide what an operator reads)
_TERMINAL_CONTROLS = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
MAX_BUFFER_BYTES = 8_000_000
"""Bytes of lines buffered between writes at most (some 40,000 requests)."""

logger = logging.getLogger(__name__)


def _escaped(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"  # the same string to a JSON reader


class AccessLog:
    """Buffers one JSON object per request; ``flush`` writes them (a background task calls it)."""

    def __init__(
        self,
        *,
        enabled: bool = True,
        stream: TextIO | None = None,
        max_bytes: int = MAX_BUFFER_BYTES,
    ) -> None:
        self.enabled = enabled
        self.stream = stream
        self.max_bytes = max_bytes
        self.dropped = 0
        self._lines: list[bytes] = []
        self._bytes = 0
        self._unreported = 0

    def request(self, scope: Any, status: int, seconds: float, model: str) -> None:
        if not self.enabled:
            return
        client = scope.get("client")
        entry = {
            "time": round(time.time(), 6),
            "method": scope["method"],
            "path": scope["path"],
            "status": status,
            "ms": round(seconds * 1000, 3),
            "model": model or None,
            "client": client[0] if client else None,
        }
        line = orjson.dumps(entry)
        if self._bytes + len(line) > self.max_bytes:
            self.dropped += 1
            self._unreported += 1
            return
        self._lines.append(line)
        self._bytes += len(line)

    def flush(self) -> None:
        if self._unreported:
            logger.error(
                "dropped %d access log lines: more than %d bytes waited between writes "
                "(is stderr blocked?)",
                self._unreported,
                self.max_bytes,
            )
            note = {"time": round(time.time(), 6), "dropped_lines": self._unreported}
            self._lines.append(orjson.dumps({**note, "why": "the access log buffer was full"}))
            self._unreported = 0
        if not self._lines:
            return
        lines, self._lines, self._bytes = self._lines, [], 0
        stream = self.stream or sys.stderr
        text = _TERMINAL_CONTROLS.sub(_escaped, b"\n".join(lines).decode())
        stream.write(text + "\n")
        stream.flush()
