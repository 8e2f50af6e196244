"""Serving on the cluster's storage (PostgreSQL + S3), and starting with a model that cannot load."""

from __future__ import annotations

import io
import time
from pathlib import Path

import polars as pl
import pytest
from serving_support import ROW_FEATURES, LiveServer, make_project

import shipyard
from shipyard.serving.app import ServingApp

ROW = dict(ROW_FEATURES)


@pytest.mark.postgres
@pytest.mark.s3
def test_serving_on_postgres_and_s3(
    tmp_path: Path, postgres_url: str, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHIPYARD_DATABASE_URL", postgres_url)
    monkeypatch.setenv("SHIPYARD_ARTIFACTS_URL", f"s3://{s3_bucket}/shipyard")
    project = make_project(tmp_path / "proj")
    try:
        app = ServingApp(project, {"risk": "champion"}, environ={})
        with LiveServer(app) as server, server.client() as client:
            answer = client.post("/v1/models/risk/predict", json=ROW).json()
            assert answer["path"] == "model" and answer["version"] == 1
            with shipyard.open(project.root) as other:  # a promotion from elsewhere
                other.models.alias("risk@2", "champion")
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and answer["version"] != 2:
                answer = client.post("/v1/models/risk/predict", json=ROW).json()
                time.sleep(0.05)
            assert answer["version"] == 2
        keys = [k for k in project.artifacts.list("predictions/risk/") if k.endswith(".parquet")]
        frame = pl.concat([pl.read_parquet(io.BytesIO(project.artifacts.get(k))) for k in keys])
        assert answer["prediction_ids"][0] in frame["prediction_id"].to_list()
    finally:
        project.close()


def test_a_champion_whose_file_vanished_starts_not_ready_and_degraded(
    serving_project: shipyard.Project,
) -> None:
    version = serving_project.models.registry.resolve("risk@champion")
    store = Path(serving_project.artifacts.url.removeprefix("file://"))
    (store / version.artifact_key).unlink()
    app = ServingApp(serving_project, {"risk": "champion"}, environ={})
    server = LiveServer(app)
    server.thread.start()
    try:
        deadline = time.monotonic() + 30
        with server.client() as client:
            while time.monotonic() < deadline:
                try:
                    ready = client.get("/readyz")
                    break
                except Exception:
                    time.sleep(0.05)
            assert ready.status_code == 503
            status = ready.json()["models"]["risk"]
            assert status["status"] == "failed" and "risk@1" in status["error"]
            answer = client.post("/v1/models/risk/predict", json=ROW).json()
        assert answer["degraded"] is True and answer["reason"] == "unloaded"
        assert answer["path"] == "default"
    finally:
        server.stop()
