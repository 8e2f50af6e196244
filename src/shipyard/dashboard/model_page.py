"""The model page, ``/ui/models/NAME``: versions, lineage, aliases, audit trail, reports,
the latest monitoring run, figures over time, alerts and retraining runs."""

from __future__ import annotations

from .http import Request, Response
from .model_view import model_view
from .templates import render


def model_page(request: Request) -> Response:
    """Everything known about one model; a missing part says which and why, the rest renders."""
    view = model_view(request.project, request.params["name"])
    return render(request, "model.html", m=view, now=view.at)
