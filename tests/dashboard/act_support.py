"""A project for the dashboard's actions and dataset page: two dataset versions with
quarantined rows, a model with a version that passes its evaluation (@1) and one that
fails it (@2, trained on flipped labels), and a firing alert."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import shipyard
from shipyard.config.example_data import write_loans_batch
from shipyard.config.schema import AlertRule
from shipyard.monitoring.rules import Condition
from shipyard.project import Project

ADMIN = "admin-token-for-tests-0123456789"
FIRED_AT = datetime(2026, 12, 3, 6, 0, tzinfo=UTC)

PROJECT = """\
project: dashboard-test
datasets:
  loans:
    key: loan_id
    timestamp: applied_at
    target: defaulted
    columns:
      loan_id: {type: int, unique: true}
      amount: {type: float, min: 0, max: 1000000}
      age: {type: int, min: 18, max: 120}
      country: {type: category, categories: [DE, FR, PL, US]}
      applied_at: {type: datetime}
      defaulted: {type: bool}
models:
  default-risk:
    owner: {name: risk-team, file: alerts.jsonl}
    task: binary_classification
    dataset: loans
    features: [amount, age, country]
    train: dashboard_act_model:train
    params: {flip: false}
    split: {strategy: random, holdout: 0.3, seed: 0}
    latency_budget_ms: 60000
    gates: {roc_auc: {min: 0.6}}
    evaluation: {latency: {repeats: 5, batch_size: 10}}
    alerts:
      - {name: errors, when: error_rate, above: 0.1}
"""

TRAIN_CODE = """\
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler


def train(frame, params):
    labels = frame["defaulted"].astype(bool)
    if params.get("flip"):
        labels = ~labels  # learns the opposite: fails the roc_auc gate
    model = make_pipeline(
        make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore"), ["country"]),
            (StandardScaler(), ["amount", "age"]),
        ),
        LogisticRegression(max_iter=200),
    )
    return model.fit(frame[["amount", "age", "country"]], labels)
"""


def seed(folder: Path, *, rows: int = 1500) -> Project:
    """The project, seeded: two dataset versions, two trained and evaluated model versions,
    one firing alert."""
    folder.mkdir(parents=True)
    (folder / "shipyard.yaml").write_text(PROJECT)
    (folder / "dashboard_act_model.py").write_text(TRAIN_CODE)
    write_loans_batch(folder / "b1.csv", rows=rows, seed=1)
    write_loans_batch(folder / "b2.csv", rows=400, seed=2, first_id=rows + 1)
    project = shipyard.open(folder)
    project.ingest("loans", folder / "b1.csv")
    project.ingest("loans", folder / "b2.csv")
    project.train("default-risk", data="loans@1")  # @1 passes its evaluation
    project.train("default-risk", data="loans@1", params={"flip": True})  # @2 fails it
    project.evaluate("default-risk@1")
    project.evaluate("default-risk@2")
    fire(project, "default-risk")
    return project


def fire(project: Project, model: str) -> int:
    """A firing alert on ``model`` (error rate over its threshold; a new one once the
    last was acknowledged and resolved); its id."""
    rule = AlertRule.model_validate({"name": "errors", "when": "error_rate", "above": 0.1})
    alerts = project.monitoring.alerts
    if any(a.acked_at for a in alerts.list(model=model) if a.state == "firing"):
        alerts.advance(model, [Condition(rule, False, 0.0, 0.1, "errors at 0%")], FIRED_AT)
    alerts.advance(model, [Condition(rule, True, 0.5, 0.1, "errors at 50%")], FIRED_AT)
    [firing] = [a for a in alerts.list(model=model) if a.state == "firing"]
    return firing.id
