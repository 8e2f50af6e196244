"""Every route of the table goes through the same checks (issue #14, item 3).

Each route: a request for it reaches its handler with its parameters; another method
gets 405 with ``Allow``; its auth level is enforced when tokens are set; its metric
label is its template, from the bounded set; ``/openapi.json`` lists it under its
method. A new route is checked by adding it to the table: the tests run over the
table itself. What the table must keep saying (admin routes, probes, labels) is pinned.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from serving_support import LiveServer, make_project

import shipyard
from shipyard.serving.app import ServingApp
from shipyard.serving.http import send_json
from shipyard.serving.openapi import openapi_document
from shipyard.serving.routes import ROUTER, ROUTES, route_label
from shipyard.serving.routing import OTHER, Call, Route, Router

API, ADMIN = "api-" + "a" * 32, "admin-" + "b" * 32
MODEL, ALIAS = "risk", "champion"

LABELS = {
    "/healthz", "/readyz", "/metrics", "/invocations", "/ping", "/health", "/openapi.json",
    "/version", "/v1/models", "/v1/admin/reload", "/v1/admin/fault", "/v2",
    "/v2/health/live", "/v2/health/ready",
    "/v1/models/{name}", "/v1/models/{name}/predict", "/v1/models/{name}/feedback",
    "/v1/models/{name}/versions/{version}/predict",
    "/v1/models/{name}/aliases/{alias}",
    "/v2/models/{name}", "/v2/models/{name}/ready", "/v2/models/{name}/infer",
    "/v2/models/{name}/versions/{version}", "/v2/models/{name}/versions/{version}/ready",
    "/v2/models/{name}/versions/{version}/infer",
}  # fmt: skip
"""The ``route`` label values of ``shipyard_requests_total`` (with ``other``): a bounded set."""


def _id(route: Route) -> str:
    return route.path


@pytest.fixture(scope="module")
def echo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A live server with tokens required, whose routes all answer with what they received."""
    project = make_project(tmp_path_factory.mktemp("routes") / "proj")
    file = project.root / "shipyard.yaml"
    file.write_text(
        file.read_text().replace(
            "  access_log: false", "  access_log: false\n  require_token: true"
        )
    )
    project.close()
    with shipyard.open(project.root) as reopened:
        environ = {"SHIPYARD_API_TOKEN": API, "SHIPYARD_ADMIN_TOKEN": ADMIN}
        app = ServingApp(reopened, {MODEL: ALIAS, "mixed": ALIAS}, environ=environ)
        app.router = Router(dataclasses.replace(r, handler=_echo) for r in ROUTES)
        with LiveServer(app) as server:
            yield server


async def _echo(app: ServingApp, call: Call) -> tuple[int, str]:
    await send_json(call.send, 200, {"route": call.route.path, "params": call.params})
    return 200, ""


def _params(live: LiveServer, route: Route) -> dict[str, str]:
    loaded = live.app.deployments[MODEL].current
    assert loaded is not None
    values = {"name": MODEL, "alias": ALIAS, "version": str(loaded.version.version)}
    return {p: values[p] for p in route.params}


def _request(
    live: LiveServer, route: Route, method: str, token: str | None = ADMIN
) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    path = route.path.format(**_params(live, route))
    with live.client() as client:
        if method in ("POST", "PUT"):
            return client.request(method, path, json={}, headers=headers)
        return client.request(method, path, headers=headers)


def _reached(response: httpx.Response, route: Route) -> bool:
    if response.status_code != 200:
        return False
    return bool(response.json()["route"] == route.path)


# -- every route ------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("route", ROUTES, ids=_id)
def test_a_request_reaches_the_routes_handler_with_its_parameters(
    echo: LiveServer, route: Route
) -> None:
    for method in route.methods:
        response = _request(echo, route, method)
        assert response.status_code == 200, (method, response.text)
        assert response.json() == {"route": route.path, "params": _params(echo, route)}


@pytest.mark.slow
@pytest.mark.parametrize("route", ROUTES, ids=_id)
def test_another_method_gets_405_with_allow(echo: LiveServer, route: Route) -> None:
    method = next(m for m in ("DELETE", "PATCH", "GET", "POST") if m not in route.methods)
    response = _request(echo, route, method)
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == ", ".join(route.allow(options=False))
    payload = response.json()
    assert payload["code"] == "method_not_allowed" and payload["status"] == 405
    assert payload["error"] == f"use {' or '.join(route.methods)} here, not {method}"


