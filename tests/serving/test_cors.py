"""CORS with ``server.cors_origins``, over a real ``shipyard serve`` (issue #18, item 4).

The server lists one origin and requires tokens. For every route of the table: a
preflight from the listed origin is answered (without a token: a browser sends none
with it) with the route's methods and the requested headers a request may carry;
from another origin it is refused without CORS headers; an ``OPTIONS`` that is no
preflight gets ``Allow``. Real answers to the listed origin carry
``Access-Control-Allow-Origin``; ``['*']`` allows every origin.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from serving_support import ROW_FEATURES, LiveServer, make_project, serve_process

import shipyard
from shipyard.serving import cors
from shipyard.serving.app import ServingApp
from shipyard.serving.routes import ROUTES
from shipyard.serving.routing import Route

API = "api-" + "a" * 32
APP = "http://localhost:3000"
EVIL = "https://evil.example"
ROW = dict(ROW_FEATURES)
ASKED = "Content-Type, Authorization, X-Made-Up, Inference-Header-Content-Length, content-encoding"
GRANTED = "content-type, authorization, inference-header-content-length, content-encoding"


class Served:
    def __init__(self, url: str, version: int) -> None:
        self.url, self.version = url, version

    def path(self, route: Route) -> str:
        values = {"name": "risk", "alias": "champion", "version": str(self.version)}
        return route.path.format(**{p: values[p] for p in route.params})

    def client(self, **headers: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, headers=headers)


def _project_with(tmp: pytest.TempPathFactory, settings: str) -> tuple[shipyard.Project, int]:
    project = make_project(tmp.mktemp("cors") / "proj")
    version = project.models.resolve("risk@champion").version
    file = project.root / "shipyard.yaml"
    file.write_text(
        file.read_text().replace("  access_log: false", f"  access_log: false\n{settings}")
    )
    return project, version


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    settings = f"  require_token: true\n  cors_origins: ['{APP}']"
    project, version = _project_with(tmp_path_factory, settings)
    project.close()
    environ = {"SHIPYARD_API_TOKEN": API}
    with serve_process(project.root, "risk", environ=environ) as (_, url, _lines):
        yield Served(url, version)


def _cors(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.startswith("access-control-")}


# -- preflights, for every route ----------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.path)
def test_a_listed_origins_preflight_gets_the_routes_methods_and_the_headers_it_may_send(
    served: Served, route: Route
) -> None:
    allow = ", ".join(route.allow(options=True))
    with served.client(Origin=APP) as client:  # no token: a browser sends none in a preflight
        answer = client.options(
            served.path(route),
            headers={
                "Access-Control-Request-Method": route.methods[0],
                "Access-Control-Request-Headers": ASKED,
            },
        )
    assert answer.status_code == 204, answer.text
    assert answer.content == b""  # RFC 9110: a 204 has no body, no Content-Length
    assert "content-length" not in answer.headers and "transfer-encoding" not in answer.headers
    assert _cors(answer) == {
        "access-control-allow-origin": APP,
        "access-control-allow-methods": allow,
        "access-control-allow-headers": GRANTED,
        "access-control-max-age": "600",
        "access-control-expose-headers": "X-Shipyard-Version, Inference-Header-Content-Length",
    }
    assert answer.headers["allow"] == allow
    assert {v.strip() for v in answer.headers["vary"].split(",")} == {
        "Origin",
        "Access-Control-Request-Headers",
    }


@pytest.mark.slow
@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.path)
def test_other_origins_preflights_get_403_and_plain_options_get_allow(
    served: Served, route: Route
) -> None:
    allow = ", ".join(route.allow(options=True))
    with served.client() as client:
        foreign = client.options(
            served.path(route),
            headers={"Origin": EVIL, "Access-Control-Request-Method": route.methods[0]},
        )
        plain = client.options(served.path(route))
        other = client.request("DELETE", served.path(route))
    assert foreign.status_code == 403, foreign.text
    assert foreign.json()["code"] == "forbidden"
    assert "server.cors_origins" in foreign.json()["hint"]
    assert _cors(foreign) == {}  # no Allow-Origin: the browser blocks the request
    assert plain.status_code == 204 and plain.headers["allow"] == allow
    assert _cors(plain) == {}
    assert other.status_code == 405 and other.headers["allow"] == allow


@pytest.mark.slow
def test_a_preflight_asks_only_for_headers_it_may_get(served: Served) -> None:
    with served.client(Origin=APP) as client:
        answer = client.options(
            "/v1/models/risk/predict",
            headers={
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "x-made-up",
            },
        )
        bare = client.options(
            "/v1/models/risk/predict", headers={"Access-Control-Request-Method": "DELETE"}
        )
    assert answer.status_code == 204
    assert "access-control-allow-headers" not in answer.headers  # the browser refuses
    # a method the route does not take is not granted: the browser refuses the request
    assert (
        bare.status_code == 204 and bare.headers["access-control-allow-methods"] == "POST, OPTIONS"
    )


# -- real answers -------------------------------------------------------------------------------
@pytest.mark.slow
def test_answers_to_a_listed_origin_carry_allow_origin_and_vary(served: Served) -> None:
    token = {"Authorization": f"Bearer {API}"}
    with served.client(Origin=APP) as client:
        answers = {
            "read": client.get("/v1/models/risk", headers=token),
            "head": client.head("/v1/models/risk", headers=token),
            "predict": client.post("/v1/models/risk/predict", json=ROW, headers=token),
            "probe": client.get("/healthz"),
            "no token": client.get("/v1/models/risk"),  # the page may read why: 401
            "wrong method": client.delete("/v1/models/risk", headers=token),
        }
    statuses = {name: answer.status_code for name, answer in answers.items()}
    assert statuses == {
        "read": 200, "head": 200, "predict": 200, "probe": 200, "no token": 401,
        "wrong method": 405,
    }  # fmt: skip
    for name, answer in answers.items():
        assert answer.headers["access-control-allow-origin"] == APP, name
        assert answer.headers["access-control-expose-headers"] == cors.EXPOSED.decode(), name
        assert answer.headers["vary"] == "Origin", name
    assert answers["predict"].headers["x-shipyard-version"] == str(served.version)


@pytest.mark.slow
def test_answers_to_other_origins_carry_no_allow_origin(served: Served) -> None:
    token = {"Authorization": f"Bearer {API}"}
    with served.client() as client:
        foreign = client.get("/v1/models/risk", headers={**token, "Origin": EVIL})
        written = client.post(
            "/v1/models/risk/predict", json=ROW, headers={**token, "Origin": EVIL}
        )
        no_origin = client.get("/v1/models/risk", headers=token)
    assert foreign.status_code == 200 and _cors(foreign) == {}
    assert written.status_code == 403 and _cors(written) == {}
    assert no_origin.status_code == 200 and _cors(no_origin) == {}
    assert foreign.headers["vary"] == no_origin.headers["vary"] == "Origin"


# -- every origin ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def anyone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    project, _ = _project_with(tmp_path_factory, "  require_token: true\n  cors_origins: ['*']")
    project.close()
    with shipyard.open(project.root) as reopened:
        app = ServingApp(reopened, {"risk": "champion"}, environ={"SHIPYARD_API_TOKEN": API})
        with LiveServer(app) as live:
            yield live


@pytest.mark.slow
def test_a_wildcard_lets_every_origin_call_with_a_token(anyone: LiveServer) -> None:
    token = {"Authorization": f"Bearer {API}"}
    with anyone.client() as client:
        preflight = client.options(
            "/v1/models/risk/predict",
            headers={
                "Origin": EVIL,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type, authorization",
            },
        )
        predicted = client.post(
            "/v1/models/risk/predict", json=ROW, headers={**token, "Origin": EVIL}
        )
        tokenless = client.post("/v1/models/risk/predict", json=ROW, headers={"Origin": EVIL})
        curl = client.get("/v1/models/risk", headers=token)
    assert preflight.status_code == 204
    assert _cors(preflight)["access-control-allow-origin"] == "*"
    assert _cors(preflight)["access-control-allow-headers"] == "content-type, authorization"
    assert predicted.status_code == 200 and predicted.headers["access-control-allow-origin"] == "*"
    assert "vary" not in predicted.headers  # the same answer for every origin
    assert tokenless.status_code == 401  # what makes '*' safe: a page has no token
    assert tokenless.headers["access-control-allow-origin"] == "*"
    assert curl.headers["access-control-allow-origin"] == "*"  # cached, it serves a page too
