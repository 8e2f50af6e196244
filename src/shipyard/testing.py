"""A pytest plugin for teams' own ML tests: fixtures that open the project and load models,
and helpers for behavioural checks.

Installed with shipyard and enabled automatically (the ``pytest11`` entry point)::

    from shipyard.testing import assert_directional

    def test_bigger_loans_never_look_safer(shipyard_model, shipyard_rows):
        model = shipyard_model("default-risk@champion")
        rows = shipyard_rows("loans@latest", 500)
        assert_directional(model, rows, "amount", increase=10_000, expect="up")

``shipyard_project`` opens the project of the test run (``--shipyard-project DIR``,
``SHIPYARD_PROJECT``, or the folder pytest runs in); every helper fails the test
with the rows that broke the expectation.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from shipyard.evaluation import behaviour
from shipyard.models import Predictor
from shipyard.project import Project, open_project

SHOWN = 5


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--shipyard-project", default=None, help="the shipyard project the ML tests run against"
    )


@pytest.fixture(scope="session")
def shipyard_project(request: pytest.FixtureRequest) -> Iterator[Project]:
    """The project (its models and datasets) the tests run against."""
    folder = (
        request.config.getoption("--shipyard-project")
        or os.environ.get("SHIPYARD_PROJECT")
        or request.config.rootpath
    )
    with open_project(Path(folder)) as project:
        yield project


@pytest.fixture(scope="session")
def shipyard_model(shipyard_project: Project) -> Callable[[str], Predictor]:
    """``shipyard_model("fraud@champion")``: a registered version, loaded and hash-verified."""
    loaded: dict[str, Predictor] = {}

    def load(ref: str) -> Predictor:
        if ref not in loaded:
            loaded[ref] = shipyard_project.models.load(ref)
        return loaded[ref]

    return load


@pytest.fixture(scope="session")
def shipyard_rows(shipyard_project: Project) -> Callable[..., Any]:
    """``shipyard_rows("loans@latest", 500)``: the first rows of a dataset version (pandas)."""

    def rows(ref: str, limit: int | None = None) -> Any:
        frame = shipyard_project.data.load(ref)
        return (frame.head(limit) if limit else frame).to_pandas()

    return rows


def assert_invariant(
    model: Predictor, rows: Any, column: str, values: list[Any], eps: float = 0.05
) -> None:
    """Setting ``column`` to each of ``values`` moves no row's score by more than ``eps``."""
    found = behaviour.invariance(model, rows, column, eps=eps, values=values)
    for value, moved in found.moves:
        bad = np.flatnonzero(moved > eps)
        if len(bad):
            pytest.fail(
                f"setting {column}={value!r} moved {len(bad)} of {len(rows)} scores by more than {eps}: "
                + _cases(rows, bad, moved, "moved")
            )


def assert_directional(
    model: Predictor, rows: Any, column: str, increase: float, expect: str, tolerance: float = 1e-9
) -> None:
    """Raising ``column`` by ``increase`` moves every score ``expect`` (``"up"`` or ``"down"``) or not at all."""
    found = behaviour.directional(
        model, rows, column, increase=increase, expect=expect, tolerance=tolerance
    )
    change, bad = found.change, found.bad
    if len(bad):
        pytest.fail(
            f"raising {column} by {increase:g} moved {len(bad)} of {len(rows)} scores "
            f"{'down' if expect == 'up' else 'up'}: " + _cases(rows, bad, change, "change")
        )


def assert_predicts(model: Predictor, cases: list[dict[str, Any]], expected: list[Any]) -> None:
    """Minimum functionality: each case gets its expected label."""
    import pandas as pd

    wrong = [
        (cases[i], want, have)
        for i, want, have in behaviour.minimum(model, pd.DataFrame(cases), expected)
    ]
    if wrong:
        pytest.fail(
            f"{len(wrong)} of {len(cases)} cases wrong: "
            + "; ".join(
                f"{case} expected {want!r}, got {have!r}" for case, want, have in wrong[:SHOWN]
            )
        )


def _cases(rows: Any, bad: np.ndarray, values: np.ndarray, label: str) -> str:
    return "; ".join(
        ", ".join(f"{k}={v}" for k, v in rows.iloc[i].items()) + f" ({label} {values[i]:+.4f})"
        for i in bad[:SHOWN]
    )
