"""Degraded answers per cause and shed requests: the service figures, the rules that read
them, their Prometheus export, and one run over a real server's logs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from monitor_support import PROJECT

import shipyard
from serving.busy_model import burst, make_busy_project
from serving.serving_support import LiveServer, make_project
from shipyard.cli import cli
from shipyard.config import parse_config
from shipyard.monitoring.performance import Performance
from shipyard.monitoring.prometheus import prometheus_rules
from shipyard.monitoring.report import MonitorReport
from shipyard.monitoring.rules import evaluate
from shipyard.monitoring.service import Service, service
from shipyard.monitoring.window import Window, read_log
from shipyard.predlog import PREDICTIONS, REJECTIONS, Chunk, SegmentLog
from shipyard.serving.app import ServingApp
from shipyard.storage import ArtifactStore

CAUSES = ["error", "timeout", "circuit_open", "unloaded"]


def _predictions(reasons: list[str | None], *, with_reason: bool = True) -> pl.DataFrame:
    """One request per row; ``None`` is a row the model answered."""
    data: dict[str, Any] = {
        "time": [1_700_000_000.0 + i for i in range(len(reasons))],
        "latency_ms": [5.0] * len(reasons),
        "degraded": [r is not None for r in reasons],
    }
    if with_reason:
        data["reason"] = pl.Series(reasons, dtype=pl.String)
    return pl.DataFrame(data)


def _rejections(refusals: list[tuple[int, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "time": [1_700_000_000.0 + i for i in range(len(refusals))],
            "status": [s for s, _ in refusals],
            "code": [c for _, c in refusals],
        }
    )


def test_a_batch_runs_rows_are_no_requests_and_leave_the_latency_alone() -> None:
    """Three served requests (one of 50 rows) and a batch run of 100 rows in one window:
    3 requests, their percentiles (not NaN from the batch rows' missing latency), the
    degraded share over the served rows only."""
    served = {
        "time": [1.0] * 50 + [2.0, 3.0],
        "latency_ms": [9.0] * 50 + [3.0, 4.0],
        "degraded": [False] * 50 + [True, False],
        "source": ["serve"] * 52,
    }
    batch = {
        "time": [5.0] * 100, "latency_ms": [None] * 100,
        "degraded": [False] * 100, "source": ["batch"] * 100,
    }  # fmt: skip
    window = pl.concat([pl.DataFrame(served), pl.DataFrame(batch)], how="vertical_relaxed")
    found = service(window, pl.DataFrame(), budget_ms=8.0)
    assert (found.requests, found.rows) == (3, 52)
    assert found.latency_p50 == 4.0 and found.latency_p99 is not None
    assert found.over_budget_rate == round(1 / 3, 6)
    assert found.degraded_rate == round(1 / 52, 6)
    only_batch = service(pl.DataFrame(batch), pl.DataFrame(), budget_ms=8.0)
    assert (only_batch.requests, only_batch.latency_p99) == (0, None)


def test_every_cause_and_shed_requests_are_told_apart() -> None:
    reasons = [None] * 4 + ["error"] * 3 + ["timeout", "circuit_open", "unloaded"]
    refused = [
        (422, "invalid_request"),
        (500, "internal"),
        (503, "unavailable"),  # nothing could answer: a server error
        (429, "overloaded"),
        (429, "overloaded"),
        (503, "overloaded"),  # shed while draining: busy, not broken
    ]
    s = service(_predictions(reasons), _rejections(refused), budget_ms=50)
    assert (s.requests, s.errors, s.rejected, s.shed, s.total) == (10, 2, 1, 3, 16)
    assert s.degraded_rate == 0.6
    assert s.degraded_by_cause == {
        "error": 0.3,
        "timeout": 0.1,
        "circuit_open": 0.1,
        "unloaded": 0.1,
    }
    assert list(s.degraded_by_cause) == CAUSES  # in a fixed order, for reports
    assert s.degraded(["error", "timeout"]) == 0.4 and s.degraded(None) == 0.6
    assert s.error_rate == 0.125 and s.rejected_rate == 0.0625 and s.shed_rate == 0.1875


def test_old_logs_without_reason_or_code_still_give_figures() -> None:
    old = _predictions([None, "x", "x", None], with_reason=False)
    refused = pl.DataFrame({"time": [1.0, 2.0], "status": [422, 503]})  # before codes were kept
    s = service(old, refused, budget_ms=50)
    assert s.degraded_rate == 0.5 and s.degraded_by_cause == {"unknown": 0.5}
    assert (s.errors, s.rejected, s.shed, s.shed_rate) == (1, 1, 0, 0.0)


def test_a_window_where_every_request_was_shed() -> None:
    s = service(pl.DataFrame(), _rejections([(429, "overloaded")] * 3), budget_ms=50)
    assert (s.requests, s.shed, s.shed_rate, s.error_rate, s.rejected_rate) == (0, 3, 1.0, 0, 0)
    assert s.degraded_by_cause == {}


def _chunk(reason: str | None, *, with_reason: bool = True) -> Chunk:
    scalars: list[tuple[str, Any]] = [
        ("time", time.time()),
        ("version", 1),
        ("path", "model" if reason is None else "default"),
        ("degraded", reason is not None),
        ("latency_ms", 3.0),
    ]
    if with_reason:
        scalars.append(("reason", reason))
    rows = (("prediction_id", ["p"]), ("prediction", [True]), ("probabilities", None))
    return Chunk("risk", 1, tuple(scalars), rows)


def test_segments_from_before_and_after_the_reason_column_read_together(
    artifact_store: ArtifactStore, tmp_path: Path
) -> None:
    """Real segments through the real writer and reader: old ones lack ``reason``,
    and a new one where the model answered everything has only nulls in it."""
    log = SegmentLog(PREDICTIONS, artifact_store, worker="w1", spool=tmp_path / "spool")
    assert log.write([_chunk("x", with_reason=False), _chunk(None, with_reason=False)]) == []
    assert log.write([_chunk(None), _chunk(None)]) == []
    assert log.write([_chunk("error"), _chunk("circuit_open"), _chunk(None), _chunk(None)]) == []
    refusals = SegmentLog(REJECTIONS, artifact_store, worker="w1", spool=tmp_path / "spool")
    old = Chunk("risk", 1, (("time", time.time()), ("status", 500)), (("fields", [[]]),))
    shed = Chunk(
        "risk", 1, (("time", time.time()), ("status", 429), ("code", "overloaded")),
        (("fields", [[]]),),
    )  # fmt: skip
    assert refusals.write([old]) == [] and refusals.write([shed]) == []

    window = Window.last(3600)
    s = service(
        read_log(artifact_store, PREDICTIONS, "risk", window),
        read_log(artifact_store, REJECTIONS, "risk", window),
        budget_ms=50,
    )
    assert s.rows == 8 and s.degraded_rate == 0.375
    assert s.degraded_by_cause == {"error": 0.125, "circuit_open": 0.125, "unknown": 0.125}
    assert (s.errors, s.shed) == (1, 1)


@settings(max_examples=60, deadline=None)
@given(
    reasons=st.lists(st.sampled_from([None, *CAUSES]), max_size=40),
    old=st.booleans(),
    refused=st.lists(
        st.sampled_from(
            [
                (422, "invalid_request"),
                (500, "internal"),
                (503, "unavailable"),
                (429, "overloaded"),
                (503, "overloaded"),
            ]
        ),
        max_size=20,
    ),
)
def test_shares_always_add_up(
    reasons: list[str | None], old: bool, refused: list[tuple[int, str]]
) -> None:
    frame = _predictions(reasons, with_reason=not old) if reasons else pl.DataFrame()
    s = service(frame, _rejections(refused), budget_ms=50)
    assert s.errors + s.rejected + s.shed == len(refused)
    assert s.shed == sum(code == "overloaded" for _, code in refused)
    assert abs(sum(s.degraded_by_cause.values()) - s.degraded_rate) < 1e-5
    assert set(s.degraded_by_cause) <= ({"unknown"} if old else set(CAUSES))
    if s.total:
        answered = s.requests / s.total
        assert abs(answered + s.error_rate + s.rejected_rate + s.shed_rate - 1) < 1e-5


# -- rules ---------------------------------------------------------------------------


def _report(s: Service) -> MonitorReport:
    return MonitorReport(
        model="risk", versions={"1": s.rows}, window={}, rows=s.rows, reference="training",
        drift=[], prediction_drift=[], quality=[], performance=Performance(0, 0, 0, 0),
        service=s,
    )  # fmt: skip


def _rules(*lines: str) -> list[Any]:
    text = (PROJECT % {"hook": "http://127.0.0.1:9"}).replace(
        "      - {name: nulls, when: null_rate, above: 0.2, for: 10m}", "\n".join(lines)
    )
    return parse_config(text, environ={}).models["risk"].alerts


BROKEN = "      - {name: broken, when: degraded_rate, causes: [error, timeout], above: 0.05}"
BUSY = "      - {name: busy, when: shed_rate, above: 0.1}"
ANY = "      - {name: degraded, when: degraded_rate, above: 0.05}"


def test_rules_tell_a_broken_model_from_a_busy_server() -> None:
    *_, broken, busy, degraded = _rules(BROKEN, BUSY, ANY)
    overloaded = service(
        _predictions([None] * 9 + ["circuit_open"]),
        _rejections([(429, "overloaded")] * 10),
        budget_ms=50,
    )
    report = _report(overloaded)
    assert evaluate(busy, report).active is True
    reading = evaluate(broken, report)
    assert reading.active is False and reading.value == 0.0
    assert "degraded_rate (error, timeout) is 0.00% of 10 answered rows" in reading.message
    assert "circuit_open 10.00%" in reading.message
    assert evaluate(degraded, report).active is True  # every cause, unless narrowed

    failing = _report(service(_predictions([None] * 8 + ["error", "timeout"]), pl.DataFrame(), 50))
    assert evaluate(broken, failing).active is True and evaluate(broken, failing).value == 0.2
    assert evaluate(busy, failing).active is False


def test_nothing_answered_is_no_degraded_reading() -> None:
    *_, broken, busy, _ = _rules(BROKEN, BUSY, ANY)
    report = _report(service(pl.DataFrame(), _rejections([(429, "overloaded")]), budget_ms=50))
    assert evaluate(broken, report).active is None
    assert evaluate(busy, report).active is True


# -- Prometheus ----------------------------------------------------------------------


def test_prometheus_rules_for_causes_and_shed_requests(tmp_path: Path) -> None:
    text = (PROJECT % {"hook": "http://127.0.0.1:9"}).replace(
        "      - {name: nulls, when: null_rate, above: 0.2, for: 10m}",
        "\n".join([
            BROKEN, BUSY, ANY,
            "      - {name: errors, when: error_rate, above: 0.01, window: 5m}",
            "      - {name: refused, when: rejected_rate, above: 0.2}",
        ]),
    )  # fmt: skip
    rules = prometheus_rules(parse_config(text, environ={}))
    by_name = {r["alert"]: r["expr"] for r in yaml.safe_load(rules)["groups"][0]["rules"]}
    broken = by_name["ShipyardRiskBroken"]
    assert 'shipyard_degraded_total{model="risk",reason=~"error|timeout"}[1h]' in broken
    assert "or vector(0)" in broken and broken.endswith("> 0.05")
    assert "shipyard_degraded_total" not in by_name["ShipyardRiskDegraded"]
    busy = by_name["ShipyardRiskBusy"]
    assert busy.startswith('((sum(rate(shipyard_shed_total{model="risk"}[1h])) or vector(0)) /')
    assert 'route=~".*/predict|.*/infer|/invocations"' in busy
    refused = by_name["ShipyardRiskRefused"]
    assert 'status=~"4..",status!="429"' in refused and 'status!~"401|403|415"' in refused
    errors = by_name["ShipyardRiskErrors"]
    assert errors.startswith("(clamp_min(") and "shipyard_shed_total" in errors
    assert 'status="429"' in errors and "[5m]" in errors
    path = tmp_path / "rules.yml"
    path.write_text(rules)
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI"):
            pytest.fail("CI must have promtool (Debian's prometheus package)")
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    proc = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


PREDICT = 'route="/v1/models/{name}/predict"'
OVERLOADED = {  # per minute: half the requests shed (a few while draining), the model healthy
    f'shipyard_requests_total{{model="risk",{PREDICT},status="200"}}': 60,
    f'shipyard_requests_total{{model="risk",{PREDICT},status="429"}}': 60,
    f'shipyard_requests_total{{model="risk",{PREDICT},status="503"}}': 6,
    'shipyard_shed_total{model="risk",reason="over_capacity"}': 66,
    'shipyard_predictions_total{model="risk",version="1",path="model"}': 60,
    'shipyard_requests_total{model="risk",route="/v1/models/{name}/feedback",status="403"}': 600,
}
BROKEN_MODEL = {  # per minute: half the answers from the fallback, a few 500s, nothing shed
    f'shipyard_requests_total{{model="risk",{PREDICT},status="200"}}': 60,
    f'shipyard_requests_total{{model="risk",{PREDICT},status="500"}}': 6,
    'shipyard_predictions_total{model="risk",version="1",path="model"}': 30,
    'shipyard_predictions_total{model="risk",version="1",path="default"}': 30,
    'shipyard_degraded_total{model="risk",path="default",reason="error"}': 30,
}


def test_prometheus_rules_fire_for_the_right_trouble(tmp_path: Path) -> None:
    """``promtool test rules`` evaluates the exported rules on made-up counters: an
    overloaded server pages only as busy, a failing model only as broken and erroring."""
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI"):
            pytest.fail("CI must have promtool (Debian's prometheus package)")
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    text = (PROJECT % {"hook": "http://127.0.0.1:9"}).replace(
        "      - {name: nulls, when: null_rate, above: 0.2, for: 10m}",
        "\n".join([
            BROKEN, BUSY,
            "      - {name: errors, when: error_rate, above: 0.01, window: 5m}",
            "      - {name: refused, when: rejected_rate, above: 0.01}",
        ]),
    )  # fmt: skip
    rules = yaml.safe_load(prometheus_rules(parse_config(text, environ={})))
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules))
    every = {r["alert"]: r for r in rules["groups"][0]["rules"]}
    watched = [
        "ShipyardRiskBroken",
        "ShipyardRiskBusy",
        "ShipyardRiskErrors",
        "ShipyardRiskRefused",
    ]

    def case(series: dict[str, int], firing: list[str]) -> dict[str, Any]:
        return {
            "interval": "1m",
            "input_series": [{"series": k, "values": f"0+{v}x120"} for k, v in series.items()],
            "alert_rule_test": [
                {
                    "eval_time": "90m",
                    "alertname": name,
                    "exp_alerts": [
                        {
                            "exp_labels": every[name]["labels"],
                            "exp_annotations": every[name]["annotations"],
                        }
                    ]
                    if name in firing
                    else [],
                }
                for name in watched
            ],
        }

    tests = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [
            case(OVERLOADED, ["ShipyardRiskBusy"]),
            case(BROKEN_MODEL, ["ShipyardRiskBroken", "ShipyardRiskErrors"]),
        ],
    }
    (tmp_path / "tests.yml").write_text(yaml.safe_dump(tests))
    proc = subprocess.run(
        [promtool, "test", "rules", "tests.yml"], cwd=tmp_path, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


# -- through a real server -----------------------------------------------------------

ALERTS = """\
    alerts:
      - {name: broken, when: degraded_rate, causes: [error, timeout, circuit_open], above: 0.05}
      - {name: busy, when: shed_rate, above: 0.01}
"""


@pytest.mark.slow
def test_a_failing_model_shows_as_error_in_monitoring(tmp_path: Path) -> None:
    folder = tmp_path / "proj"
    make_project(folder).close()
    text = (folder / "shipyard.yaml").read_text()
    anchor = "    fallback: &rules_then_default\n"
    (folder / "shipyard.yaml").write_text(text.replace(anchor, ALERTS + anchor, 1))
    project = shipyard.open(folder)
    try:
        token = {"SHIPYARD_ADMIN_TOKEN": "admin-secret"}
        app = ServingApp(project, {"risk": "champion"}, environ=token)
        row = {"amount": 1000.0, "age": 30}
        with LiveServer(app) as server, httpx.Client(base_url=server.url, timeout=30) as client:
            for _ in range(5):
                answer = client.post("/v1/models/risk/predict", json=[row])
                assert answer.status_code == 200 and answer.json()["path"] == "model"
            fault = client.post(
                "/v1/admin/fault",
                json={"model": "risk", "mode": "error", "seconds": 600},
                headers={"Authorization": "Bearer admin-secret"},
            )
            assert fault.status_code == 200, fault.text
            for _ in range(5):
                answer = client.post("/v1/models/risk/predict", json=[row])
                assert answer.status_code == 200 and answer.json()["path"] != "model"
        run = project.monitor("risk", notify=False)  # the server flushed its log on the way out
        s = run.report.service
        assert (s.requests, s.rows, s.shed, s.shed_rate) == (10, 10, 0, 0.0)
        assert s.degraded_rate == 0.5 and "error" in s.degraded_by_cause
        assert set(s.degraded_by_cause) <= {"error", "circuit_open"}  # the breaker may open
        assert abs(sum(s.degraded_by_cause.values()) - 0.5) < 1e-6
        states = {a.rule: a.state for a in run.alerts}
        assert states == {"broken": "firing"}

        result = CliRunner().invoke(
            cli, ["-C", str(folder), "monitor", "risk", "--no-notify"], catch_exceptions=False
        )
        assert result.exit_code == 0, result.output
        said = " ".join(result.output.split())  # the console wraps long lines
        assert "degraded 50.0% (error " in said and "shed 0.0%" in said, said
        result = CliRunner().invoke(
            cli, ["-C", str(folder), "monitor", "risk", "--no-notify", "--json"],
            catch_exceptions=False,
        )  # fmt: skip
        service_json = json.loads(result.output)["report"]["service"]
        assert service_json["degraded_by_cause"]["error"] > 0 and service_json["shed_rate"] == 0
        html = project.artifacts.get(run.html_key).decode()
        assert "because of a model error" in html and "shed, server busy" in html
    finally:
        project.close()


BUSY_PROJECT = """\
project: busy-test
server: {log_flush_s: 0.2, alias_poll_s: 0.2, access_log: false}
datasets:
  loans:
    target: defaulted
    columns:
      amount: {type: float, min: 0, max: 1000000, nullable: false}
      age: {type: int, min: 18, max: 120, nullable: false}
      defaulted: {type: bool}
models:
  slow:
    owner: {name: risk-team, email: risk@example.com}
    task: binary_classification
    dataset: loans
    features: [amount, age]
    trusted_types: [rowcost.RowCost]
    latency_budget_ms: 250
    serving: {max_batch_size: 4}
    fallback: {default: {prediction: false, probabilities: [0.5, 0.5]}}
    alerts:
      - {name: broken, when: degraded_rate, causes: [error, timeout, circuit_open], above: 0.05}
      - {name: busy, when: shed_rate, above: 0.01}
"""


@pytest.mark.slow
def test_an_overloaded_server_pages_as_busy_not_as_a_broken_model(tmp_path: Path) -> None:
    project = make_busy_project(tmp_path / "proj", BUSY_PROJECT)
    try:
        with LiveServer(ServingApp(project, {"slow": "champion"})) as server:
            responses = burst(server.url, 200)  # capacity: about 45 rows a second
        shed = sum(r.status_code == 429 for r in responses)
        answered = sum(r.status_code == 200 for r in responses)
        assert shed and shed + answered == len(responses)  # on a busy machine: all may be shed
        run = project.monitor("slow", notify=False)
        s = run.report.service
        assert (s.requests, s.shed, s.errors, s.rejected) == (answered, shed, 0, 0)
        assert s.shed_rate == round(shed / len(responses), 6)
        assert s.error_rate == 0.0 and s.rejected_rate == 0.0  # busy is not an error
        states = {a.rule: a.state for a in run.alerts}
        assert states == {"busy": "firing"}, (states, s.degraded_by_cause)
    finally:
        project.close()
