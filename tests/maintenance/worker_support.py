"""A small project for the worker, trigger and CLI tests, and ways to reach into its state.

The model trains in well under a second. Its training step can be held: when the
file ``hold`` exists beside ``shipyard.yaml`` (its path is the ``hold`` param, as
the module may be imported once for several projects), ``train`` writes
``training-<pid>`` there and waits until ``hold`` is gone (or for ever, when the
test means to kill it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

import shipyard
from maintenance.maintenance_support import fire_alert as fire_alert  # the worker tests use it
from shipyard.demo import write_loans_batch
from shipyard.project import Project
from shipyard.storage.tables import retrain_locks, retrain_runs

PROJECT = """\
project: worker-test
worker: {tick_s: 0.5, lease_s: 5}
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
    train: held_model:train
    params: {hold: '%(hold)s'}
    latency_budget_ms: 60000
    gates:
      roc_auc: {min: 0.5}
    alerts:
      - {name: drift, when: drift}
      - {name: errors, when: error_rate, above: 0.5}
    retrain: %(retrain)s
"""

TRAIN = '''\
"""A quick model whose training can be held by the file its `hold` param names."""

import os
import time
from pathlib import Path

from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler


def train(frame, params):
    hold = Path(params["hold"])
    if hold.exists():
        (hold.parent / f"training-{os.getpid()}").write_text("training")
        while hold.exists():
            time.sleep(0.05)
    model = make_pipeline(
        ColumnTransformer(
            [
                ("country", OneHotEncoder(handle_unknown="ignore"), ["country"]),
                ("numbers", StandardScaler(), ["amount", "age"]),
            ]
        ),
        LogisticRegression(max_iter=200),
    )
    return model.fit(frame[["amount", "age", "country"]], frame["defaulted"])
'''


def write_project(
    folder: Path,
    retrain: str = "{}",
    *,
    database: str | None = None,
    artifacts: str | None = None,
) -> Path:
    """The project file, the model code and one batch of data (not yet ingested)."""
    folder.mkdir(parents=True, exist_ok=True)
    text = PROJECT % {"retrain": retrain, "hold": folder.resolve() / "hold"}
    storage = {"database": database, "artifacts": artifacts}
    named = ", ".join(f"{k}: '{v}'" for k, v in storage.items() if v)
    if named:
        text = text.replace("worker: {", f"storage: {{{named}}}\nworker: {{", 1)
    (folder / "shipyard.yaml").write_text(text)
    (folder / "held_model.py").write_text(TRAIN)
    write_loans_batch(folder / "batch.csv", rows=600, seed=3)
    return folder


def set_retrain(folder: Path, retrain: str) -> None:
    """Replace the model's retraining policy in the project file."""
    file = folder / "shipyard.yaml"
    lines = file.read_text().splitlines()
    lines = [f"    retrain: {retrain}" if ln.startswith("    retrain:") else ln for ln in lines]
    file.write_text("\n".join(lines) + "\n")


def with_champion(folder: Path) -> Project:
    """Open the project, ingest its batch, train version 1 and make it the champion."""
    project = shipyard.open(folder)
    project.ingest("loans", folder / "batch.csv")
    project.train("risk")
    project.promote("risk@1", force=True, reason="the first champion")
    return project


def add_run(project: Project, state: str, started_at: datetime, *, model: str = "risk") -> int:
    """A run record in ``state`` that started at ``started_at`` (no process behind it)."""
    with project.metadata.transaction() as conn:
        return int(
            conn.execute(
                retrain_runs.insert()
                .values(
                    model=model,
                    state=state,
                    trigger="manual",
                    checks=[],
                    holder="elsewhere:1",
                    started_at=started_at,
                    updated_at=started_at,
                    heartbeat_at=started_at,
                    steps=[],
                    finished_at=None if state in ("running", "shadowing") else started_at,
                )
                .returning(retrain_runs.c.id)
            ).scalar_one()
        )


def locks(project: Project) -> dict[str, int]:
    """The models whose retraining lock is taken, and by which run."""
    with project.metadata.read() as conn:
        rows = conn.execute(sa.select(retrain_locks.c.model, retrain_locks.c.run_id))
        return {model: int(run_id) for model, run_id in rows}


# -- a real `shipyard worker` ------------------------------------------------------------


def shipyard_exe() -> str:
    return shutil.which("shipyard", path=str(Path(sys.executable).parent)) or "shipyard"


def _env() -> dict[str, str]:
    """The environment without the developer's overrides (the S3 endpoint of a test stays)."""
    kept = ("SHIPYARD_S3_ENDPOINT_URL",)
    return {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_") or k in kept}


def start_worker(folder: Path, log: Path, *args: str) -> subprocess.Popen[bytes]:
    """``shipyard -C folder worker`` in the background, its stderr (the log) into ``log``."""
    return start_shipyard(folder, log, "worker", *args)


def start_shipyard(folder: Path, log: Path, *args: str) -> subprocess.Popen[bytes]:
    """``shipyard -C folder ARGS`` in the background, its output into ``log``."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [shipyard_exe(), "-C", str(folder), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=_env(),
        )


def cli(folder: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``shipyard -C folder ARGS``, run to its end."""
    return subprocess.run(
        [shipyard_exe(), "-C", str(folder), *args],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=timeout,
    )


def wait_for(what: str, check: Callable[[], Any], timeout: float = 90.0) -> Any:
    """Poll ``check`` until it returns something true; fail naming ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.1)


def stop(process: subprocess.Popen[bytes]) -> None:
    """Kill a worker a test left running."""
    if process.poll() is None:
        process.kill()
        process.wait(timeout=30)


def now() -> datetime:
    return datetime.now(UTC)
