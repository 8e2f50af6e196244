"""The OpenAPI 3.1 document of a running server: every route, with each model's request schema.

The operations come from the route table (each :class:`.routing.Route`'s ``openapi``);
this module adds each served model's record schema and the parts every route shares.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shipyard import __version__

if TYPE_CHECKING:
    from .app import ServingApp
    from .routing import Route

ERROR = {
    "type": "object",
    "required": ["error", "status", "code", "problems"],
    "properties": {
        "error": {"type": "string"},
        "status": {"type": "integer"},
        "code": {"type": "string"},
        "problems": {"type": "array", "items": {"type": "string"}},
        "hint": {"type": ["string", "null"]},
    },
}
ERRORS = {
    str(code): {
        "description": text,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    for code, text in (
        (400, "malformed JSON or not the protocol's shape"),
        (401, "server.require_token is on and no valid bearer token was sent"),
        (403, "a write from a browser origin not in server.cors_origins"),
        (404, "no such model"),
        (413, "body or row count over the limit"),
        (415, "the body's Content-Type is not application/json"),
        (422, "rows that do not fit the model's schema (every problem listed)"),
        (503, "the model and its fallback chain could not answer"),
    )
}
"""The error answers of a route that reads a body: all in the one error shape."""


def json_content(schema: dict[str, Any]) -> dict[str, Any]:
    """A request body or answer of JSON with ``schema``."""
    return {"content": {"application/json": {"schema": schema}}}


def simple(summary: str) -> dict[str, Any]:
    """The operation of a route that only answers 200 (probes, lists, metadata)."""
    return {"summary": summary, "responses": {"200": {"description": "ok"}}}


def openapi_document(app: ServingApp) -> dict[str, Any]:
    """The document of ``app``: its routes, one path per served model where a route says so."""
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {"Error": ERROR}
    models = {name: d for name, d in app.deployments.items() if d.key == d.name}
    for name, deployment in models.items():
        schemas[f"{name}.record"] = {
            "type": "object",
            "additionalProperties": False,
            "required": deployment.validator.names,
            "properties": {f.name: f.json_schema() for f in deployment.validator.fields},
        }
    documented = [r for r in app.router.routes if r.openapi is not None]
    for name in models:  # a further version of a model: its /versions/{version} routes
        for route in documented:
            if route.per_model:
                path = route.path.replace("{name}", name)
                paths[path] = _operations(route, name)
    for route in documented:
        if not route.per_model:
            paths[route.path] = _operations(route, "")
    return {
        "openapi": "3.1.0",
        "info": {"title": f"shipyard: {app.project.name}", "version": __version__},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def _operations(route: Route, name: str) -> dict[str, Any]:
    """The route's operation under each of its methods (GET for a route of any method)."""
    operation = route.openapi
    body = operation(name) if callable(operation) else dict(operation or {})
    return {method.lower(): body for method in route.methods or ("GET",)}
