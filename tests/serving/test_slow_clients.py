"""Slow and idle clients cannot take the server: time limits per connection state, a cap.

Raw sockets on 127.0.0.1 play the clients uvicorn alone would wait for forever: a head
sent a byte at a time, a body dribbled, connections left idle, more connections than
the cap. Both of uvicorn's parsers (httptools and h11) run the same tests, and one
test runs the real ``shipyard serve`` under a low open-file limit.
"""

from __future__ import annotations

import io
import json
import os
import re
import resource
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from serving_support import make_project

import shipyard
from shipyard.config.schema import ServerConfig
from shipyard.project import Project
from shipyard.serving.app import ServingApp
from shipyard.serving.connections import OWN_FILES, RESERVE_MIN, limits_for
from shipyard.serving.embedded import EmbeddedServer

ROW = {"amount": 1000.0, "age": 30}
BODY = json.dumps(ROW).encode()
PREDICT_HEAD = (
    b"POST /v1/models/risk/predict HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(BODY)
)
PARSERS = ["httptools", "h11"]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    project = make_project(tmp_path_factory.mktemp("slow") / "proj")
    try:
        yield project
    finally:
        project.close()


@contextmanager
def server(project: Project, http: str, **settings: Any) -> Iterator[EmbeddedServer]:
    """The real app under uvicorn with these ``server:`` settings (as the project file gives)."""
    app = ServingApp(project, {"risk": "champion"}, environ={}, access_log=False)
    app.settings = ServerConfig.model_validate({**app.settings.model_dump(), **settings})
    with EmbeddedServer(app, http=http) as running:
        yield running


def closed(app: Any, reason: str) -> float:
    return float(app.metrics.values["shipyard_connections_closed_total"].get((reason,), 0))


def connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=15)
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes (the socket's time-out bounds the wait)."""
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


def exchange(sock: socket.socket, request: bytes) -> bytes:
    """Send one request on a kept-alive connection and read its whole answer."""
    sock.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"content-length: (\d+)", head, re.I).group(1))  # type: ignore[union-attr]
    while len(body) < length:
        body += sock.recv(65536)
    return head


def drained(running: EmbeddedServer) -> bool:
    """Every connection closed is forgotten: nothing left in the guard's books."""
    guard = running.guard
    return guard.open == 0 and not (guard.heads or guard.bodies or guard.idle)


def status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0


def healthz() -> bytes:
    return b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def until(check: Any, seconds: float = 20.0, every: float = 0.02) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(every)
    return check()


@pytest.mark.parametrize("http", PARSERS)
def test_a_head_sent_a_byte_at_a_time_is_cut_off_with_408(project: Project, http: str) -> None:
    with server(project, http, header_timeout_s=0.5) as running:
        sock = connect(running.url)
        answer = b""
        with sock:
            # a byte every 0.1 s: never idle for long, but the whole head takes 10 s
            for byte in PREDICT_HEAD[:100]:
                try:
                    sock.sendall(bytes([byte]))
                except (BrokenPipeError, ConnectionResetError):
                    break
                time.sleep(0.1)
                sock.setblocking(False)
                try:
                    answer += sock.recv(65536)
                except BlockingIOError:
                    pass
                finally:
                    sock.setblocking(True)
                if answer:
                    break
            answer += read_until_closed(sock)
        assert status(answer) == 408, answer
        assert json.loads(answer.partition(b"\r\n\r\n")[2])["code"] == "request_timeout"
        assert closed(running.app, "header_timeout") == 1
        assert until(lambda: drained(running))
        assert httpx.post(f"{running.url}/v1/models/risk/predict", json=ROW).status_code == 200


@pytest.mark.parametrize("http", PARSERS)
def test_a_connection_that_sends_nothing_is_closed_without_an_answer(
    project: Project, http: str
) -> None:
    with server(project, http, header_timeout_s=0.3) as running, connect(running.url) as sock:
        assert read_until_closed(sock) == b""
        assert until(lambda: closed(running.app, "header_timeout") == 1)


@pytest.mark.parametrize("http", PARSERS)
def test_a_dribbled_body_is_cut_off_with_408(project: Project, http: str) -> None:
    with server(project, http, body_timeout_s=0.5) as running, connect(running.url) as sock:
        sock.sendall(PREDICT_HEAD)
        answer = b""
        for byte in BODY[:-1]:  # never the last byte
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                break
            time.sleep(0.1)
            sock.setblocking(False)
            try:
                answer += sock.recv(65536)
            except BlockingIOError:
                pass
            finally:
                sock.setblocking(True)
            if answer:
                break
        answer += read_until_closed(sock)
        assert status(answer) == 408, answer
        assert closed(running.app, "body_timeout") == 1
        # the request never reached the model, and the worker still answers
        assert httpx.post(f"{running.url}/v1/models/risk/predict", json=ROW).status_code == 200


