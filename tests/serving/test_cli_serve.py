"""`shipyard serve` as a real process: start, answer, several workers, SIGTERM under load."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import polars as pl
import pytest
from serving_support import serve_process, set_fault

import shipyard
from shipyard.project import Project

ROW = {"amount": 1000.0, "age": 30}
SHIPYARD = [sys.executable, "-m", "shipyard"]


@contextmanager
def serving(folder: Path, *args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    with serve_process(folder, *args) as (process, url, _):
        yield process, url
        process.stderr.close()


def _log(project: Project) -> pl.DataFrame:
    keys = [k for k in project.artifacts.list("predictions/") if k.endswith(".parquet")]
    if not keys:
        return pl.DataFrame({"prediction_id": []})
    return pl.concat(
        [pl.read_parquet(io.BytesIO(project.artifacts.get(k))) for k in keys], how="diagonal"
    )


def test_sigterm_under_load_drops_no_request(serving_project: Project) -> None:
    set_fault(serving_project, "sleep:0.1")  # each call takes 0.1 s, within the 0.3 s budget
    with serving(serving_project.root, "faulty") as (process, url):
        results: list[httpx.Response | Exception] = []
        clients = [httpx.Client(base_url=url, timeout=30) for _ in range(16)]
        for client in clients:  # connections open before the burst, so it arrives at once
            assert client.get("/healthz").status_code == 200
        go = threading.Barrier(17)

        def one(client: httpx.Client) -> None:
            go.wait()
            try:
                results.append(client.post("/v1/models/faulty/predict", json=ROW))
            except httpx.HTTPError as exc:
                results.append(exc)

        threads = [threading.Thread(target=one, args=(c,)) for c in clients]
        for thread in threads:
            thread.start()
        go.wait()
        time.sleep(0.05)  # the requests are in: the first batch is with the model
        process.send_signal(signal.SIGTERM)
        time.sleep(0.05)
        draining = httpx.get(f"{url}/readyz", timeout=10)
        for thread in threads:
            thread.join()
        for client in clients:
            client.close()
        assert process.wait(timeout=60) == 0
    assert draining.status_code == 503 and draining.json()["shutting_down"] is True
    answered = [r for r in results if isinstance(r, httpx.Response)]
    assert len(answered) == 16, results  # the drain answers what arrives after the signal too
    assert all(r.status_code == 200 and r.json()["path"] == "model" for r in answered)
    ids = {r.json()["prediction_ids"][0] for r in answered}
    with shipyard.open(serving_project.root) as project:
        assert ids <= set(_log(project)["prediction_id"].to_list())


def test_several_workers_share_the_port_and_the_metrics(serving_project: Project) -> None:
    with serving(serving_project.root, "risk", "--workers", "2") as (process, url):
        with httpx.Client(base_url=url, timeout=30) as client:
            for _ in range(40):  # new connections: the kernel spreads them over the workers
                assert httpx.post(f"{url}/v1/models/risk/predict", json=ROW).status_code == 200
            time.sleep(1.5)  # every worker publishes its figures about once a second
            text = client.get("/metrics").text
        total = sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith('shipyard_predictions_total{model="risk"')
        )
        loaded = re.search(r'shipyard_model_loaded\{model="risk",version="1"\} (\d+)', text)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    assert total == 40
    assert loaded and loaded.group(1) == "2"  # one per worker
    with shipyard.open(serving_project.root) as project:
        log = _log(project)
    assert len(log) == 40
    workers = {k.split("/")[3] for k in project.artifacts.list("predictions/risk/")}
    assert len(workers) == 2


def test_serve_refuses_what_it_cannot_serve(serving_project: Project) -> None:
    folder = serving_project.root
    for args, message in (
        (["nope"], "no model named 'nope'"),
        (
            ["risk@challenger"],
            "cannot serve risk@challenger: model 'risk' has no alias 'challenger'",
        ),
    ):
        result = subprocess.run(
            [*SHIPYARD, "-C", str(folder), "serve", "--port", "0", *args],
            capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "200"},
        )  # fmt: skip
        assert result.returncode == 2, result.stderr
        assert message in result.stderr and "Traceback" not in result.stderr


def test_a_port_in_use_is_a_clear_error(serving_project: Project) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [*SHIPYARD, "-C", str(serving_project.root), "serve", "risk", "--port", str(port)],
            capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "200"},
        )  # fmt: skip
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


@pytest.mark.parametrize("signum", [signal.SIGINT])
def test_ctrl_c_stops_cleanly(serving_project: Project, signum: int) -> None:
    with serving(serving_project.root, "risk") as (process, url):
        assert httpx.post(f"{url}/v1/models/risk/predict", json=ROW).status_code == 200
        process.send_signal(signum)
        assert process.wait(timeout=60) == 0
