"""Real `shipyard worker` processes on one project: one acts, another takes over when it
dies, and a run killed in its training step is failed, its lock freed, no challenger left."""

from __future__ import annotations

import json
import signal
import socket
from pathlib import Path
from typing import Any

import pytest

import shipyard
from maintenance.worker_support import (
    cli,
    fire_alert,
    locks,
    now,
    set_retrain,
    start_shipyard,
    start_worker,
    stop,
    wait_for,
    with_champion,
    write_project,
)
from shipyard.maintenance.lease import Lease
from shipyard.maintenance.worker import LEASE

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql+s3", marks=[pytest.mark.postgres, pytest.mark.s3])]
)
def folder(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """The project on SQLite and a folder, or on PostgreSQL and S3 (named in its file, so
    the worker processes use them too)."""
    if request.param == "sqlite":
        return write_project(tmp_path / "proj")
    bucket = request.getfixturevalue("s3_bucket")
    return write_project(
        tmp_path / "proj",
        database=request.getfixturevalue("postgres_url"),
        artifacts=f"s3://{bucket}/shipyard",
    )


def _holder(pid: int) -> str:
    return f"{socket.gethostname()}:{pid}"


def _log(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def test_one_of_two_workers_acts_and_the_other_takes_over_when_it_dies(
    folder: Path, tmp_path: Path
) -> None:
    project = shipyard.open(folder)
    project.metadata.ping()  # migrated before two processes race to do it
    lease = Lease(project.metadata, LEASE, holder="observer:0", seconds=5)
    a_log, b_log = tmp_path / "a.log", tmp_path / "b.log"
    a = start_worker(folder, a_log)
    b = None
    try:
        held = wait_for("the first worker to take the lease", lease.held_by)
        assert held[0] == _holder(a.pid)
        b = start_worker(folder, b_log, "--once")  # one round while a holds it: nothing done
        assert b.wait(timeout=120) == 0, _log(b_log)
        assert "the worker lease is held by " + _holder(a.pid) in _log(b_log)
        assert "took the lease" not in _log(b_log)
        b = start_worker(folder, b_log)
        wait_for("the second worker to start", lambda: "started" in _log(b_log))
        assert lease.held_by()[0] == _holder(a.pid)  # type: ignore[index]
        a.kill()  # SIGKILL: no release, the lease must expire
        a.wait(timeout=30)
        wait_for(
            "the second worker to take the lease over",
            lambda: (lease.held_by() or ("",))[0] == _holder(b.pid),  # type: ignore[union-attr]
        )
        said = _log(a_log) + _log(b_log)
        assert said.count("took the lease") == 2, said  # a, then b after a died
        assert f"worker {_holder(b.pid)} took the lease" in _log(b_log)
        b.send_signal(signal.SIGTERM)
        assert b.wait(timeout=120) == 0, _log(b_log)
        assert f"worker {_holder(b.pid)} released the lease" in _log(b_log)
        assert lease.held_by() is None  # given up, not left to expire
    finally:
        stop(a)
        if b is not None:
            stop(b)
        project.close()


def test_a_worker_killed_in_a_training_step_leaves_a_failed_run_and_a_free_lock(
    folder: Path, tmp_path: Path
) -> None:
    project = with_champion(folder)
    set_retrain(folder, "{on_alerts: [drift]}")
    fire_alert(project, "drift", now())
    (folder / "hold").write_text("")  # the run's training step waits (until it is killed)
    a_log, b_log = tmp_path / "a.log", tmp_path / "b.log"
    a = start_worker(folder, a_log)
    b = None
    try:
        wait_for("the run's training step", lambda: list(folder.glob("training-*")), timeout=120)
        [run] = project.maintenance.runs("risk")
        assert run.state == "running" and run.trigger == "alert:drift"
        assert locks(project) == {"risk": run.id}
        a.kill()  # SIGKILL mid-training
        a.wait(timeout=30)
        (folder / "hold").unlink()
        set_retrain(folder, "{}")  # the next worker recovers the run and starts no other
        b = start_worker(folder, b_log)
        failed = wait_for(
            "the killed run to be marked failed",
            lambda: (r := project.maintenance.run(run.id)).state == "failed" and r,
            timeout=120,
        )
        assert failed.error and "stopped" in failed.error, failed.error
        assert failed.finished_at is not None
        assert locks(project) == {}
        aliases = project.models.registry.aliases("risk")
        assert aliases.get("champion") == 1  # untouched
        assert "challenger" not in aliases
        said = f"run #{run.id} of risk is failed"  # logged just after the record changes
        wait_for("the recovering worker to say so", lambda: said in _log(b_log), timeout=60)
        assert said in _log(b_log)
        assert [r.id for r in project.maintenance.runs("risk")] == [run.id]
    finally:
        stop(a)
        if b is not None:
            b.send_signal(signal.SIGTERM)
            b.wait(timeout=120)
            stop(b)
        project.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_loop_through_a_real_server_and_the_real_cli(folder: Path, tmp_path: Path) -> None:
    """retrain → challenger in shadow behind a real server → compared on the same requests
    → promoted by the worker → rolled back by hand; the server follows each alias move and
    every request is answered by the model."""
    import httpx

    file = folder / "shipyard.yaml"
    file.write_text("server: {alias_poll_s: 0.5, log_flush_s: 0.5}\n" + file.read_text())
    with_champion(folder).close()
    # limits a loaded test machine cannot trip: this test is about the loop, not the figures
    set_retrain(
        folder,
        "{promote: auto, shadow: {requests: 40, max_duration: 10m, max_latency_ratio: 100, "
        "max_error_rate: 0.5}}",
    )
    port = _free_port()
    server = start_shipyard(folder, tmp_path / "serve.log", "serve", "risk", "--port", str(port))
    url = f"http://127.0.0.1:{port}/v1/models/risk/predict"
    answers: list[tuple[int, str | None]] = []

    def ask(client: httpx.Client, i: int) -> str | None:
        response = client.post(url, json={"amount": 500.0 + i, "age": 30 + i % 50, "country": "DE"})
        answers.append((response.status_code, response.json().get("path")))
        return response.headers.get("x-shipyard-version")

    try:
        with httpx.Client(timeout=30) as client:
            wait_for("the server", lambda: _ready(client, port), timeout=120)
            started = cli(folder, "retrain", "risk", "--json")
            assert started.returncode == 0, started.stderr
            run_id = json.loads(started.stdout)["id"]
            assert json.loads(started.stdout)["state"] == "shadowing"

            def compared() -> bool:
                for i in range(10):
                    ask(client, i)
                shown = json.loads(cli(folder, "runs", "show", str(run_id), "--json").stdout)
                return (shown["comparison"] or {}).get("requests", 0) >= 40

            wait_for("40 requests answered by both versions", compared, timeout=180)
            assert cli(folder, "worker", "--once").returncode == 0
            decided = json.loads(cli(folder, "runs", "show", str(run_id), "--json").stdout)
            assert decided["state"] == "promoted", decided
            assert decided["decided_by"] == "policy:auto"
            assert {c["name"] for c in decided["checks"]} >= {"shadow.error_rate", "shadow.latency"}
            wait_for("the server to follow the promotion", lambda: ask(client, 0) == "2")
            back = cli(folder, "rollback", "risk", "--reason", "end to end")
            assert back.returncode == 0, back.stderr
            wait_for("the server to follow the rollback", lambda: ask(client, 0) == "1")
        assert answers and all(status == 200 and path == "model" for status, path in answers), [
            a for a in answers if a != (200, "model")
        ]
        with shipyard.open(folder) as project:
            assert project.models.registry.aliases("risk") == {"champion": 1}
            actions = [e.action for e in project.audit(subject="risk", limit=50)]
            for action in (
                "retrain.started",
                "retrain.shadowing",
                "retrain.promoted",
                "model.rolled_back",
            ):
                assert action in actions, action
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=60)
        finally:
            stop(server)


def _ready(client: Any, port: int) -> bool:
    try:
        return bool(client.get(f"http://127.0.0.1:{port}/readyz").status_code == 200)
    except Exception:  # not listening yet
        return False
