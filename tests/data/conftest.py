"""A project with a small, strict dataset for the data tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import shipyard
from sample_data import PROJECT
from shipyard.project import Project


@pytest.fixture
def data_project(tmp_path: Path) -> Iterator[Project]:
    folder = tmp_path / "proj"
    folder.mkdir()
    (folder / "shipyard.yaml").write_text(PROJECT)
    with shipyard.open(folder) as project:
        yield project
