"""The worker: only the lease holder acts; monitoring once per interval; a run per due model."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest

import shipyard
from maintenance.worker_support import now, set_retrain, with_champion, write_project
from shipyard.maintenance.worker import Worker


def test_only_the_lease_holder_acts_and_another_takes_over(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    project = shipyard.open(write_project(tmp_path / "proj"))
    first, second = Worker(project, holder="one:1"), Worker(project, holder="two:2")
    t0 = now()
    caplog.set_level(logging.INFO, logger="shipyard.maintenance")
    assert first.tick(t0) and first.holding
    assert not second.tick(t0 + timedelta(seconds=1)) and not second.holding
    assert first.tick(t0 + timedelta(seconds=3))  # renewed: expires at t0+8 now
    assert not second.tick(t0 + timedelta(seconds=7))
    assert second.tick(t0 + timedelta(seconds=9))  # first went quiet: taken over
    assert not first.tick(t0 + timedelta(seconds=9.5))  # first learns it lost it
    assert first.lease.held_by(t0 + timedelta(seconds=10)) == ("two:2", t0 + timedelta(seconds=14))
    said = [r.getMessage() for r in caplog.records]
    assert "worker one:1 took the lease (5s)" in said
    assert "worker two:2 took the lease (5s)" in said
    assert "worker one:1 lost the lease; it stops acting" in said
    second.shutdown()
    assert second.lease.held_by(t0 + timedelta(seconds=10)) is None  # released at once


def test_monitoring_runs_once_per_interval_for_models_with_a_champion(tmp_path: Path) -> None:
    folder = write_project(tmp_path / "proj")
    text = (folder / "shipyard.yaml").read_text()
    (folder / "shipyard.yaml").write_text(
        text.replace(
            "worker: {tick_s: 0.5, lease_s: 5}",
            "worker: {tick_s: 0.5, lease_s: 5, monitor_every: 10m}",
        )
    )
    project = shipyard.open(folder)
    keeper = Worker(project, holder="one:1")
    t0 = now()
    assert keeper.tick(t0)
    assert project.monitoring.runs("risk") == []  # no champion yet: nothing to monitor
    project = with_champion(folder)
    keeper = Worker(project, holder="one:1")
    assert keeper.tick(t0 + timedelta(seconds=1))
    assert len(project.monitoring.runs("risk")) == 1
    assert keeper.tick(t0 + timedelta(minutes=5))
    assert len(project.monitoring.runs("risk")) == 1  # within monitor_every
    assert keeper.tick(t0 + timedelta(minutes=11))
    assert len(project.monitoring.runs("risk")) == 2
    keeper.shutdown()


def test_monitoring_falls_back_to_the_servers_interval(tmp_path: Path) -> None:
    folder = write_project(tmp_path / "proj")
    text = (folder / "shipyard.yaml").read_text()
    (folder / "shipyard.yaml").write_text("server: {monitor_every: 2m}\n" + text)
    assert Worker(shipyard.open(folder)).monitor_every == 120.0
    assert Worker(shipyard.open(write_project(tmp_path / "other"))).monitor_every is None


def test_a_due_model_is_retrained_in_a_thread(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = write_project(tmp_path / "proj")
    with_champion(folder)
    set_retrain(folder, "{every: 1m}")
    project = shipyard.open(folder)
    born = project.models.registry.resolve("risk@champion").created_at
    caplog.set_level(logging.INFO, logger="shipyard.maintenance")
    keeper = Worker(project, holder="one:1")
    assert keeper.tick(born + timedelta(seconds=61))
    keeper.wait(timeout=120)
    [run] = project.maintenance.runs("risk")
    assert run.trigger == "schedule" and run.state != "running", run
    said = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("retraining risk (schedule): ") for m in said), said
    assert any(m.startswith(f"run #{run.id} of risk is {run.state}") for m in said), said
    keeper.shutdown()


def test_a_worker_that_does_not_hold_the_lease_starts_nothing(tmp_path: Path) -> None:
    folder = write_project(tmp_path / "proj")
    with_champion(folder)
    set_retrain(folder, "{every: 1m}")
    project = shipyard.open(folder)
    born = project.models.registry.resolve("risk@champion").created_at
    assert Worker(project, holder="other:9").lease.acquire(born + timedelta(seconds=60))
    keeper = Worker(project, holder="one:1")
    assert not keeper.tick(born + timedelta(seconds=61))
    keeper.wait(timeout=120)
    assert project.maintenance.runs("risk") == []
