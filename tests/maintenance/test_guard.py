"""The guard period: a listed alert firing after a promotion moves champion back by itself."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from maintenance.maintenance_support import actions, champion_project, fire_alert, now
from shipyard.config.schema import GuardConfig
from shipyard.maintenance.guard import judge
from shipyard.project import Project

GUARDED = "{promote: auto, guard: {duration: 1h, alerts: [errors]}}"


@pytest.fixture
def guarded(tmp_path: Path, backend: str) -> Iterator[Project]:
    yield from champion_project(tmp_path / "p", GUARDED)


def champion(project: Project) -> int | None:
    return project.models.registry.aliases("risk").get("champion")


def test_a_listed_alert_after_the_promotion_rolls_back(guarded: Project) -> None:
    run = guarded.retrain("risk")
    assert (run.state, run.decision, champion(guarded)) == ("guarding", "promoted", 2)
    assert run.promoted_at is not None
    m = guarded.maintenance
    assert m.tick() == []  # no alert: still guarding
    fire_alert(guarded, "drift", run.promoted_at + timedelta(seconds=1))  # not a guard rule
    assert m.tick() == []
    fire_alert(guarded, "errors", run.promoted_at + timedelta(seconds=2))
    [after] = m.tick()
    assert (after.state, after.decision, after.decided_by) == (
        "rolled_back",
        "rolled_back",
        "guard",
    )
    assert champion(guarded) == 1
    check = after.check("guard")
    assert check is not None and check.passed is False and "'errors' fired" in check.detail
    assert m.repository.holding("risk") is None
    event = guarded.audit(subject="risk", limit=1)[0]
    assert event.action == "guard.rolled_back" and event.detail["from"] == 2
    assert event.detail["to"] == 1 and "errors" in (event.reason or "")


def test_the_guard_ends_promoted_when_nothing_fires(guarded: Project) -> None:
    run = guarded.retrain("risk")
    assert run.promoted_at is not None
    fire_alert(guarded, "errors", run.promoted_at - timedelta(minutes=5))  # before: not counted
    [after] = guarded.maintenance.tick(now=run.promoted_at + timedelta(hours=1, seconds=1))
    assert (after.state, after.decision) == ("promoted", "promoted")
    assert after.check("guard") is not None and after.check("guard").passed  # type: ignore[union-attr]
    assert champion(guarded) == 2


def test_a_version_promoted_by_force_is_guarded_too(guarded: Project) -> None:
    guarded.train("risk")  # risk@2, never evaluated
    guarded.promote("risk@2", force=True, reason="the demo's bad version")
    [run] = guarded.maintenance.runs("risk")
    assert (run.state, run.trigger, run.candidate, run.champion) == (
        "guarding",
        "manual-promotion",
        2,
        1,
    )
    assert run.promoted_at is not None
    fire_alert(guarded, "errors", run.promoted_at + timedelta(seconds=1))
    [after] = guarded.maintenance.tick()
    assert after.state == "rolled_back" and champion(guarded) == 1
    done = actions(guarded)
    assert "guard.started" in done and done[-1] == "guard.rolled_back"


def test_judge_is_a_pure_function() -> None:
    class A:
        def __init__(self, rule: str, at: object) -> None:
            self.id, self.rule, self.fired_at, self.message = 1, rule, at, "up"

    start = now()
    guard = GuardConfig(duration=60.0, alerts=["auc"])
    assert judge([], guard, start, start)[0] == "guarding"
    assert judge([], guard, start, start + timedelta(seconds=60))[0] == "promoted"
    assert judge([A("auc", None)], guard, start, start)[0] == "guarding"  # pending, not fired
    verdict, check = judge([A("auc", start)], guard, start, start)
    assert verdict == "roll_back" and check.figures["fired"][0]["rule"] == "auc"
