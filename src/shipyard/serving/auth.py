"""Who may call what: bearer tokens, checked in constant time, and one log line per denial.

- Probes (``/healthz``, ``/readyz``, ``/ping``, ``/v2/health/*``) are always open; the
  app answers them before it asks here.
- Reads and predictions (every other route) are open unless ``server.require_token``
  is on; then they need ``SHIPYARD_API_TOKEN`` **or** ``SHIPYARD_ADMIN_TOKEN`` (the
  admin may do everything a client may).
- Admin routes need ``SHIPYARD_ADMIN_TOKEN``; without one in the server's
  environment they are off (403).

Every denial is logged at WARNING with the method, the route (its template, so the
log cannot be flooded with made-up paths), the reason and the client address —
never the token that was sent.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping

from shipyard.errors import ShipyardError

from .http import HttpError, Scope, header
from .metrics import route_label

logger = logging.getLogger(__name__)

BEARER = b"bearer "


class Tokens:
    """The tokens a server accepts, from its environment."""

    @classmethod
    def from_environment(cls, env: Mapping[str, str], *, required: bool) -> Tokens:
        """The server's tokens; refused at once when ``required`` and no API token is set."""
        api = env.get("SHIPYARD_API_TOKEN") or None
        if required and not api:
            raise ShipyardError(
                "server.require_token is on but SHIPYARD_API_TOKEN is not set",
                hint="export SHIPYARD_API_TOKEN=<a long random string> before `shipyard serve`",
            )
        return cls(api=api, admin=env.get("SHIPYARD_ADMIN_TOKEN") or None, required=required)

    def __init__(self, *, api: str | None, admin: str | None, required: bool) -> None:
        self.api = api.encode() if api else None
        self.admin = admin.encode() if admin else None
        self.required = required

    def check(self, scope: Scope, *, admin: bool) -> None:
        """Return when the request may go on; raise a logged 401/403 when it may not."""
        if admin and self.admin is None:
            raise denied(
                scope,
                HttpError(
                    403,
                    "forbidden",
                    "admin endpoints are off: the server was started without SHIPYARD_ADMIN_TOKEN",
                    hint="set SHIPYARD_ADMIN_TOKEN in the server's environment",
                ),
                "admin endpoints are off",
            )
        if not admin and not self.required:
            return
        given = header(scope, b"authorization") or b""
        token = given[len(BEARER) :] if given[: len(BEARER)].lower() == BEARER else b""
        if token and _matches(token, self.admin):
            return
        if token and not admin and _matches(token, self.api):
            return
        if not token:
            reason = "no bearer token" if not given else "not a bearer token"
        elif admin and _matches(token, self.api):
            reason = "an API token on an admin endpoint"
        else:
            reason = "wrong token"
        raise denied(
            scope,
            HttpError(
                401,
                "unauthorized",
                "a valid bearer token is required" + (" for admin endpoints" if admin else ""),
                hint="send 'Authorization: Bearer <token>'"
                + (" with SHIPYARD_ADMIN_TOKEN" if admin else ""),
            ),
            reason,
        )


def _matches(token: bytes, expected: bytes | None) -> bool:
    return expected is not None and hmac.compare_digest(token, expected)


def denied(scope: Scope, error: HttpError, reason: str) -> HttpError:
    """Log a refused request (route, reason, client; never credentials) and hand back ``error``."""
    client = scope.get("client")
    logger.warning(
        "denied %s %s from %s (%d): %s",
        scope.get("method", "?"),
        route_label(scope.get("path", "")),
        client[0] if client else "unknown client",
        error.http_status,
        reason,
    )
    return error
