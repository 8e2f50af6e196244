"""/openapi.json: each model's schemas made from its features, and the answers each route gives.

What the server really does against the document is schemathesis' job
(``test_schemathesis.py``); these tests pin what the document says, from the real app.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from serving_support import make_project

import shipyard
from shipyard.project import Project
from shipyard.serving.app import ServingApp
from shipyard.serving.model_schemas import feature_schema
from shipyard.serving.openapi import openapi_document
from shipyard.serving.validation import FieldSpec

ERROR_REF = {"$ref": "#/components/schemas/Error"}


def _document(project: Project, environ: dict[str, str] | None = None) -> dict[str, Any]:
    app = ServingApp(project, {"mixed": "champion", "risk": "champion"}, environ=environ or {})
    return openapi_document(app)


@pytest.fixture(scope="module")
def documents(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """The document of a server without tokens (``open``), and with both (``tokens``)."""
    folder = tmp_path_factory.mktemp("openapi") / "proj"
    project = make_project(folder)
    try:
        found = {"open": _document(project)}
    finally:
        project.close()
    file = folder / "shipyard.yaml"
    file.write_text(file.read_text().replace("server:\n", "server:\n  require_token: true\n", 1))
    project = shipyard.open(folder)
    try:
        environ = {"SHIPYARD_API_TOKEN": "client", "SHIPYARD_ADMIN_TOKEN": "admin"}
        found["tokens"] = _document(project, environ)
    finally:
        project.close()
    return found


def _validator(document: dict[str, Any], name: str) -> Draft202012Validator:
    root = {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
    Draft202012Validator.check_schema(root)
    return Draft202012Validator(root)


def test_a_models_record_is_its_features_with_their_types_ranges_and_categories(
    documents: dict[str, dict[str, Any]],
) -> None:
    schemas = documents["open"]["components"]["schemas"]
    record = schemas["mixed.Record"]
    assert record["required"] == ["amount", "age", "country"]
    assert record["additionalProperties"] is False
    assert record["properties"] == {
        "amount": {"type": "number", "minimum": 0, "maximum": 1_000_000},
        "age": {"type": "integer", "minimum": 18, "maximum": 120},
        "country": {
            "anyOf": [{"type": "string", "enum": ["DE", "FR", "PL", "US"]}, {"type": "null"}]
        },
    }
    assert schemas["risk.Record"]["required"] == ["amount", "age"]


@pytest.mark.parametrize(
    ("kind", "body", "valid"),
    [
        ("NativeRequest", {"amount": 10.5, "age": 30, "country": "PL"}, True),
        ("NativeRequest", [{"amount": 10.5, "age": 30.0, "country": None}], True),
        ("NativeRequest", {"amount": 10.5, "age": 30}, False),  # country is required
        ("NativeRequest", {"amount": -1, "age": 30, "country": "PL"}, False),
        ("NativeRequest", {"amount": 1, "age": 30.5, "country": "PL"}, False),
        ("NativeRequest", {"amount": 1, "age": 30, "country": "XX"}, False),
        ("NativeRequest", {"amount": 1, "age": 30, "country": "PL", "zip": 1}, False),
        ("NativeRequest", [], False),
        (
            "V2Request",
            {
                "inputs": [
                    {"name": "amount", "shape": [1], "datatype": "FP64", "data": [1.0]},
                    {"name": "age", "shape": [1, 1], "datatype": "INT64", "data": [[30]]},
                    {"name": "country", "shape": [1], "datatype": "BYTES", "data": ["DE"]},
                ]
            },
            True,
        ),
        (
            "V2Request",
            {"inputs": [{"name": "amount", "shape": [1], "datatype": "FP64", "data": [1.0]}]},
            False,  # every feature needs its tensor
        ),
        (
            "V2Request",
            {
                "inputs": [
                    {"name": "amount", "shape": [1], "data": [1.0]},
                    {"name": "age", "shape": [1], "data": [17]},  # under its minimum
                    {"name": "country", "shape": [1], "data": ["DE"]},
                ]
            },
            False,
        ),
        (
            "V2Request",
            {"inputs": [{"name": "x", "shape": [1, 3], "data": [[1.0, 30, "DE"]]}]},
            True,
        ),
        (
            "InvocationsRequest",
            {"dataframe_records": [{"amount": 1, "age": 30, "country": "US"}]},
            True,
        ),
        ("InvocationsRequest", {"instances": [[1, 30, "US"]]}, True),
        ("InvocationsRequest", {"inputs": {"amount": [1], "age": [30], "country": ["US"]}}, True),
        (
            "InvocationsRequest",
            {"dataframe_split": {"columns": ["amount", "age", "country"], "data": [[1, 30, None]]}},
            True,
        ),
        ("InvocationsRequest", {"instances": [[1, 30]]}, False),  # a row of every feature
        ("InvocationsRequest", {"instances": [[1, 30, "US"]], "inputs": [[1, 30, "US"]]}, False),
        (
            "InvocationsRequest",
            {"dataframe_split": {"columns": ["amount", "age"], "data": [[1, 30]]}},
            False,  # country is missing
        ),
    ],
)
def test_request_schemas_say_which_bodies_a_model_takes(
    documents: dict[str, dict[str, Any]], kind: str, body: Any, valid: bool
) -> None:
    validator = _validator(documents["open"], f"mixed.{kind}")
    assert validator.is_valid(body) is valid, list(validator.iter_errors(body))


def test_without_tokens_no_route_asks_for_one_and_admin_routes_are_off(
    documents: dict[str, dict[str, Any]],
) -> None:
    paths = documents["open"]["paths"]
    for operations in paths.values():
        for operation in operations.values():
            assert "security" not in operation and "401" not in operation["responses"]
    assert paths["/v1/admin/reload"]["post"]["responses"]["403"]["content"] == {
        "application/json": {"schema": ERROR_REF}
    }


def test_with_tokens_every_route_but_the_probes_asks_for_one(
    documents: dict[str, dict[str, Any]],
) -> None:
    paths = documents["tokens"]["paths"]
    probes = {"/healthz", "/readyz", "/ping", "/health", "/v2/health/live", "/v2/health/ready"}
    for path, operations in paths.items():
        for operation in operations.values():
            asks = path not in probes
            assert ("401" in operation["responses"]) is asks, path
            assert (operation.get("security") == [{"bearer": []}]) is asks, path
    refused = paths["/v1/admin/reload"]["post"]["responses"]["403"]["description"]
    assert "cross" in refused or "origin" in refused  # a foreign page's write; admin is on


def test_each_route_lists_the_errors_its_kind_gives_in_the_one_shape(
    documents: dict[str, dict[str, Any]],
) -> None:
    paths = documents["open"]["paths"]
    predict = paths["/v1/models/mixed/predict"]["post"]["responses"]
    assert set(predict) == {"200", "400", "403", "413", "415", "422", "429", "503"}
    assert predict["429"]["headers"]["Retry-After"]["schema"] == {"type": "integer", "minimum": 1}
    assert "X-Shipyard-Version" in predict["200"]["headers"]
    assert set(paths["/v1/models/{name}/aliases/{alias}"]["put"]["responses"]) == {
        "200", "400", "403", "404", "409", "413", "415", "422", "503",
    }  # fmt: skip
    assert set(paths["/v1/models"]["get"]["responses"]) == {"200"}
    assert set(paths["/readyz"]["get"]["responses"]) == {"200", "503"}
    for operations in paths.values():
        for operation in operations.values():
            if "readiness" in operation["summary"]:
                continue  # 503: the readiness answer itself, saying what is not ready
            for status, response in operation["responses"].items():
                if status >= "400":
                    assert response["content"]["application/json"]["schema"] == ERROR_REF


def test_invocations_names_its_model_by_header_when_several_are_served(
    documents: dict[str, dict[str, Any]],
) -> None:
    document = documents["open"]
    header = document["components"]["parameters"]["X-Shipyard-Model"]
    assert header["required"] is True  # two models served: say which
    keys = document["components"]["schemas"]["ModelKey"]["enum"]
    assert {"mixed", "risk", "mixed@champion", "risk@champion"} <= set(keys)
    body = document["components"]["schemas"]["InvocationsRequest"]
    assert body == {
        "anyOf": [
            {"$ref": "#/components/schemas/mixed.InvocationsRequest"},
            {"$ref": "#/components/schemas/risk.InvocationsRequest"},
        ]
    }


@pytest.mark.parametrize(
    ("spec", "schema"),
    [
        (FieldSpec("n", "int", nullable=False), {"type": "integer"}),
        (FieldSpec("on", "bool"), {"anyOf": [{"type": "boolean"}, {"type": "null"}]}),
        (
            FieldSpec("code", "string", nullable=False, regex=re.compile(r"[A-Z]{2}\d")),
            {"type": "string", "pattern": r"^(?:[A-Z]{2}\d)$"},  # the server's fullmatch
        ),
        (
            FieldSpec("at", "datetime", nullable=False),
            {"type": "string", "format": "date-time", "description": "an ISO 8601 date-time"},
        ),
    ],
    ids=["int", "nullable-bool", "regex", "datetime"],
)
def test_each_column_type_has_its_schema(spec: FieldSpec, schema: dict[str, Any]) -> None:
    assert feature_schema(spec) == schema
