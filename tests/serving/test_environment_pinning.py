"""A served version trained with another scikit-learn: logged and shown in ``/readyz``, or,
with ``server.strict_environment: true``, refused like any version that cannot load.

The version's row in the metadata database is edited to say it was trained with
scikit-learn 0.24.0; the comparison itself runs as the server runs it.
"""

from __future__ import annotations

import logging
import time
from importlib import metadata as importlib_metadata
from typing import Any

import httpx
import pytest
from serving_support import LiveServer

import shipyard
from helpers import record_environment
from shipyard.project import Project
from shipyard.serving.app import ServingApp

ROW = {"amount": 1000.0, "age": 30}
SKLEARN = importlib_metadata.version("scikit-learn")
MISMATCH = (
    f"risk@1 was trained with scikit-learn 0.24.0; this environment has {SKLEARN} (major differs)"
)


def test_a_mismatch_is_logged_and_shown_and_the_version_served(
    serving_project: Project, caplog: pytest.LogCaptureFixture
) -> None:
    record_environment(serving_project, "risk@1", {"scikit-learn": "0.24.0"})
    caplog.set_level(logging.WARNING, logger="shipyard.serving")
    app = ServingApp(serving_project, {"risk": "champion", "mixed": "champion"})
    with LiveServer(app) as server, server.client() as client:
        ready = client.get("/readyz")
        described = client.get("/v1/models/risk").json()
        answer = client.post("/v1/models/risk/predict", json=ROW)
        other = client.get("/v1/models/mixed").json()
    assert ready.status_code == 200, ready.text
    assert ready.json()["models"]["risk"]["environment"] == MISMATCH
    assert ready.json()["models"]["mixed"]["environment"] is None  # trained here
    assert described["environment"] == MISMATCH and other["environment"] is None
    assert answer.status_code == 200 and answer.json()["path"] == "model"
    [line] = [r for r in caplog.records if "scikit-learn" in r.getMessage()]
    assert (line.levelname, line.name) == ("WARNING", "shipyard.serving.worker")
    assert line.getMessage() == (
        f"risk: {MISMATCH}; loaded anyway (server.strict_environment is off)"
    )


def _readyz_once_loaded(server: LiveServer, timeout: float = 60.0) -> httpx.Response:
    """``/readyz`` once the server answers at all (its models were tried before it listens)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return httpx.get(f"{server.url}/readyz", timeout=5)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _wait_for(server: LiveServer, ready: Any, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        body = httpx.get(f"{server.url}/readyz", timeout=5).json()
        if ready(body):
            return body
        time.sleep(0.05)
    raise AssertionError(body)


def test_strict_environment_refuses_the_version_until_a_matching_one_is_champion(
    serving_project: Project, caplog: pytest.LogCaptureFixture
) -> None:
    record_environment(serving_project, "risk@1", {"scikit-learn": "0.24.0"})
    file = serving_project.root / "shipyard.yaml"
    file.write_text(file.read_text().replace("server:\n", "server:\n  strict_environment: true\n"))
    caplog.set_level(logging.WARNING, logger="shipyard.serving")
    with shipyard.open(serving_project.root) as project:
        assert project.config.server.strict_environment is True
        app = ServingApp(project, {"risk": "champion", "mixed": "champion"})
        server = LiveServer(app)
        server.thread.start()  # not start(): that waits for a ready server
        try:
            refused = _readyz_once_loaded(server)
            answer = httpx.post(f"{server.url}/v1/models/risk/predict", json=ROW, timeout=30)
            project.models.alias("risk@2", "champion")  # trained here: it loads
            body = _wait_for(server, lambda b: b["ready"])
        finally:
            server.stop()
    assert refused.status_code == 503, refused.text
    risk = refused.json()["models"]["risk"]
    assert risk["status"] == "failed" and risk["version"] is None
    assert risk["error"] == refused.json()["not_ready"]["risk"]
    assert risk["error"].startswith(f"{MISMATCH}; server.strict_environment refuses to load it")
    for fix in (
        "pip install scikit-learn==0.24.0",
        "shipyard build risk",
        "set server.strict_environment: false",
    ):
        assert fix in risk["error"]
    assert refused.json()["models"]["mixed"]["status"] == "ready"  # the others load
    assert answer.status_code == 200 and answer.json()["path"] != "model"  # the fallback answers
    assert body["models"]["risk"] == {
        "status": "ready", "version": 2, "error": None, "environment": None,
    }  # fmt: skip
    refusals = [r for r in caplog.records if "not switched to" in r.getMessage()]
    assert len(refusals) == 1 and refusals[0].levelname == "ERROR"
    assert MISMATCH in refusals[0].getMessage()


def test_strict_environment_refuses_a_challenger_and_the_champion_answers_on(
    serving_project: Project,
) -> None:
    record_environment(serving_project, "risk@2", {"scikit-learn": "0.24.0"})
    file = serving_project.root / "shipyard.yaml"
    file.write_text(file.read_text().replace("server:\n", "server:\n  strict_environment: true\n"))
    with shipyard.open(serving_project.root) as project:
        app = ServingApp(project, {"risk": "champion"})
        with LiveServer(app) as server, server.client() as client:
            project.models.alias("risk@2", "challenger")
            deadline = time.monotonic() + 60
            described = client.get("/v1/models/risk").json()
            while described["challenger_error"] is None and time.monotonic() < deadline:
                time.sleep(0.05)
                described = client.get("/v1/models/risk").json()
            answer = client.post("/v1/models/risk/predict", json=ROW)
    assert described["version"] == 1 and described["challenger"] is None
    assert described["challenger_error"].startswith(
        MISMATCH.replace("risk@1", "risk@2") + "; server.strict_environment refuses to load it"
    )
    assert answer.status_code == 200 and answer.json()["version"] == 1
    assert answer.json()["path"] == "model"
