"""The message shown once after an action: a signed cookie set by the POST's redirect,
read and cleared by the page it lands on (redirect-after-post, so a reload never posts
the form twice).

The cookie is signed with the CSRF key (csrf.py), so nothing but this dashboard can make
a page say "promoted"; it is ``HttpOnly``, ``SameSite=Strict`` and limited to the
dashboard's path, and a page that reads it clears it in the same answer.
"""

from __future__ import annotations

import base64
import binascii

from .csrf import CsrfGuard

COOKIE = "shipyard_flash"
MAX_MESSAGE = 500


def cookie_header(name: str, value: str, path: str, *, max_age: int | None = None) -> bytes:
    """A ``Set-Cookie`` value: ``HttpOnly``, ``SameSite=Strict``, limited to ``path``."""
    age = f"; Max-Age={max_age}" if max_age is not None else ""
    return f"{name}={value}; Path={path or '/'}; HttpOnly; SameSite=Strict{age}".encode()


def cookies(header: str | None) -> dict[str, str]:
    """The request's cookies (the first of each name)."""
    found: dict[str, str] = {}
    for part in (header or "").split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name and name not in found:
            found[name] = value.strip().strip('"')
    return found


def encode(guard: CsrfGuard, message: str) -> str:
    """``message`` as a signed cookie value."""
    text = base64.urlsafe_b64encode(message[:MAX_MESSAGE].encode()).decode().rstrip("=")
    return f"{text}.{guard.sign(text)}"


def decode(guard: CsrfGuard, value: str | None) -> str | None:
    """The message of a cookie value this dashboard signed; None for anything else."""
    text, _, signature = (value or "").partition(".")
    if not text or not guard.verify(text, signature):
        return None
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
