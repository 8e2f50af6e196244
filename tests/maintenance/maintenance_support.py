"""A tiny project for the maintenance-stage tests, and ways to put state into it.

The model trains in well under a second; ``TINY_MODEL=bad`` in the environment makes
it a constant model that fails its gates, ``TINY_MODEL=boom`` makes training raise
(the environment, not a file: the module is imported once per process).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

import shipyard
from shipyard.demo import write_loans_batch
from shipyard.predlog import FEEDBACK, PREDICTIONS, Chunk, SegmentLog
from shipyard.project import Project
from shipyard.storage.tables import alerts, audit_log

PROJECT = """\
project: maintenance-test
worker: {tick_s: 0.5, lease_s: 5}
storage: {database: '%(database)s'%(artifacts)s}
datasets:
  loans:
    key: loan_id
    timestamp: applied_at
    target: defaulted
    columns:
      loan_id: {type: string, unique: true, nullable: false}
      amount: {type: float, min: 0, max: 1000000}
      age: {type: int, min: 18, max: 120}
      country: {type: category, categories: [DE, FR, PL, US]}
      applied_at: {type: datetime, nullable: false}
      defaulted: {type: bool}
models:
  risk:
    owner: {name: risk-team, email: risk@example.com}
    task: binary_classification
    dataset: loans
    features: [amount, age, country]
    train: tiny_model:train
    latency_budget_ms: 60000
    gates:
      roc_auc: {min: 0.55}
    alerts:
      - {name: drift, when: drift}
      - {name: errors, when: error_rate, above: 0.5}
    retrain: %(retrain)s
"""

TRAIN = '''\
"""A quick model; TINY_MODEL=boom makes training fail, TINY_MODEL=bad makes it useless."""

import os

from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler


def train(frame, params):
    if os.environ.get("TINY_MODEL") == "boom":
        raise RuntimeError("the training data is not what it used to be")
    if os.environ.get("TINY_MODEL") == "bad":
        model = DummyClassifier(strategy="most_frequent")
    else:
        model = LogisticRegression(max_iter=200)
    pipeline = make_pipeline(
        ColumnTransformer(
            [
                ("country", OneHotEncoder(handle_unknown="ignore"), ["country"]),
                ("numbers", StandardScaler(), ["amount", "age"]),
            ]
        ),
        model,
    )
    return pipeline.fit(frame[["amount", "age", "country"]], frame["defaulted"])
'''


def write_project(
    folder: Path, retrain: str = "{}", *, database: str | None = None, artifacts: str | None = None
) -> Path:
    """The project file, the model code and one batch of data (not yet ingested)."""
    folder.mkdir(parents=True, exist_ok=True)
    text = PROJECT % {
        "retrain": retrain,
        "database": database or "sqlite:///.shipyard/shipyard.db",
        "artifacts": f", artifacts: '{artifacts}'" if artifacts else "",
    }
    (folder / "shipyard.yaml").write_text(text)
    (folder / "tiny_model.py").write_text(TRAIN)
    write_loans_batch(folder / "batch.csv", rows=800, seed=3)
    return folder


def with_champion(folder: Path) -> Project:
    """Open the project, ingest its batch, train version 1 and make it the champion."""
    project = shipyard.open(folder)
    project.ingest("loans", folder / "batch.csv")
    project.train("risk")
    project.evaluate("risk@1")
    project.promote("risk@1", reason="the first champion")
    return project


def fire_alert(project: Project, rule: str, at: datetime, *, model: str = "risk") -> int:
    """An alert of ``rule`` that fired at ``at``, as monitoring leaves it."""
    with project.metadata.transaction() as conn:
        return int(
            conn.execute(
                alerts.insert()
                .values(
                    model=model,
                    rule=rule,
                    state="firing",
                    severity="warning",
                    route="owner",
                    value=1.0,
                    threshold=0.0,
                    message=f"{rule} crossed its limit",
                    detail={},
                    started_at=at,
                    fired_at=at,
                    updated_at=at,
                )
                .returning(alerts.c.id)
            ).scalar_one()
        )


def actions(project: Project, subject: str = "risk") -> list[str]:
    """The audit log's actions about ``subject``, oldest first."""
    with project.metadata.read() as conn:
        rows = conn.execute(
            sa.select(audit_log.c.action)
            .where(audit_log.c.subject == subject)
            .order_by(audit_log.c.id)
        )
        return [a for (a,) in rows]


def shadow_traffic(
    project: Project,
    spool: Path,
    n: int,
    *,
    champion: int,
    challenger: int,
    disagree: float = 0.0,
    challenger_errors: float = 0.0,
    challenger_slower: float = 1.0,
    labels: bool = False,
    seed: int = 0,
) -> None:
    """``n`` requests answered live by the champion and in shadow by the challenger, logged
    as serving logs them (same prediction ids); with ``labels``, feedback for each."""
    rng = np.random.default_rng(seed)
    log = SegmentLog(PREDICTIONS, project.artifacts, worker="w1", spool=spool)
    feedback = SegmentLog(FEEDBACK, project.artifacts, worker="w1", spool=spool)
    chunks, answers = [], []
    now = time.time()
    for i in range(n):
        pid = f"p{seed}-{i}"
        score = float(rng.uniform())
        truth = bool(rng.uniform() < score)
        label = score >= 0.5
        chunks.append(_row(pid, label, score, champion, "live", now, 5.0))
        if rng.uniform() < challenger_errors:
            chunks.append(_row(pid, None, None, challenger, "shadow", now, 5.0, reason="error"))
            continue
        theirs = (not label) if rng.uniform() < disagree else label
        shifted = 1.0 - score if theirs != label else score
        chunks.append(
            _row(pid, theirs, shifted, challenger, "shadow", now, 5.0 * challenger_slower)
        )
        answers.append((pid, truth))
    assert log.write(chunks) == []
    if labels and answers:
        ids, truths = zip(*answers, strict=True)
        chunk = Chunk(
            "risk",
            len(ids),
            (("time", now),),
            (("prediction_id", list(ids)), ("label", list(truths))),
        )
        assert feedback.write([chunk]) == []


def _row(
    pid: str,
    label: Any,
    score: float | None,
    version: int,
    variant: str,
    at: float,
    latency: float,
    *,
    reason: str | None = None,
) -> Chunk:
    scalars: list[tuple[str, Any]] = [
        ("time", at), ("version", version), ("path", "shadow" if variant == "shadow" else "model"),
        ("degraded", reason is not None), ("reason", reason), ("latency_ms", latency),
        ("variant", variant),
    ]  # fmt: skip
    proba = None if score is None else [[1.0 - score, score]]
    rows = (("prediction_id", [pid]), ("prediction", [label]), ("probabilities", proba))
    return Chunk("risk", 1, tuple(scalars), rows)


def now() -> datetime:
    return datetime.now(UTC)


def champion_project(folder: Path, retrain: str) -> Iterator[Project]:
    """A project whose model has a champion (risk@1) and the policy ``retrain``; closed after."""
    write_project(folder, retrain)
    project = with_champion(folder)
    yield project
    project.close()
