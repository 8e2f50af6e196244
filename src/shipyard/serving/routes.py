"""The server's route table: every path it answers, who may call it, and how it is labelled.

``ROUTES`` drives dispatch, authorisation, the ``route`` label of the metrics, the
405 answers (with ``Allow``) and ``/openapi.json``. The protocols add their own
routes (see :mod:`.protocols`); this module lists the server's own.
"""

from __future__ import annotations

from typing import Any

from . import admin, handlers, ui
from .openapi import answer, error, json_content, schema_ref, simple
from .protocols import ALIVE, PROTOCOLS, NotFound
from .routing import Route, Router


def _describe_doc(name: str) -> dict[str, Any]:
    return simple(f"What is served for {name}", schema_ref("ModelStatus"))


def _feedback_doc(name: str) -> dict[str, Any]:
    return {
        "summary": f"Ground truth for {name}'s predictions, by prediction id",
        "requestBody": {"required": True, **json_content(schema_ref(f"{name}.Feedback"))},
        "responses": {
            "202": answer(
                "recorded",
                {
                    "type": "object",
                    "required": ["accepted"],
                    "properties": {"accepted": {"type": "integer", "minimum": 1}},
                    "additionalProperties": False,
                },
            ),
            "422": error("an item without a prediction id or with a label not of the classes"),
        },
    }


_MODELS = {
    "type": "object",
    "required": ["models"],
    "properties": {"models": {"type": "array", "items": schema_ref("ModelStatus")}},
    "additionalProperties": False,
}
_READY = {
    "summary": "readiness: 200 once every model is loaded and warmed",
    "responses": {
        "200": answer("ready", schema_ref("Readiness")),
        "503": answer(
            "not ready (a model loading or failed, or shutting down)", schema_ref("Readiness")
        ),
    },
}
_NAME_AND_ALIAS = [
    {"name": "name", "in": "path", "required": True, "schema": schema_ref("ModelName")},
    {
        "name": "alias",
        "in": "path",
        "required": True,
        "schema": {
            "type": "string",
            "pattern": "^[A-Za-z][A-Za-z0-9_-]{0,63}$",
            "not": {"const": "latest"},
            "description": "letters, digits, '_' or '-', starting with a letter (not 'latest')",
        },
    },
]
_MOVED = {
    "type": "object",
    "required": ["model", "alias", "from", "to"],
    "properties": {
        "model": {"type": "string"},
        "alias": {"type": "string"},
        "from": {"type": ["integer", "null"], "description": "the version it named before"},
        "to": {"type": "integer"},
    },
    "additionalProperties": False,
}
_MOVE = {
    "type": "object",
    "required": ["version"],
    "properties": {
        "version": {"type": "integer", "description": "a version number (not 3.0)"},
        "reason": {"description": "why (in the audit trail)"},
        "force": {
            "type": "boolean",
            "description": "champion only (422 for another alias): override the evaluation "
            "gate (needs a reason; audited)",
        },
    },
    "if": {"required": ["force"], "properties": {"force": {"const": True}}},
    "then": {
        "required": ["reason"],
        "properties": {"reason": {"type": "string", "pattern": "\\S"}},
    },
}
_FAULT = {
    "type": "object",
    "required": ["model", "mode"],
    "properties": {
        "model": schema_ref("ModelKey"),
        "mode": {"enum": ["error", "delay", "off"]},
        "seconds": {"type": "number", "minimum": 0, "maximum": 86_400_000, "default": 60},
        "delay_ms": {"type": "number", "minimum": 0, "maximum": 86_400_000, "default": 0},
    },
}
_FAULT_SET = {
    "type": "object",
    "required": ["model", "mode", "seconds"],
    "properties": {
        "model": {"type": "string"},
        "mode": {"enum": ["error", "delay", "off"]},
        "seconds": {"type": "number"},
    },
    "additionalProperties": False,
}
_METRICS = {
    "summary": "Prometheus metrics",
    "responses": {
        "200": {
            "description": "the Prometheus text format",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
}
_DOCUMENT = {"type": "object", "required": ["openapi", "info", "paths", "components"]}
_VERSION = {
    "type": "object",
    "required": ["shipyard"],
    "properties": {"shipyard": {"type": "string"}},
    "additionalProperties": False,
}

SERVER_ROUTES = (
    Route(
        "/healthz",
        handlers.alive,
        ("GET",),
        auth="none",
        probe=True,
        match="head",
        openapi=simple("liveness", ALIVE),
    ),
    Route(
        "/readyz",
        handlers.readyz,
        ("GET",),
        auth="none",
        probe=True,
        match="head",
        openapi=_READY,
    ),
    # the web dashboard's pages: tokens checked by the handler (a browser sends Basic)
    Route("/ui", ui.dashboard, ("GET", "POST"), auth="none", match="head"),
    Route("/metrics", handlers.metrics, ("GET",), openapi=_METRICS),
    Route("/openapi.json", handlers.openapi, ("GET",), openapi=simple("this document", _DOCUMENT)),
    Route("/version", handlers.version, ("GET",), openapi=simple("the shipyard version", _VERSION)),
    Route("/v1/models", handlers.models, ("GET",), openapi=simple("the served models", _MODELS)),
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
            "parameters": _NAME_AND_ALIAS,
            "requestBody": {
                "required": True,
                **json_content(_MOVE),
            },
            "responses": {
                "200": answer("moved, and the server switched", _MOVED),
                "404": error("no such model served here, or no such version"),
                "409": error("the evaluation gate (or a retraining run) refused the champion"),
                "422": error("not a version number, not an alias name, or force without a reason"),
                "503": error("the registry's store did not answer"),
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
            "responses": {"200": answer("what is served now", _MODELS)},
        },
    ),
    Route(
        "/v1/admin/fault",
        admin.fault,
        ("POST",),
        auth="admin",
        openapi={
            "summary": "Make a model fail or slow down for a while, or stop (admin token)",
            "requestBody": {"required": True, **json_content(_FAULT)},
            "responses": {
                "200": answer("set", _FAULT_SET),
                "404": error("no such model served here"),
                "422": error("not a mode, or seconds or delay_ms not a number in range"),
            },
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
