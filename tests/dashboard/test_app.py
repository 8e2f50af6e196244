"""The dashboard app itself: routes, 404 and 405 pages, HEAD, security headers, static
files, and a project with nothing in it yet — on a project as ``shipyard init`` writes it."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from dashboard_support import Pages, text_of
from hypothesis import given, settings
from hypothesis import strategies as st

import shipyard
from shipyard.dashboard.http import CSP, Response, Route, Router
from shipyard.dashboard.routes import ROUTER, ROUTES
from shipyard.project import init_project


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pages]:
    folder = tmp_path_factory.mktemp("empty")
    init_project(folder, name="empty-project")
    project = shipyard.open(folder)
    client = Pages(project)
    yield client
    client.close()
    project.close()


def test_an_empty_project_says_what_to_do_first(pages: Pages) -> None:
    response = pages.get("/ui")
    assert response.status_code == 200
    text = text_of(response.text)
    assert "Overview of empty-project" in text
    # the example project file declares a dataset and a model, with no versions yet
    assert "no version yet: shipyard data ingest loans FILE" in text
    assert "no champion yet: promote a version with `shipyard promote default-risk@N`" in text


def test_every_answer_carries_the_security_headers(pages: Pages) -> None:
    for path in ("/ui", "/ui/static/dashboard.css", "/ui/nowhere", "/ui/models/nope"):
        response = pages.get(path)
        assert response.headers["content-security-policy"] == CSP, path
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in CSP and CSP.startswith("default-src 'none';")
    assert "unsafe-inline" not in CSP


def test_pages_load_nothing_from_elsewhere(pages: Pages) -> None:
    html = pages.get("/ui").text
    sources = re.findall(r'(?:href|src)="([^"]+)"', html)
    assert sources and all(s.startswith("/ui") or s.startswith("#") for s in sources), sources
    assert "<script" not in html and "style=" not in html  # the CSP would refuse them


def test_a_path_no_route_answers_is_a_404_page_in_the_layout(pages: Pages) -> None:
    response = pages.get("/ui/no/such/page")
    assert response.status_code == 404
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "there is no page at /ui/no/such/page" in text_of(response.text)
    assert '<nav aria-label="Main">' in response.text and "<h1>404: not found</h1>" in response.text
    assert pages.get("/uix").status_code == 404  # only /ui and what is under it


def test_a_method_a_page_does_not_answer_is_a_405_with_allow(pages: Pages) -> None:
    for method in ("POST", "PUT", "DELETE"):
        response = pages.request(method, "/ui/models/default-risk")
        assert response.status_code == 405, method
        assert response.headers["allow"] == "GET, HEAD"
        assert f"{method} is not allowed on /ui/models/default-risk" in text_of(response.text)


def test_head_answers_the_headers_of_get_without_a_body(pages: Pages) -> None:
    get = pages.get("/ui")
    head = pages.request("HEAD", "/ui")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == get.headers["content-length"] != "0"
    assert head.headers["content-security-policy"] == CSP


def test_the_stylesheet_is_served_from_the_package_and_nothing_else(pages: Pages) -> None:
    css = pages.get("/ui/static/dashboard.css")
    assert css.status_code == 200 and css.headers["content-type"] == "text/css; charset=utf-8"
    assert ":focus-visible" in css.text and "max-age=3600" in css.headers["cache-control"]
    for path in ("/ui/static/app.py", "/ui/static/..%2Fapp.py", "/ui/static/../app.py"):
        assert pages.get(path).status_code == 404, path


def test_the_root_redirects_to_the_dashboard(pages: Pages) -> None:
    response = pages.get("/")
    assert response.status_code == 303 and response.headers["location"] == "/ui"


def test_a_page_that_fails_is_a_500_page_without_a_traceback(pages: Pages) -> None:
    def broken(_request: object) -> Response:
        raise RuntimeError("secret detail")

    original = pages.app.router
    pages.app.router = Router([Route("/", broken)])
    try:
        response = pages.get("/ui")
    finally:
        pages.app.router = original
    assert response.status_code == 500
    assert "this page failed" in response.text and "secret detail" not in response.text


# -- the route table ------------------------------------------------------------------

_SEGMENT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="/"), min_size=1
)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from([r for r in ROUTES if "{" in r.path]), st.lists(_SEGMENT, min_size=1))
def test_every_route_finds_itself_back_from_its_url(route: Route, values: list[str]) -> None:
    slots = [s[1:-1] for s in route.segments if s.startswith("{")]
    filled = {slot: values[i % len(values)] for i, slot in enumerate(slots)}
    found, bound = ROUTER.find(ROUTER.url_for(route.name, **filled))
    assert found is route and bound == filled


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(), max_size=6))
def test_any_path_finds_a_route_or_none_without_raising(parts: list[str]) -> None:
    route, params = ROUTER.find("/" + "/".join(parts))
    assert route is None or all(v for v in params.values())


def test_two_routes_may_not_share_a_path() -> None:
    with pytest.raises(ValueError, match="share a path"):
        Router(
            [Route("/a", lambda r: Response(200, b"")), Route("/a", lambda r: Response(200, b""))]
        )
