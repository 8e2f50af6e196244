"""CSRF protection for the dashboard's forms: a signed double-submit token.

A page with a form sets the cookie ``shipyard_csrf`` (``HttpOnly``, ``SameSite=Strict``)
and puts the same token in a hidden field; a POST is carried out only when the two
match, the signature is the server's and the token is younger than ``max_age``. A
site that is not the dashboard can neither read the cookie nor forge a signature,
so it cannot make a browser post a form the dashboard accepts.

The token is ``<nonce>.<issued, unix seconds>.<HMAC-SHA256 of both>``. The key:

- derived from ``SHIPYARD_ADMIN_TOKEN`` when it is set. Every replica started with the
  same admin token accepts the forms of every other one, and a restart keeps the forms
  already open valid;
- else random per process. Actions are refused anyway without an admin token; pages
  render, and their forms only turn valid when the server is started with one.

Nothing is stored on the server: no session table, nothing for replicas to share.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Mapping

from .refusals import Refused

COOKIE = "shipyard_csrf"
FIELD = "csrf"
MAX_AGE_S = 12 * 3600
_PURPOSE = b"shipyard dashboard csrf v1"


class CsrfGuard:
    """Issue form tokens and check a POST's token against its cookie."""

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> CsrfGuard:
        """Keyed by ``SHIPYARD_ADMIN_TOKEN`` when set (shared by replicas), else per process."""
        env = os.environ if environ is None else environ
        admin = env.get("SHIPYARD_ADMIN_TOKEN")
        if admin:
            return cls(hmac.new(admin.encode(), _PURPOSE, hashlib.sha256).digest())
        return cls(secrets.token_bytes(32))

    def __init__(self, key: bytes, *, max_age_s: float = MAX_AGE_S) -> None:
        if len(key) < 16:
            raise ValueError("a CSRF key needs at least 16 bytes")
        self._key = key
        self.max_age_s = max_age_s

    def issue(self, *, now: float | None = None) -> str:
        """A new token for a page's forms (and its cookie)."""
        nonce = base64.urlsafe_b64encode(secrets.token_bytes(18)).decode()
        issued = str(int(time.time() if now is None else now))
        return f"{nonce}.{issued}.{self._sign(nonce, issued)}"

    def valid(self, token: str | None, *, now: float | None = None) -> bool:
        """Whether ``token`` is one of ours and still young enough (for reusing a cookie)."""
        try:
            self._verify(token, now=now)
        except Refused:
            return False
        return True

    def check(self, cookie: str | None, field: str | None, *, now: float | None = None) -> None:
        """Return when the form's token matches the cookie and is ours; raise a 403 otherwise."""
        if not field:
            raise Refused(
                403,
                "the form carried no CSRF token, so it was not sent by a dashboard page",
                hint="open the page again and submit the form from there",
            )
        if not cookie:
            raise Refused(
                403,
                "the browser sent no dashboard cookie with the form (cookies off, "
                "or the form came from another site)",
                hint="allow cookies for the dashboard, reload the page and submit again",
            )
        if not hmac.compare_digest(cookie.encode(), field.encode()):
            raise Refused(
                403,
                "the form's CSRF token does not match this browser's cookie: the page is stale "
                "or the form came from another site",
                hint="reload the page and submit the form again",
            )
        self._verify(field, now=now)

    def _verify(self, token: str | None, *, now: float | None) -> None:
        parts = (token or "").split(".")
        if len(parts) != 3 or not parts[1].isdigit():
            raise Refused(403, "the form's CSRF token is malformed", hint="reload the page")
        nonce, issued, signature = parts
        if not hmac.compare_digest(signature.encode(), self._sign(nonce, issued).encode()):
            raise Refused(
                403,
                "the form's CSRF token was not signed by this server (it restarted without "
                "SHIPYARD_ADMIN_TOKEN, or another replica has a different admin token)",
                hint="reload the page and submit the form again",
            )
        age = (time.time() if now is None else now) - int(issued)
        if age > self.max_age_s or age < -300:
            raise Refused(
                403,
                f"the form is stale: it was opened {int(age // 3600)} h ago, "
                f"forms stay valid for {int(self.max_age_s // 3600)} h",
                hint="reload the page and submit the form again",
            )

    def sign(self, text: str) -> str:
        """An HMAC-SHA256 signature of ``text`` with this guard's key (for the flash cookie)."""
        digest = hmac.new(self._key, b"flash:" + text.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def verify(self, text: str, signature: str) -> bool:
        return hmac.compare_digest(self.sign(text).encode(), signature.encode())

    def _sign(self, nonce: str, issued: str) -> str:
        digest = hmac.new(self._key, f"{nonce}.{issued}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")


_process_key = secrets.token_bytes(32)  # the key when no admin token is set: this process only


def current(environ: Mapping[str, str] | None = None) -> CsrfGuard:
    """The guard of this process: keyed by ``SHIPYARD_ADMIN_TOKEN`` when set, else by a key
    made once per process (so the forms of one page stay valid while it runs)."""
    env = os.environ if environ is None else environ
    if env.get("SHIPYARD_ADMIN_TOKEN"):
        return CsrfGuard.from_environment(env)
    return CsrfGuard(_process_key)
