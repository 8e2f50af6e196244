"""Every route answers only its methods, over a real ``shipyard serve`` (issue #18, item 4).

The server requires tokens and lists no CORS origins. For every route of the table
(a new route is covered by being in it): each method it does not answer gets 405 with
the exact ``Allow``, before any token is looked at; ``HEAD`` is ``GET`` without a body
wherever ``GET`` is; a method no route implements gets 501; ``OPTIONS`` is one of the
refused methods. CORS (``server.cors_origins``) is in ``test_cors.py``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from serving_support import LiveServer, make_project, serve_process

import shipyard
from shipyard.cli import cli
from shipyard.serving.app import ServingApp
from shipyard.serving.routes import ROUTES
from shipyard.serving.routing import Route

API, ADMIN = "api-" + "a" * 32, "admin-" + "b" * 32
STANDARD = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")
"""The methods a client may try (CONNECT is a proxy's: uvicorn never hands it to an app)."""
LIVE_FIGURES = {"/metrics", "/v1/models", "/v1/models/{name}"}
"""GET routes whose body holds live figures (counters, queue lengths): its length moves."""
SHAPE = {"error", "status", "code", "problems", "hint"}


class Served:
    def __init__(self, url: str, lines: list[str], version: int) -> None:
        self.url, self.lines, self.version = url, lines, version

    def path(self, route: Route) -> str:
        values = {"name": "risk", "alias": "champion", "version": str(self.version)}
        return route.path.format(**{p: values[p] for p in route.params})

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, timeout=30, headers=headers)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """``shipyard serve risk`` with tokens required and the access log on."""
    project = make_project(tmp_path_factory.mktemp("methods") / "proj")
    champion = project.models.resolve("risk@champion").version
    file = project.root / "shipyard.yaml"
    file.write_text(
        file.read_text().replace("  access_log: false", "  access_log: true\n  require_token: true")
    )
    project.close()
    environ = {"SHIPYARD_API_TOKEN": API, "SHIPYARD_ADMIN_TOKEN": ADMIN}
    with serve_process(project.root, "risk", environ=environ) as (_, url, lines):
        yield Served(url, lines, champion)


