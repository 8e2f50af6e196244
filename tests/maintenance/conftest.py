"""Fixtures of the maintenance tests: the tiny project on SQLite + a folder, or PostgreSQL + S3."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from maintenance.maintenance_support import champion_project
from shipyard.project import Project


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql+s3", marks=[pytest.mark.postgres, pytest.mark.s3])]
)
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """SQLite and a folder; or PostgreSQL and S3 (through the environment's overrides)."""
    if request.param != "sqlite":
        monkeypatch.setenv("SHIPYARD_DATABASE_URL", request.getfixturevalue("postgres_url"))
        bucket = request.getfixturevalue("s3_bucket")
        monkeypatch.setenv("SHIPYARD_ARTIFACTS_URL", f"s3://{bucket}/shipyard")
    return str(request.param)


@pytest.fixture
def manual(tmp_path: Path) -> Iterator[Project]:
    """risk@1 is the champion; the policy: approve by hand, no shadow, no guard (SQLite)."""
    yield from champion_project(tmp_path / "p", "{}")