@pytest.mark.parametrize("http", PARSERS)
def test_an_idle_keep_alive_connection_is_closed(project: Project, http: str) -> None:
    with server(project, http, keep_alive_s=1.0) as running, connect(running.url) as sock:
        assert status(exchange(sock, PREDICT_HEAD + BODY)) == 200
        assert status(exchange(sock, healthz())) == 200  # kept alive between requests
        assert read_until_closed(sock) == b""
        assert until(lambda: closed(running.app, "idle_timeout") == 1)


@pytest.mark.parametrize("http", PARSERS)
def test_at_the_cap_the_oldest_idle_connection_makes_room(project: Project, http: str) -> None:
    with server(project, http, max_connections=4, keep_alive_s=60) as running:
        socks = [connect(running.url) for _ in range(4)]
        try:
            for sock in socks:  # each answered, then idle, oldest first
                assert status(exchange(sock, healthz())) == 200
            assert running.app.metrics.values["shipyard_connections_open"][()] == 4
            answer = httpx.post(f"{running.url}/v1/models/risk/predict", json=ROW)
            assert answer.status_code == 200
            assert read_until_closed(socks[0]) == b""  # the oldest idle one went
            for sock in socks[1:]:  # the others are still served
                assert status(exchange(sock, healthz())) == 200
            assert closed(running.app, "idle_evicted") == 1
            assert closed(running.app, "refused") == 0
        finally:
            for sock in socks:
                sock.close()
        assert until(lambda: drained(running))


@pytest.mark.parametrize("http", PARSERS)
def test_at_the_cap_with_none_idle_a_new_connection_gets_503(project: Project, http: str) -> None:
    with server(project, http, max_connections=2) as running:
        # two requests whose bodies are still on their way: busy, not idle, not slow heads
        socks = [connect(running.url) for _ in range(2)]
        try:
            for sock in socks:
                sock.sendall(PREDICT_HEAD + BODY[:3])
            until(lambda: len(running.guard.bodies) == 2)
            with connect(running.url) as extra:
                answer = read_until_closed(extra)
            assert status(answer) == 503, answer
            assert b"retry-after: 1" in answer.lower()
            assert json.loads(answer.partition(b"\r\n\r\n")[2])["code"] == "too_many_connections"
            assert closed(running.app, "refused") == 1
            for sock in socks:  # the two in flight finish and are answered
                sock.sendall(BODY[3:])
                head = sock.recv(65536)
                assert status(head) == 200, head
        finally:
            for sock in socks:
                sock.close()
        assert until(lambda: drained(running))


@pytest.mark.parametrize("http", PARSERS)
def test_at_the_cap_a_slow_head_makes_room(project: Project, http: str) -> None:
    with server(project, http, max_connections=3, header_timeout_s=60) as running:
        slow = [connect(running.url) for _ in range(3)]
        try:
            for sock in slow:
                sock.sendall(PREDICT_HEAD[:20])
            until(lambda: running.guard.open == 3 and all(c.started for c in running.guard.heads))
            time.sleep(1.2)  # longer than a real client takes to send its head
            with httpx.Client(base_url=running.url, timeout=15) as client:
                for _ in range(3):  # one connection, kept alive
                    assert client.post("/v1/models/risk/predict", json=ROW).status_code == 200
            assert status(read_until_closed(slow[0])) == 503  # the oldest slow head went
            assert closed(running.app, "slow_evicted") == 1
        finally:
            for sock in slow:
                sock.close()
        assert until(lambda: drained(running))


@given(
    descriptors=st.integers(min_value=2 * RESERVE_MIN, max_value=10_000_000),
    wanted=st.none() | st.integers(min_value=1, max_value=10_000_000),
)
def test_the_cap_and_backlog_always_leave_the_worker_its_own_files(
    descriptors: int, wanted: int | None
) -> None:
    limits = limits_for(ServerConfig(max_connections=wanted), descriptors)
    assert limits.max_connections >= 1
    assert limits.max_connections + limits.backlog + OWN_FILES <= descriptors
    assert limits.max_connections <= descriptors - RESERVE_MIN
    if wanted is not None and wanted <= descriptors - RESERVE_MIN:
        assert limits.max_connections == wanted


