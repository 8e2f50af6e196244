"""A project whose model learns from its own served traffic, and a prediction log written
segment by segment (``SegmentLog``/``Chunk``, as the server writes it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

import shipyard
from shipyard.predlog import FEEDBACK, PREDICTIONS, Chunk, SegmentLog
from shipyard.project import Project
from shipyard.serving.validation import Rows

PROJECT = """\
project: feedback-test
datasets:
  loans:
    key: id
    timestamp: at
    target: defaulted
    columns:
      id: {type: string, nullable: false}
      at: {type: datetime, nullable: false}
      amount: {type: float, min: 0, nullable: false}
      age: {type: int, min: 18, max: 120, nullable: false}
      country: {type: category, categories: [DE, FR, PL, US, UK]}
      defaulted: {type: bool, nullable: false}
%(extra_columns)s
models:
  risk:
    owner: {name: risk-team, email: risk@example.com}
    task: binary_classification
    dataset: loans
    features: [amount, age, country]
    train: train_risk:fit
    retrain: {labels: feedback}
"""

TRAIN = """\
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler


def fit(frame, params):
    pipeline = make_pipeline(
        ColumnTransformer(
            [
                ("country", OneHotEncoder(handle_unknown="ignore"), ["country"]),
                ("numbers", StandardScaler(), ["amount", "age"]),
            ]
        ),
        LogisticRegression(max_iter=500),
    )
    return pipeline.fit(frame[["amount", "age", "country"]], frame["defaulted"])
"""


def make_project(folder: Path, *, extra_columns: str = "") -> Project:
    """The project file and its training code; nothing ingested yet."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "shipyard.yaml").write_text(PROJECT % {"extra_columns": extra_columns})
    (folder / "train_risk.py").write_text(TRAIN)
    return shipyard.open(folder)


def loans(n: int, seed: int, *, start: datetime, prefix: str = "r") -> pl.DataFrame:
    """``n`` loan rows, one a minute from ``start``, with ids ``{prefix}{i}``."""
    rng = np.random.default_rng(seed)
    amount = rng.lognormal(9, 0.6, n)
    age = rng.integers(18, 80, n)
    country = rng.choice(["DE", "FR", "PL", "US"], n)
    score = amount / 40_000 + (age < 30) * 0.5 + rng.normal(0, 0.3, n)
    return pl.DataFrame(
        {
            "id": [f"{prefix}{i}" for i in range(n)],
            "at": pl.datetime_range(
                start, start + (n - 1) * pl.duration(minutes=1), "1m", eager=True, time_zone="UTC"
            )
            if n > 1
            else [start],
            "amount": amount,
            "age": age,
            "country": country,
            "defaulted": score > 0.7,
        }
    )


@dataclass
class Log:
    """Write prediction and feedback segments of one model, as serving worker ``worker`` does."""

    project: Project
    model: str = "risk"
    worker: str = "w1"

    def _log(self, kind: str) -> SegmentLog:
        spool = self.project.root / ".spool" / kind
        return SegmentLog(kind, self.project.artifacts, worker=self.worker, spool=spool)

    def predictions(
        self,
        ids: Sequence[str],
        features: dict[str, Sequence[Any]] | None,
        *,
        at: datetime,
        variant: str | None = None,
        version: int = 1,
    ) -> None:
        """One segment: one request answered at ``at`` (no ``features``: no logged inputs)."""
        n = len(ids)
        inputs = None
        if features is not None:
            columns = {
                name: np.asarray(values, dtype=object if name == "country" else np.float64)
                for name, values in features.items()
            }
            inputs = Rows(columns, n, False)
        scalars: list[tuple[str, Any]] = [
            ("time", at.timestamp()),
            ("version", version),
            ("path", "model"),
            ("degraded", False),
            ("reason", None),
            ("latency_ms", 1.0),
        ]
        if variant is not None:
            scalars.append(("variant", variant))
        chunk = Chunk(
            self.model,
            n,
            tuple(scalars),
            (("prediction_id", list(ids)), ("prediction", [False] * n)),
            inputs,
        )
        log = self._log(PREDICTIONS)
        assert log.write([chunk]) == []

    def feedback(self, ids: Sequence[str], labels: Sequence[Any], *, at: datetime) -> None:
        """One segment: labels for ``ids`` that arrived at ``at``."""
        chunk = Chunk(
            self.model,
            len(ids),
            (("time", at.timestamp()),),
            (("prediction_id", list(ids)), ("label", list(labels))),
        )
        assert self._log(FEEDBACK).write([chunk]) == []

    def served(self, frame: pl.DataFrame, *, at: datetime, **kwargs: Any) -> list[str]:
        """``frame``'s rows as one answered request; their ids (the frame's ``id``)."""
        ids = frame["id"].to_list()
        features = {c: frame[c].to_list() for c in ("amount", "age", "country")}
        self.predictions(ids, features, at=at, **kwargs)
        return ids


def now() -> datetime:
    return datetime.now(UTC)
