"""A seeded project for the dashboard tests, built through the real API, and a client.

``seed(folder)``: dataset ``loans@1`` from a CSV file, model ``risk`` trained twice
(v1 champion, v2 challenger), evaluated, a prediction log written by the real writer
(an hour of traffic: the first half like the training data, the second half with
``amount`` shifted, some answers degraded), two monitoring runs over it (the second
finds the drift and fires the ``drift`` alert), one alert resolved earlier, and model
``quiet`` declared but never trained.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np

import shipyard
from shipyard.config.example_data import write_loans_batch
from shipyard.dashboard.app import DashboardApp
from shipyard.predlog import PREDICTIONS, Chunk, SegmentLog
from shipyard.project import Project

OWNER = "risk-team"
PROJECT = """\
project: dash-test
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
    owner: {name: %(owner)s, email: risk@example.com}
    task: binary_classification
    dataset: loans
    features: [amount, age, country]
    train: dashboard_model:train
    params: {C: 1.0}
    latency_budget_ms: 40
    gates:
      roc_auc: {min: 0.5}
    evaluation: {latency: {repeats: 5, batch_size: 10}}  # a quick evaluation
    monitoring: {window: 30m, min_labels: 20}
    alerts:
      - {name: drift, when: drift}
  quiet:
    owner: %(hostile_owner)s
    task: binary_classification
    dataset: loans
    features: [amount, age, country]
    train: dashboard_model:train
  thin:
    owner: {name: thin-team, email: thin@example.com}
    task: binary_classification
    dataset: loans
    features: [amount, age, country]
  idle:
    owner: {name: idle-team, email: idle@example.com}
    task: binary_classification
    dataset: loans
    features: [amount, age, country]
"""

HOSTILE = "<script>alert('x')</script> \"q\" {{ 7*7 }} &amp;"
"""Every user-provided string the escaping tests plant: a tag, quotes, a template."""
HOSTILE_CATEGORY = '<b onmouseover="alert(1)">{{ 7*7 }}</b>'


TRAIN = """\
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler


def train(frame, params):
    pipeline = make_pipeline(
        ColumnTransformer(
            [
                ("country", OneHotEncoder(handle_unknown="ignore"), ["country"]),
                ("numbers", StandardScaler(), ["amount", "age"]),
            ]
        ),
        LogisticRegression(max_iter=200, C=float(params.get("C", 1.0))),
    )
    return pipeline.fit(frame[["amount", "age", "country"]], frame["defaulted"])
