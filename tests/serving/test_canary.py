"""Canary: a deterministic, sticky share of requests is answered by the challenger, the
champion answers their copy, and a challenger that fails a canary request leaves the
answer to the champion (never to the fallback chain)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from shadow_support import ROWS, eventually, in_process, logged, make_project, served, set_mode

from shipyard.project import Project
from shipyard.serving.breaker import CLOSED
from shipyard.serving.canary import BUCKETS, Canary, bucket, text
from shipyard.serving.validation import Rows


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    made = make_project(tmp_path / "proj")
    try:
        yield made
    finally:
        made.close()


def test_the_share_is_the_sha256_of_the_sticky_value() -> None:
    for value in ("42", "DE", "", "ünïcode"):
        digest = hashlib.sha256(value.encode()).hexdigest()
        assert bucket(value) == int(digest, 16) % BUCKETS
    assert (text(30.0), text(np.float64(30.0)), text(1000.5), text("DE")) == (
        "30", "30", "1000.5", "DE",
    )  # fmt: skip
    assert text(np.int64(7)) == "7" and text(None) == "None" and text(True) == "True"


@pytest.mark.parametrize("percent", [1.0, 10.0, 33.3, 50.0, 90.0])
def test_the_share_is_close_to_the_percent_over_many_values(percent: float) -> None:
    canary = Canary(percent, "customer")
    chosen = [
        canary.chooses(Rows({"customer": np.array([f"c-{i}"], dtype=object)}, 1, False), "id")
        for i in range(20_000)
    ]
    share = 100 * sum(chosen) / len(chosen)
    assert abs(share - percent) < 1.5, share
    again = [
        canary.chooses(Rows({"customer": np.array([f"c-{i}"], dtype=object)}, 1, False), "x")
        for i in range(20_000)
    ]
    assert again == chosen  # the same value, the same version: sticky


def test_all_or_nothing_and_what_is_hashed() -> None:
    everyone = Canary(100.0)
    assert all(everyone.chooses(Rows({}, 1, True), f"w-{i}") for i in range(1000))
    matrix = Rows(None, 2, True, np.array([[1000.0, 30.0], [5.0, 99.0]]), ["amount", "age"])
    assert Canary(50.0, "age").key(matrix, "w-1") == "30"  # the first row's value
    columns = Rows({"country": np.array(["PL", "DE"], dtype=object)}, 2, False)
    assert Canary(50.0, "country").key(columns, "w-1") == "PL"
    assert Canary(50.0).key(matrix, "w-1") == "w-1"  # without sticky_by: the prediction id
    by_id = Canary(30.0)
    assert by_id.chooses(matrix, "w-1") == by_id.chooses(columns, "w-1")


def _expected(row: dict[str, Any]) -> int:
    """The version the canary (50 % by age) gives ``row``."""
    return 2 if bucket(str(row["age"])) < 5000 else 1


async def _send(client: Any, rows: list[dict[str, Any]]) -> list[tuple[dict[str, Any], Any]]:
    answers = []
    for row in rows:
        response = await client.post("/v1/models/sticky/predict", json=row)
        assert response.status_code == 200, response.text
        body = response.json()
        assert response.headers["x-shipyard-version"] == str(body["version"])
        answers.append((row, body))
    return answers


def test_the_challenger_answers_its_share_sticky_by_the_feature(project: Project) -> None:
    project.models.alias("sticky@2", "challenger")
    requests = ROWS + [{**row, "amount": row["amount"] + 7.5} for row in ROWS]  # ages twice
    chosen = sum(_expected(row) == 2 for row in requests)
    assert 0 < chosen < len(requests)

    copies: dict[str, int] = {}

    async def run() -> list[tuple[dict[str, Any], Any]]:
        app = served(project, "sticky")
        async with in_process(app) as client:
            shadow = app.deployments["sticky"].shadow
            assert shadow is not None and shadow.canary is not None
            answers = await _send(client, requests)
            await eventually(
                lambda: sum(shadow.counts.values()) == len(requests) and not shadow.in_flight
            )
            copies.update(shadow.counts)
            described = (await client.get("/v1/models/sticky")).json()["challenger"]
            assert described["canary"] == {
                "percent": 50.0,
                "sticky_by": "age",
                "requests": {"answered": chosen, "busy": 0, "shed": 0, "error": 0, "timeout": 0},
            }
            v2 = await client.post(
                "/v2/models/sticky/infer",
                json={"inputs": [{"name": "amount", "shape": [1], "data": [5.0]},
                                 {"name": "age", "shape": [1], "data": [ROWS[0]["age"]]}]},
            )  # fmt: skip
            mlflow = await client.post(
                "/invocations",
                json={"dataframe_records": [ROWS[0]]},
                headers={"X-Shipyard-Model": "sticky"},
            )
            expected = str(_expected(ROWS[0]))
            assert v2.json()["model_version"] == v2.headers["x-shipyard-version"] == expected
            assert mlflow.headers["x-shipyard-version"] == expected
        return answers

    answers = asyncio.run(run())
    by_age: dict[int, set[int]] = {}
    for row, body in answers:
        assert body["version"] == _expected(row) and body["path"] == "model"
        by_age.setdefault(row["age"], set()).add(body["version"])
    assert all(len(versions) == 1 for versions in by_age.values())  # one age, one version
    # every copy answered, unless shed because a model was busy with an earlier one
    assert copies["answered"] + copies["shed"] == len(requests) and copies["answered"] > 0
    ids = [body["prediction_ids"][0] for _, body in answers]
    rows = logged(project, "sticky").filter(pl.col("prediction_id").is_in(ids))
    assert rows.height == len(requests) + copies["answered"]
    for row, body in answers:
        pair = rows.filter(pl.col("prediction_id") == body["prediction_ids"][0])
        live = _expected(row)
        assert sorted(pair.select("variant", "version").rows()) in (
            [("live", live), ("shadow", 3 - live)],  # the other version answered the copy
            [("live", live)],  # the copy was shed
        )


@pytest.mark.parametrize(("mode", "outcome"), [("raise", "error"), ("sleep:1", "timeout")])
def test_a_failing_canary_leaves_the_answer_to_the_champion(
    project: Project, mode: str, outcome: str
) -> None:
    project.models.alias("sticky@2", "challenger")
    canary_rows = [row for row in ROWS if _expected(row) == 2][:6]

    async def run() -> list[tuple[dict[str, Any], Any]]:
        app = served(project, "sticky")
        deployment = app.deployments["sticky"]
        async with in_process(app) as client:
            shadow = deployment.shadow
            assert shadow is not None
            set_mode(project, mode)
            answers = await _send(client, canary_rows)
            await eventually(lambda: sum(shadow.canary_counts.values()) == len(canary_rows))
            await eventually(lambda: not shadow.in_flight)
            assert shadow.canary_counts[outcome] >= 1
            assert shadow.canary_counts["answered"] == 0
            assert deployment.breaker.state == CLOSED
            assert "shipyard_degraded_total" not in app.metrics.values
        set_mode(project, "ok")
        return answers

    answers = asyncio.run(run())
    for _row, body in answers:
        assert (body["version"], body["path"], body["degraded"]) == (1, "model", False)
    rows = logged(project, "sticky")
    failed = rows.filter(pl.col("variant") == "shadow")
    assert set(failed.select("version", "path", "degraded", "reason").rows()) <= {
        (2, "shadow", True, "error"),
        (2, "shadow", True, "timeout"),
    }
    assert failed.height >= 1 and failed["prediction"].null_count() == failed.height
    live = rows.filter(pl.col("variant") == "live")
    assert set(live["version"]) == {1} and live.height == len(canary_rows)
