"""Every path the dashboard answers, in one table (relative to its prefix, ``/ui``).

A page is a function of a :class:`~.http.Request` (see :mod:`.http`); GET routes answer
HEAD too. Add a page by adding a line here; POST routes are actions (they change state:
a GET never does).
"""

from __future__ import annotations

from .actions_page import ack_action, actions_page, promote_action, rollback_action
from .dataset_page import dataset_page
from .http import Route, Router
from .model_page import model_page
from .overview import overview
from .reports_page import report_page
from .static import static_file

ROUTES: tuple[Route, ...] = (
    Route("/", overview, name="overview"),
    Route("/models/{name}", model_page, name="model"),
    Route("/reports/{id}", report_page, name="report"),
    Route("/static/{file}", static_file, name="static"),
    Route("/datasets/{name}", dataset_page, name="dataset"),
    Route("/models/{name}/actions", actions_page, name="actions"),
    Route("/models/{name}/promote", promote_action, ("POST",), name="promote"),
    Route("/models/{name}/rollback", rollback_action, ("POST",), name="rollback"),
    Route("/alerts/{id}/ack", ack_action, ("POST",), name="ack"),
)

ROUTER = Router(ROUTES)