@pytest.mark.slow
@pytest.mark.parametrize("route", [r for r in ROUTES if "GET" in r.methods], ids=_id)
def test_head_is_the_routes_get_without_its_body(echo: LiveServer, route: Route) -> None:
    """The echo handlers answer the same bytes each time: HEAD's length is GET's, exactly."""
    get, head = _request(echo, route, "GET"), _request(echo, route, "HEAD")
    assert get.status_code == head.status_code == 200
    assert head.content == b"" and len(get.content) > 0
    assert head.headers["content-length"] == get.headers["content-length"]
    assert head.headers["content-type"] == get.headers["content-type"]


@pytest.mark.slow
@pytest.mark.parametrize("route", ROUTES, ids=_id)
def test_the_routes_auth_level_is_enforced(echo: LiveServer, route: Route) -> None:
    method = route.methods[0]
    reached = tuple(
        _reached(_request(echo, route, method, token), route) for token in (None, API, ADMIN)
    )
    expected = {"none": (True, True, True), "token": (False, True, True)}
    assert reached == expected.get(route.auth, (False, False, True)), route.auth
    if route.auth != "none":
        assert _request(echo, route, method, None).status_code == 401


@pytest.mark.slow
@pytest.mark.parametrize("route", ROUTES, ids=_id)
def test_the_routes_requests_are_counted_under_its_template(echo: LiveServer, route: Route) -> None:
    path = route.path.format(**_params(echo, route))
    assert route_label(path) == route.label == route.path
    assert route.label in LABELS
    _request(echo, route, route.methods[0])
    counted = echo.app.metrics.values["shipyard_requests_total"]
    assert any(key[1] == route.label for key in counted)


@pytest.mark.slow
@pytest.mark.parametrize("route", ROUTES, ids=_id)
def test_the_route_is_in_the_openapi_document_under_its_method(
    echo: LiveServer, route: Route
) -> None:
    document = openapi_document(echo.app)
    names = list(echo.app.deployments) if route.per_model else [""]
    for name in names:
        path = route.path.replace("{name}", name) if name else route.path
        assert path in document["paths"], path
        operations = document["paths"][path]
        assert set(operations) == {m.lower() for m in route.methods}
        for operation in operations.values():
            assert operation["summary"] and operation["responses"]
            declared = {p["name"] for p in operation.get("parameters", []) if p.get("in") == "path"}
            assert declared == set(route.params) - ({"name"} if route.per_model else set())


# -- what the table keeps saying --------------------------------------------------------------
def test_the_metric_labels_are_the_bounded_set() -> None:
    assert {r.label for r in ROUTES} == LABELS
    assert route_label("/v1/models/risk/made-up") == OTHER
    assert route_label("/healthz/extra") == OTHER  # answered as /healthz, never a new series


def test_admin_routes_probes_and_prediction_routes_are_the_ones_named() -> None:
    assert {r.path for r in ROUTES if r.auth == "admin"} == {
        "/v1/admin/reload",
        "/v1/admin/fault",
        "/v1/models/{name}/aliases/{alias}",
    }
    probes = {"/healthz", "/readyz", "/ping", "/health", "/v2/health/live", "/v2/health/ready"}
    assert {r.path for r in ROUTES if r.auth == "none"} == probes
    assert {r.path for r in ROUTES if r.probe} == probes
    assert {r.path for r in ROUTES if r.prediction} == {
        "/v1/models/{name}/predict",
        "/v1/models/{name}/versions/{version}/predict",
        "/v2/models/{name}/infer",
        "/v2/models/{name}/versions/{version}/infer",
        "/invocations",
    }


def test_a_path_is_found_by_its_segments_and_made_up_paths_by_none() -> None:
    route, params, _ = ROUTER.find("/v1/models/risk/predict")
    assert route is not None and route.path == "/v1/models/{name}/predict"
    assert params == {"name": "risk"}
    assert ROUTER.find("/v1/models/risk/predict/")[0] is route  # as before: ends' slashes
    assert ROUTER.find("/v1/models/")[0] is None  # a route without parameters: exact
    assert ROUTER.find("/healthz/anything")[0] is ROUTER.find("/healthz")[0]
    assert ROUTER.find("/nowhere")[0] is None


def test_two_routes_cannot_share_a_template() -> None:
    with pytest.raises(ValueError, match="share a path template"):
        Router([ROUTES[0], dataclasses.replace(ROUTES[0])])


@pytest.mark.slow
def test_every_documented_route_is_in_a_real_servers_document(live: LiveServer) -> None:
    with live.client() as client:
        paths: dict[str, Any] = client.get("/openapi.json").json()["paths"]
    assert "/v1/models/risk/predict" in paths and "post" in paths["/v1/models/risk/predict"]
    assert "/v1/models/{name}/aliases/{alias}" in paths
