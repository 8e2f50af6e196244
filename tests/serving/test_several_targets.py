"""A model with no champion does not stop the others; several versions of one model
each at its own route (issue #16, item 8). Through the real server on 127.0.0.1 and the
real ``shipyard serve``."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from serving_support import (
    ROW_FEATURES,
    SHIPYARD,
    LiveServer,
    make_extended_project,
    serve_process,
    training_rows,
)
from sklearn.linear_model import LogisticRegression

from shipyard.project import Project
from shipyard.serving.app import ServingApp

pytestmark = pytest.mark.slow

ROW = dict(ROW_FEATURES)
V2_BODY = {
    "inputs": [
        {"name": "amount", "shape": [1], "datatype": "FP64", "data": [1000.0]},
        {"name": "age", "shape": [1], "datatype": "INT64", "data": [30]},
    ]
}
MLFLOW_BODY = {"dataframe_split": {"columns": ["amount", "age"], "data": [[1000.0, 30]]}}


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    made = make_extended_project(tmp_path / "proj")
    try:
        yield made
    finally:
        made.close()


def _until(check: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s")


def test_a_model_without_a_champion_is_not_ready_and_the_others_serve(project: Project) -> None:
    app = ServingApp(project, {"risk": "champion", "fresh": "champion"}, environ={})
    with LiveServer(app) as server, server.client() as client:  # ready: risk is loaded
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.text
        fresh = ready.json()["models"]["fresh"]
        assert fresh["status"] == "no_version" and fresh["version"] is None
        assert "fresh@champion names no version" in fresh["error"]
        assert "no alias 'champion'" in fresh["error"]
        assert set(ready.json()["not_ready"]) == {"fresh"}
        assert client.get("/v2/health/ready").status_code == 200

        assert client.post("/v1/models/risk/predict", json=ROW).json()["version"] == 1
        # its routes answer 503 with the reason, in every protocol; the fallback default
        # does not stand in for a model that has no version at all
        for answer in (
            client.post("/v1/models/fresh/predict", json=ROW),
            client.post("/v2/models/fresh/infer", json=V2_BODY),
            client.post("/invocations", json=MLFLOW_BODY, headers={"x-shipyard-model": "fresh"}),
        ):
            assert answer.status_code == 503, answer.text
            payload = answer.json()
            assert payload["code"] == "unavailable"
            assert payload["error"].startswith("model 'fresh' is not ready: fresh@champion")
            assert "shipyard promote fresh@N" in payload["hint"]
        assert client.get("/v2/models/fresh/ready").status_code == 503
        described = client.get("/v1/models/fresh").json()
        assert described["status"] == "no_version" and described["ready"] is False
        assert "no alias 'champion'" in described["error"]

        # a champion appears: the alias poll loads it, and it answers
        X, y = training_rows()
        version = project.register(LogisticRegression().fit(X / 1000, y), "fresh")
        project.models.alias(version.ref, "champion")
        _until(lambda: client.get("/v1/models/fresh").json()["status"] == "ready")
        answer = client.post("/v1/models/fresh/predict", json=ROW)
        assert answer.status_code == 200 and answer.json()["version"] == version.version
        assert answer.json()["path"] == "model"
        assert client.get("/readyz").json()["not_ready"] == {}


def test_two_versions_of_one_model_each_at_its_own_route(project: Project) -> None:
    app = ServingApp(project, {"risk": ["1", "2"]}, environ={})
    with LiveServer(app) as server, server.client() as client:
        first = client.post("/v1/models/risk/predict", json=ROW)
        assert first.json()["version"] == 1 and first.headers["x-shipyard-version"] == "1"
        for path in ("/v1/models/risk/versions/2/predict", "/v1/models/risk@2/predict"):
            answer = client.post(path, json=ROW)
            assert answer.status_code == 200, answer.text
            assert answer.json()["version"] == 2 and answer.json()["model"] == "risk"
        assert client.post("/v1/models/risk/versions/1/predict", json=ROW).json()["version"] == 1
        v2 = client.post("/v2/models/risk/versions/2/infer", json=V2_BODY).json()
        assert v2["model_version"] == "2"
        assert client.post("/v2/models/risk/infer", json=V2_BODY).json()["model_version"] == "1"
        mlflow = client.post(
            "/invocations", json=MLFLOW_BODY, headers={"x-shipyard-model": "risk@2"}
        )
        assert mlflow.status_code == 200 and mlflow.headers["x-shipyard-version"] == "2"
        default = client.post("/invocations", json=MLFLOW_BODY)  # one model: no header needed
        assert default.status_code == 200 and default.headers["x-shipyard-version"] == "1"
        missing = client.post("/v1/models/risk/versions/7/predict", json=ROW)
        assert missing.status_code == 404
        assert (
            "model 'risk' version 7 is not served here (serving: 1, 2)" in missing.json()["error"]
        )
        listed = {
            (m["name"], m["version"], m["route"]) for m in client.get("/v1/models").json()["models"]
        }
        assert listed == {
            ("risk", 1, "/v1/models/risk/predict"),
            ("risk", 2, "/v1/models/risk/versions/2/predict"),
        }
        assert set(client.get("/readyz").json()["models"]) == {"risk", "risk@2"}
        assert client.get("/v2/models/risk").json()["versions"] == ["1", "2"]
        paths = client.get("/openapi.json").json()["paths"]
        assert "/v1/models/risk/versions/{version}/predict" in paths


def test_serve_starts_without_a_champion_and_serves_two_versions(project: Project) -> None:
    folder = project.root
    with serve_process(folder, "risk@1", "risk@2", "fresh") as (process, url, lines):
        said = "".join(lines)
        assert (
            "serving risk@1, risk@2 at /v1/models/risk/versions/2/predict, fresh@champion" in said
        )
        assert "not ready: fresh@champion — model 'fresh' has no alias 'champion'" in said
        with httpx.Client(base_url=url, timeout=30) as client:
            assert client.get("/readyz").status_code == 200
            assert client.post("/v1/models/risk/predict", json=ROW).json()["version"] == 1
            two = client.post("/v1/models/risk/versions/2/predict", json=ROW)
            assert two.json()["version"] == 2
            assert client.post("/v1/models/fresh/predict", json=ROW).status_code == 503
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["fresh"], "cannot serve fresh@champion: model 'fresh' has no alias 'champion'"),
        (["risk@1", "risk@9"], "cannot serve risk@9: model 'risk' has no version '9'"),
    ],
)
def test_serve_refuses_when_nothing_or_a_missing_number_is_named(
    project: Project, args: list[str], message: str
) -> None:
    result = subprocess.run(
        [*SHIPYARD, "-C", str(project.root), "serve", "--port", "0", *args],
        capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
