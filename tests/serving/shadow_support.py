"""What the shadow and canary tests share: a project whose models have a challenger to
point at (a good one and one whose behaviour a file decides), and the real ASGI app
driven in-process (lifespan and all) by an httpx client.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import polars as pl
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import shipyard
from shipyard.predlog import PREDICTIONS, read_rows
from shipyard.project import Project
from shipyard.serving.app import ServingApp

PROJECT = """\
project: shadow-test
server: {log_flush_s: 0.2, alias_poll_s: 0.1, access_log: false}
datasets:
  loans:
    target: defaulted
    columns:
      amount: {type: float, min: 0, max: 1000000, nullable: false}
      age: {type: int, min: 18, max: 120, nullable: false}
      defaulted: {type: bool}
models:
  risk:
    owner: {name: risk-team, email: risk@example.com}
    task: binary_classification
    dataset: loans
    features: [amount, age]
    trusted_types: [shadowy.Shadowy]
    latency_budget_ms: 500
    serving:
      breaker: {failures: 2, window_s: 60, cooldown_s: 60}
    fallback: {default: {prediction: false, probabilities: [0.5, 0.5]}}
  sticky:
    owner: {name: risk-team, email: risk@example.com}
    task: binary_classification
    dataset: loans
    features: [amount, age]
    trusted_types: [shadowy.Shadowy]
    latency_budget_ms: 500
    serving:
      breaker: {failures: 2, window_s: 60, cooldown_s: 60}
    fallback: {default: {prediction: false, probabilities: [0.5, 0.5]}}
    retrain:
      shadow: {requests: 100}
      canary: {percent: 50, sticky_by: age}
"""

SHADOWY = '''\
"""A challenger whose behaviour a file decides: ok, raise, sleep:SECONDS."""

import time
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin


class Shadowy(ClassifierMixin, BaseEstimator):
    def __init__(self, mode_file=""):
        self.mode_file = mode_file

    def fit(self, X, y):
        self.classes_ = np.array([False, True])
        return self

    def predict_proba(self, X):
        path = Path(self.mode_file)
        mode = path.read_text().strip() if path.is_file() else "ok"
        if mode == "raise":
            raise RuntimeError("the challenger failed on purpose")
        if mode.startswith("sleep:"):
            time.sleep(float(mode.split(":")[1]))
        X = np.asarray(X, dtype=float)
        p = 1 / (1 + np.exp(-(X[:, 1] - 50) / 5))  # by age: not what the champion says
        return np.column_stack([1 - p, p])

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(axis=1)]
'''

ROWS = [
    {"amount": float(a), "age": int(g)}
    for a, g in zip(range(500, 40_000, 1300), range(18, 80, 2), strict=False)
]


def loans(n: int = 600, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    amount = rng.uniform(0, 50_000, n)
    age = rng.integers(18, 80, n)
    return pl.DataFrame(
        {"amount": amount, "age": age, "defaulted": amount / 50_000 + rng.normal(0, 0.2, n) > 0.5}
    )


def make_project(folder: Path) -> Project:
    """Versions of ``risk``: 1 (champion), 2 (another logistic regression), 3 (shadowy);
    of ``sticky``: 1 (champion), 2 (shadowy). Version 1 of each knows its training data."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "shipyard.yaml").write_text(PROJECT)
    (folder / "shadowy.py").write_text(SHADOWY)
    project = shipyard.open(folder)
    frame = loans()
    data = project.ingest("loans", frame).version.ref
    X, y = frame.select("amount", "age").to_numpy(), frame["defaulted"].to_numpy()
    sys.path.insert(0, str(folder))
    sys.modules.pop("shadowy", None)
    try:
        module = importlib.import_module("shadowy")
        for name in ("risk", "sticky"):
            champion = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
            first = project.register(champion, name, dataset=data)
            project.models.alias(first.ref, "champion")
            if name == "risk":
                other = make_pipeline(StandardScaler(), LogisticRegression(C=0.001)).fit(X, y)
                project.register(other, name)
            mode_file = str(folder / "shadow_mode.txt")
            project.register(module.Shadowy(mode_file).fit(X, y), name)
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop("shadowy", None)
    return project


def set_mode(project: Project, mode: str) -> None:
    """What the shadowy versions do next: ok, raise or sleep:SECONDS."""
    (project.root / "shadow_mode.txt").write_text(mode)


def logged(project: Project, model: str) -> pl.DataFrame:
    """Every prediction-log row of ``model`` written today (live and shadow), oldest first."""
    now = datetime.now(UTC)
    return read_rows(
        project.artifacts,
        PREDICTIONS,
        model,
        now - timedelta(days=1),
        now + timedelta(days=1),
        variants=("live", "shadow"),
    )


async def eventually(condition: Callable[[], Any], timeout: float = 30.0) -> None:
    """Wait (polling, on the event loop) until ``condition()`` is true."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.02)


def wait_for(condition: Callable[[], Any], timeout: float = 30.0) -> None:
    """Wait (polling, in this thread) until ``condition()`` is true."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.02)


@asynccontextmanager
async def in_process(app: ServingApp) -> AsyncIterator[httpx.AsyncClient]:
    """The app started as a server starts it (ASGI lifespan), a client calling it in-process;
    leaving the block shuts it down, which flushes the logs."""
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def send(message: Any) -> None:
        await outbox.put(message)

    await inbox.put({"type": "lifespan.startup"})
    lifespan = asyncio.ensure_future(app({"type": "lifespan"}, inbox.get, send))
    started = await outbox.get()
    assert started["type"] == "lifespan.startup.complete", started
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        await lifespan


def served(project: Project, *names: str, **kwargs: Any) -> ServingApp:
    """The app serving the ``champion`` of each of ``names``."""
    return ServingApp(project, dict.fromkeys(names or ("risk",), "champion"), environ={}, **kwargs)