def _refused(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    payload: dict[str, Any] = response.json()
    assert set(payload) == SHAPE and payload["status"] == status, payload
    return payload


# -- 405 with Allow, for every route ------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.path)
def test_every_method_a_route_does_not_answer_gets_405_with_its_exact_allow(
    served: Served, route: Route
) -> None:
    allow = route.allow(options=False)
    assert set(allow) == {*route.methods, *(("HEAD",) if "GET" in route.methods else ())}
    refused = [m for m in STANDARD if m not in allow]
    assert "OPTIONS" in refused and "DELETE" in refused and "TRACE" in refused
    with served.client() as client:  # no token: the method is checked before it
        for method in refused:
            answer = client.request(method, served.path(route))
            assert answer.status_code == 405, (method, answer.text)
            assert answer.headers["allow"] == ", ".join(allow), method
            if method == "HEAD":
                assert answer.content == b""  # the 405 of a GET, without its body
                continue
            payload = _refused(answer, 405)
            assert payload["code"] == "method_not_allowed"
            assert payload["error"] == f"use {' or '.join(route.methods)} here, not {method}"


@pytest.mark.slow
def test_the_method_is_checked_before_the_token_and_the_model_after_it(served: Served) -> None:
    with served.client() as anonymous, served.client(API) as api:
        # a route's Allow is the same for every caller and model: answered first
        assert anonymous.delete("/metrics").status_code == 405
        assert anonymous.get("/v1/admin/reload").status_code == 405  # admin route, no token
        assert anonymous.get("/v2/models/no-such-model/infer").status_code == 405
        # what exists (paths, models) is still only told to a caller with a token
        _refused(anonymous.get("/metrics"), 401)
        _refused(anonymous.get("/no-such-path"), 401)
        _refused(anonymous.post("/v2/models/no-such-model/infer", json={}), 401)
        _refused(api.get("/no-such-path"), 404)
        _refused(api.post("/v2/models/no-such-model/infer", json={}), 404)
        _refused(api.post("/v1/admin/reload"), 401)  # an API token is no admin token
        assert api.request("TRACE", "/v1/admin/reload").status_code == 405


@pytest.mark.slow
def test_a_method_no_route_implements_gets_501(served: Served) -> None:
    with served.client() as client:
        for path in ("/v1/models/risk", "/healthz", "/no-such-path"):
            payload = _refused(client.request("PROPFIND", path), 501)
            assert payload["code"] == "not_implemented" and "PROPFIND" in payload["error"]
            assert "allow" not in {k.lower() for k in client.request("PURGE", path).headers}


@pytest.mark.slow
def test_a_made_up_method_gets_501_and_wrong_methods_are_no_refused_predictions(
    tmp_path: Path,
) -> None:
    """httptools (the default parser) answers 400 to a method it does not know; under h11
    the request reaches the app, which answers 501. A 405 or 501 on a prediction route
    (an <img> on any page can GET one) is no refused prediction: the refusal rate stays."""
    make_project(tmp_path / "proj").close()
    file = tmp_path / "proj" / "shipyard.yaml"
    file.write_text(file.read_text().replace("log_flush_s: 0.2", "log_flush_s: 600"))
    project = shipyard.open(tmp_path / "proj")  # the refusals stay in the buffer: counted
    try:
        app = ServingApp(project, {"risk": "champion"}, environ={})
        with LiveServer(app, http="h11") as live, live.client() as client:
            payload = _refused(client.request("FOO", "/healthz"), 501)
            assert client.request("DELETE", "/healthz").status_code == 405
            for method in ("GET", "HEAD", "FOO", "DELETE"):
                assert client.request(method, "/v1/models/risk/predict").status_code >= 405
            assert client.post("/v1/models/risk/predict", json={"x": 1}).status_code == 422
            refused = app.rejections.buffered
    finally:
        project.close()
    assert payload["error"] == "this server does not implement the method 'FOO' on any path"
    assert refused == 1  # the 422 only


# -- HEAD ------------------------------------------------------------------------------------
GET_ROUTES = [r for r in ROUTES if "GET" in r.methods]


@pytest.mark.slow
@pytest.mark.parametrize("route", GET_ROUTES, ids=lambda r: r.path)
def test_head_answers_as_get_without_a_body(served: Served, route: Route) -> None:
    token = None if route.auth == "none" else ADMIN  # probes: as a load balancer asks
    with served.client(token) as client:
        get = client.get(served.path(route))
        head = client.head(served.path(route))
    assert get.status_code == head.status_code and get.status_code in (200, 503)
    assert head.content == b""
    assert int(get.headers["content-length"]) == len(get.content) > 0
    if route.path not in LIVE_FIGURES:
        assert head.headers["content-length"] == get.headers["content-length"]
    else:
        assert int(head.headers["content-length"]) > 0
    ignored = {"date", "content-length"}
    assert {k: v for k, v in head.headers.items() if k not in ignored} == {
        k: v for k, v in get.headers.items() if k not in ignored
    }


def test_the_app_itself_sends_no_body_to_a_head(tmp_path: Path) -> None:
    """uvicorn drops a HEAD's body too, but an ASGI app must not rely on its server."""
    (tmp_path / "shipyard.yaml").write_text("project: bare\n")
    project = shipyard.open(tmp_path)
    app = ServingApp(project, {}, environ={})
    sent: dict[str, list[Any]] = {}

    async def ask(method: str) -> None:
        messages: list[Any] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Any) -> None:
            messages.append(message)

        scope = {"type": "http", "method": method, "path": "/version", "headers": []}
        await app(scope, receive, send)
        sent[method] = messages

    try:
        asyncio.run(ask("GET"))
        asyncio.run(ask("HEAD"))
    finally:
        project.close()
    get, head = sent["GET"], sent["HEAD"]
    assert head[0] == get[0] and get[0]["status"] == 200  # status and headers: GET's
    assert get[1]["body"] and head[1] == {"type": "http.response.body", "body": b""}


@pytest.mark.slow
def test_head_errors_are_gets_errors_without_a_body(served: Served) -> None:
    with served.client() as anonymous, served.client(API) as api:
        for client, path, status in (
            (anonymous, "/v1/models/risk", 401),
            (api, "/v1/models/no-such-model", 404),
            (api, "/v1/models/risk/predict", 405),
        ):
            get, head = client.get(path), client.head(path)
            assert get.status_code == head.status_code == status
            assert head.content == b""
            assert head.headers.get("allow") == get.headers.get("allow")
            if status != 405:  # a 405 names the method it refused: "not HEAD", "not GET"
                assert head.headers["content-length"] == get.headers["content-length"]


