"""A total outage (every request answered 503) is never a quiet window: ``monitor`` by
time and by count says no prediction succeeded, in its text and its JSON, and the
``error_rate`` rule fires on it."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from monitor_support import Receiver, make_project

import shipyard
from shipyard.cli import cli
from shipyard.config.schema import AlertRule
from shipyard.monitoring.html import render
from shipyard.monitoring.report import MonitorReport
from shipyard.monitoring.rules import evaluate
from shipyard.monitoring.service import Service
from shipyard.serving.app import ServingApp
from shipyard.serving.embedded import EmbeddedServer

TOKEN = "admin-secret"
RULES = """\
      - {name: outage, when: error_rate, above: 0.5, severity: critical}
      - {name: refusals, when: rejected_rate, above: 0.5}
"""


def _outage(folder: Path, hook: str, failed: int) -> None:
    """A server whose model raises on every call (no fallback declared): ``failed`` 503s."""
    make_project(folder, hook).close()
    text = (folder / "shipyard.yaml").read_text()
    anchor = "      - {name: drift, when: drift}\n"
    (folder / "shipyard.yaml").write_text(text.replace(anchor, anchor + RULES, 1))
    project = shipyard.open(folder)
    try:
        app = ServingApp(project, {"risk": "champion"}, environ={"SHIPYARD_ADMIN_TOKEN": TOKEN})
        with EmbeddedServer(app) as server, httpx.Client(base_url=server.url, timeout=30) as client:
            fault = client.post(
                "/v1/admin/fault",
                json={"model": "risk", "mode": "error", "seconds": 600},
                headers={"Authorization": f"Bearer {TOKEN}"},
            )
            assert fault.status_code == 200, fault.text
            row = {"amount": 1000.0, "age": 30, "country": "DE"}
            for _ in range(failed):
                answer = client.post("/v1/models/risk/predict", json=[row])
                assert answer.status_code == 503, answer.text
    finally:
        project.close()  # the server flushed its logs on the way out


@pytest.mark.slow
def test_an_outage_is_said_however_the_window_is_cut(tmp_path: Path) -> None:
    receiver = Receiver()
    try:
        folder = tmp_path / "proj"
        _outage(folder, receiver.url, failed=6)
        for first, cut in enumerate((["--rows", "100"], ["--window", "1h"], [])):
            _said(folder, cut, fires=first == 0, text=first == 2)
    finally:
        receiver.close()


def _said(folder: Path, cut: list[str], *, fires: bool, text: bool) -> None:
    """One run over ``cut``: the outage said; the rule fires (or, fired before, stays so)."""
    base = ["-C", str(folder), "monitor", "risk", "--no-notify", *cut]
    result = CliRunner().invoke(cli, [*base, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    run = json.loads(result.output)
    report = run["report"]
    assert report["rows"] == 0
    service = report["service"]
    assert (service["requests"], service["errors"], service["error_rate"]) == (0, 6, 1.0)
    assert report["outage"] == "no prediction succeeded: 6 requests failed (HTTP 503: 6)"
    states = {a["rule"]: a["state"] for a in run["alerts"]}
    assert states.get("outage") == ("firing" if fires else None), states
    assert "refusals" not in states, states
    if not text:
        return
    result = CliRunner().invoke(cli, base, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())  # the console wraps long lines
    assert "no prediction succeeded: 6 requests failed (HTTP 503: 6)" in said, said
    assert "errors 100.0%" in said, said


def _report(service: Service) -> MonitorReport:
    from shipyard.monitoring.performance import Performance

    return MonitorReport("risk", {}, {}, 0, "none", [], [], [], Performance(0, 0, 0, 0), service)


def test_refusals_alone_fire_the_rejected_rate_rule() -> None:
    rule = AlertRule.model_validate({"when": "rejected_rate", "above": 0.5})
    s = Service(0, 0, None, None, None, 50.0, 0.0, 0.0, 0.0, 1.0, 0, 4)
    reading = evaluate(rule, _report(s))
    assert reading.active is True and reading.value == 1.0
    assert "over 4 requests" in reading.message
    failed = Service(
        0, 0, None, None, None, 50.0, 0.0, 0.0, 1.0, 0.0, 3, 0, {}, 0.0, 0, {"503": 2, "500": 1}
    )
    assert failed.outage == "no prediction succeeded: 3 requests failed (HTTP 503: 2, 500: 1)"
    page = render(_report(failed))
    assert "<p class='bad headline'>no prediction succeeded: 3 requests failed" in page
    assert "<td>unanswered with HTTP 503</td><td>2</td>" in page
    answered = Service(1, 1, 1.0, 1.0, 1.0, 50.0, 0.0, 0.0, 0.5, 0.0, 1, 0)
    assert answered.outage is None
