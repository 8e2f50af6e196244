"""Extra fields in a request: logged when declared as passthrough, never given to the model,
otherwise refused with every problem listed (issue #16, item 9). Through the real server
on 127.0.0.1, in each protocol, and the real CLI for the config check."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from serving_support import LiveServer, make_extended_project

from shipyard.cli import cli
from shipyard.predlog import PASSTHROUGH, PREDICTIONS, passthrough_fields, read_rows
from shipyard.project import Project
from shipyard.serving.app import ServingApp
from shipyard.serving.validation import FieldSpec, RowValidator


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    project = make_extended_project(tmp_path_factory.mktemp("passthrough") / "proj")
    try:
        app = ServingApp(project, {"risk": "champion", "tracked": "champion"}, environ={})
        with LiveServer(app) as server:
            yield server
    finally:
        project.close()


def _logged(project: Project, n: int) -> pl.DataFrame:
    deadline = time.monotonic() + 30
    now = datetime.now(UTC)
    while time.monotonic() < deadline:
        rows = read_rows(
            project.artifacts, PREDICTIONS, "tracked", now - timedelta(days=1), now + timedelta(1)
        )
        if len(rows) >= n:
            return rows
        time.sleep(0.1)
    raise AssertionError(f"fewer than {n} rows logged in 30 s")


@pytest.mark.slow
def test_declared_fields_are_logged_in_every_protocol_and_never_modelled(live: LiveServer) -> None:
    with live.client() as client:
        native = client.post(
            "/v1/models/tracked/predict",
            json=[
                {"amount": 1000.0, "age": 30, "request_id": "n-1", "sent_at": "2026-12-03T04:00"},
                {"request_id": "n-2", "amount": 40000.0, "age": 50},
                {"amount": 2000.0, "age": 35},
            ],
        )
        v2 = client.post(
            "/v2/models/tracked/infer",
            json={
                "inputs": [
                    {"name": "amount", "shape": [1], "datatype": "FP64", "data": [1000.0]},
                    {"name": "age", "shape": [1], "datatype": "INT64", "data": [30]},
                    {"name": "request_id", "shape": [1], "datatype": "BYTES", "data": ["v-1"]},
                ]
            },
        )
        v2_matrix = client.post(
            "/v2/models/tracked/infer",
            json={
                "inputs": [
                    {"name": "x", "shape": [1, 2], "datatype": "FP64", "data": [[1000.0, 30]]},
                    {"name": "request_id", "shape": [1], "datatype": "BYTES", "data": ["v-2"]},
                ]
            },
        )
        mlflow = client.post(
            "/invocations",
            headers={"x-shipyard-model": "tracked"},
            json={
                "dataframe_split": {
                    "columns": ["request_id", "amount", "age"],
                    "data": [["m-1", 1000.0, 30]],
                }
            },
        )
    for answer in (native, v2, v2_matrix, mlflow):
        assert answer.status_code == 200, answer.text
    # the model (fitted on two columns) answered: it was given the features alone
    assert native.json()["path"] == "model" and v2.json()["parameters"]["path"] == "model"
    logged = _logged(live.app.project, 6)
    ids = dict(zip(logged["prediction_id"].to_list(), logged[PASSTHROUGH].to_list(), strict=True))
    carried = [ids[i] for i in native.json()["prediction_ids"]]
    assert carried == [
        '{"request_id":"n-1","sent_at":"2026-12-03T04:00"}',
        '{"request_id":"n-2"}',
        None,
    ]
    fields = passthrough_fields(logged)
    assert set(fields["request_id"].to_list()) == {"n-1", "n-2", None, "v-1", "v-2", "m-1"}
    assert {"amount", "age", "sent_at"} <= set(fields.columns)
    assert PASSTHROUGH not in fields.columns


@pytest.mark.slow
def test_an_unknown_field_hides_no_other_problem_in_any_protocol(live: LiveServer) -> None:
    with live.client() as client:
        native = client.post(
            "/v1/models/risk/predict", json=[{"amount": "x", "age": 30, "request_id": "r-1"}]
        )
        v2 = client.post(
            "/v2/models/risk/infer",
            json={
                "inputs": [
                    {"name": "amount", "shape": [1], "datatype": "BYTES", "data": ["x"]},
                    {"name": "age", "shape": [1], "datatype": "INT64", "data": [30]},
                    {"name": "request_id", "shape": [1], "datatype": "BYTES", "data": ["r-1"]},
                ]
            },
        )
        mlflow = client.post(
            "/invocations",
            headers={"x-shipyard-model": "risk"},
            json={"dataframe_records": [{"amount": "x", "age": 30, "request_id": "r-1"}]},
        )
        tracked = client.post(
            "/v1/models/tracked/predict",
            json={"amount": 1.0, "age": 10, "request_id": "r-2", "zip": "10115"},
        )
    for answer, where in ((native, "rows[0]"), (v2, "inputs"), (mlflow, "rows[0]")):
        assert answer.status_code == 422, answer.text
        problems = answer.json()["problems"]
        assert len(problems) == 2, problems
        assert any("amount: expected a number" in p for p in problems), problems
        assert any(p.startswith(f"{where}") and "unknown field" in p for p in problems), problems
        assert "models.risk.passthrough" in answer.json()["hint"]
    assert tracked.status_code == 422
    assert tracked.json()["problems"] == [
        "rows[0].zip: unknown field; this model takes amount, age; "
        "passed through: request_id, sent_at",
        "rows[0].age: expected a number at least 18, got 10",
    ]


def test_a_validator_without_passthrough_keeps_its_fast_path() -> None:
    validator = RowValidator([FieldSpec("amount"), FieldSpec("age", "int")])
    rows = validator.records([{"amount": 1.0, "age": 30}])
    assert rows.whole is not None and rows.passthrough is None
    carrying = RowValidator([FieldSpec("amount"), FieldSpec("age", "int")], passthrough=["id"])
    rows = carrying.records([{"amount": 1.0, "age": 30, "id": 7}, {"amount": 2.0, "age": 31}])
    assert rows.whole is not None and rows.passthrough == [{"id": 7}, {}]
    assert rows.take(0).passthrough == [{"id": 7}]


def test_a_passthrough_field_that_is_a_feature_is_a_config_error(tmp_path: Path) -> None:
    project = make_extended_project(tmp_path / "proj")
    project.close()
    file = project.root / "shipyard.yaml"
    file.write_text(
        file.read_text().replace(
            "passthrough: [request_id, sent_at]", "passthrough: [request_id, age]"
        )
    )
    result = CliRunner().invoke(cli, ["-C", str(project.root), "models", "list"])
    assert result.exit_code == 2, result.output
    assert "models.tracked.passthrough" in result.output
    assert "'age' is a feature; a passthrough field is logged, not modelled" in result.output
    assert "Traceback" not in result.output
