"""``/ui`` and ``/ui/...``: handed to the web dashboard, loaded on the first such request.

A worker that is never asked for a page never imports the dashboard (Jinja2, the data
layer): the app is made on the first ``/ui`` request, over the worker's own project.
Its pages run in the dashboard's own threads, so a page never stalls predictions.
``server.dashboard: false`` turns the pages off (404).

Reads follow the server's tokens: with ``server.require_token`` a page needs
``SHIPYARD_API_TOKEN`` (or the admin token) as a bearer token, or — what a browser can
send without a script — as the password of HTTP Basic authentication (any user name);
a refusal asks the browser for it (``WWW-Authenticate: Basic``).
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING

from .http import HttpError, Scope, header

if TYPE_CHECKING:
    from .app import ServingApp
    from .routing import Call

CHALLENGE = (b"www-authenticate", b'Basic realm="shipyard dashboard", charset="UTF-8"')


async def dashboard(app: ServingApp, call: Call) -> tuple[int, str]:
    """Check the token, then answer with the dashboard app (made now on the first page)."""
    if not app.settings.dashboard:
        raise HttpError(
            404,
            "not_found",
            "the dashboard is off on this server (server.dashboard: false)",
            hint="set server.dashboard: true in shipyard.yaml, or run `shipyard ui`",
        )
    if app.tokens.required:
        try:
            app.tokens.check(basic_as_bearer(call.scope), admin=False)
        except HttpError as exc:
            exc.headers = [CHALLENGE]  # type: ignore[attr-defined]  # sent with the 401
            raise
    mounted = app.dashboard
    if mounted is None:
        from shipyard.dashboard.app import DashboardApp

        mounted = app.dashboard = DashboardApp(app.project, threads=2)
    status = await mounted.handle(call.scope, call.receive, call.send)
    return status, ""


def basic_as_bearer(scope: Scope) -> Scope:
    """``scope`` with an ``Authorization: Basic`` password as a bearer token (else as is)."""
    given = header(scope, b"authorization") or b""
    if given[:6].lower() != b"basic ":
        return scope
    try:
        decoded = base64.b64decode(given[6:].strip(), validate=True)
    except (binascii.Error, ValueError):
        return scope  # not Basic after all: refused as "not a bearer token"
    _, _, password = decoded.partition(b":")
    headers = [(k, v) for k, v in scope["headers"] if k != b"authorization"]
    headers.append((b"authorization", b"Bearer " + password))
    return {**scope, "headers": headers}
