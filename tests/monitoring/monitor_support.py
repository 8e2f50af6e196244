"""A project whose model was registered on a dataset version (so it has a reference
profile), a live server for it, and an HTTP receiver standing in for the owner's webhook."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import polars as pl
import pytest
from sklearn.linear_model import LogisticRegression

import shipyard
from shipyard.project import Project
from shipyard.serving.app import ServingApp
from shipyard.serving.embedded import EmbeddedServer

PROJECT = """\
project: monitoring-test
server: {log_flush_s: 0.2, alias_poll_s: 0.2, access_log: false}
alerting:
  allow_hosts: [127.0.0.1]  # the receiver is on loopback, refused unless listed
  repeat: 1h
  timeout_s: 1
  retries: 2
  routes:
    oncall: {webhook: "%(hook)s/oncall", log: true}
datasets:
  loans:
    target: defaulted
    columns:
      amount: {type: float, min: 0, max: 1000000}
      age: {type: int, min: 18, max: 120}
      country: {type: category, categories: [DE, FR, PL, US, UK]}
      defaulted: {type: bool}
models:
  risk:
    owner: {name: risk-team, webhook: "%(hook)s/owner"}
    task: binary_classification
    dataset: loans
    features: [amount, age, country]
    latency_budget_ms: 5000
    monitoring: {window: 1h, min_labels: 20}
    alerts:
      - {name: drift, when: drift}
      - {name: auc, when: roc_auc, below: 0.7, severity: critical, route: oncall}
      - {name: nulls, when: null_rate, above: 0.2, for: 10m}
"""


def loans(n: int, seed: int, *, shift: float = 0.0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    amount = rng.lognormal(9, 0.6, n) * (1 + shift)
    age = rng.integers(18, 80, n) + int(20 * shift)
    country = rng.choice(["DE", "FR", "PL", "US"], n, p=[0.4, 0.3, 0.2, 0.1])
    score = amount / 40_000 + (age < 30) * 0.5 + rng.normal(0, 0.3, n)
    return pl.DataFrame(
        {
            "amount": amount,
            "age": np.minimum(age, 120),
            "country": country,
            "defaulted": score > 0.7,
        }
    )


class Receiver:
    """An HTTP server on 127.0.0.1 that keeps what is POSTed; ``status`` and ``delay`` set its answer."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, dict[str, Any]]] = []
        self.status = 204
        self.delay = 0.0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                time.sleep(outer.delay)
                if outer.status < 300:
                    outer.messages.append((self.path, json.loads(body)))
                self.send_response(outer.status)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    try:
        yield found
    finally:
        found.close()


def make_project(folder: Path, hook: str) -> Project:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "shipyard.yaml").write_text(PROJECT % {"hook": hook})
    project = shipyard.open(folder)
    frame = loans(3000, 0)
    version = project.ingest("loans", frame).version
    pipeline = _pipeline().fit(frame.drop("defaulted").to_pandas(), frame["defaulted"].to_numpy())
    registered = project.register(pipeline, "risk", dataset=version.ref)
    project.models.alias(registered.ref, "champion")
    return project


def _pipeline() -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    return make_pipeline(
        ColumnTransformer(
            [
                ("country", OneHotEncoder(handle_unknown="ignore"), ["country"]),
                ("numbers", make_pipeline(SimpleImputer(), StandardScaler()), ["amount", "age"]),
            ]
        ),
        LogisticRegression(max_iter=500),
    )


@pytest.fixture
def monitored(tmp_path: Path, receiver: Receiver) -> Iterator[Project]:
    project = make_project(tmp_path / "proj", receiver.url)
    try:
        yield project
    finally:
        project.close()


class Traffic:
    """Send predictions and labels to a live server for the project."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def predict(self, frame: pl.DataFrame) -> list[str]:
        ids: list[str] = []
        records = frame.select("amount", "age", "country").to_dicts()
        for start in range(0, len(records), 200):
            answer = self.client.post("/v1/models/risk/predict", json=records[start : start + 200])
            assert answer.status_code == 200, answer.text
            ids += answer.json()["prediction_ids"]
        return ids

    def label(self, ids: list[str], labels: list[Any]) -> None:
        body = [{"prediction_id": i, "label": bool(v)} for i, v in zip(ids, labels, strict=True)]
        answer = self.client.post("/v1/models/risk/feedback", json=body)
        assert answer.status_code == 202, answer.text


def serve(project: Project) -> EmbeddedServer:
    return EmbeddedServer(ServingApp(project, {"risk": "champion"}, environ={}))


@contextmanager
def traffic(project: Project) -> Iterator[Traffic]:
    """A live server; leaving the block stops it, which flushes the logs."""
    with serve(project) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        yield Traffic(client)
