"""Shared fixtures: projects on disk, and every storage backend behind one fixture each.

PostgreSQL comes from ``SHIPYARD_TEST_POSTGRES_URL`` (``.ci/run`` starts a real
server with ``scripts/start-postgres.sh``); each test gets a database of its own.
S3 is the moto server on 127.0.0.1, started here (or ``SHIPYARD_TEST_S3_ENDPOINT``);
each test gets a bucket of its own. Outside CI a missing backend skips its tests
with the reason; in CI (``CI=true``) it fails them instead.
"""

from __future__ import annotations

import inspect
import os
import types
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from threadpoolctl import threadpool_limits

from helpers import missing_backend
from shipyard.project import init_project
from shipyard.storage import ArtifactStore, MetadataStore
from shipyard.storage.urls import ArtifactLocation

pytest_plugins = ["pytester"]

# One thread per native pool (OpenMP, BLAS), as a serving worker runs them
# (serving/server.py's pin_threads): the variables for libraries loaded from now on,
# threadpoolctl for those loaded already. With a pool per core, OpenMP's waiting
# threads made the single-row predictions of an evaluation's latency check cost about
# eight times the CPU on a busy 2-core machine.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")
threadpool_limits(1)

# -- the slow marker ----------------------------------------------------------

TESTS = Path(__file__).parent
# names whose use starts a subprocess, a process or a server on 127.0.0.1 (the browser
# runs as a subprocess)
STARTS_SOMETHING = frozenset(
    {
        "subprocess",
        "run_together",
        "Process",
        "ProcessPoolExecutor",
        "EmbeddedServer",
        "LiveServer",
        "HTTPServer",
        "ThreadingHTTPServer",
        "ThreadedMotoServer",
        "Controller",  # aiosmtpd's SMTP server
        "listen",  # a socket that takes connections
    }
)
_verdicts: dict[object, bool] = {}


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``slow`` every test that starts a server, a subprocess or a browser.

    A test is slow when it, one of its fixtures, or a helper defined under tests/
    that they call (at any depth) names something in ``STARTS_SOMETHING``, or when it
    is an ``s3`` test (moto's server, started below, is its store). A test that
    starts one in a way no name shows (``shipyard demo`` through ``CliRunner`` serves
    its champion) carries the marker itself.
    """
    for item in items:
        if item.get_closest_marker("slow") or not isinstance(item, pytest.Function):
            continue
        fixtures = item._fixtureinfo.name2fixturedefs  # the test's fixtures, as collected
        used = [item.obj, *(d.func for defs in fixtures.values() for d in defs)]
        s3 = item.get_closest_marker("s3")  # its store is the moto server this file starts
        if s3 or any(starts_something(thing) for thing in used):
            item.add_marker(pytest.mark.slow)


def starts_something(thing: object) -> bool:
    """Whether ``thing``, defined under tests/, names a starter, itself or through a helper."""
    thing = getattr(getattr(thing, "hypothesis", None), "inner_test", thing)
    try:
        thing = inspect.unwrap(thing)  # type: ignore[arg-type]  # anything callable or not
    except (TypeError, ValueError):
        return False
    if isinstance(thing, dict | list | tuple):  # a table of helpers
        values = thing.values() if isinstance(thing, dict) else thing
        return any(starts_something(value) for value in values)
    if not isinstance(thing, types.FunctionType | type):
        return False
    if isinstance(thing, type):
        if any(base.__name__ in STARTS_SOMETHING for base in thing.__mro__):
            return True
        methods = [getattr(v, "__func__", v) for v in vars(thing).values()]  # static, class
        return any(starts_something(m) for m in methods if isinstance(m, types.FunctionType))
    if not thing.__code__.co_filename.startswith(str(TESTS)):
        return False
    if thing not in _verdicts:
        _verdicts[thing] = False  # a helper that calls itself (or its caller) stops here
        names = _names(thing.__code__)
        _verdicts[thing] = bool(names & STARTS_SOMETHING) or any(
            starts_something(thing.__globals__.get(name)) for name in names
        )
    return _verdicts[thing]


def _names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names(const)
    return names


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
