"""The protocols the server speaks: one :class:`Protocol` per request shape, in ``PROTOCOLS``.

- ``native``: ``POST /v1/models/{name}/predict`` with one record (an object) or a
  list of records (``/v1/models/{name}/versions/{version}/predict`` for one of several
  versions served, ``shipyard serve m@4 m@3``);
- ``v2``: the Open Inference Protocol V2 (KServe, Triton): ``inputs`` as one tensor
  per feature (shape ``[n]`` or ``[n, 1]``) or one ``[n, features]`` tensor;
- ``mlflow``: MLflow's scoring format: ``dataframe_split``, ``dataframe_records``,
  ``instances`` or ``inputs`` as JSON, or a CSV table (``text/csv``).

A protocol says how it reads a body (JSON unless it says otherwise) into rows, how
it answers, how a request names its model, and which routes it adds. The request
path (:meth:`.app.ServingApp.predict`) is the same for all. Adding a protocol is one entry here and its codec module in
:mod:`.codecs`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import handlers
from .codecs import Reply, mlflow, native, v2
from .deployment import Outcome
from .http import Receive, Scope
from .openapi import ERRORS, json_content, simple
from .origin import read_json
from .routing import Call, Route
from .validation import Rows, RowValidator

if TYPE_CHECKING:
    from .app import ServingApp

Parse = Callable[[Any, RowValidator, int], Rows]
"""``(body, validator, max_rows)``: the body's validated rows, or a 4xx error."""

Answer = Callable[[str, Outcome, list[str], Any], "dict[str, Any] | Reply"]
"""``(model, outcome, prediction_ids, body)``: the JSON answer, or a :class:`.codecs.Reply`
(V2's binary tensor data)."""

FindModel = Callable[[Scope, dict[str, str], Collection[str]], str]
"""``(scope, path_parameters, served_models)``: the model a request names."""

NotFound = Callable[["ServingApp", str, str, list[str]], Exception]
"""``(app, method, path, segments)``: the 404 for a path under the protocol's prefix."""

Read = Callable[[Scope, Receive, int], Awaitable[Any]]
"""``(scope, receive, max_body)``: the request body as ``parse`` takes it (JSON unless the
protocol reads other media types too), or a 4xx error."""


@dataclass(frozen=True)
class Protocol:
    """One request shape: its codec, how it names the model, and its routes."""

    name: str
    parse: Parse
    answer: Answer
    model: FindModel
    answer_keys: frozenset[str]  # the keys every answer has
    routes: tuple[Route, ...]
    not_found: tuple[str, NotFound] | None = None  # (first segment, its 404) when its own
    read: Read = read_json  # the body, before ``parse`` reads rows from it

    @property
    def prediction_routes(self) -> tuple[Route, ...]:
        return tuple(r for r in self.routes if r.prediction)


def by_path(scope: Scope, params: dict[str, str], served: Collection[str]) -> str:
    """The ``{name}`` of the path."""
    return params["name"]


async def predict(app: ServingApp, call: Call) -> tuple[int, str]:
    """The handler of every prediction route: its protocol reads the rows and answers."""
    protocol = PROTOCOLS[call.route.protocol]
    name = protocol.model(call.scope, call.params, app.deployments)
    return 200, await app.predict(call, name, protocol)


def _native_doc(name: str) -> dict[str, Any]:
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
    return {
        "summary": f"Predict with {name} (one record or a list of records)",
        "requestBody": {
            "required": True,
            **json_content({"oneOf": [ref, {"type": "array", "items": ref, "minItems": 1}]}),
        },
        "responses": {"200": {"description": "the answers", **json_content(answer)}, **ERRORS},
    }


def _v2_infer_doc(name: str) -> dict[str, Any]:
    return {
        "summary": f"Open Inference Protocol V2 inference with {name}",
        "requestBody": {"required": True, **json_content({"type": "object"})},
        "responses": {"200": {"description": "the outputs"}, **ERRORS},
    }


_V2_MODEL_DOC = {"summary": "V2 model metadata", "responses": {"200": {"description": "metadata"}}}
_V2_READY_DOC = {
    "summary": "V2 model readiness",
    "responses": {"200": {"description": "ready"}, "503": {"description": "not ready"}},
}
_VERSION = {"name": "version", "in": "path", "required": True, "schema": {"type": "string"}}


