"""The OpenAPI 3.1 document of a running server: every route, every answer, each model's schemas.

The operations come from the route table (each :class:`.routing.Route`'s ``openapi``:
its summary, parameters, body and the answers only it gives). This module adds what
follows from the route's place in the table, the same for every route of its kind:

- ``auth``: the bearer token and 401 when the server asks for one (``server.require_token``;
  admin routes: ``SHIPYARD_ADMIN_TOKEN``, or 403 while the server has none);
- a write (POST, PUT): 403 for a browser page of a foreign origin;
- a route that reads a body: 400 (not JSON, or not the protocol's shape), 413 (over
  ``server.max_body_mb`` after decompression, or over ``server.max_rows``), 415 (another
  Content-Type or Content-Encoding);
- a prediction route: 429 (shed, with ``Retry-After``) and 503 (no answer, or draining).

Every error answer has the one error shape (``components/schemas/Error``, see
:mod:`.http`). The schemas of each served model's requests and answers are made from
its feature schema by :mod:`.model_schemas`. A method a path does not list is answered
405 with ``Allow``; that is said once, in ``info.description``, not on every path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shipyard import __version__

from .model_schemas import model_schemas

if TYPE_CHECKING:
    from .app import ServingApp
    from .routing import Route

ERROR = {
    "type": "object",
    "description": "every error the server answers has this shape",
    "required": ["error", "status", "code", "problems", "hint"],
    "properties": {
        "error": {"type": "string", "description": "what was wrong"},
        "status": {"type": "integer", "description": "the HTTP status"},
        "code": {"type": "string", "description": "a stable name for the kind of error"},
        "problems": {
            "type": "array",
            "items": {"type": "string"},
            "description": "each problem of the request, by row and field",
        },
        "hint": {"type": ["string", "null"], "description": "what to do about it"},
    },
    "additionalProperties": False,
}
RETRY_AFTER = {
    "Retry-After": {
        "description": "whole seconds to wait before trying again",
        "schema": {"type": "integer", "minimum": 1},
    }
}
JSON = "application/json"


def json_content(schema: dict[str, Any]) -> dict[str, Any]:
    """A request body or answer of JSON with ``schema``."""
    return {"content": {JSON: {"schema": schema}}}


def schema_ref(name: str) -> dict[str, str]:
    """A reference to ``components/schemas/NAME``."""
    return {"$ref": f"#/components/schemas/{name}"}


def answer(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    """A response: JSON of ``schema`` (an object of anything when not given)."""
    return {"description": description, **json_content(schema or {"type": "object"})}


def error(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    """An error response, in the one error shape."""
    response = {"description": description, **json_content(schema_ref("Error"))}
    if headers:
        response["headers"] = headers
    return response


def simple(summary: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    """The operation of a route that only answers 200 (probes, lists, metadata)."""
    return {"summary": summary, "responses": {"200": answer("ok", schema)}}


BODY_ERRORS = {
    "400": error("the body is not JSON, or not of the protocol's shape"),
    "413": error(
        "the body is over server.max_body_mb (measured after decompression), "
        "or has more rows than server.max_rows"
    ),
    "415": error(
        "a Content-Type the route does not read, or a Content-Encoding other than gzip or deflate"
    ),
}
"""The errors of every route that reads a body (added to its operation by the document)."""

PREDICTION_ERRORS = {
    "429": error(
        "shed: the model could not answer within its latency budget (retry later)",
        RETRY_AFTER,
    ),
    "503": error(
        "the model and its fallback chain had no answer, the model has no version yet, "
        "or this replica is shutting down (retry on another)",
        RETRY_AFTER,
    ),
}

_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_UNLISTED = frozenset({"HEAD", "OPTIONS"})


def openapi_document(app: ServingApp) -> dict[str, Any]:
    """The document of ``app``: its routes, one path per served model where a route says so."""
    models = {name: d for name, d in app.deployments.items() if d.key == d.name}
    schemas: dict[str, Any] = {"Error": ERROR, **shared_schemas(app)}
    for deployment in models.values():
        schemas.update(model_schemas(deployment, app.settings.max_rows))
    paths: dict[str, Any] = {}
    documented = [r for r in app.router.routes if r.openapi is not None]
    for name in models:
        for route in documented:
            if route.per_model:
                paths[route.path.replace("{name}", name)] = _operations(app, route, name)
    for route in documented:
        if not route.per_model:
            paths[route.path] = _operations(app, route, "")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"shipyard: {app.project.name}",
            "version": __version__,
            "description": "A method a path does not list is answered 405 with an Allow "
            "header; HEAD is answered wherever GET is. Bodies may be sent with "
            "Content-Encoding gzip or deflate.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "parameters": {"X-Shipyard-Model": _model_header(app)},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def shared_schemas(app: ServingApp) -> dict[str, Any]:
    """The schemas that do not belong to one model: names, status, the /invocations body."""
    models = {name: d for name, d in app.deployments.items() if d.key == d.name}
    requests = [schema_ref(f"{name}.InvocationsRequest") for name in models]
    answers = [schema_ref(f"{name}.InvocationsAnswer") for name in models]
    return {
        "ModelName": {"enum": list(models), "description": "a model served here"},
        "ModelKey": {
            "enum": _model_keys(app),
            "description": "a model served here, or NAME@VERSION for a version it serves",
        },
        "InvocationsRequest": requests[0] if len(requests) == 1 else {"anyOf": requests},
        "InvocationsAnswer": answers[0] if len(answers) == 1 else {"anyOf": answers},
        "ModelStatus": MODEL_STATUS,
        "Readiness": READINESS,
    }


def _model_keys(app: ServingApp) -> list[str]:
    """Every name a request may give a model by: NAME, NAME@TARGET, NAME@VERSION."""
    keys: list[str] = []
    for key, deployment in app.deployments.items():
        keys += [key, f"{deployment.name}@{deployment.target}"]
        if deployment.current is not None:
            keys.append(f"{deployment.name}@{deployment.current.version.version}")
    return list(dict.fromkeys(keys))


def _model_header(app: ServingApp) -> dict[str, Any]:
    several = len({d.name for d in app.deployments.values()}) > 1
    return {
        "name": "X-Shipyard-Model",
        "in": "header",
        "required": several,
        "description": "the model to answer with"
        + (" (required: this server serves several)" if several else " (the one served)"),
        "schema": schema_ref("ModelKey"),
    }


def _operations(app: ServingApp, route: Route, name: str) -> dict[str, Any]:
    """The route's operation under each of its methods (GET for a route of any method);
    HEAD and OPTIONS are said once for all paths (``info.description``), not per path."""
    operation = route.openapi
    body = operation(name) if callable(operation) else dict(operation or {})
    methods = [m for m in route.methods or ("GET",) if m not in _UNLISTED]
    return {method.lower(): _complete(app, route, method, body) for method in methods}


def _complete(
    app: ServingApp, route: Route, method: str, operation: dict[str, Any]
) -> dict[str, Any]:
    """``operation`` with the answers and security its route's kind gives (see the module)."""
    responses = dict(operation["responses"])
    added: dict[str, Any] = {}
    tokens = app.tokens
    if route.auth == "token" and tokens.required:
        added["401"] = error("no valid bearer token (SHIPYARD_API_TOKEN or the admin token)")
        operation = {**operation, "security": [{"bearer": []}]}
    elif route.auth == "admin":
        if tokens.required or tokens.admin is not None:
            added["401"] = error("no valid admin bearer token (SHIPYARD_ADMIN_TOKEN)")
            operation = {**operation, "security": [{"bearer": []}]}
        if tokens.admin is None:
            added["403"] = error("admin endpoints are off: no SHIPYARD_ADMIN_TOKEN")
    if method in _WRITES:
        added.setdefault(
            "403", error("a write from a browser page whose origin is not in server.cors_origins")
        )
    if "requestBody" in operation:
        added.update(BODY_ERRORS)
    if route.prediction:
        added.update(PREDICTION_ERRORS)
    for status, response in added.items():
        responses.setdefault(status, response)
    return {**operation, "responses": dict(sorted(responses.items()))}


