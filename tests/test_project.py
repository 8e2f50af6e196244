"""Opening a project: the file, the stores it points at, the environment overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

import shipyard
from shipyard.errors import ConfigError
from shipyard.project import init_project


def test_open_finds_the_project_from_a_subfolder(project_dir: Path) -> None:
    (project_dir / "notebooks").mkdir()
    with shipyard.open(project_dir / "notebooks") as project:
        assert project.root == project_dir.resolve()
        assert project.name == "test-project"


def test_stores_are_opened_on_first_use_relative_to_the_project(project_dir: Path) -> None:
    with shipyard.open(project_dir) as project:
        assert not (project_dir / ".shipyard").exists()
        event = project.record("project.created", project.name)
        assert project.audit() == [event]
        artifact = project.artifacts.put(b"x")
    assert (project_dir / ".shipyard" / "shipyard.db").exists()
    assert (project_dir / ".shipyard" / "artifacts" / artifact.key).exists()


def test_environment_points_the_same_file_elsewhere(
    project_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHIPYARD_DATABASE_URL", f"sqlite:///{tmp_path}/elsewhere.db")
    monkeypatch.setenv("SHIPYARD_ARTIFACTS_URL", str(tmp_path / "bucket"))
    with shipyard.open(project_dir) as project:
        project.record("x", "y")
        key = project.artifacts.put(b"y").key
    assert (tmp_path / "elsewhere.db").exists()
    assert (tmp_path / "bucket" / key).exists()
    assert not (project_dir / ".shipyard").exists()


@pytest.mark.postgres
@pytest.mark.s3
def test_a_project_on_postgres_and_s3(
    project_dir: Path, postgres_url: str, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One project file, the cluster's storage: only environment variables change."""
    from shipyard.doctor import run_doctor

    user_and_host = postgres_url.split("://", 1)[1]
    monkeypatch.setenv("PGPASS_FOR_TEST", "unused")
    monkeypatch.setenv("SHIPYARD_DATABASE_URL", postgres_url)
    monkeypatch.setenv("SHIPYARD_ARTIFACTS_URL", f"s3://{s3_bucket}/team")
    with shipyard.open(project_dir) as project:
        report = run_doctor(project)
        assert report.ok, report.checks
        assert project.metadata.backend == "postgresql"
        assert user_and_host in report.database
        assert report.artifacts == f"s3://{s3_bucket}/team"


def test_database_url_may_refer_to_an_environment_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "shipyard.yaml").write_text(
        "project: p\nstorage:\n  database: sqlite:///${DB_FILE}\n"
    )
    with shipyard.open(folder) as project, pytest.raises(ConfigError, match=r"\$\{DB_FILE\}"):
        project.metadata  # noqa: B018 - opening is the point
    monkeypatch.setenv("DB_FILE", str(tmp_path / "from-env.db"))
    with shipyard.open(folder) as project:
        project.record("x", "y")
    assert (tmp_path / "from-env.db").exists()


def test_init_picks_a_valid_name_from_the_folder(tmp_path: Path) -> None:
    file = init_project(tmp_path / "My Project!")
    with shipyard.open(file.parent) as project:
        assert project.name == "My-Project"
