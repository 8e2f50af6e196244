"""A small project for the batch tests: a dataset schema and two registered models.

``risk`` (numbers only: amount, age; logistic regression) and ``mixed`` (amount, age and a
category, a scikit-learn pipeline); both with a champion. Inputs are written by
:func:`write_rows` with a few rows that break the schema on purpose.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

import shipyard
from shipyard.project import Project

PROJECT = """\
project: batch-test
datasets:
  loans:
    key: loan_id
    target: defaulted
    columns:
      loan_id: {type: int}
      amount: {type: float, min: 0}
      age: {type: int, min: 18, max: 120}
      country: {type: category, categories: [DE, FR, PL, US]}
      defaulted: {type: bool}
models:
  risk:
    owner: {name: risk-team, email: risk@example.com}
    task: binary_classification
    dataset: loans
    features: [amount, age]
  mixed:
    owner: {name: risk-team, email: risk@example.com}
    task: binary_classification
    dataset: loans
    features: [amount, age, country]
"""

COUNTRIES = ["DE", "FR", "PL", "US"]


def frame(n: int, *, seed: int = 0, bad: int = 0) -> pd.DataFrame:
    """``n`` rows of loans; the first ``bad`` of every 10 break the schema (a negative
    amount, an age of 7)."""
    rng = np.random.default_rng(seed)
    rows = pd.DataFrame(
        {
            "loan_id": np.arange(1, n + 1),
            "amount": rng.uniform(100, 50_000, n).round(2),
            "age": rng.integers(18, 80, n),
            "country": [COUNTRIES[i % 4] for i in range(n)],
        }
    )
    if bad:
        index = np.arange(n)
        wrong = index % 10 < bad
        rows.loc[wrong & ((index // 10) % 2 == 0), "amount"] = -5.0
        rows.loc[wrong & ((index // 10) % 2 == 1), "age"] = 7
    return rows


def make_project(folder: Path) -> Project:
    """The project in ``folder`` with ``risk`` and ``mixed`` registered and championed."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "shipyard.yaml").write_text(PROJECT)
    project = shipyard.open(folder)
    train = frame(400, seed=1)
    y = (train["amount"] / 1000 + train["age"] / 10 > 30).to_numpy()
    risk = LogisticRegression(max_iter=1000).fit(train[["amount", "age"]].to_numpy(), y)
    project.models.alias(project.register(risk, "risk").ref, "champion")
    mixed = make_pipeline(
        ColumnTransformer(
            [("country", OneHotEncoder(handle_unknown="ignore"), ["country"])],
            remainder="passthrough",
        ),
        LogisticRegression(max_iter=500),
    ).fit(train[["amount", "age", "country"]], y)
    project.models.alias(project.register(mixed, "mixed").ref, "champion")
    return project
