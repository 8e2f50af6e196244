"""Shadow: the challenger alias is followed, copies of live requests are answered off the
request path and logged beside the live answer, and nothing the challenger does reaches
the champion's answers, breaker or fallback."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import polars as pl
import pytest
from serving_support import LiveServer
from shadow_support import (
    ROWS,
    eventually,
    in_process,
    logged,
    make_project,
    served,
    set_mode,
    wait_for,
)

import shipyard
from shipyard.predlog import PREDICTIONS, read_rows
from shipyard.project import Project
from shipyard.serving import shadow as shadow_module
from shipyard.serving.breaker import CLOSED
from shipyard.serving.deployment import Outcome
from shipyard.serving.metrics import Metrics
from shipyard.serving.shadow import Shadow
from shipyard.serving.validation import Rows


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    made = make_project(tmp_path / "proj")
    try:
        yield made
    finally:
        made.close()


def _answers(bodies: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (b["version"], b["path"], b["degraded"], b["predictions"], b["probabilities"])
        for b in bodies
    ]


async def _send(client: Any, rows: list[dict[str, Any]], model: str = "risk") -> list[Any]:
    bodies = []
    for row in rows:
        response = await client.post(f"/v1/models/{model}/predict", json=[row, row])
        assert response.status_code == 200, response.text
        assert response.headers["x-shipyard-version"] == str(response.json()["version"])
        bodies.append(response.json())
    return bodies


def test_the_challenger_follows_its_alias(project: Project) -> None:
    async def run() -> None:
        app = served(project)
        deployment = app.deployments["risk"]
        async with in_process(app) as client:
            assert (await client.get("/v1/models/risk")).json()["challenger"] is None
            project.models.alias("risk@2", "challenger")
            await eventually(lambda: deployment.shadow is not None)
            described = (await client.get("/v1/models/risk")).json()
            assert described["version"] == 1 and described["challenger"]["version"] == 2
            assert described["challenger"]["shadow"] == {
                "answered": 0, "shed": 0, "error": 0, "timeout": 0,
                "in_flight": 0, "capacity": shadow_module.QUEUE_REQUESTS,
            }  # fmt: skip
            assert described["challenger"]["canary"] is None  # risk declares no canary
            project.models.alias("risk@1", "challenger")  # the champion: nothing to compare
            await eventually(lambda: deployment.shadow is None)
            project.models.alias("risk@3", "challenger")
            await eventually(lambda: deployment.shadow is not None)
            project.models.delete_alias("risk", "challenger")
            await eventually(lambda: deployment.shadow is None)
            assert (await client.get("/v1/models/risk")).json()["challenger"] is None
        switches = app.metrics.values["shipyard_switches_total"]
        assert switches[("risk", "challenger_loaded")] == 2
        assert switches[("risk", "challenger_dropped")] == 2

    asyncio.run(run())


def test_a_pinned_deployment_has_no_challenger(project: Project) -> None:
    project.models.alias("risk@2", "challenger")

    async def run() -> None:
        app = served(project)
        app.deployments["risk"].target = "1"  # as `shipyard serve risk@1` pins it
        async with in_process(app) as client:
            await app.background.check_aliases(force=True)
            assert app.deployments["risk"].shadow is None
            assert (await client.post("/v1/models/risk/predict", json=ROWS[0])).json()[
                "version"
            ] == 1

    asyncio.run(run())


def test_a_challenger_that_cannot_load_leaves_the_champion_alone(project: Project) -> None:
    broken = project.models.registry.resolve("risk@2")
    path = Path(project.artifacts.url.removeprefix("file://")) / broken.artifact_key
    path.unlink()  # its model file vanished

    async def run() -> None:
        app = served(project)
        deployment = app.deployments["risk"]
        async with in_process(app) as client:
            project.models.alias("risk@2", "challenger")
            await eventually(lambda: deployment.challenger_error is not None)
            for _ in range(3):  # later polls do not count it again
                await app.background.check_aliases(force=False)
            answer = (await client.post("/v1/models/risk/predict", json=ROWS[0])).json()
            described = (await client.get("/v1/models/risk")).json()
        assert answer["version"] == 1 and answer["path"] == "model"
        assert described["challenger"] is None and "risk@2" in described["challenger_error"]
        assert described["error"] is None and described["status"] == "ready"
        assert app.metrics.values["shipyard_switches_total"][("risk", "challenger_refused")] == 1

    asyncio.run(run())


def test_both_answers_are_logged_under_one_id_with_their_versions(project: Project) -> None:
    project.models.alias("risk@2", "challenger")
    start = datetime.now(UTC) - timedelta(minutes=1)

    async def run() -> list[Any]:
        app = served(project)
        async with in_process(app) as client:
            shadow = app.deployments["risk"].shadow
            assert shadow is not None and shadow.version == 2  # loaded before the first request
            bodies = await _send(client, ROWS[:10])
            await eventually(lambda: shadow.counts["answered"] == 10)
            assert app.metrics.values["shipyard_shadow_total"] == {("risk", "answered"): 10}
        return bodies

    bodies = asyncio.run(run())
    assert {b["version"] for b in bodies} == {1}
    ids = [i for b in bodies for i in b["prediction_ids"]]
    rows = logged(project, "risk")
    assert rows.height == 2 * len(ids)
    for pid, group in rows.group_by("prediction_id"):
        assert sorted(group.select("variant", "version", "path", "degraded").rows()) == [
            ("live", 1, "model", False),
            ("shadow", 2, "model", False),
        ], pid
    assert set(rows["prediction_id"]) == set(ids)
    shadow_rows = rows.filter(pl.col("variant") == "shadow")
    assert shadow_rows["reason"].null_count() == shadow_rows.height
    assert shadow_rows["latency_ms"].min() > 0  # type: ignore[operator]
    live = rows.filter(pl.col("variant") == "live")
    assert live["probabilities"].to_list() != shadow_rows["probabilities"].to_list()
    end = datetime.now(UTC) + timedelta(minutes=1)
    assert read_rows(project.artifacts, PREDICTIONS, "risk", start, end).height == len(ids)
    both = read_rows(
        project.artifacts, PREDICTIONS, "risk", start, end, variants=("live", "shadow")
    )
    assert both.height == 2 * len(ids) and set(both["variant"]) == {"live", "shadow"}


@pytest.mark.parametrize(("mode", "outcome"), [("raise", "error"), ("sleep:1.5", "timeout")])
def test_a_failing_challenger_never_changes_a_champion_answer(
    project: Project, mode: str, outcome: str
) -> None:
    async def run() -> None:
        app = served(project)
        deployment = app.deployments["risk"]
        async with in_process(app) as client:
            before = await _send(client, ROWS)
            project.models.alias("risk@3", "challenger")  # warmed while it still answers
            await eventually(lambda: deployment.shadow is not None)
            shadow = deployment.shadow
            assert shadow is not None
            set_mode(project, mode)
            after = await _send(client, ROWS)
            await eventually(lambda: shadow.counts[outcome] >= 1 and shadow.in_flight == 0)
            assert _answers(after) == _answers(before)
            assert deployment.breaker.state == CLOSED
            values = app.metrics.values
            assert "shipyard_degraded_total" not in values
            assert "shipyard_model_failures_total" not in values
            assert values["shipyard_shadow_total"][("risk", outcome)] == shadow.counts[outcome]
            assert shadow.counts["answered"] == 0
            described = (await client.get("/v1/models/risk")).json()
            assert described["circuit"] == deployment.breaker.shown
            assert described["challenger"]["shadow"][outcome] == shadow.counts[outcome]
        set_mode(project, "ok")

    asyncio.run(run())
    rows = logged(project, "risk")
    failed = rows.filter(pl.col("variant") == "shadow")
    assert failed.height >= 2  # two rows per request
    assert failed.select("version", "path", "degraded", "reason").unique().rows() == [
        (3, "shadow", True, outcome)
    ]
    assert failed["prediction"].null_count() == failed.height
    assert failed["probabilities"].null_count() == failed.height
    live = rows.filter(pl.col("variant") == "live")
    assert set(live["path"]) == {"model"} and set(live["version"]) == {1}
    assert set(failed["prediction_id"]) <= set(live["prediction_id"])


def test_copies_are_shed_when_the_queue_is_full(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shadow_module, "QUEUE_REQUESTS", 2)
    project.models.alias("risk@3", "challenger")

    async def run() -> None:
        app = served(project)
        async with in_process(app) as client:
            shadow = app.deployments["risk"].shadow
            assert shadow is not None and shadow.capacity == 2
            set_mode(project, "sleep:3")  # every copy waits for its budget (0.5 s)
            await asyncio.gather(*(_send(client, [row]) for row in ROWS[:12]))
            await eventually(lambda: sum(shadow.counts.values()) == 12 and not shadow.in_flight)
            counts = dict(shadow.counts)
            assert counts["shed"] >= 1 and counts["answered"] == 0
            assert counts["timeout"] <= 10  # never more than two copies at once
            metric = app.metrics.values["shipyard_shadow_total"]
            assert metric == {("risk", k): v for k, v in counts.items() if v}
            described = (await client.get("/v1/models/risk")).json()["challenger"]["shadow"]
            assert described["shed"] == counts["shed"]
            assert app.deployments["risk"].breaker.state == CLOSED
        set_mode(project, "ok")
        shadow_rows = logged(project, "risk").filter(pl.col("variant") == "shadow")
        assert shadow_rows.height == 2 * counts["timeout"]  # a shed copy leaves no row

    asyncio.run(run())


def _stub_shadow(
    queued: int, in_flight: int = 0, running: bool = False
) -> tuple[Shadow, list[Any]]:
    """A shadow over stand-ins: the live model has ``queued`` rows waiting, a call ``running``."""
    champion = SimpleNamespace(
        batcher=SimpleNamespace(queued_rows=queued, running_since=1.0 if running else None)
    )
    deployment = SimpleNamespace(
        name="risk",
        current=champion,
        budget_s=1.0,
        metrics=Metrics(),
        config=SimpleNamespace(retrain=SimpleNamespace(canary=None)),
    )
    submitted: list[Any] = []
    batcher = SimpleNamespace(
        queued_rows=0,
        running_since=None,
        submit=lambda rows, deadline: submitted.append(rows),
        report_to=lambda on_batch: None,
    )
    challenger = SimpleNamespace(version=SimpleNamespace(version=2), batcher=batcher)
    shadow = Shadow(deployment, challenger, log=lambda chunk: None)  # type: ignore[arg-type]
    shadow.in_flight = in_flight
    return shadow, submitted


@pytest.mark.parametrize(
    ("queued", "in_flight", "running"),
    [(1, 0, False), (0, 0, True), (0, shadow_module.QUEUE_REQUESTS, False)],
)
def test_a_copy_is_shed_while_the_live_model_is_busy_or_the_queue_full(
    queued: int, in_flight: int, running: bool
) -> None:
    shadow, submitted = _stub_shadow(queued, in_flight, running)
    rows = Rows(None, 1, True, np.array([[1000.0, 30.0]]), ["amount", "age"])
    answered = Outcome(np.array([True]), None, "model", 1)

    async def offer() -> None:
        shadow._offer(rows, ["a-1"], answered)

    asyncio.run(offer())
    assert submitted == [] and shadow.counts["shed"] == 1
    assert shadow.deployment.metrics.values["shipyard_shadow_total"] == {("risk", "shed"): 1}


def test_a_fallback_answer_is_not_copied() -> None:
    shadow, submitted = _stub_shadow(0)
    rows = Rows(None, 1, True, np.array([[1000.0, 30.0]]), ["amount", "age"])
    fallback = Outcome(np.array([False]), None, "default", None, degraded=True, reason="error")

    async def offer() -> None:
        shadow._offer(rows, ["a-1"], fallback)

    asyncio.run(offer())
    assert submitted == [] and sum(shadow.counts.values()) == 0


def test_the_version_is_in_every_answer(project: Project) -> None:
    project.models.alias("risk@2", "challenger")

    async def run() -> None:
        app = served(project)
        async with in_process(app) as client:
            native = await client.post("/v1/models/risk/predict", json=ROWS[0])
            v2 = await client.post(
                "/v2/models/risk/infer",
                json={
                    "inputs": [
                        {"name": "amount", "shape": [1], "datatype": "FP64", "data": [1000.0]},
                        {"name": "age", "shape": [1], "datatype": "INT64", "data": [30]},
                    ]
                },
            )
            mlflow = await client.post("/invocations", json={"dataframe_records": [ROWS[0]]})
        for response in (native, v2, mlflow):
            assert response.status_code == 200, response.text
            assert response.headers["x-shipyard-version"] == "1"  # the champion answered
        assert native.json()["version"] == 1
        assert v2.json()["model_version"] == "1"
        assert set(mlflow.json()) == {"predictions"}  # MLflow's shape: the header only

    asyncio.run(run())


def test_monitoring_ignores_shadow_rows(project: Project) -> None:
    """The same requests judged without and with a challenger give the same figures."""
    moments: list[datetime] = []

    async def run() -> None:
        app = served(project)
        deployment = app.deployments["risk"]
        async with in_process(app) as client:
            moments.append(datetime.now(UTC))
            await _send(client, ROWS)
            project.models.alias("risk@3", "challenger")
            await eventually(lambda: deployment.shadow is not None)
            shadow = deployment.shadow
            assert shadow is not None
            await asyncio.sleep(0.01)
            moments.append(datetime.now(UTC))
            await _send(client, ROWS)
            await eventually(lambda: shadow.counts["answered"] == len(ROWS))
            await asyncio.sleep(0.01)
            moments.append(datetime.now(UTC))

    asyncio.run(run())
    first, then, last = moments
    without = project.monitor("risk", window=(then - first).total_seconds(), now=then, notify=False)
    shadowed = project.monitor("risk", window=(last - then).total_seconds(), now=last, notify=False)
    assert logged(project, "risk").filter(pl.col("variant") == "shadow").height == 2 * len(ROWS)
    a, b = without.report, shadowed.report
    assert a.rows == b.rows == 2 * len(ROWS)
    assert a.versions == b.versions == {"1": 2 * len(ROWS)}
    assert a.reference == b.reference and a.drift  # judged against the training data
    figures = lambda r: [f for f in r.figures() if f.kind != "service"]  # noqa: E731
    assert figures(a) == figures(b)


def test_under_load_a_raising_challenger_changes_no_answer(project: Project) -> None:
    """Through a real server on 127.0.0.1, four clients at once."""
    app = served(project)
    with LiveServer(app) as server:
        project.models.alias("risk@3", "challenger")
        deployment = app.deployments["risk"]
        wait_for(lambda: deployment.shadow is not None)
        set_mode(project, "raise")
        seen: list[tuple[int, str, Any]] = []

        def client() -> None:
            with server.client() as http:
                for row in ROWS:
                    response = http.post("/v1/models/risk/predict", json=row)
                    body = response.json()
                    seen.append(
                        (response.status_code, response.headers["x-shipyard-version"], body["path"])
                    )

        threads = [threading.Thread(target=client) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        shadow = deployment.shadow
        assert shadow is not None
        wait_for(lambda: sum(shadow.counts.values()) == 4 * len(ROWS) and not shadow.in_flight)
        assert set(seen) == {(200, "1", "model")} and len(seen) == 4 * len(ROWS)
        assert shadow.counts["answered"] == 0 and shadow.counts["error"] >= 1
        assert shadow.counts["error"] + shadow.counts["shed"] == 4 * len(ROWS)
        assert deployment.breaker.state == CLOSED
        assert "shipyard_degraded_total" not in app.metrics.values
        with server.client() as http:
            metrics = http.get("/metrics").text
        assert 'shipyard_shadow_total{model="risk",outcome="error"}' in metrics
    set_mode(project, "ok")


@pytest.mark.postgres
@pytest.mark.s3
def test_shadow_on_postgres_and_s3(
    tmp_path: Path, postgres_url: str, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The alias followed in PostgreSQL, both answers logged to S3 (a real server)."""
    monkeypatch.setenv("SHIPYARD_DATABASE_URL", postgres_url)
    monkeypatch.setenv("SHIPYARD_ARTIFACTS_URL", f"s3://{s3_bucket}/shipyard")
    made = make_project(tmp_path / "proj")
    try:
        app = served(made)
        with LiveServer(app) as server, server.client() as client:
            with shipyard.open(made.root) as other:  # as `shipyard retrain` would, elsewhere
                other.models.alias("risk@2", "challenger")
            deployment = app.deployments["risk"]
            wait_for(lambda: deployment.shadow is not None)
            shadow = deployment.shadow
            assert shadow is not None
            ids = []
            for row in ROWS[:5]:
                response = client.post("/v1/models/risk/predict", json=row)
                assert response.headers["x-shipyard-version"] == "1"
                ids += response.json()["prediction_ids"]
            wait_for(lambda: sum(shadow.counts.values()) == 5 and not shadow.in_flight)
            answered = shadow.counts["answered"]
            assert answered >= 1
        rows = logged(made, "risk")
        assert set(rows["prediction_id"]) == set(ids)
        assert rows.filter(pl.col("variant") == "live")["version"].to_list() == [1] * 5
        assert rows.filter(pl.col("variant") == "shadow")["version"].to_list() == [2] * answered
    finally:
        made.close()
