"""A healthy model that costs time per row, so micro-batching cannot absorb a burst.

Shared by the overload tests (serving) and the shed-versus-broken tests (monitoring):
``make_busy_project`` writes a project with the model registered as ``slow``'s
champion; ``burst`` sends many single-row requests at once.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
from pathlib import Path

import httpx
import numpy as np

import shipyard
from shipyard.project import Project

ROWCOST = '''\
"""A healthy model that costs 10 ms a call and 20 ms a row; raises when told to."""

import time
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

MODE = Path(__file__).with_name("mode.txt")


class RowCost(ClassifierMixin, BaseEstimator):
    def fit(self, X, y):
        self.classes_ = np.array([False, True])
        return self

    def predict_proba(self, X):
        if MODE.exists() and MODE.read_text().strip() == "raise":
            raise RuntimeError("broken on purpose")
        X = np.asarray(X, dtype=float)
        time.sleep(0.010 + 0.020 * len(X))
        p = 1 / (1 + np.exp(-(X[:, 0] / 10000 - 1)))
        return np.column_stack([1 - p, p])

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(axis=1)]
'''


def make_busy_project(folder: Path, project_file: str) -> Project:
    """A project from ``project_file`` whose model ``slow`` (``rowcost.RowCost``) is champion."""
    folder.mkdir(parents=True)
    (folder / "shipyard.yaml").write_text(project_file)
    (folder / "rowcost.py").write_text(ROWCOST)
    project = shipyard.open(folder)
    sys.path.insert(0, str(folder))
    try:
        module = importlib.import_module("rowcost")
        X = np.column_stack([np.linspace(0, 50_000, 40), np.full(40, 30.0)])
        y = X[:, 0] > 25_000  # the model ignores them: it only needs its classes
        version = project.register(module.RowCost().fit(X, y), "slow")
        project.models.alias(version.ref, "champion")
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop("rowcost", None)
    return project


def burst(url: str, n: int) -> list[httpx.Response]:
    """``n`` single-row requests to ``slow`` at once, each on its own connection."""

    async def send() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
        async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
            return await asyncio.gather(
                *(
                    client.post("/v1/models/slow/predict", json={"amount": 1000.0 + i, "age": 30})
                    for i in range(n)
                )
            )

    return asyncio.run(send())
