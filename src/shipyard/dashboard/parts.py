"""A page's parts read one by one: a part that cannot be read (a report missing from the
artifact store, a log that does not parse) is kept as a :class:`Missing` that names what
and why, logged once, and the rest of the page still renders."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

logger = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Missing:
    """A part of the page that could not be read: which, and why."""

    part: str
    why: str


def read_part(
    missing: list[Missing], model: str, what: str, read: Callable[[], T], default: T
) -> T:
    """``read()``; when it fails, ``default``, with the failure added to ``missing``."""
    try:
        return read()
    except Exception as exc:  # said on the page; the other parts still render
        logger.warning("dashboard: could not read %s of %s: %s", what, model, exc)
        missing.append(Missing(what, _why(exc)))
        return default


def _why(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return str(message).splitlines()[0]
