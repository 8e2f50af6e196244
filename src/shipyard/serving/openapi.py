"""The OpenAPI 3.1 document of a running server: every route, with each model's request schema."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shipyard import __version__

if TYPE_CHECKING:
    from .app import ServingApp

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
_ERRORS = {
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


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def openapi_document(app: ServingApp) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {"Error": ERROR}
    for name, deployment in app.deployments.items():
        record = {
            "type": "object",
            "additionalProperties": False,
            "required": deployment.validator.names,
            "properties": {f.name: f.json_schema() for f in deployment.validator.fields},
        }
        schemas[f"{name}.record"] = record
        ref = {"$ref": f"#/components/schemas/{name}.record"}
        answer = {
            "type": "object",
            "properties": {
                "model": {"type": "string"},
                "version": {"type": ["integer", "null"]},
                "predictions": {"type": "array"},
                "probabilities": {"type": "array", "items": {"type": "array"}},
                "classes": {"type": "array"},
                "prediction_ids": {"type": "array", "items": {"type": "string"}},
                "degraded": {"type": "boolean"},
                "path": {"enum": ["model", "rules", "cache", "default", "mixed"]},
            },
        }
        paths[f"/v1/models/{name}/predict"] = {
            "post": {
                "summary": f"Predict with {name} (one record or a list of records)",
                "requestBody": {
                    "required": True,
                    **_json({"oneOf": [ref, {"type": "array", "items": ref, "minItems": 1}]}),
                },
                "responses": {"200": {"description": "the answers", **_json(answer)}, **_ERRORS},
            }
        }
        paths[f"/v1/models/{name}/feedback"] = {
            "post": {
                "summary": f"Ground truth for {name}'s predictions, by prediction id",
                "requestBody": {"required": True, **_json({"type": ["object", "array"]})},
                "responses": {"202": {"description": "recorded"}, **_ERRORS},
            }
        }
        paths[f"/v2/models/{name}/infer"] = {
            "post": {
                "summary": f"Open Inference Protocol V2 inference with {name}",
                "requestBody": {"required": True, **_json({"type": "object"})},
                "responses": {"200": {"description": "the outputs"}, **_ERRORS},
            }
        }
        paths[f"/v2/models/{name}"] = {
            "get": {
                "summary": "V2 model metadata",
                "responses": {"200": {"description": "metadata"}},
            }
        }
        paths[f"/v2/models/{name}/ready"] = {
            "get": {
                "summary": "V2 model readiness",
                "responses": {"200": {"description": "ready"}, "503": {"description": "not ready"}},
            }
        }
        paths[f"/v1/models/{name}"] = {
            "get": {
                "summary": f"What is served for {name}",
                "responses": {"200": {"description": "status"}},
            }
        }
    simple = {
        "/healthz": "liveness",
        "/readyz": "readiness: 200 once every model is loaded and warmed",
        "/metrics": "Prometheus metrics",
        "/v1/models": "the served models",
        "/v2": "V2 server metadata",
        "/v2/health/live": "V2 liveness",
        "/v2/health/ready": "V2 readiness",
        "/ping": "MLflow-compatible liveness",
    }
    for path, summary in simple.items():
        paths[path] = {"get": {"summary": summary, "responses": {"200": {"description": "ok"}}}}
    paths["/invocations"] = {
        "post": {
            "summary": "MLflow scoring format: dataframe_split, dataframe_records, instances or inputs",
            "requestBody": {"required": True, **_json({"type": "object"})},
            "responses": {"200": {"description": "{predictions: [...]}"}, **_ERRORS},
        }
    }
    paths["/v1/admin/reload"] = {
        "post": {
            "summary": "Re-read aliases now and retry refused versions (admin token)",
            "security": [{"bearer": []}],
            "responses": {"200": {"description": "status"}, "401": {"description": "no token"}},
        }
    }
    paths["/v1/models/{name}/aliases/{alias}"] = {
        "put": {
            "summary": "Move an alias to a version, then switch to it (admin token)",
            "security": [{"bearer": []}],
            "parameters": [
                {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}},
                {"name": "alias", "in": "path", "required": True, "schema": {"type": "string"}},
            ],
            "requestBody": {
                "required": True,
                **_json(
                    {
                        "type": "object",
                        "required": ["version"],
                        "properties": {
                            "version": {"type": "integer"},
                            "reason": {"type": "string"},
                        },
                    }
                ),
            },
            "responses": {"200": {"description": "moved"}, "401": {"description": "no token"}},
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": f"shipyard: {app.project.name}", "version": __version__},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
