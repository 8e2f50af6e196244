"""The pytest plugin teams use for their own ML tests, run in a real inner pytest session."""

from __future__ import annotations

from pathlib import Path

import pytest

import shipyard
from shipyard.demo import write_loans_batch
from shipyard.project import init_project

TESTS = """
from shipyard.testing import assert_directional, assert_invariant, assert_predicts


def test_monotonic_model_is_directional(shipyard_model, shipyard_rows):
    assert_directional(shipyard_model("default-risk@1"), shipyard_rows("loans@1", 300), "amount", increase=10000, expect="up")


def test_unconstrained_model_is_not(shipyard_model, shipyard_rows):
    assert_directional(shipyard_model("default-risk@2"), shipyard_rows("loans@1", 300), "amount", increase=10000, expect="up")


def test_minimum(shipyard_model):
    assert_predicts(shipyard_model("default-risk@1"), [{"amount": 50000, "age": 21, "country": "PL"}], [True])


def test_invariance_to_country_is_false(shipyard_model, shipyard_rows):
    assert_invariant(shipyard_model("default-risk@1"), shipyard_rows("loans@1", 100), "country", ["DE", "PL"], eps=0.001)
"""


def test_the_plugin_in_a_teams_test_suite(pytester: pytest.Pytester, tmp_path: Path) -> None:
    folder = tmp_path / "proj"
    init_project(folder, name="plugin")
    write_loans_batch(folder / "b.csv", rows=2000, seed=1)
    with shipyard.open(folder) as project:
        project.ingest("loans", folder / "b.csv")
        project.train("default-risk")
        project.train("default-risk", params={"monotonic": False})
    pytester.makepyfile(test_model=TESTS)
    result = pytester.runpytest("--shipyard-project", str(folder), "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(["*raising amount by 10000 moved * scores down*"])
    result.stdout.fnmatch_lines(["*setting country='DE' moved * scores by more than 0.001*"])
