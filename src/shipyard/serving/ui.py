"""``/ui`` and ``/ui/...``: handed to the web dashboard, loaded on the first such request.

A worker that is never asked for a page never imports the dashboard (Jinja2, the data
layer): the app is made on the first ``/ui`` request, over the worker's own project.
Its pages run in the dashboard's own threads, so a page never stalls predictions.
Reads follow the server's tokens (``server.require_token``), checked before this
handler runs; ``server.dashboard: false`` turns the pages off (404).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .http import HttpError

if TYPE_CHECKING:
    from .app import ServingApp
    from .routing import Call


async def dashboard(app: ServingApp, call: Call) -> tuple[int, str]:
    """Answer with the dashboard app (made now if this is the first page)."""
    if not app.settings.dashboard:
        raise HttpError(
            404,
            "not_found",
            "the dashboard is off on this server (server.dashboard: false)",
            hint="set server.dashboard: true in shipyard.yaml, or run `shipyard ui`",
        )
    mounted = app.dashboard
    if mounted is None:
        from shipyard.dashboard.app import DashboardApp

        mounted = app.dashboard = DashboardApp(app.project, threads=2)
    status = await mounted.handle(call.scope, call.receive, call.send)
    return status, ""
