"""Rollback: champion back to the previous champion the audit trail names, in one step."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

import shipyard
from maintenance.maintenance_support import with_champion, write_project
from shipyard.errors import ConfigError, NotFoundError
from shipyard.maintenance import RollbackError
from shipyard.maintenance.rollback import champions
from shipyard.project import Project
from shipyard.storage import AuditEvent

AT = datetime(2026, 12, 1, tzinfo=UTC)


def champion(project: Project) -> int | None:
    return project.models.registry.aliases("risk").get("champion")


def test_no_champion_at_all_is_a_one_line_error(tmp_path: Path) -> None:
    write_project(tmp_path / "p")
    with shipyard.open(tmp_path / "p") as project:
        with pytest.raises(RollbackError, match="has no champion") as info:
            project.rollback("risk", reason="bad")
        assert info.value.exit_code == 1 and "\n" not in info.value.message
        with pytest.raises(NotFoundError):
            project.rollback("nobody", reason="bad")


def test_no_earlier_champion_is_an_error_naming_the_way_out(manual: Project) -> None:
    with pytest.raises(RollbackError, match="no earlier champion than v1") as info:
        manual.rollback("risk", reason="bad")
    assert info.value.exit_code == 1 and "--to" in (info.value.hint or "")
    assert champion(manual) == 1


def test_back_and_back_again(manual: Project) -> None:
    for _ in range(2):
        manual.train("risk")
    manual.promote("risk@2", force=True, reason="second")
    manual.promote("risk@3", force=True, reason="third")
    assert manual.rollback("risk", reason="v3 misbehaves") == (3, 2)
    assert champion(manual) == 2
    event = manual.audit(subject="risk", limit=1)[0]
    assert (event.action, event.detail["from"], event.detail["to"]) == ("model.rolled_back", 3, 2)
    assert event.reason == "v3 misbehaves"
    assert manual.rollback("risk", reason="v2 too") == (2, 1)  # not forth to 3
    with pytest.raises(RollbackError):
        manual.rollback("risk", reason="nothing before 1")


def test_to_a_named_version(manual: Project) -> None:
    manual.train("risk")
    manual.train("risk")
    manual.promote("risk@3", force=True, reason="third")
    assert manual.rollback("risk", to=2, reason="two was fine") == (3, 2)
    with pytest.raises(RollbackError, match="already the champion"):
        manual.rollback("risk", to=2, reason="again")
    with pytest.raises(NotFoundError):
        manual.rollback("risk", to=9, reason="none such")
    with pytest.raises(ConfigError, match="needs a reason"):
        manual.rollback("risk", to=1, reason="  ")


def test_the_champion_history_replays_the_audit_trail() -> None:
    def moved(i: int, to: int, frm: int | None = None) -> AuditEvent:
        detail = {"alias": "champion", "from": frm, "to": to}
        return AuditEvent(i, AT, "a", "alias.moved", "m", detail)

    def rolled(i: int, frm: int, to: int) -> AuditEvent:
        return AuditEvent(i, AT, "a", "model.rolled_back", "m", {"from": frm, "to": to})

    events = [moved(1, 1), moved(2, 2, 1), moved(3, 3, 2), moved(4, 2, 3), rolled(5, 3, 2)]
    assert champions(events) == [1, 2]
    assert champions([*events, moved(6, 1, 2), rolled(7, 2, 1)]) == [1]
    other = AuditEvent(8, AT, "a", "alias.moved", "m", {"alias": "challenger", "to": 5})
    assert champions([moved(1, 1), other]) == [1]


def test_a_rollback_during_a_guard_period_ends_it(tmp_path: Path) -> None:
    write_project(tmp_path / "p", "{guard: {duration: 1h, alerts: [errors]}}")
    with with_champion(tmp_path / "p") as project:
        project.train("risk")
        project.promote("risk@2", force=True, reason="try it")
        [run] = project.maintenance.runs("risk")
        assert run.state == "guarding"
        assert project.rollback("risk", reason="by hand") == (2, 1)
        after = project.maintenance.run(run.id)
        assert (after.state, after.decision) == ("rolled_back", "rolled_back")
        assert project.maintenance.repository.holding("risk") is None
