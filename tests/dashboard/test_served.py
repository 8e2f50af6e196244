"""``/ui`` on the prediction server: handed to the dashboard on the first page, behind the
server's tokens, off with ``server.dashboard: false``; and through a real ``shipyard serve``
over loopback, beside predictions."""

from __future__ import annotations

import asyncio
import base64
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from dashboard_support import row_of, text_of

from serving.serving_support import make_project, serve_process
from shipyard.dashboard.app import DashboardApp
from shipyard.dashboard.http import CSP, Request, Response, Route, Router
from shipyard.project import Project
from shipyard.serving.app import ServingApp

TOKEN = "a-long-random-api-token"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    made = make_project(tmp_path_factory.mktemp("served"))
    yield made
    made.close()


def _with_server(project: Project, **server: Any) -> Project:
    config = project.config.model_copy(
        update={"server": project.config.server.model_copy(update=server)}
    )
    return Project(project.root, config)


def _get(app: ServingApp, path: str, **kwargs: Any) -> httpx.Response:
    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
            return await c.get(path, **kwargs)

    return asyncio.run(call())


def test_the_first_ui_request_loads_the_dashboard_over_the_servers_project(
    project: Project,
) -> None:
    app = ServingApp(project, {"risk": "champion"}, environ={})
    assert app.dashboard is None  # nothing loaded until a page is asked for
    response = _get(app, "/ui")
    assert response.status_code == 200
    assert response.headers["content-security-policy"] == CSP
    assert app.dashboard is not None and app.dashboard.project is project
    champion = project.models.registry.aliases("risk")["champion"]
    assert row_of(response.text, "data-model", "risk")["champion"] == f"v{champion}"
    page = _get(app, "/ui/models/mixed")
    assert page.status_code == 200 and "Model mixed" in text_of(page.text)
    app.dashboard.close()


def test_pages_follow_require_token_and_a_browser_may_send_basic(project: Project) -> None:
    guarded = _with_server(project, require_token=True)
    app = ServingApp(guarded, {"risk": "champion"}, environ={"SHIPYARD_API_TOKEN": TOKEN})
    refused = _get(app, "/ui")
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"].startswith('Basic realm="shipyard dashboard"')
    assert app.dashboard is None  # refused before anything was loaded
    wrong = base64.b64encode(b"me:not-the-token").decode()
    assert _get(app, "/ui", headers={"authorization": f"Basic {wrong}"}).status_code == 401
    basic = base64.b64encode(f"anyone:{TOKEN}".encode()).decode()
    assert _get(app, "/ui", headers={"authorization": f"Basic {basic}"}).status_code == 200
    bearer = _get(app, "/ui/models/risk", headers={"authorization": f"Bearer {TOKEN}"})
    assert bearer.status_code == 200
    app.dashboard.close()


def test_server_dashboard_false_turns_the_pages_off(project: Project) -> None:
    app = ServingApp(_with_server(project, dashboard=False), {"risk": "champion"}, environ={})
    response = _get(app, "/ui/models/risk")
    assert response.status_code == 404
    assert "server.dashboard: false" in response.json()["error"]
    assert app.dashboard is None


def test_ui_through_a_real_shipyard_serve_beside_predictions(project: Project) -> None:
    folder = Path(project.root)
    with (
        serve_process(folder, "risk") as (_process, url, _lines),
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        page = client.get("/ui")
        assert page.status_code == 200, page.text
        assert page.headers["content-security-policy"] == CSP
        assert row_of(page.text, "data-model", "risk")["owner"] == "risk-team"
        css = client.get("/ui/static/dashboard.css")
        assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
        answer = client.post("/v1/models/risk/predict", json={"amount": 1200.0, "age": 30})
        assert answer.status_code == 200, answer.text
        assert client.get("/ui/nowhere").status_code == 404
        assert client.head("/ui").status_code == 200


def test_a_slow_page_does_not_stall_the_servers_event_loop(project: Project) -> None:
    """A page blocks its thread until the probe has been answered: were it run on the
    event loop, the probe could not be answered and the page would give up waiting."""
    release = threading.Event()
    seen: list[str] = []

    def slow(request: Request) -> Response:
        seen.append("page started")
        released = release.wait(timeout=30)
        seen.append("page released" if released else "page gave up")
        return Response(200, b"slow page")

    app = ServingApp(project, {"risk": "champion"}, environ={})
    app.dashboard = DashboardApp(project, threads=2, router=Router([Route("/slow", slow)]))

    async def both() -> tuple[httpx.Response, httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
            page = asyncio.ensure_future(c.get("/ui/slow"))
            while not seen:  # the page is running in its thread
                await asyncio.sleep(0.01)
            probe = await c.get("/healthz")
            seen.append("probe answered")
            release.set()
            return probe, await page

    probe, page = asyncio.run(both())
    assert probe.status_code == 200 and page.status_code == 200
    assert seen == ["page started", "probe answered", "page released"]
    app.dashboard.close()


def test_a_flood_of_pages_is_refused_past_the_queue_and_predictions_still_answer(
    project: Project,
) -> None:
    """Two page threads held busy, 8 waiting per thread: the next pages are refused at
    once with 503 and Retry-After (not queued without end), predictions beside them are
    answered, and once the threads are free pages render again."""
    from shipyard.dashboard.app import WAITING_PER_THREAD

    release = threading.Event()
    started: list[str] = []

    def held(request: Request) -> Response:
        started.append(request.path)
        release.wait(timeout=60)
        return Response(200, b"drawn")

    app = ServingApp(project, {"risk": "champion"}, environ={})
    app.dashboard = DashboardApp(project, threads=2, router=Router([Route("/held", held)]))
    capacity = 2 * (1 + WAITING_PER_THREAD)
    extra = 5

    async def flood() -> tuple[list[httpx.Response], list[httpx.Response], httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
            queued = [asyncio.ensure_future(c.get("/ui/held")) for _ in range(capacity)]
            while len(started) < 2 or app.dashboard.pending < capacity:
                await asyncio.sleep(0.01)
            refused = [await c.get("/ui/held") for _ in range(extra)]
            answer = await c.post("/v1/models/risk/predict", json={"amount": 1200.0, "age": 30})
            release.set()
            return [await q for q in queued], refused, answer

    drawn, refused, answer = asyncio.run(flood())
    assert [r.status_code for r in refused] == [503] * extra
    assert all(r.headers["retry-after"] == "2" for r in refused)
    assert "The dashboard is busy" in refused[0].text
    assert answer.status_code == 200, answer.text
    assert [r.status_code for r in drawn] == [200] * capacity
    assert app.dashboard.pending == 0
    app.dashboard.close()
