"""Shared fixtures: projects on disk, and every storage backend behind one fixture each.

PostgreSQL comes from ``SHIPYARD_TEST_POSTGRES_URL`` (``.ci/run`` starts a real
server with ``scripts/start-postgres.sh``); each test gets a database of its own.
S3 is the moto server on 127.0.0.1, started here (or ``SHIPYARD_TEST_S3_ENDPOINT``);
each test gets a bucket of its own. Outside CI a missing backend skips its tests
with the reason; in CI (``CI=true``) it fails them instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import missing_backend
from shipyard.project import init_project
from shipyard.storage import ArtifactStore, MetadataStore
from shipyard.storage.urls import ArtifactLocation

pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's own overrides."""
    for var in ("SHIPYARD_DATABASE_URL", "SHIPYARD_ARTIFACTS_URL", "SHIPYARD_PROJECT"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    """A folder holding the example project file, as `shipyard init` writes it."""
    folder = tmp_path / "proj"
    init_project(folder, name="test-project")
    return folder


# -- PostgreSQL -------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    url = os.environ.get("SHIPYARD_TEST_POSTGRES_URL")
    if not url:
        missing_backend(
            "no PostgreSQL server: set SHIPYARD_TEST_POSTGRES_URL "
            '(eval "$(scripts/start-postgres.sh)" starts one)'
        )
    return str(url)


@pytest.fixture
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """The URL of a fresh, empty database, dropped after the test."""
    import psycopg

    name = f"shipyard_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = postgres_admin_url.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- S3 (moto server on loopback) ------------------------------------------


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    endpoint = os.environ.get("SHIPYARD_TEST_S3_ENDPOINT")
    if endpoint:
        yield endpoint
        return
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        missing_backend("moto is not installed: pip install -e '.[dev]'")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket on the S3 server; the store is pointed at its endpoint."""
    import boto3

    name = f"shipyard-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=name)
    monkeypatch.setenv("SHIPYARD_S3_ENDPOINT_URL", s3_endpoint)
    return name


# -- one fixture per store, over every backend --------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/meta.db"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def metadata_store(database_url: str, tmp_path: Path) -> Iterator[MetadataStore]:
    store = MetadataStore(database_url, root=tmp_path)
    yield store
    store.close()


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def artifact_store(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    if request.param == "local":
        return ArtifactStore(ArtifactLocation("file", str(tmp_path / "artifacts")))
    bucket = request.getfixturevalue("s3_bucket")
    return ArtifactStore(ArtifactLocation("s3", f"{bucket}/prefix"))
