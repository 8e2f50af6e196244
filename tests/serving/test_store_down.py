"""Starting before the database or the object store answers: live, not ready, then ready.

The stores are real (PostgreSQL, the moto S3 server); "down" is a loopback TCP
proxy in front of them whose port refuses connections until the test opens it,
and that can be closed again (dropping every connection through it).
"""

from __future__ import annotations

import io
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from serving_support import ROW_FEATURES, LiveServer, make_project

import shipyard
from shipyard.errors import StorageError, UnreachableError
from shipyard.serving.app import ServingApp
from shipyard.serving.waiting import CAP_S, FIRST_S, Backoff, waiting_detail
from shipyard.storage import MetadataStore

ROW = dict(ROW_FEATURES)
SHIPYARD = [sys.executable, "-m", "shipyard"]


class Proxy:
    """A TCP proxy on 127.0.0.1 to ``target``: its port refuses connections until :meth:`open`.

    While closed the port is bound but not listening, so a connection is refused at
    once (as when a server is down) and no other program can take the port.
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._sock = self._bound(0)
        self.port = self._sock.getsockname()[1]
        self._open = threading.Event()
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @staticmethod
    def _bound(port: int) -> socket.socket:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        return sock

    def open(self) -> None:
        self._sock.listen(64)
        self._open.set()
        self._thread = threading.Thread(target=self._accept, args=(self._sock,), daemon=True)
        self._thread.start()

    def close(self, *, refuse: bool = True) -> None:
        """Refuse new connections again and cut the ones open (a store that went down)."""
        self._open.clear()
        self._sock.close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        with self._lock:
            for conn in self._conns:
                with _quiet():
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()
            self._conns.clear()
        if refuse:
            self._sock = self._bound(self.port)  # bound, not listening: refuses at once

    def _accept(self, listening: socket.socket) -> None:
        listening.settimeout(0.1)
        while self._open.is_set():
            try:
                client, _ = listening.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        with _quiet():
            while data := source.recv(65536):
                sink.sendall(data)
        with _quiet():
            sink.shutdown(socket.SHUT_WR)

    def stop(self) -> None:
        self.close(refuse=False)


class _quiet:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return exc[0] is not None and issubclass(exc[0], OSError)  # type: ignore[arg-type]


@pytest.fixture
def pg_proxy(postgres_url: str) -> Iterator[tuple[Proxy, str]]:
    """A proxy to the test database, closed, and the database URL through it (with a password)."""
    host_port = postgres_url.split("@", 1)[1].split("/", 1)[0]
    host, port = host_port.rsplit(":", 1)
    proxy = Proxy((host, int(port)))
    user = postgres_url.split("://", 1)[1].split("@", 1)[0]
    database = postgres_url.rsplit("/", 1)[1]
    try:
        yield proxy, f"postgresql://{user}:s3cret-pw@127.0.0.1:{proxy.port}/{database}"
    finally:
        proxy.stop()


def _wait(condition: object, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


def _answers(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=10).status_code
    except httpx.HTTPError:
        return None


def _readyz(url: str) -> httpx.Response | None:
    try:
        return httpx.get(f"{url}/readyz", timeout=10)
    except httpx.HTTPError:
        return None


# -- the backoff -------------------------------------------------------------------------


@given(st.lists(st.floats(min_value=0, max_value=1), min_size=1, max_size=80))
def test_backoff_doubles_up_to_its_cap_with_jitter(draws: list[float]) -> None:
    rolls = iter([*draws, 1.0])
    backoff = Backoff(jitter=lambda: next(rolls))
    for attempt, roll in enumerate(draws):
        ceiling = min(CAP_S, FIRST_S * 2**attempt)
        delay = backoff.next()
        assert ceiling / 2 <= delay <= ceiling
        assert delay == pytest.approx(ceiling * (0.5 + 0.5 * roll))
    backoff.reset()
    assert backoff.next() <= FIRST_S


# -- cannot reach vs refused -----------------------------------------------------------------


@pytest.mark.postgres
def test_a_database_that_does_not_answer_is_told_from_one_that_refuses(
    pg_proxy: tuple[Proxy, str], postgres_url: str, tmp_path: Path
) -> None:
    _proxy, url = pg_proxy
    with pytest.raises(UnreachableError) as down:
        MetadataStore(url, root=tmp_path)
    assert down.value.store == "metadata store"
    assert down.value.url.endswith(f":***@127.0.0.1:{_proxy.port}/{url.rsplit('/', 1)[1]}")
    assert "refused" in down.value.reason.lower() and "s3cret" not in str(down.value)
    lazy = MetadataStore(url, root=tmp_path, lazy=True)  # a server's: nothing is asked yet
    with pytest.raises(UnreachableError):
        lazy.ping()
    _proxy.open()
    lazy.ping()  # connected and migrated on first use
    assert lazy.schema_revision() is not None
    lazy.close()
    missing = postgres_url.rsplit("/", 1)[0] + "/no_such_database"
    with pytest.raises(StorageError) as refused:
        MetadataStore(missing, root=tmp_path)
    assert not isinstance(refused.value, UnreachableError)
    assert 'database "no_such_database" does not exist' in refused.value.message


# -- `shipyard serve` before PostgreSQL ---------------------------------------------------


def _serve(folder: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*SHIPYARD, "-C", str(folder), "serve", "--port", "0", *args],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env={**os.environ, **env, "COLUMNS": "250"},
    )


class _Lines:
    """The stderr of a server, read in a thread, kept for assertions."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._stream = process.stderr
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self._stream is not None
        for line in self._stream:
            self.lines.append(line)

    def close(self) -> None:
        self._thread.join(timeout=30)
        assert self._stream is not None
        self._stream.close()

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def url(self) -> str:
        _wait(lambda: re.search(r"on (http://127\.0\.0\.1:\d+)", self.text), 60)
        found = re.search(r"on (http://127\.0\.0\.1:\d+)", self.text)
        assert found
        return found.group(1)