@pytest.mark.slow
def test_head_is_counted_under_its_route_and_logged_as_head(served: Served) -> None:
    series = 'shipyard_requests_total{model="",route="/readyz",status="200"}'

    def counted() -> float:
        with served.client(API) as client:
            for line in client.get("/metrics").text.splitlines():
                if line.startswith(series):
                    return float(line.rsplit(" ", 1)[1])
        return 0.0

    before = counted()
    with served.client() as client:
        for _ in range(3):
            assert client.head("/readyz").status_code == 200
    assert counted() == before + 3
    with served.client(API) as client:
        client.head("/v1/models/risk/predict")  # 405 for HEAD on a POST route
    wanted = {("/readyz", 200), ("/v1/models/risk/predict", 405)}
    deadline = time.monotonic() + 30  # the server's stderr is read by a thread
    while True:
        logged = [_entry(line) for line in list(served.lines)]
        heads = {(e["path"], e["status"]) for e in logged if e and e.get("method") == "HEAD"}
        if heads >= wanted or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert heads >= wanted


def _entry(line: str) -> dict[str, Any] | None:
    try:
        entry = json.loads(line)
    except ValueError:
        return None
    return entry if isinstance(entry, dict) else None


# -- OPTIONS without server.cors_origins --------------------------------------------------------
@pytest.mark.slow
def test_a_preflight_without_cors_origins_gets_405_and_no_cors_headers(served: Served) -> None:
    with served.client() as client:
        answer = client.options(
            "/v1/models/risk/predict",
            headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"},
        )
    _refused(answer, 405)
    assert answer.headers["allow"] == "POST"
    assert not [k for k in answer.headers if k.lower().startswith("access-control-")]


# -- server.cors_origins in the project file ----------------------------------------------------
PROJECT = "project: p\nserver:\n{extra}  cors_origins: [{origins}]\n"


@pytest.mark.parametrize(
    ("origins", "extra", "said"),
    [
        ("'https://app.example.com/'", "", "it has a path ('/')"),
        ("'https://app.example.com/app'", "", "it has a path ('/app')"),
        ("'app.example.com'", "", "it has no scheme: write 'https://' or 'http://'"),
        ("'ftp://app.example.com'", "", "the scheme is 'ftp'"),
        ("'https://*.example.com'", "", "wildcards in a host are not supported"),
        ("'http://localhost:99999'", "", "the port '99999' is not a number from 1 to 65535"),
        ("'*'", "", "set server.require_token: true"),
        ("'*', 'https://app.example.com'", "  require_token: true\n", "list it alone"),
    ],
)
def test_a_bad_cors_origins_setting_is_one_clear_problem_and_exit_2(
    tmp_path: Path, origins: str, extra: str, said: str
) -> None:
    (tmp_path / "shipyard.yaml").write_text(PROJECT.format(origins=origins, extra=extra))
    result = CliRunner().invoke(cli, ["-C", str(tmp_path), "serve", "--port", "0"])
    assert result.exit_code == 2, result.output
    problems = [line for line in result.output.splitlines() if "server.cors_origins" in line]
    assert len(problems) == 1 and said in problems[0], result.output
    assert "Traceback" not in result.output


def test_good_cors_origins_are_read_as_browsers_send_them(tmp_path: Path) -> None:
    origins = "'https://App.Example.com:443', 'http://localhost:3000', 'http://[::1]:8080'"
    (tmp_path / "shipyard.yaml").write_text(PROJECT.format(origins=origins, extra=""))
    with shipyard.open(tmp_path) as project:
        assert project.config.server.cors_origins == [
            "https://app.example.com",
            "http://localhost:3000",
            "http://[::1]:8080",
        ]
    (tmp_path / "shipyard.yaml").write_text(
        PROJECT.format(origins="'*'", extra="  require_token: true\n")
    )
    with shipyard.open(tmp_path) as project:
        assert project.config.server.cors_origins == ["*"]
