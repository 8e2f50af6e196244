"""The dashboard's actions over a real project: promote, roll back, acknowledge — each
behind a CSRF token, the admin token and a reason, audited with the actor; every bad
form refused in words with a 4xx status, and nothing changed then."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from act_support import ADMIN, fire, seed
from hypothesis import given
from hypothesis import strategies as st

from shipyard.dashboard.actions import Actions, Form
from shipyard.dashboard.admin_token import AdminGate
from shipyard.dashboard.csrf import CsrfGuard
from shipyard.dashboard.refusals import Refused
from shipyard.project import Project

MODEL = "default-risk"
GUARD = CsrfGuard(b"k" * 32)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    opened = seed(tmp_path_factory.mktemp("act") / "proj")
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def actions(project: Project) -> Actions:
    return Actions(project, AdminGate(ADMIN), GUARD)


def form(**fields: str) -> Form:
    token = GUARD.issue()
    return Form({"csrf": token, "token": ADMIN, **fields}, cookie=token)


def champion(project: Project) -> int | None:
    return project.models.registry.aliases(MODEL).get("champion")


def test_a_version_that_passed_its_evaluation_is_promoted_with_the_reason_and_actor(
    project: Project, actions: Actions
) -> None:
    done = actions.perform(
        "promote", {"name": MODEL}, form(version="1", reason="v1 passed", actor="  Ann  Lee ")
    )
    assert re.fullmatch(r"default-risk@1 is (now|already) the champion.*", done.message)
    assert done.location == "/ui/models/default-risk"
    assert champion(project) == 1
    [event] = [
        e for e in project.audit(subject=MODEL, limit=20)
        if e.reason == "v1 passed" and e.action == "model.promoted"
    ]  # fmt: skip
    assert event.actor == "Ann Lee via dashboard"
    assert event.detail["to"] == 1


def test_a_version_that_failed_its_evaluation_is_refused_and_nothing_moves(
    project: Project, actions: Actions
) -> None:
    before, events = champion(project), len(project.audit(limit=1000))
    with pytest.raises(Refused) as refused:
        actions.perform("promote", {"name": MODEL}, form(version="2", reason="try it"))
    assert refused.value.status == 409
    assert "latest evaluation of default-risk@2 failed: gate roc_auc" in refused.value.message
    assert champion(project) == before and len(project.audit(limit=1000)) == events


def test_rollback_moves_the_champion_back_to_the_previous_one(
    project: Project, actions: Actions
) -> None:
    project.models.alias(f"{MODEL}@2", "champion", reason="setup: an earlier champion")
    actions.perform("promote", {"name": MODEL}, form(version="1", reason="v1 is better"))
    assert champion(project) == 1
    done = actions.perform("rollback", {"name": MODEL}, form(reason="v1 misbehaves", actor="Bo"))
    assert done.message == "default-risk's champion moved back from v1 to v2"
    assert champion(project) == 2
    newest = project.audit(subject=MODEL, limit=1)[0]
    assert (newest.action, newest.reason, newest.actor) == (
        "model.rolled_back", "v1 misbehaves", "Bo via dashboard",
    )  # fmt: skip


def test_an_alert_is_acknowledged_once_with_the_reason(project: Project, actions: Actions) -> None:
    alert = fire(project, MODEL)
    done = actions.perform("ack", {"id": str(alert)}, form(reason="on it", actor="Cy"))
    assert done.message == f"alert #{alert} ({MODEL} errors) acknowledged by Cy via dashboard"
    assert project.monitoring.alerts.get(alert).acked_by == "Cy via dashboard"
    event = project.audit(subject=f"{MODEL}/errors", limit=1)[0]
    assert (event.action, event.reason) == ("alert.acked", "on it")
    with pytest.raises(Refused, match="acknowledged already, by Cy via dashboard") as again:
        actions.perform("ack", {"id": str(alert)}, form(reason="again"))
    assert again.value.status == 409


def _stale() -> Form:
    token = GUARD.issue(now=time.time() - 13 * 3600)
    return Form({"csrf": token, "token": ADMIN, "version": "1", "reason": "r"}, cookie=token)


def _forged() -> Form:
    token = CsrfGuard(b"x" * 32).issue()  # signed by another key
    return Form({"csrf": token, "token": ADMIN, "version": "1", "reason": "r"}, cookie=token)


def _mismatched() -> Form:
    return Form({"csrf": GUARD.issue(), "token": ADMIN, "version": "1", "reason": "r"},
                cookie=GUARD.issue())  # fmt: skip


BAD_FORMS = {
    "no csrf field": (lambda: Form({"token": ADMIN, "version": "1", "reason": "r"}),
                      "promote", {"name": MODEL}, 403, "carried no CSRF token"),
    "no cookie": (lambda: Form({"csrf": GUARD.issue(), "token": ADMIN, "version": "1",
                                "reason": "r"}), "promote", {"name": MODEL}, 403, "no dashboard cookie"),
    "mismatched": (_mismatched, "promote", {"name": MODEL}, 403, "does not match"),
    "stale": (_stale, "promote", {"name": MODEL}, 403, "the form is stale: it was opened 13 h ago"),
    "forged": (_forged, "promote", {"name": MODEL}, 403, "not signed by this server"),
    "no token": (lambda: form(token="", version="1", reason="r"),
                 "promote", {"name": MODEL}, 401, "needs the admin token; none was given"),
    "wrong token": (lambda: form(token="guess", version="1", reason="r"),
                    "promote", {"name": MODEL}, 401, "the admin token is wrong"),
    "no reason": (lambda: form(version="1", reason="   "),
                  "promote", {"name": MODEL}, 422, "a reason is required"),
    "long reason": (lambda: form(version="1", reason="x" * 1001),
                    "promote", {"name": MODEL}, 422, "1001 characters long"),
    "bad version": (lambda: form(version="one", reason="r"),
                    "promote", {"name": MODEL}, 422, "must be a version number like 3, got 'one'"),
    "unknown version": (lambda: form(version="9", reason="r"),
                        "promote", {"name": MODEL}, 404, "9"),
    "unknown model": (lambda: form(version="1", reason="r"),
                      "promote", {"name": "nope"}, 404, "no model named 'nope'"),
    "unknown alert": (lambda: form(reason="r"), "ack", {"id": "999"}, 404, "999"),
    "unknown action": (lambda: form(reason="r"), "delete", {"name": MODEL}, 404, "no dashboard action"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD_FORMS))
def test_a_bad_form_is_refused_in_words_and_changes_nothing(
    project: Project, actions: Actions, case: str
) -> None:
    make, action, params, status, words = BAD_FORMS[case]
    before, events = champion(project), len(project.audit(limit=1000))
    with pytest.raises(Refused) as refused:
        actions.perform(action, params, make())
    assert refused.value.status == status
    assert words in str(refused.value)
    assert "\n" not in refused.value.message
    assert champion(project) == before and len(project.audit(limit=1000)) == events


def test_without_an_admin_token_actions_say_how_to_turn_them_on(project: Project) -> None:
    off = Actions(project, AdminGate.from_environment({}), GUARD)
    assert not off.gate.enabled
    with pytest.raises(Refused) as refused:
        off.perform("promote", {"name": MODEL}, form(version="1", reason="r"))
    assert refused.value.status == 403
    assert "actions are off" in refused.value.message
    assert "export SHIPYARD_ADMIN_TOKEN=" in (refused.value.hint or "")


def test_the_token_may_come_as_a_bearer_header(project: Project, actions: Actions) -> None:
    token = GUARD.issue()
    sent = Form({"csrf": token, "version": "1", "reason": "header"}, cookie=token,
                authorization=f"Bearer {ADMIN}")  # fmt: skip
    assert "champion" in actions.perform("promote", {"name": MODEL}, sent).message


def test_replicas_with_one_admin_token_accept_each_others_forms() -> None:
    a = CsrfGuard.from_environment({"SHIPYARD_ADMIN_TOKEN": ADMIN})
    b = CsrfGuard.from_environment({"SHIPYARD_ADMIN_TOKEN": ADMIN})
    token = a.issue()
    b.check(token, token)
    other = CsrfGuard.from_environment({"SHIPYARD_ADMIN_TOKEN": ADMIN + "x"})
    with pytest.raises(Refused, match="not signed by this server"):
        other.check(token, token)
    lone = CsrfGuard.from_environment({})
    with pytest.raises(Refused):  # no admin token: a per-process key
        CsrfGuard.from_environment({}).check(lone.issue(), lone.issue())


@given(st.text(max_size=80), st.integers(min_value=0, max_value=2**40))
def test_no_altered_token_passes(tail: str, now: int) -> None:
    token = GUARD.issue(now=now)
    GUARD.check(token, token, now=now + 60)
    for altered in {token + tail, token[:-1] + tail, tail} - {token}:
        with pytest.raises(Refused):
            GUARD.check(altered, altered, now=now + 60)
