"""What the serving tests share: the test project (a good model, a faulty one, one
without fallback, one with a category), and the real app under uvicorn on 127.0.0.1.

The fixtures that use these live in ``conftest.py`` beside this module.
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

import shipyard
from shipyard.project import Project
from shipyard.serving.embedded import EmbeddedServer

PROJECT = """\
project: serving-test
server:
  log_flush_s: 0.2
  alias_poll_s: 0.2
  access_log: false
datasets:
  loans:
    target: defaulted
    columns:
      amount: {type: float, min: 0, max: 1000000, nullable: false}
      age: {type: int, min: 18, max: 120, nullable: false}
      country: {type: category, categories: [DE, FR, PL, US]}
      defaulted: {type: bool}
models:
  risk:
    owner: {name: risk-team, email: risk@example.com}
    task: binary_classification
    dataset: loans
    features: [amount, age]
    latency_budget_ms: 5000
    fallback: &rules_then_default
      rules:
        - when: {amount: {gt: 500000}}
          prediction: true
          probabilities: [0.1, 0.9]
      default: {prediction: false, probabilities: [0.5, 0.5]}
  mixed:
    owner: {name: risk-team, email: risk@example.com}
    task: binary_classification
    dataset: loans
    features: [amount, age, country]
    latency_budget_ms: 5000
  faulty:
    owner: {name: risk-team, email: risk@example.com}
    task: binary_classification
    dataset: loans
    features: [amount, age]
    trusted_types: [faulty.Faulty]
    latency_budget_ms: 300
    serving:
      breaker: {failures: 2, window_s: 30, cooldown_s: 0.5}
    fallback: *rules_then_default
  bare:
    owner: {name: risk-team, email: risk@example.com}
    task: binary_classification
    dataset: loans
    features: [amount, age]
    trusted_types: [faulty.Faulty]
    latency_budget_ms: 300
    fallback: {cache_size: 0}
"""

FAULTY = '''\
"""A model whose behaviour a file beside it decides: ok, raise, sleep:SECONDS or hang."""

import time
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

MODE = Path(__file__).with_name("fault.txt")


class Faulty(ClassifierMixin, BaseEstimator):
    def fit(self, X, y):
        self.classes_ = np.array([False, True])
        return self

    def predict_proba(self, X):
        mode = MODE.read_text().strip() if MODE.exists() else "ok"
        if mode == "raise":
            raise RuntimeError("the faulty model failed on purpose")
        if mode.startswith("sleep:"):
            time.sleep(float(mode.split(":")[1]))
        if mode == "hang":
            time.sleep(3600)
        X = np.asarray(X, dtype=float)
        p = 1 / (1 + np.exp(-(X[:, 0] / 10000 - 1)))
        return np.column_stack([1 - p, p])

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(axis=1)]
'''


ROW_FEATURES = (("amount", 1000.0), ("age", 30))


def training_rows(n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` rows of (amount, age) and a target that rises with the amount."""
    rng = np.random.default_rng(seed)
    amount = rng.uniform(0, 50_000, n)
    age = rng.integers(18, 80, n).astype(float)
    y = (amount / 50_000 + rng.normal(0, 0.2, n)) > 0.5
    return np.column_stack([amount, age]), y


def make_project(folder: Path) -> Project:
    """The test project in ``folder``, every model registered with a ``champion``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "shipyard.yaml").write_text(PROJECT)
    (folder / "faulty.py").write_text(FAULTY)
    project = shipyard.open(folder)
    X, y = training_rows()
    first = project.register(LogisticRegression(C=1.0).fit(X / 1000, y), "risk")
    project.register(LogisticRegression(C=0.01).fit(X / 1000, y), "risk")
    project.models.alias(first.ref, "champion")
    sys.path.insert(0, str(folder))
    try:
        faulty_module = importlib.import_module("faulty")
        importlib.reload(faulty_module)
        for name in ("faulty", "bare"):
            version = project.register(faulty_module.Faulty().fit(X, y), name)
            project.models.alias(version.ref, "champion")
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop("faulty", None)
    frame = pd.DataFrame(
        {"amount": X[:, 0], "age": X[:, 1], "country": ["DE", "FR", "PL", "US"] * 100}
    )
    pipeline = make_pipeline(
        ColumnTransformer(
            [("country", OneHotEncoder(handle_unknown="ignore"), ["country"])],
            remainder="passthrough",
        ),
        LogisticRegression(max_iter=500),
    ).fit(frame, y)
    version = project.register(pipeline, "mixed")
    project.models.alias(version.ref, "champion")
    return project


def set_fault(project: Project, mode: str) -> None:
    """What the faulty model does next: ok, raise, sleep:SECONDS or hang."""
    (project.root / "fault.txt").write_text(mode)


EXTRA_MODELS = """\
  fresh:
    owner: {name: risk-team, email: risk@example.com}
    task: binary_classification
    dataset: loans
    features: [amount, age]
    latency_budget_ms: 5000
    fallback: {default: {prediction: false, probabilities: [0.5, 0.5]}}
  tracked:
    owner: {name: risk-team, email: risk@example.com}
    task: binary_classification
    dataset: loans
    features: [amount, age]
    passthrough: [request_id, sent_at]
    latency_budget_ms: 5000
"""
"""Two more models: ``fresh`` (never promoted: no champion, a fallback default that must
not stand in for it) and ``tracked`` (with passthrough fields)."""


def make_extended_project(folder: Path) -> Project:
    """The test project with ``fresh`` (no versions) and ``tracked`` (champion v1)."""
    make_project(folder).close()
    file = folder / "shipyard.yaml"
    file.write_text(file.read_text() + EXTRA_MODELS)
    project = shipyard.open(folder)
    X, y = training_rows()
    version = project.register(LogisticRegression().fit(X / 1000, y), "tracked")
    project.models.alias(version.ref, "champion")
    return project


@contextmanager
def serve_process(
    folder: Path, *args: str, environ: dict[str, str] | None = None
) -> Iterator[tuple[subprocess.Popen[str], str, list[str]]]:
    """``shipyard serve --port 0 ARGS`` as a real process, ready (``/readyz`` 200) inside:
    the process, its URL, and the lines it wrote to stderr (growing while it runs).
    ``environ``: variables added to the process's environment (tokens)."""
    process = subprocess.Popen(
        [*SHIPYARD, "-C", str(folder), "serve", "--port", "0", *args],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "COLUMNS": "200", **(environ or {})},
    )
    assert process.stderr is not None
    url = None
    lines: list[str] = []
    deadline = time.monotonic() + 180  # generous: a busy machine starts slowly
    while url is None and time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line and process.poll() is not None:
            break
        lines.append(line)
        found = re.search(r"on (http://127\.0\.0\.1:\d+)", line)
        url = found.group(1) if found else None
    assert url, "".join(lines)
    drain = threading.Thread(
        target=lambda: lines.extend(process.stderr or ()), daemon=True
    )  # keep the pipe drained, and what it says
    drain.start()
    try:
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        yield process, url, lines
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        drain.join(timeout=10)
        process.stderr.close()


SHIPYARD = [sys.executable, "-m", "shipyard"]


class LiveServer(EmbeddedServer):
    """The real app under uvicorn on 127.0.0.1, in a thread of the test process."""

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kwargs)  # type: ignore[arg-type]
