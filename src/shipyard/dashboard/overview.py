"""The overview page, ``/ui``: every model's health and why, and every dataset."""

from __future__ import annotations

from .health import project_health
from .http import Request, Response
from .templates import render


def overview(request: Request) -> Response:
    """Every model with owner, champion, badge and reasons, traffic and latency; datasets."""
    health = project_health(request.project)
    return render(request, "overview.html", health=health, now=health.at)
