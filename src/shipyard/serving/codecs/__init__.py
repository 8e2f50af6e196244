"""Request and answer codecs, one module per serving protocol (see :mod:`..protocols`).

Each module turns a parsed JSON body into validated rows and an answered
:class:`~..deployment.Outcome` into the protocol's JSON answer (or a :class:`Reply`
when the answer is not JSON alone, as V2's binary tensors). What they share is here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from shipyard.serving.validation import TooLargeError


@dataclass(frozen=True)
class Reply:
    """An answer that is not one JSON document: its bytes and its headers (content type too)."""

    body: bytes
    headers: list[tuple[bytes, bytes]]


def count_rows(n: int, max_rows: int) -> None:
    """Refuse a request of more than ``max_rows`` rows with 413."""
    if n > max_rows:
        raise TooLargeError(
            f"the request has {n} rows; this server takes at most {max_rows} per request",
            hint="split the rows over several requests, or raise server.max_rows",
        )


def json_array(values: Any) -> Any:
    """NumPy numbers and booleans go to orjson as arrays; anything else as a list."""
    if isinstance(values, np.ndarray) and values.dtype.kind not in "biuf":
        return values.tolist()
    return values