def _versioned(operation: dict[str, Any]) -> dict[str, Any]:
    """The operation of a ``/versions/{version}`` route: 404 unless that version is served."""
    responses = {**operation["responses"], "404": {"description": "that version is not served"}}
    return {**operation, "parameters": [_VERSION], "responses": responses}


_POST = ("POST",)
_GET = ("GET",)

NATIVE = Protocol(
    "native",
    parse=native.native_rows,
    answer=native.native_answer,
    model=by_path,
    answer_keys=native.ANSWER_KEYS,
    routes=(
        Route(
            "/v1/models/{name}/predict",
            predict,
            _POST,
            prediction=True,
            protocol="native",
            openapi=_native_doc,
            per_model=True,
        ),
        Route(
            "/v1/models/{name}/versions/{version}/predict",
            predict,
            _POST,
            prediction=True,
            protocol="native",
            openapi=lambda name: _versioned(_native_doc(name)),
            per_model=True,
        ),
    ),
)

V2 = Protocol(
    "v2",
    parse=v2.v2_rows,
    answer=v2.v2_answer,
    model=by_path,
    answer_keys=v2.ANSWER_KEYS,
    routes=(
        Route(
            "/v2",
            v2.server_metadata,
            _GET,
            match="segments",  # "/v2/" too
            openapi=simple("V2 server metadata"),
        ),
        Route(
            "/v2/health/live",
            handlers.alive,
            _GET,
            auth="none",
            probe=True,
            openapi=simple("V2 liveness"),
        ),
        Route(
            "/v2/health/ready",
            handlers.readyz,
            _GET,
            auth="none",
            probe=True,
            openapi=simple("V2 readiness"),
        ),
        Route(
            "/v2/models/{name}",
            v2.model_metadata,
            _GET,
            check=v2.served,
            openapi=_V2_MODEL_DOC,
            per_model=True,
        ),
        Route(
            "/v2/models/{name}/ready",
            v2.model_ready,
            _GET,
            check=v2.served,
            openapi=_V2_READY_DOC,
            per_model=True,
        ),
        Route(
            "/v2/models/{name}/infer",
            predict,
            _POST,
            prediction=True,
            protocol="v2",
            check=v2.served,
            openapi=_v2_infer_doc,
            per_model=True,
        ),
        Route(
            "/v2/models/{name}/versions/{version}",
            v2.model_metadata,
            _GET,
            check=v2.served,
            openapi=_versioned(_V2_MODEL_DOC),
            per_model=True,
        ),
        Route(
            "/v2/models/{name}/versions/{version}/ready",
            v2.model_ready,
            _GET,
            check=v2.served,
            openapi=_versioned(_V2_READY_DOC),
            per_model=True,
        ),
        Route(
            "/v2/models/{name}/versions/{version}/infer",
            predict,
            _POST,
            prediction=True,
            protocol="v2",
            check=v2.served,
            openapi=lambda name: _versioned(_v2_infer_doc(name)),
            per_model=True,
        ),
    ),
    not_found=("v2", v2.not_found),
    read=v2.read_request,
)

MLFLOW = Protocol(
    "mlflow",
    parse=mlflow.mlflow_rows,
    answer=mlflow.mlflow_answer,
    model=mlflow.mlflow_model,
    answer_keys=mlflow.ANSWER_KEYS,
    read=mlflow.mlflow_body,
    routes=(
        Route(
            "/invocations",
            predict,
            _POST,
            prediction=True,
            protocol="mlflow",
            openapi={
                "summary": "MLflow scoring format: dataframe_split, dataframe_records, "
                "instances or inputs",
                "requestBody": {"required": True, **json_content({"type": "object"})},
                "responses": {"200": {"description": "{predictions: [...]}"}, **ERRORS},
            },
        ),
        Route(
            "/ping",
            handlers.alive,
            _GET,
            auth="none",
            probe=True,
            openapi=simple("MLflow-compatible liveness"),
        ),
        Route("/health", handlers.alive, _GET, auth="none", probe=True, openapi=simple("liveness")),
    ),
)

PROTOCOLS: dict[str, Protocol] = {p.name: p for p in (NATIVE, V2, MLFLOW)}
"""Every protocol, by name."""
