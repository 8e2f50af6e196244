"""The server monitors in the background (`server.monitor_every`) and exports the figures."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from monitor_support import Receiver, loans, make_project, traffic

from shipyard.serving.app import ServingApp
from shipyard.serving.embedded import EmbeddedServer

DRIFTED = 'shipyard_drift_detected{model="risk",feature="amount",kind="feature",window="1h"} 1'
NO_NULLS = (
    'shipyard_feature_quality{model="risk",feature="amount",figure="null_rate",window="1h"} 0'
)


def test_the_server_monitors_and_exports_gauges(tmp_path, receiver: Receiver) -> None:
    project = make_project(tmp_path / "proj", receiver.url)
    text = project.file.read_text().replace(
        "server: {log_flush_s: 0.2,", "server: {monitor_every: 0.5, log_flush_s: 0.2,"
    )
    project.file.write_text(text)
    project.close()
    import shipyard

    project = shipyard.open(project.root)
    app = ServingApp(project, {"risk": "champion"}, environ={})
    assert app.monitors
    records = loans(300, 40, shift=0.8).select("amount", "age", "country").to_dicts()
    with EmbeddedServer(app) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        assert client.post("/v1/models/risk/predict", json=records).status_code == 200
        deadline = time.monotonic() + 60
        metrics = ""
        while time.monotonic() < deadline:
            metrics = client.get("/metrics").text
            if DRIFTED in metrics:
                break
            time.sleep(0.2)
    assert DRIFTED in metrics and NO_NULLS in metrics
    assert "shipyard_monitor_last_run_timestamp_seconds" in metrics
    assert any(m["rule"] == "drift" for _, m in receiver.messages)  # the alert went out too
    project.close()


@pytest.mark.postgres
@pytest.mark.s3
def test_monitoring_on_postgres_and_s3(
    tmp_path: Path,
    postgres_url: str,
    s3_bucket: str,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Profiles, logs and reports in S3; runs, figures and alert state in PostgreSQL."""
    monkeypatch.setenv("SHIPYARD_DATABASE_URL", postgres_url)
    monkeypatch.setenv("SHIPYARD_ARTIFACTS_URL", f"s3://{s3_bucket}/shipyard")
    project = make_project(tmp_path / "proj", receiver.url)
    try:
        drifted = loans(400, 41, shift=0.8)
        with traffic(project) as t:
            ids = t.predict(drifted)
            t.label(ids, [not v for v in drifted["defaulted"].to_list()])
        run = project.monitor("risk")
        assert {"amount", "age"} <= set(run.report.drifted)
        assert {a.rule for a in run.alerts} == {"drift", "auc"}
        assert sorted(path for path, _ in receiver.messages) == ["/oncall", "/owner"]
        assert project.monitor("risk").alerts == [] and len(receiver.messages) == 2
        assert project.artifacts.get(run.html_key).startswith(b"<!doctype html>")
        assert project.monitoring.history("risk", kind="performance", feature="roc_auc")
    finally:
        project.close()
