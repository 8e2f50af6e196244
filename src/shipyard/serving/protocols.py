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
from .model_schemas import ref
from .openapi import JSON, answer, error, json_content, schema_ref, simple
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


ALIVE = {
    "type": "object",
    "required": ["status"],
    "properties": {"status": {"const": "ok"}},
    "additionalProperties": False,
}
"""The answer of every liveness route."""

_VERSION_HEADER = {
    "X-Shipyard-Version": {
        "description": "the model version that answered (none: a fallback rule or the default)",
        "schema": {"type": "string"},
    }
}


def _predicted(schema: dict[str, Any]) -> dict[str, Any]:
    return {**answer("the answers, one per row", schema), "headers": _VERSION_HEADER}


def _native_doc(name: str) -> dict[str, Any]:
    return {
        "summary": f"Predict with {name} (one record or a list of records)",
        "requestBody": {"required": True, **json_content(ref(name, "NativeRequest"))},
        "responses": {
            "200": _predicted(ref(name, "NativeAnswer")),
            "422": error("rows that do not fit the model's features (every problem listed)"),
        },
    }


def _v2_infer_doc(name: str) -> dict[str, Any]:
    return {
        "summary": f"Open Inference Protocol V2 inference with {name}",
        "description": "JSON tensors (application/json), or the binary tensor extension: "
        "application/octet-stream with the JSON header's length in "
        "Inference-Header-Content-Length, the tensors' bytes after it.",
        "requestBody": {
            "required": True,
            "content": {
                JSON: {"schema": ref(name, "V2Request")},
                "application/octet-stream": {
                    "schema": {"type": "string", "format": "binary"},
                },
            },
        },
        "responses": {
            "200": _v2_answered(name),
            "422": error("tensors that do not fit the model's features (every problem listed)"),
        },
    }


def _v2_answered(name: str) -> dict[str, Any]:
    """JSON outputs, or (an output's parameters say binary_data) the binary extension's."""
    answered = _predicted(ref(name, "V2Answer"))
    return {
        **answered,
        "content": {
            **answered["content"],
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
        "headers": {
            **answered["headers"],
            "Inference-Header-Content-Length": {
                "description": "binary answers: the length of the JSON header before the "
                "tensors' bytes",
                "schema": {"type": "integer", "minimum": 0},
            },
        },
    }


def _v2_model_doc(name: str) -> dict[str, Any]:
    return {
        "summary": f"V2 metadata of {name}: its input and output tensors",
        "responses": {"200": answer("metadata", ref(name, "V2Metadata"))},
    }


_V2_READY = {
    "type": "object",
    "required": ["name", "ready"],
    "properties": {"name": {"type": "string"}, "ready": {"type": "boolean"}},
    "additionalProperties": False,
}
_V2_READY_DOC = {
    "summary": "V2 model readiness",
    "responses": {"200": answer("ready", _V2_READY), "503": answer("not ready", _V2_READY)},
}
_V2_SERVER = {
    "type": "object",
    "required": ["name", "version", "extensions"],
    "properties": {
        "name": {"const": "shipyard"},
        "version": {"type": "string"},
        "extensions": {"type": "array", "items": {"type": "string"}},
    },
    "additionalProperties": False,
}
_INVOCATIONS_DOC = {
    "summary": "MLflow scoring format: dataframe_split, dataframe_records, instances or inputs",
    "description": "JSON in one of MLflow's four forms, or CSV (text/csv: a header row of "
    "feature names, then one line per row). The model is the one served, or the one "
    "X-Shipyard-Model names.",
    "parameters": [{"$ref": "#/components/parameters/X-Shipyard-Model"}],
    "requestBody": {
        "required": True,
        "content": {
            JSON: {"schema": schema_ref("InvocationsRequest")},
            "text/csv": {"schema": {"type": "string"}},
        },
    },
    "responses": {
        "200": _predicted(schema_ref("InvocationsAnswer")),
        "404": error("X-Shipyard-Model names no model served here"),
        "422": error("rows that do not fit the model's features (every problem listed)"),
    },
}
_VERSION = {"name": "version", "in": "path", "required": True, "schema": {"type": "string"}}


def _versioned(operation: dict[str, Any]) -> dict[str, Any]:
    """The operation of a ``/versions/{version}`` route: 404 unless that version is served."""
    responses = {**operation["responses"], "404": error("that version is not served here")}
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
            openapi=simple("V2 server metadata", _V2_SERVER),
        ),
        Route(
            "/v2/health/live",
            handlers.alive,
            _GET,
            auth="none",
            probe=True,
            openapi=simple("V2 liveness", ALIVE),
        ),
        Route(
            "/v2/health/ready",
            handlers.readyz,
            _GET,
            auth="none",
            probe=True,
            openapi={
                "summary": "V2 readiness",
                "responses": {
                    "200": answer("ready", schema_ref("Readiness")),
                    "503": answer("not ready", schema_ref("Readiness")),
                },
            },
        ),
        Route(
            "/v2/models/{name}",
            v2.model_metadata,
            _GET,
            check=v2.served,
            openapi=_v2_model_doc,
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
            openapi=lambda name: _versioned(_v2_model_doc(name)),
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
            openapi=_INVOCATIONS_DOC,
        ),
        Route(
            "/ping",
            handlers.alive,
            _GET,
            auth="none",
            probe=True,
            openapi=simple("MLflow-compatible liveness", ALIVE),
        ),
        Route(
            "/health",
            handlers.alive,
            _GET,
            auth="none",
            probe=True,
            openapi=simple("liveness", ALIVE),
        ),
    ),
)

PROTOCOLS: dict[str, Protocol] = {p.name: p for p in (NATIVE, V2, MLFLOW)}
"""Every protocol, by name."""