# -- the real CLI under a low open-file limit ---------------------------------------------


LIMIT = 256
SLOW = 400  # more connections than the worker may have descriptors


def _low_limit() -> None:
    # a soft limit below the hard one: ``shipyard serve`` raises it to the hard one
    resource.setrlimit(resource.RLIMIT_NOFILE, (LIMIT // 2, LIMIT))


@contextmanager
def cli_server(folder: Path) -> Iterator[tuple[subprocess.Popen[str], str, list[str]]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "shipyard", "-C", str(folder), "serve", "risk", "--port", "0"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        preexec_fn=_low_limit,
    )
    assert process.stderr is not None
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stderr), daemon=True)  # type: ignore[arg-type]
    reader.start()
    try:
        url = until(lambda: _url("".join(lines)) or process.poll() is not None, 60, every=0.05)
        assert isinstance(url, str), "".join(lines)
        until(lambda: _ready(url), 60, every=0.05)
        yield process, url, lines
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                process.kill()
        process.wait()
        reader.join(timeout=10)
        process.stderr.close()


def _url(text: str) -> str | None:
    found = re.search(r"on (http://127\.0\.0\.1:\d+)", text)
    return found.group(1) if found else None


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _logged_ids(folder: Path) -> set[str]:
    with shipyard.open(folder) as project:
        keys = [k for k in project.artifacts.list("predictions/") if k.endswith(".parquet")]
        if not keys:
            return set()
        frames = [pl.read_parquet(io.BytesIO(project.artifacts.get(k))) for k in keys]
    return set(pl.concat(frames, how="diagonal")["prediction_id"].to_list())


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_serve_under_a_low_open_file_limit_answers_and_logs_through_a_slowloris(
    project: Project,
) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2 * SLOW + 200:  # this process holds the slow clients' sockets
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4 * SLOW), hard))
    folder = project.root
    original = (folder / "shipyard.yaml").read_text()
    # a long head limit: only the cap and the eviction of slow heads keep the server open
    (folder / "shipyard.yaml").write_text(
        original.replace("server:\n", "server:\n  header_timeout_s: 120\n", 1)
    )
    slow: list[socket.socket] = []
    try:
        with cli_server(folder) as (process, url, lines):
            host, port = url.removeprefix("http://").split(":")
            for _ in range(SLOW):
                sock = socket.socket()
                sock.settimeout(15)
                sock.connect((host, int(port)))
                with suppress(OSError):  # refused at once: the cap is reached
                    sock.sendall(PREDICT_HEAD[:10])
                slow.append(sock)
            time.sleep(1.5)  # the slow heads are now older than a real client takes
            for sock in slow:  # one more byte each: a slowloris keeps dribbling
                with suppress(OSError):
                    sock.sendall(PREDICT_HEAD[10:11])
            ids: list[str] = []
            for _ in range(10):  # new connections, as many clients make
                answer = httpx.post(f"{url}/v1/models/risk/predict", json=ROW, timeout=15)
                assert answer.status_code == 200, answer.text
                ids += answer.json()["prediction_ids"]
            with httpx.Client(base_url=url, timeout=15) as client:
                for _ in range(10):
                    answer = client.post("/v1/models/risk/predict", json=ROW)
                    assert answer.status_code == 200, answer.text
                    ids += answer.json()["prediction_ids"]
                metrics = client.get("/metrics").text
            assert until(lambda: set(ids) <= _logged_ids(folder), 60, every=0.5)
            assert process.poll() is None
        refused = re.search(r'closed_total\{reason="refused"\} (\d+)', metrics)
        evicted = re.search(r'closed_total\{reason="slow_evicted"\} (\d+)', metrics)
        # every connection past the cap was refused or pushed out the oldest slow head,
        # and the legitimate ones got in by pushing one out
        assert evicted and int(evicted.group(1)) > 0, metrics
        shed = int(evicted.group(1)) + (int(refused.group(1)) if refused else 0)
        assert shed >= SLOW - (LIMIT - RESERVE_MIN), metrics
        limit = re.search(r"shipyard_connections_limit (\d+)", metrics)
        # the cap of the raised limit (256 less the 128 kept), not of the soft one it had
        assert limit and int(limit.group(1)) == LIMIT - RESERVE_MIN, metrics
        output = "".join(lines)
        assert "Too many open files" not in output, output
        assert "Traceback" not in output, output
    finally:
        for sock in slow:
            sock.close()
        (folder / "shipyard.yaml").write_text(original)
