"""The structured access log: one JSON line per request, written in batches off the request path."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

import orjson


class AccessLog:
    """Buffers one JSON object per request; ``flush`` writes them (a background task calls it)."""

    def __init__(self, *, enabled: bool = True, stream: TextIO | None = None) -> None:
        self.enabled = enabled
        self.stream = stream
        self._lines: list[bytes] = []

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
        self._lines.append(orjson.dumps(entry))

    def flush(self) -> None:
        if not self._lines:
            return
        lines, self._lines = self._lines, []
        stream = self.stream or sys.stderr
        stream.write(b"\n".join(lines).decode() + "\n")
        stream.flush()
