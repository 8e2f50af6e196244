"""The dashboard's actions need the server's admin token (``SHIPYARD_ADMIN_TOKEN``).

It is the token ``shipyard serve``'s admin routes take (serving/auth.py): typed into the
action's form (field ``token``) or sent as ``Authorization: Bearer <token>``, compared
in constant time. Without one in the server's environment the actions are off and say
how to turn them on; the pages still render. Each refusal is logged with the action and
the reason, never with what was typed.
"""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Mapping

from .refusals import Refused

log = logging.getLogger(__name__)

VARIABLE = "SHIPYARD_ADMIN_TOKEN"
FIELD = "token"
OFF_HINT = (
    f"start the dashboard with {VARIABLE} set, e.g. "
    f"`export {VARIABLE}=$(openssl rand -hex 32)` before `shipyard ui` or `shipyard serve`"
)


class AdminGate:
    """Whether a request carries the admin token."""

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> AdminGate:
        env = os.environ if environ is None else environ
        return cls(env.get(VARIABLE) or None)

    def __init__(self, token: str | None) -> None:
        self._token = token.encode() if token else None

    @property
    def enabled(self) -> bool:
        """Whether actions can be carried out at all (a token is configured)."""
        return self._token is not None

    def check(self, typed: str | None, authorization: str | None = None, *, action: str) -> None:
        """Return when the form's ``typed`` token or the bearer header is the admin token."""
        if self._token is None:
            log.warning("refused dashboard action %s: no admin token configured", action)
            raise Refused(403, f"actions are off: the server has no {VARIABLE}", hint=OFF_HINT)
        given = (typed or "").strip()
        if not given and authorization and authorization[:7].lower() == "bearer ":
            given = authorization[7:].strip()
        if not given:
            log.warning("refused dashboard action %s: no admin token given", action)
            raise Refused(
                401,
                "this action needs the admin token; none was given",
                hint=f"type the server's {VARIABLE} into the form's 'Admin token' field",
            )
        if not hmac.compare_digest(given.encode(), self._token):
            log.warning("refused dashboard action %s: wrong admin token", action)
            raise Refused(
                401,
                "the admin token is wrong",
                hint=f"type the value of {VARIABLE} the server was started with",
            )
