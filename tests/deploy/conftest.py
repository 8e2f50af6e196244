"""A project with a champion, to build an image and manifests for.

The model is fitted here and registered as a notebook would, with an environment
recorded as if trained elsewhere (Python 3.11.7, scikit-learn 1.5.2, …), so the
tests see the image pinned to *that*, not to the machine running them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner, Result

import shipyard
from shipyard.cli import cli

RECORDED = {
    "python": "3.11.7",
    "platform": "Linux-6.1-x86_64",
    "packages": {
        "shipyard": "0.0.9",
        "scikit-learn": "1.5.2",
        "numpy": "1.26.4",
        "pandas": "2.2.2",
        "skops": "0.10.0",
        "lightgbm": "4.3.0",  # installed when it trained; a skops model does not need it
    },
}

PROJECT = """\
project: shop
{storage}server:
  require_token: true
  drain_s: 7.5
datasets:
  orders:
    target: late
    columns:
      amount: {{type: float}}
      items: {{type: int}}
      late: {{type: bool}}
models:
  risk:
    owner: {{name: team, file: alerts.jsonl{owner}}}
    task: binary_classification
    dataset: orders
    features: [amount, items]
    train: risk_model:train
    fallback: {{rules: rules:risk}}
"""


def project_file(folder: Path, *, storage: str = "", owner: str = "", server: str = "") -> Path:
    """Write shipyard.yaml (with ``storage:`` lines, extra owner keys) and the user's modules."""
    folder.mkdir(parents=True, exist_ok=True)
    text = PROJECT.format(storage=storage, owner=owner)
    if server:
        text = text.replace("  require_token: true\n", server)
    (folder / "shipyard.yaml").write_text(text, encoding="utf-8")
    (folder / "risk_model.py").write_text(
        "def train(frame, params):\n    raise NotImplementedError\n", encoding="utf-8"
    )
    (folder / "rules").mkdir(exist_ok=True)
    (folder / "rules" / "__init__.py").write_text(
        "def risk(row):\n    return None\n", encoding="utf-8"
    )
    (folder / "notes.txt").write_text("not named by the project: stays out\n", encoding="utf-8")
    return folder


def fitted() -> Any:
    from sklearn.linear_model import LogisticRegression

    rows = pd.DataFrame({"amount": np.arange(40.0), "items": np.arange(40) % 3})
    return LogisticRegression().fit(rows, np.arange(40) % 2 == 0)


def champion(folder: Path, name: str = "risk", environment: dict[str, Any] = RECORDED) -> None:
    with shipyard.open(folder) as opened:
        version = opened.register(fitted(), name, environment=environment)
        opened.models.alias(version.ref, "champion", reason="the deploy tests")


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """A project on SQLite whose model ``risk`` has a champion (risk@1)."""
    folder = project_file(tmp_path / "shop")
    champion(folder)
    return folder


def run(folder: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["-C", str(folder), *args])