"""


@dataclass(frozen=True)
class Inputs:
    """Feature rows as serving hands them to the log writer (its ``Rows``)."""

    names: list[str]
    columns: dict[str, np.ndarray]
    whole: np.ndarray | None = None
    passthrough: list[dict[str, Any]] | None = None


@dataclass(frozen=True)
class Seeded:
    """The seeded project and the figures the tests check the pages against."""

    project: Project
    now: datetime
    latencies: list[float]  # of the rows in the last 15 minutes
    degraded: int  # of those rows
    csv: Path


def write_files(folder: Path, *, owner: str = OWNER) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    hostile_owner = json.dumps({"name": HOSTILE, "email": "quiet@example.com"})
    (folder / "shipyard.yaml").write_text(
        PROJECT % {"owner": owner, "hostile_owner": hostile_owner}
    )
    (folder / "dashboard_model.py").write_text(TRAIN)
    write_loans_batch(folder / "batch.csv", rows=600, seed=3)
    return folder


def log_traffic(
    project: Project,
    *,
    start: datetime,
    minutes: int,
    per_minute: int,
    shift: float,
    seed: int,
    latency: Callable[[int], float],
    degraded_every: int = 0,
    version: int = 1,
    model: str = "risk",
    countries: tuple[str, ...] = ("DE", "FR", "PL", "US"),
) -> list[tuple[datetime, float, bool]]:
    """Requests of one row each, one batch per minute, written by the real log writer;
    (time, latency, degraded) of each row."""
    rng = np.random.default_rng(seed)
    log = SegmentLog(
        PREDICTIONS, project.artifacts, worker=f"w{seed}", spool=project.root / "spool"
    )
    chunks, written, index = [], [], 0
    for minute in range(minutes):
        for _ in range(per_minute):
            at = start + timedelta(minutes=minute, seconds=float(rng.uniform(0, 59)))
            amount = float(rng.lognormal(8.5, 0.5)) * (1.0 + shift)
            age = int(rng.integers(18, 80))
            country = str(rng.choice(list(countries)))
            ms = latency(index)
            degraded = bool(degraded_every and index % degraded_every == 0)
            inputs = Inputs(
                ["amount", "age", "country"],
                {
                    "amount": np.array([amount]),
                    "age": np.array([age]),
                    "country": np.array([country], dtype=object),
                },
            )
            scalars = (
                ("time", at.timestamp()), ("version", version),
                ("path", "default" if degraded else "model"), ("degraded", degraded),
                ("reason", "timeout" if degraded else None), ("latency_ms", ms),
                ("variant", "live"),
            )  # fmt: skip
            score = float(rng.uniform())
            rows = (
                ("prediction_id", [f"{seed}-{index}"]),
                ("prediction", [score > 0.5]),
                ("probabilities", [[1 - score, score]]),
            )
            chunks.append(Chunk(model, 1, scalars, rows, inputs))
            written.append((at, ms, degraded))
            index += 1
    assert log.write(chunks) == []
    return written


def seed(folder: Path) -> Seeded:
    """The seeded project (see the module); a few seconds."""
    write_files(folder)
    project = shipyard.open(folder)
    project.ingest("loans", folder / "batch.csv")
    project.train("risk")
    project.train("risk", params={"C": 0.5})
    project.evaluate("risk@1")
    project.promote("risk@1", reason="the first champion")
    project.models.alias("risk@2", "challenger", reason=HOSTILE)
    # thin: monitored over too few rows to judge; idle: a champion never served
    namespace: dict[str, Any] = {}
    exec(TRAIN, namespace)  # the same model code, fitted here
    fitted = namespace["train"](project.data.load("loans@1").to_pandas(), {})
    for name in ("thin", "idle"):
        version = project.register(fitted, name, dataset="loans@1")
        project.models.alias(version.ref, "champion")
    now = datetime.now(UTC).replace(microsecond=0)
    # the first half hour like the training data, the second with amount shifted: the
    # second monitoring run finds the drift and fires the alert
    log_traffic(project, start=now - timedelta(minutes=60), minutes=30, per_minute=8,
                shift=0.0, seed=1, latency=lambda i: 5.0 + i % 7)  # fmt: skip
    recent = log_traffic(project, start=now - timedelta(minutes=30), minutes=29, per_minute=8,
                         shift=2.5, seed=2, latency=lambda i: 10.0 + (i % 50),
                         degraded_every=10,
                         countries=("DE", "FR", "PL", "US", HOSTILE_CATEGORY))  # fmt: skip
    project.monitor("risk", window=1800, now=now - timedelta(minutes=30), notify=False)
    project.monitor("risk", window=1800, now=now, notify=False)
    log_traffic(project, start=now - timedelta(minutes=20), minutes=1, per_minute=5,
                shift=0.0, seed=3, latency=lambda i: 3.0, model="thin")  # fmt: skip
    project.monitor("thin", window=1800, now=now, notify=False)
    # a batch run's rows land in the log too, timed now: they are not requests
    project.score("risk@1", data="loans@1")
    window = [(ms, d) for at, ms, d in recent if at >= datetime.now(UTC) - timedelta(minutes=15)]
    return Seeded(
        project=project,
        now=now,
        latencies=[ms for ms, _ in window],
        degraded=sum(1 for _, d in window if d),
        csv=folder / "batch.csv",
    )


class Pages:
    """GET pages of a dashboard app in-process (httpx's ASGI transport, one event loop)."""

    def __init__(self, project: Project) -> None:
        self.app = DashboardApp(project, threads=2)
        self.loop = asyncio.new_event_loop()
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://127.0.0.1"
        )

    def _run(self, call: Awaitable[httpx.Response]) -> httpx.Response:
        return self.loop.run_until_complete(call)

    def get(self, path: str) -> httpx.Response:
        return self._run(self.client.get(path))

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self._run(self.client.request(method, path, **kwargs))

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.close()
        self.app.close()


def text_of(html: str) -> str:
    """The page's text, tags and charts removed, whitespace collapsed (for reading)."""
    import html as html_lib
    import re

    html = re.sub(r"<svg.*?</svg>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", html_lib.unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def wait_until(check: Callable[[], bool], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.05)


def row_of(html: str, attribute: str, value: str) -> dict[str, str]:
    """The text of each cell of the table row ``<tr data-ATTRIBUTE="VALUE">``: by
    position (``"#0"`` is the first cell), by the last class of a cell that has one, and
    ``"head"`` for its ``<th>``."""
    import html as html_lib
    import re

    quoted = html_lib.escape(value, quote=True)
    match = re.search(
        rf'<tr {re.escape(attribute)}="{re.escape(quoted)}">(.*?)</tr>', html, flags=re.S
    )
    assert match, f"no row {attribute}={value!r}"
    cells: dict[str, str] = {}
    found = re.findall(r"<(td|th)([^>]*)>(.*?)</\1>", match.group(1), re.S)
    for index, (tag, attrs, inner) in enumerate(found):
        text = text_of(inner)
        cells[f"#{index}"] = text
        named = re.search(r'class="([^"]+)"', attrs)
        if tag == "th":
            cells["head"] = text
        elif named:
            cells[named.group(1).split()[-1]] = text
    return cells
