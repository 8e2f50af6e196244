"""Fixtures for the serving tests: the test project and a live server on 127.0.0.1.

What they are made of (the project, ``LiveServer``, ``set_fault``) is in
``serving_support``, which tests import directly.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from serving_support import LiveServer, make_project

from shipyard.project import Project
from shipyard.serving.app import ServingApp


@pytest.fixture
def serving_project(tmp_path: Path) -> Iterator[Project]:
    project = make_project(tmp_path / "proj")
    try:
        yield project
    finally:
        project.close()


@pytest.fixture
def live(serving_project: Project) -> Iterator[LiveServer]:
    app = ServingApp(
        serving_project,
        {"risk": "champion", "faulty": "champion", "bare": "champion", "mixed": "champion"},
        environ={"SHIPYARD_ADMIN_TOKEN": "admin-secret"},
    )
    with LiveServer(app) as server:
        yield server
