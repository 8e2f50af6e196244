"""The web dashboard: every model's health at a glance, and why — pages over the Project API.

An entry point like the CLI: it calls the stages through :class:`~shipyard.project.Project`
and nothing imports it except the CLI (``shipyard ui``) and the server's ``/ui`` mount,
which loads it on the first ``/ui`` request only (a serving worker stays lean).

- :mod:`.app` — the ASGI app: routes, security headers, page functions run in threads.
- :mod:`.routes` — the route table: every path the dashboard answers, in one place.
- :mod:`.health` — the health read model (badge and the reasons in words).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard.lazy import exports

if TYPE_CHECKING:
    from .app import DashboardApp
    from .health import Health, ModelHealth

_NAMES = {
    "DashboardApp": ".app",
    "Health": ".health",
    "ModelHealth": ".health",
}
__all__ = ["DashboardApp", "Health", "ModelHealth"]
__getattr__, __dir__ = exports(__name__, _NAMES)
