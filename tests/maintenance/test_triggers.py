"""When a policy says retrain: on a schedule, on alerts, on new labels; never twice at once."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import shipyard
from maintenance.worker_support import (
    add_run,
    fire_alert,
    locks,
    set_retrain,
    wait_for,
    with_champion,
    write_project,
)
from shipyard.maintenance import RunInProgressError
from shipyard.maintenance import triggers as triggers_module
from shipyard.maintenance.triggers import due
from shipyard.project import Project


def _project(tmp_path: Path, retrain: str) -> Project:
    return with_champion(write_project(tmp_path / "proj", retrain))


def _champion_at(project: Project) -> datetime:
    return project.models.registry.resolve("risk@champion").created_at


def test_no_trigger_declared_is_never_due(tmp_path: Path) -> None:
    project = _project(tmp_path, "{}")
    assert due(project, "risk", _champion_at(project) + timedelta(days=365)) is None


def test_nothing_to_count_from_without_a_champion(tmp_path: Path) -> None:
    project = shipyard.open(write_project(tmp_path / "proj", "{every: 1m}"))
    assert due(project, "risk") is None


def test_every_counts_from_the_champion_then_from_the_last_run(tmp_path: Path) -> None:
    project = _project(tmp_path, "{every: 1h}")
    born = _champion_at(project)
    assert due(project, "risk", born + timedelta(minutes=59)) is None
    trigger, reason = due(project, "risk", born + timedelta(minutes=61)) or ("", "")
    assert trigger == "schedule" and "every 1h" in reason
    add_run(project, "rejected", born + timedelta(minutes=30))  # a run since: counts from it
    assert due(project, "risk", born + timedelta(minutes=61)) is None
    assert due(project, "risk", born + timedelta(minutes=91))[0] == "schedule"  # type: ignore[index]


def test_a_listed_alert_that_fired_since_triggers(tmp_path: Path) -> None:
    project = _project(tmp_path, "{on_alerts: [drift]}")
    born = _champion_at(project)
    fire_alert(project, "drift", born - timedelta(minutes=5))  # before the champion: old news
    fire_alert(project, "errors", born + timedelta(minutes=1))  # not a listed rule
    assert due(project, "risk", born + timedelta(minutes=2)) is None
    alert_id = fire_alert(project, "drift", born + timedelta(minutes=3))
    trigger, reason = due(project, "risk", born + timedelta(minutes=4)) or ("", "")
    assert trigger == "alert:drift"
    assert f"#{alert_id}" in reason and "drift crossed its limit" in reason
    add_run(project, "rejected", born + timedelta(minutes=5))  # the run it started
    assert due(project, "risk", born + timedelta(minutes=6)) is None  # not again for it


def test_new_labels_count_from_the_champion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _project(tmp_path, "{new_labels: 100}")
    born = _champion_at(project)
    asked: list[dict[str, Any]] = []
    count = {"labels": 99}

    def count_labels(artifacts: Any, model: str, *, since: datetime, until: datetime) -> int:
        asked.append({"model": model, "since": since, "until": until})
        return count["labels"]

    monkeypatch.setattr(triggers_module, "count_labels", count_labels)
    later = born + timedelta(hours=1)
    assert due(project, "risk", later) is None
    count["labels"] = 100
    trigger, reason = due(project, "risk", later) or ("", "")
    assert trigger == "new_labels" and reason.startswith("100 new feedback labels since")
    assert asked[-1] == {"model": "risk", "since": born, "until": later}
    assert due(project, "risk", later, labels=False) is None  # not counted this time


def test_the_worker_counts_labels_once_a_minute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shipyard.maintenance.worker import Worker

    project = _project(tmp_path, "{new_labels: 100}")
    born = _champion_at(project)
    counted: list[datetime] = []

    def count_labels(artifacts: Any, model: str, *, since: datetime, until: datetime) -> int:
        counted.append(until)
        return 0

    monkeypatch.setattr(triggers_module, "count_labels", count_labels)
    keeper = Worker(project, holder="one:1")
    for seconds in (1, 2, 30, 61, 62):
        assert keeper.tick(born + timedelta(seconds=seconds))
    keeper.shutdown()
    assert counted == [born + timedelta(seconds=1), born + timedelta(seconds=61)]


def test_never_due_while_a_run_is_active(tmp_path: Path) -> None:
    project = _project(tmp_path, "{every: 1m, on_alerts: [drift]}")
    born = _champion_at(project)
    fire_alert(project, "drift", born + timedelta(seconds=1))
    assert due(project, "risk", born + timedelta(seconds=61)) is not None
    run_id = add_run(project, "shadowing", born - timedelta(seconds=1))
    assert due(project, "risk", born + timedelta(seconds=61)) is None, run_id


def test_two_triggers_at_once_start_one_run(tmp_path: Path, backend: str) -> None:
    """Two callers of retrain at the same moment (a schedule and an alert): the model's
    lock lets one run; the other gets RunInProgressError naming it. On SQLite and on
    PostgreSQL + S3 (``backend``, tests/maintenance/conftest.py)."""
    folder = write_project(tmp_path / "proj", "{}")
    project = with_champion(folder)
    (folder / "hold").write_text("")  # the first run waits in its training step
    outcome: dict[str, Any] = {}

    def first() -> None:
        try:
            outcome["first"] = project.retrain("risk", trigger="schedule", reason="every 1s")
        except Exception as exc:  # reported by the assertions below
            outcome["first"] = exc

    thread = threading.Thread(target=first)
    thread.start()
    try:
        wait_for("the first run's training step", lambda: list(folder.glob("training-*")))
        with pytest.raises(RunInProgressError) as refused:
            project.retrain("risk", trigger="alert:drift", reason="drift fired")
        message = refused.value.message
        run = project.maintenance.runs("risk")[0]
        assert str(run.id) in message and run.holder in message, message
        assert locks(project) == {"risk": run.id}
    finally:
        (folder / "hold").unlink()
        thread.join(timeout=120)
    try:
        assert not isinstance(outcome["first"], Exception), outcome["first"]
        assert [r.trigger for r in project.maintenance.runs("risk")] == ["schedule"]
        assert locks(project).get("risk") in (None, outcome["first"].id)
    finally:
        project.close()


def test_the_worker_starts_one_run_per_model_however_many_trigger(tmp_path: Path) -> None:
    from shipyard.maintenance.worker import Worker

    folder = write_project(tmp_path / "proj", "{}")
    with_champion(folder).close()
    set_retrain(folder, "{every: 1m, on_alerts: [drift]}")
    project = shipyard.open(folder)
    born = _champion_at(project)
    fire_alert(project, "drift", born + timedelta(seconds=1))
    (folder / "hold").write_text("")
    keeper = Worker(project, holder="test:1")
    try:
        assert keeper.tick(born + timedelta(seconds=5))
        wait_for("the run's training step", lambda: list(folder.glob("training-*")))
        assert keeper.tick(born + timedelta(seconds=6))  # still due by the clock: not again
        assert keeper.tick(born + timedelta(seconds=7))
    finally:
        (folder / "hold").unlink()
        keeper.shutdown()
    found = project.maintenance.runs("risk")
    assert len(found) == 1 and found[0].trigger == "alert:drift", found
