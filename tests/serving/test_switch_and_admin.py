"""The server follows aliases without failing a request; admin writes need the token."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import numpy as np
from serving_support import LiveServer
from serving_support import LiveServer as Server

import shipyard
from shipyard.serving.app import ServingApp

ROW = {"amount": 1000.0, "age": 30}
ADMIN = {"Authorization": "Bearer admin-secret"}


def _wait_for(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting")


def test_an_alias_moved_by_another_process_under_load_fails_nothing(live: LiveServer) -> None:
    answers: list[tuple[int, int | None]] = []
    stop = threading.Event()

    def load() -> None:
        with live.client() as client:
            while not stop.is_set():
                response = client.post("/v1/models/risk/predict", json=[ROW] * 5)
                body = response.json()
                answers.append(
                    (response.status_code, body.get("version") if body["path"] == "model" else None)
                )

    threads = [threading.Thread(target=load) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.5)
        with shipyard.open(
            live.app.project.root
        ) as other:  # as `shipyard promote` would, elsewhere
            other.models.alias("risk@2", "champion", reason="test")
        _wait_for(lambda: answers and answers[-1][1] == 2)
        time.sleep(0.3)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    statuses = {status for status, _ in answers}
    versions = [version for _, version in answers]
    assert statuses == {200}
    assert None not in versions  # never degraded
    assert versions.index(2) > 0 and set(versions) == {1, 2}
    assert (
        versions[versions.index(2) :].count(1) <= 4
    )  # in flight at the switch, at most one per client
    assert live.app.metrics.values["shipyard_switches_total"][("risk", "switched")] == 1


def test_a_version_that_cannot_load_is_not_switched_to(live: LiveServer) -> None:
    project = live.app.project
    broken = project.register(
        project.models.load("risk@1").estimator,
        "risk",  # type: ignore[attr-defined]
    )
    path = Path(project.artifacts.url.removeprefix("file://")) / broken.artifact_key
    path.unlink()  # the model file vanished
    project.models.alias(broken.ref, "champion")
    _wait_for(lambda: live.app.deployments["risk"].error is not None)
    with live.client() as client:
        answer = client.post("/v1/models/risk/predict", json=ROW).json()
        status = client.get("/v1/models/risk").json()
        ready = client.get("/readyz")
    assert answer["version"] == 1 and answer["path"] == "model"
    assert status["version"] == 1 and f"risk@{broken.version}" in status["error"]
    assert ready.status_code == 200  # still serving the version it had
    assert live.app.metrics.values["shipyard_switches_total"][("risk", "refused")] == 1


def test_admin_endpoints_need_the_token(live: LiveServer) -> None:
    with live.client() as client:
        assert client.post("/v1/admin/reload").status_code == 401
        wrong = client.post("/v1/admin/reload", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.json()["code"] == "unauthorized"
        assert client.post("/v1/admin/reload", headers=ADMIN).status_code == 200
        moved = client.put(
            "/v1/models/risk/aliases/champion",
            json={"version": 2, "reason": "better", "force": True},  # not evaluated: forced
            headers=ADMIN,
        )
        assert moved.json() == {"model": "risk", "alias": "champion", "from": 1, "to": 2}
        assert client.post("/v1/models/risk/predict", json=ROW).json()["version"] == 2
        refused = client.put(
            "/v1/models/risk/aliases/champion", json={"version": "2"}, headers=ADMIN
        )
        assert refused.status_code == 422
    history = live.app.project.audit(subject="risk")
    assert any(e.reason == "better" for e in history)


def test_without_an_admin_token_admin_is_off(serving_project) -> None:  # type: ignore[no-untyped-def]
    app = ServingApp(serving_project, {"risk": "champion"}, environ={})
    with Server(app) as server, server.client() as client:
        response = client.post("/v1/admin/reload", headers=ADMIN)
    assert response.status_code == 403 and "SHIPYARD_ADMIN_TOKEN" in response.json()["error"]


def test_reads_can_require_a_token(serving_project) -> None:  # type: ignore[no-untyped-def]
    file = serving_project.root / "shipyard.yaml"
    file.write_text(
        file.read_text().replace(
            "  access_log: false", "  access_log: false\n  require_token: true"
        )
    )
    with shipyard.open(serving_project.root) as project:
        try:
            ServingApp(project, {"risk": "champion"}, environ={})
            raise AssertionError("expected a refusal")
        except shipyard.ShipyardError as exc:
            assert "SHIPYARD_API_TOKEN" in str(exc)
        app = ServingApp(project, {"risk": "champion"}, environ={"SHIPYARD_API_TOKEN": "t0k"})
        with Server(app) as server:
            assert httpx.post(f"{server.url}/v1/models/risk/predict", json=ROW).status_code == 401
            ok = httpx.post(
                f"{server.url}/v1/models/risk/predict",
                json=ROW,
                headers={"Authorization": "Bearer t0k"},
            )
            assert ok.status_code == 200
            assert httpx.get(f"{server.url}/healthz").status_code == 200  # probes stay open


def test_a_version_with_its_features_in_another_order_gets_them_in_its_order(
    live: LiveServer,
) -> None:
    from serving_support import training_rows
    from sklearn.linear_model import LogisticRegression

    X, y = training_rows()
    project = live.app.project
    flipped = LogisticRegression().fit(
        X[:, ::-1] / np.array([1, 1000]), y
    )  # trained on (age, amount)
    version = project.register(flipped, "risk", features=["age", "amount"])
    project.models.alias(version.ref, "champion")
    _wait_for(lambda: live.app.deployments["risk"].current.version.version == version.version)
    with live.client() as client:
        answer = client.post("/v1/models/risk/predict", json=ROW).json()
    expected = flipped.predict_proba(np.array([[30, 1000.0]]))  # (age, amount), as it learned
    np.testing.assert_allclose(answer["probabilities"], expected)


def test_a_version_that_needs_an_undeclared_feature_is_refused(live: LiveServer) -> None:
    from sklearn.linear_model import LogisticRegression

    project = live.app.project
    version = project.register(
        LogisticRegression().fit(np.array([[0.0, 1], [1, 0]] * 5), [0, 1] * 5),
        "risk",
        features=["amount", "country"],  # country: not one of risk's declared features
    )
    project.models.alias(version.ref, "champion")
    _wait_for(lambda: live.app.deployments["risk"].error is not None)
    error = live.app.deployments["risk"].error
    assert (
        "needs the feature(s) country" in error
        and live.app.deployments["risk"].current.version.version == 1
    )
