"""Attacks on the server's web surface, each over real HTTP on 127.0.0.1 (issue #12, items 5-8).

Tokens that compose (the admin may read and predict) and denials that are logged
without the token; cross-site writes refused by Content-Type and Origin, with CORS
for the origins the project lists; metric labels that a client cannot multiply.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from serving_support import ROW_FEATURES, LiveServer

import shipyard
from shipyard.project import Project
from shipyard.serving.app import ServingApp

ROW = dict(ROW_FEATURES)
SHAPE = {"error", "status", "code", "problems", "hint"}
API, ADMIN = "api-" + "a" * 40, "admin-" + "b" * 40


@contextmanager
def server_with(project: Project, settings: str, environ: dict[str, str]) -> Iterator[LiveServer]:
    """A live server for ``project`` with extra ``server:`` lines in its project file."""
    file = project.root / "shipyard.yaml"
    file.write_text(
        file.read_text().replace("  access_log: false", "  access_log: false\n" + settings)
    )
    with shipyard.open(project.root) as reopened:
        app = ServingApp(reopened, {"risk": "champion"}, environ=environ)
        with LiveServer(app) as server:
            yield server


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _shape(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    payload = response.json()
    assert set(payload) == SHAPE and payload["status"] == status, payload
    return payload


def _feedback_recorded(live: LiveServer) -> float:
    time.sleep(0.5)  # two log flushes
    keys = live.app.project.artifacts.list("feedback/")
    counted = sum(live.app.metrics.values.get("shipyard_feedback_total", {}).values())
    return counted + live.app.feedback.buffered + len(keys)


# -- item 5: tokens that compose, denials logged without the token ------------------------------
def test_the_admin_token_is_not_turned_away_from_reads_and_predictions(
    serving_project: Project,
) -> None:
    environ = {"SHIPYARD_API_TOKEN": API, "SHIPYARD_ADMIN_TOKEN": ADMIN}
    with (
        server_with(serving_project, "  require_token: true", environ) as live,
        live.client() as client,
    ):
        for token in (API, ADMIN):
            assert client.get("/v1/models/risk", headers=_bearer(token)).status_code == 200
            answer = client.post("/v1/models/risk/predict", json=ROW, headers=_bearer(token))
            assert answer.status_code == 200, answer.text
        assert client.post("/v1/admin/reload", headers=_bearer(ADMIN)).status_code == 200
        # the API token is no admin token, and no token is no token
        _shape(client.post("/v1/admin/reload", headers=_bearer(API)), 401)
        _shape(client.post("/v1/models/risk/predict", json=ROW), 401)


def test_denied_requests_are_logged_with_route_reason_and_client_but_never_the_token(
    serving_project: Project, caplog: pytest.LogCaptureFixture
) -> None:
    guess = "guess-" + uuid.uuid4().hex
    environ = {"SHIPYARD_API_TOKEN": API, "SHIPYARD_ADMIN_TOKEN": ADMIN}
    caplog.set_level(logging.INFO)
    with (
        server_with(serving_project, "  require_token: true", environ) as live,
        live.client() as client,
    ):
        client.post("/v1/models/risk/predict", json=ROW, headers=_bearer(guess))
        client.post("/v1/models/risk/predict", json=ROW)
        client.post("/v1/admin/reload", headers=_bearer(API))
        client.put(
            f"/v1/models/risk/aliases/{uuid.uuid4().hex}",
            json={"version": 1},
            headers={"Authorization": f"Basic {guess}"},
        )
    denials = [r.getMessage() for r in caplog.records if r.getMessage().startswith("denied ")]
    assert len(denials) == 4, denials
    assert "POST /v1/models/{name}/predict from 127.0.0.1 (401): wrong token" in denials[0]
    assert denials[1].endswith("(401): no bearer token")
    assert "/v1/admin/reload" in denials[2] and "API token on an admin endpoint" in denials[2]
    assert "PUT /v1/models/{name}/aliases/{alias}" in denials[3]
    assert denials[3].endswith("not a bearer token")
    everything = "\n".join(
        [r.getMessage() for r in caplog.records] + [str(r.args) for r in caplog.records]
    )
    for secret in (guess, API, ADMIN):
        assert secret not in everything


# -- item 7: no cross-site writes ----------------------------------------------------------------
@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded"],
)
def test_text_plain_json_posted_to_feedback_by_a_web_page_records_no_label(
    live: LiveServer, content_type: str
) -> None:
    with live.client() as client:
        answer = client.post("/v1/models/risk/predict", json=ROW).json()
        body = f'{{"prediction_id": "{answer["prediction_ids"][0]}", "label": true}}'
        refused = client.post(
            "/v1/models/risk/feedback", content=body, headers={"Content-Type": content_type}
        )
    payload = _shape(refused, 415)
    assert payload["code"] == "unsupported_media_type"
    assert "application/json" in str(payload["hint"])
    assert _feedback_recorded(live) == 0


def test_a_multipart_form_posted_for_predictions_is_refused_with_415(live: LiveServer) -> None:
    with live.client() as client:
        refused = client.post("/v1/models/risk/predict", files={"file": ("r.json", b"{}")})
        also = client.post(
            "/v2/models/risk/infer", content=b"{}", headers={"Content-Type": "text/plain"}
        )
        mlflow = client.post(
            "/invocations",
            content=b'{"dataframe_records": []}',
            headers={"Content-Type": "text/plain", "X-Shipyard-Model": "risk"},
        )
    assert _shape(refused, 415)["code"] == "unsupported_media_type"
    _shape(also, 415)
    _shape(mlflow, 415)


def test_json_with_a_charset_in_any_case_or_with_no_content_type_still_works(
    live: LiveServer,
) -> None:
    body = b'{"amount": 1000.0, "age": 30}'
    with live.client() as client:
        for headers in (
            {"Content-Type": "application/json; charset=utf-8"},
            {"Content-Type": "Application/JSON"},
            {},  # curl without -H, urllib: no browser, no Origin
        ):
            answer = client.post("/v1/models/risk/predict", content=body, headers=headers)
            assert answer.status_code == 200, (headers, answer.text)


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "null", "http://127.0.0.1.evil.example"]
)
def test_a_foreign_origin_posting_json_is_refused_with_403(live: LiveServer, origin: str) -> None:
    with live.client() as client:
        answer = client.post("/v1/models/risk/predict", json=ROW).json()
        label = {"prediction_id": answer["prediction_ids"][0], "label": True}
        refused = client.post("/v1/models/risk/feedback", json=label, headers={"Origin": origin})
        predicted = client.post("/v1/models/risk/predict", json=ROW, headers={"Origin": origin})
        no_type = client.post(
            "/v1/models/risk/feedback",
            content=str(label).replace("'", '"').replace("True", "true"),
            headers={"Origin": origin},
        )
        read = client.get("/v1/models/risk", headers={"Origin": origin})
    payload = _shape(refused, 403)
    assert "server.cors_origins" in str(payload["hint"])
    _shape(predicted, 403)
    _shape(no_type, 403)
    assert read.status_code == 200 and "access-control-allow-origin" not in read.headers
    assert _feedback_recorded(live) == 0


def test_the_servers_own_origin_may_post(live: LiveServer) -> None:
    own = live.url  # http://127.0.0.1:PORT, what a page served from here would send
    with live.client() as client:
        answer = client.post("/v1/models/risk/predict", json=ROW, headers={"Origin": own})
    assert answer.status_code == 200, answer.text


def test_a_dns_rebinding_page_cannot_write_to_a_loopback_server(live: LiveServer) -> None:
    """evil.example re-pointed at 127.0.0.1: Host and Origin agree, and it is still refused."""
    port = live.url.rsplit(":", 1)[1]
    rebound = {"Host": f"evil.example:{port}", "Origin": f"http://evil.example:{port}"}
    with live.client() as client:
        refused = client.post("/v1/models/risk/predict", json=ROW, headers=rebound)
        local = client.post(
            "/v1/models/risk/predict",
            json=ROW,
            headers={"Host": f"localhost:{port}", "Origin": f"http://localhost:{port}"},
        )
        live.app.cross_site.local = False  # as when listening on a public address
        public = client.post("/v1/models/risk/predict", json=ROW, headers=rebound)
    _shape(refused, 403)
    assert local.status_code == 200 and public.status_code == 200


def test_a_listed_origin_gets_a_preflight_and_cors_headers_and_others_do_not(
    serving_project: Project,
) -> None:
    app_origin = "http://localhost:3000"
    settings = f"  cors_origins: ['{app_origin}']"
    with server_with(serving_project, settings, {}) as live, live.client() as client:
        preflight = client.options(
            "/v1/models/risk/predict",
            headers={
                "Origin": app_origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type, authorization",
            },
        )
        posted = client.post("/v1/models/risk/predict", json=ROW, headers={"Origin": app_origin})
        other = client.options(
            "/v1/models/risk/predict",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        evil_post = client.post(
            "/v1/models/risk/predict", json=ROW, headers={"Origin": "https://evil.example"}
        )
        plain = client.get("/v1/models/risk")
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == app_origin
    assert "POST" in preflight.headers["access-control-allow-methods"]
    allowed = preflight.headers["access-control-allow-headers"]
    assert "content-type" in allowed and "authorization" in allowed
    assert posted.status_code == 200
    assert posted.headers["access-control-allow-origin"] == app_origin
    assert posted.headers["vary"] == "Origin"
    _shape(other, 403)
    assert "access-control-allow-origin" not in other.headers
    _shape(evil_post, 403)
    assert plain.headers["vary"] == "Origin"  # caches keep the answers per origin apart


def test_a_wildcard_without_tokens_or_a_path_is_not_an_origin(serving_project: Project) -> None:
    file = serving_project.root / "shipyard.yaml"
    for bad in ("'*'", "'https://app.example.com/'", "'app.example.com'"):
        file.write_text(
            file.read_text().replace("  access_log: false", f"  access_log: false\n"
                                     f"  cors_origins: [{bad}]", 1)
        )  # fmt: skip
        with pytest.raises(shipyard.ShipyardError, match="cors_origins"):
            shipyard.open(serving_project.root)
        file.write_text(re.sub(r"\n  cors_origins: .*", "", file.read_text()))


# -- item 8: label cardinality -------------------------------------------------------------------
def _series(text: str) -> set[str]:
    return {line.rsplit(" ", 1)[0] for line in text.splitlines() if not line.startswith("#")}


def _random_requests(client: httpx.Client, n: int) -> list[str]:
    names = []
    for index in range(n):
        name = f"m{uuid.uuid4().hex[:12]}"
        names.append(name)
        kind = index % 6
        if kind == 0:
            client.post(f"/v1/models/{name}/predict", json=ROW)
        elif kind == 1:
            client.get(f"/v2/models/{name}/versions/{name}/ready")
        elif kind == 2:
            client.post("/invocations", json={"inputs": [ROW]}, headers={"X-Shipyard-Model": name})
        elif kind == 3:
            client.put(f"/v1/models/risk/aliases/{name}", json={"version": 1})
        elif kind == 4:
            client.get(f"/{name}/models/risk/{name}")
        else:
            client.post(f"/v1/models/risk/{name}", json=ROW)
    return names


def test_random_model_names_and_paths_do_not_create_metric_series(live: LiveServer) -> None:
    with live.client() as client:
        _random_requests(client, 12)  # every kind once: the "unknown" and "other" series
        before = _series(client.get("/metrics").text)
        names = _random_requests(client, 200)
        text = client.get("/metrics").text
    after = _series(text)
    assert len(after) - len(before) < 10, sorted(after - before)
    assert not [name for name in names if name in text]
    grown = {s for s in after - before if "shipyard_requests_total" in s}
    assert grown <= {'shipyard_requests_total{model="",route="/metrics",status="200"}'}, sorted(
        grown
    )
    assert 'model="unknown",route="/v1/models/{name}/predict",status="404"' in text
    assert 'model="unknown",route="/invocations",status="404"' in text
    assert 'model="risk",route="/v1/models/{name}/aliases/{alias}",status="401"' in text
    assert 'route="other"' in text


def test_metrics_labels_stay_the_routes_templates_for_real_routes(live: LiveServer) -> None:
    with live.client() as client:
        client.post("/v1/models/risk/predict", json=ROW)
        client.get("/v2/models/risk/ready")
        text = client.get("/metrics").text
    assert 'model="risk",route="/v1/models/{name}/predict",status="200"' in text
    assert 'model="risk",route="/v2/models/{name}/ready",status="200"' in text


def test_a_listed_origin_with_its_default_port_matches_what_browsers_send(
    serving_project: Project,
) -> None:
    """Browsers never write :443 in Origin; an entry that does must not silently never match."""
    settings = "  cors_origins: ['https://app.example.com:443', 'HTTP://Other.Example:80']"
    with server_with(serving_project, settings, {}) as live, live.client() as client:
        for origin in ("https://app.example.com", "http://other.example"):
            posted = client.post("/v1/models/risk/predict", json=ROW, headers={"Origin": origin})
            assert posted.status_code == 200, posted.text
            assert posted.headers["access-control-allow-origin"] == origin


def test_denied_and_cross_site_requests_do_not_move_the_refusal_rate(
    serving_project: Project,
) -> None:
    """Any web page can make a browser send these; they must not page the model's owner."""
    environ = {"SHIPYARD_API_TOKEN": API}
    with (
        server_with(serving_project, "  require_token: true", environ) as live,
        live.client() as client,
    ):
        for _ in range(5):
            _shape(client.post("/v1/models/risk/predict", json=ROW), 401)
            _shape(client.post("/v1/models/risk/predict", json=ROW, headers=_bearer("x" * 9)), 401)
            _shape(
                client.post(
                    "/v1/models/risk/predict",
                    content=b"{}",
                    headers={**_bearer(API), "Content-Type": "text/plain"},
                ),
                415,
            )
            _shape(
                client.post(
                    "/v1/models/risk/predict",
                    json=ROW,
                    headers={**_bearer(API), "Origin": "https://evil.example"},
                ),
                403,
            )
        assert live.app.rejections.buffered == 0
        bad = client.post("/v1/models/risk/predict", json={"nope": 1}, headers=_bearer(API))
        _shape(bad, 422)
        assert live.app.rejections.buffered == 1  # a request that reached validation counts


def test_bidi_and_control_characters_in_a_request_path_do_not_reach_the_operators_terminal() -> (
    None
):
    import io
    import json

    from shipyard.serving.accesslog import AccessLog

    stream = io.StringIO()
    log = AccessLog(stream=stream)  # type: ignore[arg-type]
    path = "/v1/models/\x1b[2J\u202egnp.exe\x85/predict"
    log.request({"method": "POST", "path": path, "client": ("10.0.0.9", 1)}, 404, 0.001, "\u202ex")
    log.flush()
    line = stream.getvalue()
    for raw in ("\x1b", "\u202e", "\x85"):
        assert raw not in line
    entry = json.loads(line)
    assert entry["path"] == path and entry["model"] == "\u202ex"  # the same values to a reader
