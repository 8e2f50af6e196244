"""A project for back-filling: a model trained on December 2023, and a dataset version of
2024 whose rows drift from April on (the drift recipe of WORKLOADS.md in small form:
the numeric features shifted, one month empty, one month with too few rows)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
from monitor_support import _pipeline, loans

import shipyard
from shipyard.project import Project

PROJECT = """\
project: backfill-test
datasets:
  loans:
    target: defaulted
    timestamp: applied_at
    mode: replace
    columns:
      amount: {type: float, min: 0, max: 1000000}
      age: {type: int, min: 18, max: 120}
      country: {type: category, categories: [DE, FR, PL, US, UK]}
      applied_at: {type: datetime}
      defaulted: {type: bool}
  other:
    columns:
      amount: {type: float, min: 0}
      country: {type: category, categories: [DE, FR, PL, US, UK]}
      applied_at: {type: datetime}
  flat:
    columns:
      amount: {type: float, min: 0}
      age: {type: int, min: 18, max: 120}
      country: {type: category, categories: [DE, FR, PL, US, UK]}
models:
  risk:
    owner: {name: risk-team, file: owner-alerts.jsonl}
    task: binary_classification
    dataset: loans
    features: [amount, age, country]
    passthrough: [applied_at]
    monitoring: {min_labels: 20}
    alerts:
      - {name: drift, when: drift}
"""

# month -> (rows, shift): clean January to March, drift from April, June empty, August too few
MONTHS = {1: (300, 0.0), 2: (300, 0.0), 3: (300, 0.0), 4: (300, 0.5), 5: (300, 0.5),
          7: (300, 0.5), 8: (12, 0.5)}  # fmt: skip
DRIFTED = ["2024-04", "2024-05", "2024-07"]


def stamped(frame: pl.DataFrame, year: int, month: int, seed: int) -> pl.DataFrame:
    """``frame`` with an ``applied_at`` spread over days 1 to 28 of the month (UTC)."""
    days = np.random.default_rng(seed).integers(1, 29, frame.height)
    hours = np.random.default_rng(seed + 1).integers(0, 24, frame.height)
    times = [
        datetime(year, month, int(d), int(h), tzinfo=UTC) for d, h in zip(days, hours, strict=True)
    ]
    return frame.with_columns(pl.Series("applied_at", times))


def history() -> pl.DataFrame:
    return pl.concat(
        [stamped(loans(n, 100 + m, shift=shift), 2024, m, m) for m, (n, shift) in MONTHS.items()]
    )


def make_backfill_project(folder: Path, *, others: bool = True) -> Project:
    """The project: ``loans@1`` (training, December 2023), ``risk@1`` its champion,
    ``loans@2`` the 2024 history, ``other@1`` (no age) and ``flat@1`` (no timestamp)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "shipyard.yaml").write_text(PROJECT)
    project = shipyard.open(folder)
    train = stamped(loans(1500, 0), 2023, 12, 0)
    version = project.ingest("loans", train).version
    features = train.select("amount", "age", "country").to_pandas()
    model = _pipeline().fit(features, train["defaulted"].to_numpy())
    project.models.alias(project.register(model, "risk", dataset=version.ref).ref, "champion")
    project.ingest("loans", history())
    if others:
        project.ingest("other", history().select("amount", "country", "applied_at"))
        project.ingest("flat", history().select("amount", "age", "country"))
    return project
