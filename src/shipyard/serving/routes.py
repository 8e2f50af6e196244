"""The server's route table: every path it answers, who may call it, and how it is labelled.

``ROUTES`` drives dispatch, authorisation, the ``route`` label of the metrics, the
405 answers (with ``Allow``) and ``/openapi.json``. The protocols add their own
routes (see :mod:`.protocols`); this module lists the server's own.
"""

from __future__ import annotations

from typing import Any

from . import admin, handlers
from .openapi import ERRORS, json_content, simple
from .protocols import PROTOCOLS, NotFound
from .routing import Route, Router


def _describe_doc(name: str) -> dict[str, Any]:
    return {
        "summary": f"What is served for {name}",
        "responses": {"200": {"description": "status"}},
    }


def _feedback_doc(name: str) -> dict[str, Any]:
    return {
        "summary": f"Ground truth for {name}'s predictions, by prediction id",
        "requestBody": {"required": True, **json_content({"type": ["object", "array"]})},
        "responses": {"202": {"description": "recorded"}, **ERRORS},
    }


_ADMIN_ONLY = {"200": {"description": "status"}, "401": {"description": "no token"}}
_NAME_AND_ALIAS = [
    {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}},
    {"name": "alias", "in": "path", "required": True, "schema": {"type": "string"}},
]

SERVER_ROUTES = (
    Route(
        "/healthz",
        handlers.alive,
        ("GET",),
        auth="none",
        probe=True,
        match="head",
        openapi=simple("liveness"),
    ),
    Route(
        "/readyz",
        handlers.readyz,
        ("GET",),
        auth="none",
        probe=True,
        match="head",
        openapi=simple("readiness: 200 once every model is loaded and warmed"),
    ),
    Route("/metrics", handlers.metrics, ("GET",), openapi=simple("Prometheus metrics")),
    Route("/openapi.json", handlers.openapi, ("GET",), openapi=simple("this document")),
    Route("/version", handlers.version, ("GET",), openapi=simple("the shipyard version")),
    Route("/v1/models", handlers.models, ("GET",), openapi=simple("the served models")),
    Route("/v1/models/{name}", handlers.describe, ("GET",), openapi=_describe_doc, per_model=True),
    Route(
        "/v1/models/{name}/feedback",
        handlers.feedback,
        ("POST",),
        openapi=_feedback_doc,
        per_model=True,
    ),
    Route(
        "/v1/models/{name}/aliases/{alias}",
        admin.move_alias,
        ("PUT",),
        auth="admin",
        openapi={
            "summary": "Move an alias to a version, then switch to it (admin token)",
            "security": [{"bearer": []}],
            "parameters": _NAME_AND_ALIAS,
            "requestBody": {
                "required": True,
                **json_content(
                    {
                        "type": "object",
                        "required": ["version"],
                        "properties": {
                            "version": {"type": "integer"},
                            "reason": {"type": "string"},
                            "force": {
                                "type": "boolean",
                                "description": "champion only: override the evaluation gate "
                                "(needs a reason; audited)",
                            },
                        },
                    }
                ),
            },
            "responses": {
                "200": {"description": "moved"},
                "401": {"description": "no token"},
                "409": {"description": "the evaluation gate refused the champion"},
                "422": {"description": "invalid body, or force without a reason"},
            },
        },
    ),
    Route(
        "/v1/admin/reload",
        admin.reload,
        ("POST",),
        auth="admin",
        openapi={
            "summary": "Re-read aliases now and retry refused versions (admin token)",
            "security": [{"bearer": []}],
            "responses": _ADMIN_ONLY,
        },
    ),
    Route(
        "/v1/admin/fault",
        admin.fault,
        ("POST",),
        auth="admin",
        openapi={
            "summary": "Make a model fail or slow down for a while, or stop (admin token)",
            "security": [{"bearer": []}],
            "requestBody": {
                "required": True,
                **json_content(
                    {
                        "type": "object",
                        "required": ["model", "mode"],
                        "properties": {
                            "model": {"type": "string"},
                            "mode": {"enum": ["error", "delay", "off"]},
                            "seconds": {"type": "number"},
                            "delay_ms": {"type": "number"},
                        },
                    }
                ),
            },
            "responses": _ADMIN_ONLY,
        },
    ),
)
"""The server's own routes (probes, models, feedback, metrics, admin)."""

ROUTES: tuple[Route, ...] = (
    *(route for protocol in PROTOCOLS.values() for route in protocol.routes),
    *SERVER_ROUTES,
)
"""Every route the server answers (the protocols' first: a prediction is found first)."""

ROUTER = Router(ROUTES)

NOT_FOUND: dict[str, NotFound] = {
    protocol.not_found[0]: protocol.not_found[1]
    for protocol in PROTOCOLS.values()
    if protocol.not_found is not None
}
"""The 404 of paths under a protocol's own prefix (``/v2``), by first segment."""

PLAIN_LABELS = ROUTER.plain
"""The ``route`` labels of the routes without parameters (their exact paths)."""


def route_label(path: str) -> str:
    """The route ``path`` matches, as a template (``/v1/models/{name}/predict``), else ``other``.

    Label values come from the route table only: a path a client makes up (a random
    model name, alias or suffix) never becomes a new series.
    """
    return ROUTER.label(path)
