"""A dashboard request refused: its HTTP status and what to do, said in words on a page.

Pages and actions raise :class:`Refused`; the app renders it as a short page with
the status (never a traceback). A ``ShipyardError`` from the API becomes one with
the error's own status, message and hint (:func:`refused_by`).
"""

from __future__ import annotations

from shipyard.errors import ShipyardError


class Refused(Exception):
    """A request the dashboard will not carry out: ``status``, ``message`` and ``hint``."""

    def __init__(self, status: int, message: str, *, hint: str | None = None) -> None:
        message = _one_line(message)  # it may quote what a user sent: a path, a field
        hint = _one_line(hint) if hint is not None else None
        super().__init__(message)
        self.status = status
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message + (f" ({self.hint})" if self.hint else "")


def refused_by(error: ShipyardError) -> Refused:
    """The API's refusal as the dashboard's: its status (4xx/5xx), message and next step."""
    status = error.http_status if 400 <= error.http_status < 600 else 500
    return Refused(status, error.message, hint=error.hint)


def whole(text: str) -> bool:
    """Whether a parameter is a number a page can look up: ``0``-``9`` only, at most 18
    of them (``str.isdigit`` also takes ``²``, which ``int`` refuses)."""
    return text.isascii() and text.isdigit() and len(text) <= 18


def _one_line(text: str) -> str:
    return "".join(c if c.isprintable() else " " for c in text)


def said(text: str, limit: int = 40) -> str:
    """A user's value as a message may quote it: one line, printable, at most ``limit``."""
    shown = "".join(c if c.isprintable() else "\ufffd" for c in text[:limit])
    return shown + ("…" if len(text) > limit else "")
