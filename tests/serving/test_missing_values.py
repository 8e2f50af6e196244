"""Nulls a model cannot take: found when the version loads, refused with 422 before the model.

A feature declared nullable whose model raises on a null (a plain LogisticRegression:
no imputer) used to reach the model: the request got 503, and a client sending such
rows could open the breaker on a healthy model. The server probes each loaded version
once and refuses those rows itself, naming them; models that take nulls (a tree
ensemble that routes NaN) are asked as before.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from serving_support import LiveServer, training_rows
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

import shipyard
from shipyard.project import Project
from shipyard.serving.app import ServingApp

PROJECT = """\
project: nulls
server: {log_flush_s: 0.2, access_log: false}
datasets:
  loans:
    target: defaulted
    columns:
      amount: {type: float, min: 0}
      age: {type: float, nullable: false}
      defaulted: {type: bool}
models:
  strict:
    owner: {name: risk-team, email: risk@example.com}
    task: binary_classification
    dataset: loans
    features: [amount, age]
    latency_budget_ms: 5000
    serving:
      breaker: {failures: 2, window_s: 30, cooldown_s: 30}
  trees:
    owner: {name: risk-team, email: risk@example.com}
    task: binary_classification
    dataset: loans
    features: [amount, age]
    latency_budget_ms: 5000
"""


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    (tmp_path / "shipyard.yaml").write_text(PROJECT)
    project = shipyard.open(tmp_path)
    X, y = training_rows()
    for name, model in (
        ("strict", LogisticRegression()),
        ("trees", HistGradientBoostingClassifier(max_iter=20)),
    ):
        version = project.register(model.fit(X / 1000, y), name)
        project.models.alias(version.ref, "champion")
    try:
        yield project
    finally:
        project.close()


def test_a_null_the_model_cannot_take_is_a_422_and_never_opens_the_breaker(
    project: Project,
) -> None:
    app = ServingApp(project, {"strict": "champion", "trees": "champion"})
    with LiveServer(app) as server, server.client() as client:
        assert app.deployments["strict"].current.refuses_missing == ("amount",)
        assert app.deployments["trees"].current.refuses_missing == ()
        rows = [{"amount": 12.0, "age": 40.0}, {"amount": None, "age": 41.0}]
        for _ in range(5):  # more than the breaker's two failures
            answer = client.post("/v1/models/strict/predict", json=rows)
            assert answer.status_code == 422, answer.text
        error = answer.json()
        assert "strict@1 cannot predict with a missing value in amount" in error["error"], error
        assert error["problems"] == ["rows[1].amount: null"]
        assert "nullable: false" in error["hint"]
        assert app.deployments["strict"].breaker.state == "closed"
        good = client.post("/v1/models/strict/predict", json=rows[:1])
        assert good.status_code == 200 and good.json()["degraded"] is False
        trees = client.post("/v1/models/trees/predict", json=rows)
        assert trees.status_code == 200, trees.text
        assert len(trees.json()["predictions"]) == 2


def test_the_probe_costs_one_call_for_a_model_that_takes_nulls() -> None:
    from shipyard.models.predictor import SklearnPredictor
    from shipyard.serving.deployment import missing_refused
    from shipyard.serving.validation import FieldSpec

    X, y = training_rows()
    calls: list[int] = []

    class Counting(HistGradientBoostingClassifier):
        def predict_proba(self, X):  # type: ignore[no-untyped-def]
            calls.append(len(X))
            return super().predict_proba(X)

    fields = [FieldSpec("amount"), FieldSpec("age")]
    trees = SklearnPredictor(
        Counting(max_iter=5).fit(X, y), ["amount", "age"], "binary_classification"
    )
    assert missing_refused(trees, None, fields) == ()
    assert len(calls) == 1
    linear = SklearnPredictor(
        LogisticRegression().fit(X, y), ["amount", "age"], "binary_classification"
    )
    assert missing_refused(linear, None, fields) == ("amount", "age")
    one_nullable = [FieldSpec("amount"), FieldSpec("age", nullable=False)]
    assert missing_refused(linear, None, one_nullable) == ("amount",)
    assert np.isfinite(X).all()
