"""A project with a dataset, an ingested version and a model with a training function."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import shipyard
from shipyard.demo import write_loans_batch
from shipyard.project import Project, init_project


@pytest.fixture(scope="session")
def model_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project with loans@1 ingested, once per test process; each test gets a copy."""
    folder = tmp_path_factory.mktemp("models") / "proj"
    init_project(folder, name="models-test")
    write_loans_batch(folder / "batch.csv", rows=1500, seed=1)
    with shipyard.open(folder) as project:
        project.ingest("loans", folder / "batch.csv")
    return folder


@pytest.fixture
def model_project(model_template: Path, tmp_path: Path) -> Iterator[Project]:
    folder = tmp_path / "proj"
    shutil.copytree(model_template, folder)
    with shipyard.open(folder) as project:
        yield project
