"""The structured access log: one JSON line per request, written in batches off the request path."""

from __future__ import annotations

import re
import sys
import time
from typing import Any, TextIO

import orjson

# What JSON leaves raw but a terminal obeys: DEL, C1 controls, bidi marks and overrides
# (a client's path or model name could reorder or hide what an operator reads)
_TERMINAL_CONTROLS = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escaped(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"  # the same string to a JSON reader


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
        text = _TERMINAL_CONTROLS.sub(_escaped, b"\n".join(lines).decode())
        stream.write(text + "\n")
        stream.flush()
