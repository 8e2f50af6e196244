"""A retraining run by hand: its steps, its states, its record, its lock and its audit events."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from maintenance.maintenance_support import actions, champion_project, now
from shipyard.errors import ConfigError, NotFoundError
from shipyard.maintenance import ACTIVE, STATES, RunInProgressError
from shipyard.project import Project


@pytest.fixture
def auto(tmp_path: Path, backend: str) -> Iterator[Project]:
    """risk@1 is the champion; the policy promotes on its own (no shadow, no guard)."""
    yield from champion_project(tmp_path / "p", "{promote: auto}")


def aliases(project: Project) -> dict[str, int]:
    return project.models.registry.aliases("risk")


def test_the_states_are_the_spec_s() -> None:
    assert set(ACTIVE) < set(STATES)
    assert STATES[:4] == ACTIVE


def test_a_run_by_hand_trains_evaluates_and_waits_for_the_owner(manual: Project) -> None:
    run = manual.retrain("risk", reason="new data came in")
    assert (run.state, run.trigger, run.reason) == (
        "awaiting_approval",
        "manual",
        "new data came in",
    )
    assert (run.candidate, run.champion, run.dataset) == (2, 1, "loans@1")
    assert aliases(manual) == {"champion": 1, "challenger": 2}
    assert [s["step"] for s in run.steps] == [
        "running", "data", "train", "evaluate", "challenger", "awaiting_approval",
    ]  # fmt: skip
    assert run.check("gates") is not None and run.check("gates").passed  # type: ignore[union-attr]
    assert run.finished_at is None and run.decision is None
    assert manual.maintenance.repository.holding("risk") == (run.id, run.holder, run.started_at)
    assert actions(manual)[-4:] == [
        "retrain.trained", "model.evaluated", "alias.set", "retrain.awaiting_approval",
    ]  # fmt: skip

    # the owner approves with `shipyard promote risk@2 --to champion`
    manual.promote("risk@2", reason="looks right")
    after = manual.maintenance.run(run.id)
    assert (after.state, after.decision) == ("promoted", "approved")
    assert after.decided_by and after.finished_at is not None
    assert aliases(manual) == {"champion": 2}
    assert manual.maintenance.repository.holding("risk") is None
    assert "retrain.approved" in actions(manual)


def test_auto_promotes_when_every_check_passes(auto: Project) -> None:
    run = auto.retrain("risk")
    assert (run.state, run.decision, run.decided_by) == ("promoted", "promoted", "policy:auto")
    assert aliases(auto) == {"champion": 2}
    assert auto.maintenance.repository.holding("risk") is None
    assert actions(auto)[-2:] == ["alias.deleted", "retrain.promoted"]
    assert [r.id for r in auto.maintenance.runs("risk")] == [run.id]


def test_a_candidate_that_fails_its_gates_is_never_promoted(
    auto: Project, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("TINY_MODEL", "bad")
    run = auto.retrain("risk")
    assert (run.state, run.decision, run.decided_by) == ("rejected", "rejected", "policy:gates")
    gates = run.check("gates")
    assert gates is not None and gates.passed is False and "roc_auc" in gates.detail
    assert aliases(auto) == {"champion": 1}  # no challenger left, champion untouched
    assert auto.maintenance.repository.holding("risk") is None
    event = auto.audit(subject="risk", limit=1)[0]
    assert event.action == "retrain.rejected" and "roc_auc" in (event.reason or "")
    told = [r.getMessage() for r in caplog.records if r.name.endswith("notifiers")]
    assert any("risk@2 was not promoted" in line and "roc_auc" in line for line in told)


def test_a_failing_step_ends_the_run_and_leaves_the_champion(
    auto: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TINY_MODEL", "boom")
    run = auto.retrain("risk")
    assert (run.state, run.decision) == ("failed", "failed")
    assert run.error is not None and "not what it used to be" in run.error
    assert "\n" not in run.error
    assert aliases(auto) == {"champion": 1}
    assert auto.maintenance.repository.holding("risk") is None
    assert actions(auto)[-1] == "retrain.failed"
    monkeypatch.delenv("TINY_MODEL")
    assert auto.retrain("risk").state == "promoted"  # the lock was released


def test_a_second_run_while_one_is_going_names_who_holds_it(auto: Project) -> None:
    held = auto.maintenance.repository.start(
        "risk", trigger="schedule", reason=None, champion=1, now=now(), holder="box:42"
    )
    with pytest.raises(RunInProgressError) as info:
        auto.retrain("risk")
    message = info.value.message
    assert f"run #{held.id}" in message and "box:42" in message
    assert f"{held.started_at:%Y-%m-%d %H:%M:%S}" in message and "\n" not in message
    assert info.value.exit_code == 1 and info.value.http_status == 409
    assert aliases(auto) == {"champion": 1}
    assert len(auto.maintenance.runs("risk")) == 1


def test_a_run_whose_process_stopped_is_failed_by_tick(manual: Project) -> None:
    m = manual.maintenance
    manual.train("risk")  # risk@2: the candidate its process was working on
    long_ago = now() - timedelta(minutes=10)
    run = m.repository.start(
        "risk", trigger="manual", reason=None, champion=1, now=long_ago, holder="gone:7"
    )
    m.repository.update(run.id, candidate=2, now=long_ago)
    manual.models.alias("risk@2", "challenger")
    fresh_started = now()
    assert m.tick(now=fresh_started - timedelta(minutes=9, seconds=57)) == []  # 3 s: alive
    [changed] = m.tick(now=fresh_started)
    assert (changed.id, changed.state, changed.decided_by) == (run.id, "failed", "worker")
    assert changed.error is not None and "gone:7 stopped (no heartbeat since" in changed.error
    assert m.repository.holding("risk") is None
    assert aliases(manual) == {"champion": 1}  # the half-made challenger is gone
    assert m.tick(now=fresh_started) == []


def test_the_heartbeat_keeps_a_running_run_alive(manual: Project) -> None:
    from shipyard.maintenance.loop import Heartbeat

    m = manual.maintenance
    run = m.repository.start(
        "risk", trigger="manual", reason=None, champion=1, now=now() - timedelta(hours=1)
    )
    with Heartbeat(m.repository, run.id, every=0.05):
        deadline = now() + timedelta(seconds=60)
        while m.run(run.id).heartbeat_at < now() - timedelta(minutes=1):  # type: ignore[operator]
            assert now() < deadline, "no heartbeat within 60 s"
    assert m.tick() == []  # alive: not failed


def test_runs_and_their_records(manual: Project) -> None:
    run = manual.retrain("risk")
    data = manual.maintenance.run(run.id).as_dict()
    assert data["state"] == "awaiting_approval" and data["candidate"] == 2
    assert {c["name"] for c in data["checks"]} >= {"gates"}
    assert data["duration_s"] >= 0 and data["steps"][0]["step"] == "running"
    with pytest.raises(NotFoundError, match="no retraining run #999"):
        manual.maintenance.run(999)
    with pytest.raises(NotFoundError):
        manual.maintenance.runs("nobody")
    with pytest.raises(NotFoundError):
        manual.retrain("nobody")
    with pytest.raises(NotFoundError, match="no shadow comparison"):
        manual.maintenance.comparison(run.id)


def test_rollback_needs_a_reason(manual: Project) -> None:
    with pytest.raises(ConfigError, match="needs a reason"):
        manual.rollback("risk")


def test_feedback_labels_with_nothing_served_yet_train_on_the_dataset(tmp_path: Path) -> None:
    for project in champion_project(tmp_path / "p", "{labels: feedback}"):
        run = project.retrain("risk")
        assert run.state == "awaiting_approval" and run.dataset == "loans@1"
        assert run.feedback is not None and run.feedback["rows"] == 0
        assert "feedback" in [s["step"] for s in run.steps]


def test_a_window_policy_trains_on_its_selection(tmp_path: Path) -> None:
    for project in champion_project(tmp_path / "p", "{data: all, window: 3650d, promote: auto}"):
        run = project.retrain("risk")
        assert run.state == "promoted" and run.dataset == "loans@1"
        selection = project.models.registry.resolve("risk@2").training["selection"]
        assert (selection["data"], selection["window_s"]) == ("all", 3650 * 86400.0)