MODEL_STATUS = {
    "type": "object",
    "description": "what is served for one model",
    "required": ["name", "target", "route", "status", "ready", "version", "task", "features"],
    "properties": {
        "name": {"type": "string"},
        "target": {"type": "string", "description": "the alias followed, or a version number"},
        "route": {"type": "string", "description": "where its native predictions are asked for"},
        "status": {"type": "string"},
        "ready": {"type": "boolean"},
        "version": {"type": ["integer", "null"]},
        "task": {"type": "string"},
        "features": {"type": "array", "items": {"type": "string"}},
        "classes": {"type": ["array", "null"]},
        "latency_budget_ms": {"type": "number"},
        "per_row_ms": {"type": "number", "description": "budget added per row of a request"},
        "batch_budget_ms": {"type": ["number", "null"]},
        "circuit": {"type": "string"},
        "load": {"type": "object"},
        "fallback": {"type": "array", "items": {"type": "string"}},
        "error": {"type": ["string", "null"]},
        "environment": {"type": ["string", "null"]},
        "challenger": {"type": ["object", "null"]},
        "challenger_error": {"type": ["string", "null"]},
    },
}

READINESS = {
    "type": "object",
    "required": ["ready", "shutting_down", "models", "not_ready"],
    "properties": {
        "ready": {"type": "boolean"},
        "shutting_down": {"type": "boolean"},
        "waiting_for": {},
        "models": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "properties": {
                    "status": {"type": "string"},
                    "version": {"type": ["integer", "null"]},
                    "error": {"type": ["string", "null"]},
                    "environment": {"type": ["string", "null"]},
                },
            },
        },
        "not_ready": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}
