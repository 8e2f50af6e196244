from __future__ import annotations

from pathlib import Path

from shipyard.storage.urls import artifact_location, database_url, redact


def test_redact_hides_only_the_password() -> None:
    assert redact("postgresql://app:s3cret@db:5432/x") == "postgresql://app:***@db:5432/x"
    assert redact("postgresql://app@db/x") == "postgresql://app@db/x"
    assert redact("sqlite:///a.db") == "sqlite:///a.db"


def test_sqlite_paths_are_relative_to_the_project(tmp_path: Path) -> None:
    assert (
        database_url("sqlite:///.shipyard/s.db", tmp_path) == f"sqlite:///{tmp_path}/.shipyard/s.db"
    )
    assert database_url("sqlite:////abs/s.db", tmp_path) == "sqlite:////abs/s.db"


def test_postgres_uses_psycopg3(tmp_path: Path) -> None:
    assert database_url("postgresql://u@h/d", tmp_path) == "postgresql+psycopg://u@h/d"
    assert database_url("postgres://u@h/d", tmp_path) == "postgresql+psycopg://u@h/d"


def test_artifact_locations(tmp_path: Path) -> None:
    local = artifact_location(".shipyard/artifacts", tmp_path)
    assert local.protocol == "file"
    assert local.root == str((tmp_path / ".shipyard/artifacts").resolve())
    assert artifact_location("file:///srv/a", tmp_path).root == "/srv/a"
    s3 = artifact_location("s3://bucket/some/prefix/", tmp_path)
    assert (s3.protocol, s3.root, s3.url) == ("s3", "bucket/some/prefix", "s3://bucket/some/prefix")
