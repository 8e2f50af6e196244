"""The loop after the steps: the shadow period, its comparison and the decision, by ``advance``
and ``tick``, on the prediction log as serving writes it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from maintenance.maintenance_support import actions, champion_project, now, shadow_traffic
from shipyard.project import Project

SHADOW = "{shadow: {requests: 50, max_duration: 1h, max_error_rate: 0.05}, promote: %s}"


@pytest.fixture
def shadowed(tmp_path: Path, backend: str) -> Iterator[Project]:
    yield from champion_project(tmp_path / "p", SHADOW % "auto")


@pytest.fixture
def approved(tmp_path: Path) -> Iterator[Project]:
    yield from champion_project(tmp_path / "p", SHADOW % "approve")


def aliases(project: Project) -> dict[str, int]:
    return project.models.registry.aliases("risk")


def test_a_challenger_that_matches_the_champion_in_shadow_is_promoted(
    shadowed: Project, tmp_path: Path
) -> None:
    run = shadowed.retrain("risk", reason="monthly")
    assert run.state == "shadowing" and run.shadow_since is not None
    assert aliases(shadowed) == {"champion": 1, "challenger": 2}
    m = shadowed.maintenance

    assert m.tick() == []  # nothing compared yet: still shadowing
    shadow_traffic(shadowed, tmp_path / "spool", 30, champion=1, challenger=2)
    live = m.comparison(run.id)
    assert live["requests"] == 30 and live["agreement"] == 1.0
    assert m.advance(run.id).state == "shadowing"  # 30 of 50 requests

    shadow_traffic(shadowed, tmp_path / "spool", 30, champion=1, challenger=2, seed=1)
    [after] = m.tick()
    assert (after.state, after.decision, after.decided_by) == (
        "promoted",
        "promoted",
        "policy:auto",
    )
    assert after.comparison is not None and after.comparison["requests"] == 60
    assert {c.name for c in after.checks} >= {"gates", "shadow.error_rate", "shadow.latency"}
    assert aliases(shadowed) == {"champion": 2}
    story = ("retrain.shadowing", "model.promoted", "alias.deleted", "retrain.promoted")
    assert [a for a in actions(shadowed) if a in story][-4:] == list(story)


def test_a_challenger_that_fails_in_shadow_is_rejected_with_why(
    shadowed: Project, tmp_path: Path
) -> None:
    run = shadowed.retrain("risk")
    shadow_traffic(
        shadowed, tmp_path / "spool", 60, champion=1, challenger=2, challenger_errors=0.3
    )
    after = shadowed.maintenance.advance(run.id)
    assert (after.state, after.decision, after.decided_by) == ("rejected", "rejected", "policy")
    check = after.check("shadow.error_rate")
    assert check is not None and check.passed is False
    assert aliases(shadowed) == {"champion": 1}  # challenger gone, champion never moved
    event = shadowed.audit(subject="risk", limit=1)[0]
    assert event.action == "retrain.rejected" and "shadow.error_rate" in (event.reason or "")


def test_a_shadow_period_with_no_traffic_ends_rejected_at_its_deadline(
    approved: Project,
) -> None:
    run = approved.retrain("risk")
    later = now() + timedelta(hours=1, seconds=1)
    after = approved.maintenance.advance(run.id, now=later)
    assert after.state == "rejected" and "no request was compared" in (after.steps[-1]["detail"])
    assert aliases(approved) == {"champion": 1}


def test_approve_waits_for_the_owner_then_the_promotion_is_the_approval(
    approved: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = approved.retrain("risk")
    shadow_traffic(approved, tmp_path / "spool", 60, champion=1, challenger=2, labels=True)
    waiting = approved.maintenance.advance(run.id)
    assert waiting.state == "awaiting_approval"
    assert waiting.comparison is not None and waiting.comparison["labels"] == 60
    assert approved.maintenance.comparison(run.id)["requests"] == 60
    assert aliases(approved) == {"champion": 1, "challenger": 2}
    assert approved.maintenance.tick() == []  # still waiting

    monkeypatch.setenv("SHIPYARD_ACTOR", "ann")
    approved.promote("risk@2", reason="the comparison looks good")
    done = approved.maintenance.run(run.id)
    assert (done.state, done.decision, done.decided_by) == ("promoted", "approved", "ann")
    assert aliases(approved) == {"champion": 2}