@pytest.mark.postgres
def test_serve_starts_before_postgres_then_becomes_ready(
    tmp_path: Path, postgres_url: str, pg_proxy: tuple[Proxy, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy, down_url = pg_proxy
    monkeypatch.setenv("SHIPYARD_DATABASE_URL", postgres_url)
    make_project(tmp_path / "proj").close()
    process = _serve(tmp_path / "proj", {"SHIPYARD_DATABASE_URL": down_url}, "risk")
    out = _Lines(process)
    try:
        url = out.url()
        # live once the start stops waiting for the stores (PROBE_WAIT_S): the port
        # refuses connections until then, as while models load
        _wait(lambda: _answers(f"{url}/healthz") == 200, 60)
        details: set[str] = set()

        def waited_three_times() -> bool:
            ready = _readyz(url)
            if ready is not None:
                assert ready.status_code == 503, ready.text
                details.add(ready.json()["models"]["risk"]["error"] or "")
            return len(details) >= 3

        _wait(waited_three_times)
        detail = sorted(details)[-1]
        assert re.match(
            r"waiting for the metadata store at postgresql://\S+:\*\*\*@127\.0\.0\.1:\d+/\S+ — "
            r".*Connection refused; retrying in [\d.]+ s$",
            detail,
        ), detail
        answer = httpx.post(f"{url}/v1/models/risk/predict", json=ROW, timeout=30).json()
        assert answer["degraded"] is True and answer["reason"] == "unloaded"
        proxy.open()
        _wait(lambda: (r := _readyz(url)) is not None and r.status_code == 200)
        answer = httpx.post(f"{url}/v1/models/risk/predict", json=ROW, timeout=30).json()
        assert answer["path"] == "model" and answer["version"] == 1
    finally:
        process.terminate()
        process.wait(timeout=60)
        out.close()
    log = out.text
    assert "s3cret-pw" not in log
    assert log.count("not ready: waiting for the metadata store") == 1, log  # one per change
    assert log.count("the stores answer now") == 1, log
    assert "Traceback" not in log


def test_serve_fails_fast_on_a_model_the_project_does_not_declare(project_dir: Path) -> None:
    """A typo needs no database: it is refused at once, even with the database down."""
    result = subprocess.run(
        [*SHIPYARD, "-C", str(project_dir), "serve", "--port", "0", "default-rsik"],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "SHIPYARD_DATABASE_URL": "postgresql://u:pw@127.0.0.1:1/db",
             "COLUMNS": "250"},
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "no model named 'default-rsik' in the project file" in result.stderr
    assert "did you mean 'default-risk'" in result.stderr
    assert "Traceback" not in result.stderr and "serving" not in result.stderr


@pytest.mark.postgres
def test_serve_fails_fast_on_a_configuration_mistake(
    serving_project: shipyard.Project, postgres_url: str
) -> None:
    base = postgres_url.rsplit("/", 1)[0]
    for url, message in (
        (f"{base}/no_such_database", 'database "no_such_database" does not exist'),
        ("postgresql://u:pw@127.0.0.1:notaport/db", "is malformed"),
    ):
        result = subprocess.run(
            [*SHIPYARD, "-C", str(serving_project.root), "serve", "--port", "0", "risk"],
            capture_output=True, text=True, timeout=60,
            env={**os.environ, "SHIPYARD_DATABASE_URL": url, "COLUMNS": "250"},
        )  # fmt: skip
        assert result.returncode == 2, result.stderr
        assert message in result.stderr, result.stderr
        assert "Traceback" not in result.stderr and "serving " not in result.stderr
        assert ":pw@" not in result.stderr


# -- the object store ---------------------------------------------------------------------


@pytest.fixture
def s3_proxy(s3_endpoint: str) -> Iterator[Proxy]:
    host, port = s3_endpoint.removeprefix("http://").rsplit(":", 1)
    proxy = Proxy((host, int(port)))
    try:
        yield proxy
    finally:
        proxy.stop()


def _s3_project(
    tmp_path: Path, bucket: str, proxy: Proxy, monkeypatch: pytest.MonkeyPatch
) -> shipyard.Project:
    """The serving project with its artifacts on S3, reached through ``proxy`` (opened)."""
    monkeypatch.setenv("SHIPYARD_ARTIFACTS_URL", f"s3://{bucket}/shipyard")
    monkeypatch.setenv("SHIPYARD_S3_ENDPOINT_URL", f"http://127.0.0.1:{proxy.port}")
    proxy.open()
    make_project(tmp_path / "proj").close()
    proxy.close()
    return shipyard.open(tmp_path / "proj", lazy_stores=True)


@pytest.mark.s3
def test_a_worker_waits_for_the_object_store_at_start(
    tmp_path: Path, s3_bucket: str, s3_proxy: Proxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _s3_project(tmp_path, s3_bucket, s3_proxy, monkeypatch)
    server = LiveServer(ServingApp(project, {"risk": "champion"}, environ={}))
    server.thread.start()
    try:
        _wait(lambda: _readyz(server.url) is not None)
        assert httpx.get(f"{server.url}/healthz").status_code == 200
        waiting = "waiting for the artifact store"
        _wait(lambda: waiting in (_readyz(server.url).json()["models"]["risk"]["error"] or ""))  # type: ignore[union-attr]
        ready = _readyz(server.url)
        assert ready is not None and ready.status_code == 503
        error = ready.json()["models"]["risk"]["error"]
        assert error.startswith(f"waiting for the artifact store at s3://{s3_bucket}/shipyard — ")
        assert "retrying in" in error
        s3_proxy.open()
        _wait(lambda: (r := _readyz(server.url)) is not None and r.status_code == 200, 120)
        answer = httpx.post(f"{server.url}/v1/models/risk/predict", json=ROW).json()
        assert answer["path"] == "model"
    finally:
        server.stop()
        project.close()


@pytest.mark.s3
def test_a_version_whose_store_does_not_answer_is_retried_not_refused(
    tmp_path: Path, s3_bucket: str, s3_proxy: Proxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _s3_project(tmp_path, s3_bucket, s3_proxy, monkeypatch)
    s3_proxy.open()
    app = ServingApp(project, {"risk": "champion"}, environ={})
    with LiveServer(app) as server, server.client() as client:
        assert client.post("/v1/models/risk/predict", json=ROW).json()["version"] == 1
        s3_proxy.close()  # the object store goes down mid-traffic
        project.models.alias("risk@2", "champion")  # the registry (SQLite) still answers
        deployment = app.deployments["risk"]
        _wait(lambda: "waiting for the artifact store" in (deployment.error or ""), 120)
        assert deployment.refused is None  # not refused: tried again with backoff
        answer = client.post("/v1/models/risk/predict", json=ROW).json()
        assert answer["path"] == "model" and answer["version"] == 1  # the old one serves on
        s3_proxy.open()
        _wait(lambda: client.post("/v1/models/risk/predict", json=ROW).json()["version"] == 2, 120)
        assert deployment.error is None
    project.close()


@pytest.mark.s3
def test_a_bucket_that_does_not_exist_is_a_mistake_not_an_outage(
    serving_project: shipyard.Project, s3_endpoint: str
) -> None:
    result = subprocess.run(
        [*SHIPYARD, "-C", str(serving_project.root), "serve", "--port", "0", "risk"],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "SHIPYARD_ARTIFACTS_URL": "s3://no-such-bucket/x",
             "SHIPYARD_S3_ENDPOINT_URL": s3_endpoint, "COLUMNS": "250"},
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "there is no bucket 'no-such-bucket'" in result.stderr
    assert "Traceback" not in result.stderr and "serving " not in result.stderr


def test_the_waiting_detail_names_the_store_and_the_delay() -> None:
    problem = UnreachableError(
        "could not connect",
        store="metadata store",
        url="postgresql://app:***@db:5432/shipyard",
        reason="connection refused",
    )
    assert waiting_detail(problem, 4.2) == (
        "waiting for the metadata store at postgresql://app:***@db:5432/shipyard — "
        "connection refused; retrying in 4 s"
    )
    assert waiting_detail(problem, 0.74).endswith("retrying in 0.7 s")


# -- a full disk under the prediction log --------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 8 MB tmpfs; skipped only where mounting is impossible (not root, no tmpfs)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_under_the_prediction_log_loses_no_answer(
    tmp_path: Path, small_disk: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Store and spool both full: serving goes on, the rows wait in memory, then are written."""
    monkeypatch.setenv("SHIPYARD_DATABASE_URL", f"sqlite:///{tmp_path / 'meta.db'}")
    project = make_project(small_disk / "proj")  # artifacts and spool on the small disk
    filler = small_disk / "filler"
    with filler.open("wb", buffering=0) as out:
        with pytest.raises(OSError, match="No space left"):
            while True:
                out.write(b"\0" * 4096)
        with pytest.raises(OSError, match="No space left"):
            while True:
                out.write(b"\0")
    before = sorted(p for p in small_disk.rglob("*") if p.is_file())
    app = ServingApp(project, {"risk": "champion"}, environ={})
    try:
        with LiveServer(app) as server, server.client() as client:
            ids = []
            for _ in range(20):
                answer = client.post("/v1/models/risk/predict", json=ROW)
                assert answer.status_code == 200 and answer.json()["path"] == "model"
                ids += answer.json()["prediction_ids"]
            time.sleep(1.5)  # several flushes (every 0.2 s) meet the full disk
            assert app.predictions.buffered == 20  # kept for the next try, not dropped
            after = sorted(p for p in small_disk.rglob("*") if p.is_file())
            assert after == before  # no segment, no half-written file
            filler.unlink()  # room again
            _wait(lambda: app.predictions.buffered == 0, 30)
        keys = [k for k in project.artifacts.list("predictions/risk/") if k.endswith(".parquet")]
        logged = pl.concat([pl.read_parquet(io.BytesIO(project.artifacts.get(k))) for k in keys])
        assert set(ids) <= set(logged["prediction_id"].to_list())
    finally:
        project.close()
