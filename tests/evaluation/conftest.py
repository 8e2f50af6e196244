"""The example project with two trained versions: one that passes its evaluation, one that does not."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import shipyard
from helpers import relax_latency
from shipyard.demo import write_loans_batch
from shipyard.project import Project, init_project


@pytest.fixture(scope="session")
def eval_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project, ingested and trained once per test process; each test gets a copy."""
    folder = tmp_path_factory.mktemp("evaluation") / "proj"
    init_project(folder, name="evaluation-test")
    relax_latency(folder)
    write_loans_batch(folder / "batch.csv", rows=3000, seed=1)
    with shipyard.open(folder) as project:
        project.ingest("loans", folder / "batch.csv")
        project.train("default-risk")  # @1: monotonic in amount and age: passes
        project.train("default-risk", params={"monotonic": False})  # @2: fails the directional test
    return folder


@pytest.fixture
def eval_project(eval_template: Path, tmp_path: Path) -> Iterator[Project]:
    folder = tmp_path / "proj"
    shutil.copytree(eval_template, folder)
    with shipyard.open(folder) as project:
        yield project
