"""A project with a dataset, an ingested version and a model with a training function."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import shipyard
from shipyard.demo import write_loans_batch
from shipyard.project import Project, init_project


@pytest.fixture
def model_project(tmp_path: Path) -> Iterator[Project]:
    folder = tmp_path / "proj"
    init_project(folder, name="models-test")
    write_loans_batch(folder / "batch.csv", rows=1500, seed=1)
    with shipyard.open(folder) as project:
        project.ingest("loans", folder / "batch.csv")
        yield project
